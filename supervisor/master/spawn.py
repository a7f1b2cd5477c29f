"""Forking a worker and bootstrapping the child: the only place master/ reaches into server/.

May import: config/, status/, errors, the standard library; server/ only inside the child.

The child must not keep anything of the master's: its selector, its wake-up socketpair,
the control socket, other workers' pipes, other apps' listening sockets. It gets default
signal dispositions (SIGINT ignored: the master coordinates), its own stdout and stderr
on a pipe the master reads, the app's environment and user, and then runs the server.
It leaves with os._exit, so nothing of the master's (atexit hooks, finally blocks,
buffered output) runs twice.
"""

from __future__ import annotations

import contextlib
import faulthandler
import grp
import os
import pwd
import signal
import socket
import sys
from collections.abc import Iterable
from dataclasses import dataclass

import dotenv

from supervisor.config.schema import AppConfig
from supervisor.master.wakeup import MASTER_SIGNALS
from supervisor.status.slots import SlotTable

EXIT_BOOTSTRAP_FAILED = 4


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
    close_in_child: Iterable[int],
) -> Spawned:
    """Fork one worker for `config` serving on `sockets`, reporting into `slot`.

    Args:
        config: the app, as the worker's generation knows it.
        sockets: the app's listening sockets (inherited; the master keeps them open).
        table: the shared status table, created before the first fork.
        slot: the slot allocated for this worker.
        close_in_child: every other descriptor the master owns.

    Raises:
        OSError: the fork or the pipe failed (the caller retries with backoff).
    """
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child; measured through the system tests
        code = EXIT_BOOTSTRAP_FAILED
        try:
            os.close(read_fd)
            # The server stack is imported while still privileged (serve may be installed where
            # only its owner can read); after the drop, only the app is imported, as `user`.
            from supervisor.server.worker import prepare, run_worker  # after fork, never in the master

            prepare(config)
            _bootstrap(config, write_fd, close_in_child, sockets)
            code = run_worker(config, sockets, table, slot)
        except BaseException as error:
            print(f"{config.name}: worker bootstrap failed: {error!r}", file=sys.stderr, flush=True)
        finally:
            os._exit(code)
    os.close(write_fd)
    os.set_blocking(read_fd, False)
    return Spawned(pid, read_fd)


def _bootstrap(config: AppConfig, output_fd: int, close_in_child: Iterable[int], sockets: list[socket.socket]) -> None:
    """Everything a fresh worker needs before the server starts (runs in the child)."""
    signal.set_wakeup_fd(-1)
    for sig in MASTER_SIGNALS:  # the master's recording handlers: a worker gets the defaults back
        signal.signal(sig, signal.SIG_DFL)
    # A terminal's Ctrl-C and hang-up reach the whole process group; the master decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    keep = {sock.fileno() for sock in sockets}
    for fd in close_in_child:
        if fd not in keep and fd != output_fd:
            with contextlib.suppress(OSError):  # already closed: nothing to do
                os.close(fd)
    # The terminal stays the master's: the worker reads nothing from it, writes into its pipe.
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    os.close(output_fd)
    # Line-buffered text on the pipe, so the master sees each line as it is written.
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sys.stderr.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    faulthandler.enable(file=sys.stderr, all_threads=True)  # SIGABRT from the health check dumps the stack
    if config.env_file:
        dotenv.load_dotenv(config.env_file, override=True)
    os.environ.update(config.env)
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
