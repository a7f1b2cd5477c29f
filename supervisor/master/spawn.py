"""Forking a worker and bootstrapping the child: the only place master/ reaches into server/.

The child must not keep anything of the master's: its selector, its wake-up socketpair,
the control socket, other workers' pipes, other apps' listening sockets. It gets a process
group of its own (whatever the app starts ends with the worker), default signal
dispositions (SIGINT ignored: the master coordinates), stdin from /dev/null, its own stdout
and stderr on a pipe the master reads, the app's environment and user, and then runs the
server.
It leaves with os._exit, so nothing of the master's (atexit hooks, finally blocks,
buffered output) runs twice. A bootstrap that fails before the app loads (an env_file that
is not UTF-8, a user deleted since the start) leaves its one-line reason in the worker's
status slot, as a failed import does (server/worker.py), so that `serve reload` and the
app's last error say why, not only "exited with code 4".
"""

from __future__ import annotations

import contextlib
import faulthandler
import fcntl
import grp
import os
import pwd
import socket
import sys
from dataclasses import dataclass

from supervisor import logs
from supervisor.asgi.environment import apply_environment
from supervisor.config.schema import AppConfig
from supervisor.master import child
from supervisor.status.slots import SlotState, SlotTable, SlotWriter, WorkerCounters

EXIT_BOOTSTRAP_FAILED = 4
PIPE_BYTES = 256 * 1024  # a worker's output pipe; Linux's default is 64 KiB


class BootstrapError(Exception):
    """The worker cannot be prepared for its app; the message is the line the master reports."""


@dataclass
class Spawned:
    """A forked worker as the master sees it."""

    pid: int
    output_fd: int  # read end of the worker's stdout+stderr pipe, non-blocking


def spawn_worker(
    config: AppConfig,
    *,
    sockets: list[socket.socket],
    table: SlotTable,
    slot: int,
    index: int | None = None,
) -> Spawned:
    """Fork one worker for `config` serving on `sockets`, reporting into `slot`.

    Args:
        config: the app, as the worker's generation knows it.
        sockets: the app's listening sockets (inherited; the master keeps them open).
        table: the shared status table, created before the first fork.
        slot: the slot allocated for this worker.
        index: its place in the app (the Spawn's index), in its environment as SERVE_WORKER_ID.

    Raises:
        OSError: the fork or the pipe failed (the caller retries with backoff).
    """
    # The master's signals stay blocked in the child until it has dispositions of its own;
    # its group is its own before it runs anything (master/processes.py ends it at the reap).
    pid, read_fd, write_fd = child.fork_with_pipe(own_group=True)
    if pid == 0:  # pragma: no cover - runs in the child; measured through the system tests
        code = EXIT_BOOTSTRAP_FAILED
        try:
            # Nothing of the master's survives into the app, and nothing is imported before that.
            child.detach_from_master(keep=[write_fd, *(sock.fileno() for sock in sockets)])
            _redirect_output(write_fd)
            # The server stack is imported while still privileged (serve may be installed where
            # only its owner can read); after the drop, only the app is imported, as `user`.
            from supervisor.server.worker import prepare, run_worker  # after fork, never in the master

            prepare(config)
            _bootstrap(config, index)
            code = run_worker(config, sockets, table, slot, index=index)
        except BaseException as error:
            reason = str(error) if isinstance(error, BootstrapError) else f"{type(error).__name__}: {error}"
            print(f"{config.name}: worker bootstrap failed: {reason}", file=sys.stderr, flush=True)
            _leave_reason(table, slot, reason)
        finally:
            _flush_log_lines()
            os._exit(code)
    os.close(write_fd)
    os.set_blocking(read_fd, False)
    _enlarge_pipe(read_fd)
    return Spawned(pid, read_fd)


def _enlarge_pipe(fd: int) -> None:
    """Room for a worker's lines while the master is not reading (a hook, a pause): PIPE_BYTES, where allowed.

    Not more: past the user's pipe-user-pages-soft (64 MiB by default) every new pipe of
    the user, the app's own included, is cut to one page, and a master may run hundreds of workers.
    """
    try:
        with open("/proc/sys/fs/pipe-max-size", encoding="ascii") as limit:
            size = min(PIPE_BYTES, int(limit.read()))
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)
    except (OSError, ValueError, AttributeError):  # not Linux, or refused (EPERM past the user's share)
        pass


def _flush_log_lines() -> None:  # pragma: no cover - runs in the child
    """os._exit skips logging's own shutdown: serve's lines a full pipe held back get a moment to go out."""
    with contextlib.suppress(Exception):
        logs.flush_pending(logs.CLOSE_WAIT_S)


def _leave_reason(table: SlotTable, slot: int, reason: str) -> None:  # pragma: no cover - in the child
    """Say why in the slot; the master reads a reason only from a slot that names this pid, so flush it too."""
    try:
        writer = SlotWriter(table, slot)
        writer.write_reason(reason)
        writer.flush(WorkerCounters(), state=SlotState.EXITED)
    except Exception as error:  # the exit code still tells the master; the line above tells the operator
        print(f"cannot leave the reason in status slot {slot}: {error!r}", file=sys.stderr, flush=True)


def _redirect_output(output_fd: int) -> None:
    """stdout and stderr into the pipe the master reads, line-buffered so each line arrives as written."""
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    os.close(output_fd)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sys.stderr.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    logs.prepare_pipes(1, 2)  # serve's log lines never block on it, even after the drop to `user`


def _bootstrap(config: AppConfig, index: int | None) -> None:
    """What a fresh worker needs before the server starts (runs in the child, still privileged)."""
    faulthandler.enable(file=sys.stderr, all_threads=True)  # SIGABRT from the health check dumps the stack
    # Before the drop, while a root-only env_file is readable; settled, so the server leaves it be.
    try:
        apply_environment(config.env_file, config.env, settle=True)
    except UnicodeDecodeError as error:  # python-dotenv reads UTF-8 only
        raise BootstrapError(
            f"env_file {config.env_file}: not UTF-8 text (it holds byte {error.object[error.start]:#04x})"
        ) from error
    except OSError as error:  # replaced by a directory, or unreadable, since the file was checked
        raise BootstrapError(f"env_file {config.env_file}: {error.strerror or error}") from error
    # Who this worker is, for the app (one job per worker index) and for its JSON log lines.
    os.environ["SERVE_APP"] = config.name
    if index is not None:
        os.environ["SERVE_WORKER_ID"] = str(index)
    _drop_privileges(config.user, config.group)


def _drop_privileges(user: str | None, group: str | None) -> None:
    """setgid then setuid (the other order would leave no right to change the group)."""
    if group:
        gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
        os.setgroups([gid])
        os.setgid(gid)
    if user:
        entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
        if not group:
            os.setgroups([entry.pw_gid])
            os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)
