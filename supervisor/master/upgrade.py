"""`serve upgrade` and SIGUSR2, the old master's side: start a new master on our sockets and learn how it went.

The new master is `sys.executable -m supervisor up -c FILE --no-tui`: the interpreter this
master runs from, so upgrading serve in place (pip install -U into the same environment) is
what starts, without depending on PATH (systemd's is not the login shell's) or on the
console script being there (`python -m supervisor up`). It has no terminal of its own: no
dashboard, its lines go to the stderr it inherits, the old master's.

It is forked from the loop and exec'd in a session of its own, so that nothing aimed at the
old master's process group (a Ctrl-C, the old master's exit) reaches it. It inherits what
systemd's socket activation would pass (listeners.py adopts them): every listening socket
from descriptor 3 on, with LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID set to its own pid
before the exec; then the control socket's listening descriptor, the listening descriptors of
the metrics_bind and health_bind endpoints, and the write end of a pipe (handover.py names
their variables and is the new master's side). Nothing else crosses the exec: every other
descriptor is closed in the child.

On the pipe the new master writes one line: "ready" once every app has its workers ready,
or "failed: REASON". End of file before either means it died. A new master that says
nothing within the bound is stopped (SIGTERM: the workers it has drain, for some may already
serve; SIGKILL if it outlives its graceful_timeout), and the old one serves on.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from supervisor.master import child
from supervisor.master.handover import ENV_CONTROL_FD, ENV_ENDPOINTS, ENV_OWNED, ENV_READY_FD, FAILED, READY
from supervisor.master.listeners import SD_LISTEN_FDS_START, Listeners
from supervisor.master.reactor import READ, Reactor
from supervisor.master.wakeup import MASTER_SIGNALS

logger = logging.getLogger("serve.error")

START_GRACE_S = 15.0  # beyond startup_timeout: the interpreter starts, imports serve, binds what is new
KILL_AFTER_S = 10.0  # beyond graceful_timeout: a failed new master still running then is killed
MAX_LINE_BYTES = 4096  # "failed: " and a reason; more is cut
_PRIVATE = (ENV_CONTROL_FD, ENV_READY_FD, ENV_OWNED, ENV_ENDPOINTS)  # this master's, if an upgrade started it


@dataclass(frozen=True, slots=True)
class Upgrading:
    """An upgrade that began: the new master's pid, and when it is given up on (monotonic)."""

    pid: int
    deadline: float


@dataclass(frozen=True, slots=True)
class Upgraded:
    """How an upgrade ended: `ok` when the new master `pid` serves every app; else `error` says why."""

    pid: int
    ok: bool
    error: str = ""


@dataclass(eq=False)
class _Successor:
    pid: int
    read_fd: int
    bound_s: float
    deadline: float
    stop_s: float  # how long a failed one may take to stop
    received: bytearray = field(default_factory=bytearray)
    outcome: Upgraded | None = None
    kill_at: float | None = None  # a failed new master still running then is killed


class Upgrader:
    """Starts at most one new master at a time and reports, once, how each upgrade ended."""

    def __init__(self, reactor: Reactor) -> None:
        self.reactor = reactor
        self.successor: _Successor | None = None  # from the start until its pipe is closed
        self.settled: list[Upgraded] = []  # outcomes the loop has not taken yet (`take`)

    @property
    def in_progress(self) -> int | None:
        """The pid of a new master not done with yet (starting, or failed and not gone), or None."""
        return None if self.successor is None else self.successor.pid

    @property
    def starting(self) -> bool:
        """A new master was started and has not said how its start went."""
        return self.successor is not None and self.successor.outcome is None

    def cancel(self, reason: str) -> None:
        """Give up on a new master still starting (this master was told to stop): it is told to stop too."""
        successor = self.successor
        if successor is not None and successor.outcome is None:
            self._settle(successor, reason)
            _signal(successor.pid, signal.SIGTERM)

    def start(
        self,
        config_path: str,
        listeners: Listeners,
        control: socket.socket | None,
        *,
        endpoints: Mapping[str, socket.socket] | None = None,
        environ: Mapping[str, str],
        bound_s: float,
        graceful_s: float,
        now: float,
    ) -> Upgrading:
        """Fork and exec the new master, handing it every listening socket, `control` and the `endpoints`.

        It has `bound_s` to be ready; one that failed has its `graceful_s` (and KILL_AFTER_S) to stop.

        Raises:
            OSError: the pipe or the fork failed (nothing was started).
        """
        names, owned, socks = [], [], []
        for index, (bind, sock) in enumerate(listeners.open.items()):
            socks.append(sock.fileno())
            named = [name for name, binds in listeners.named.items() if bind in binds]
            names.append(named[0] if named else "unknown")  # systemd's "no name"
            if bind not in listeners.inherited:
                owned.append(str(index))  # bound by this master: the new one removes its file at exit
        passed = [*socks, *([control.fileno()] if control is not None else [])]
        env = {key: value for key, value in environ.items() if key not in _PRIVATE}
        env.update(LISTEN_FDS=str(len(socks)), LISTEN_FDNAMES=":".join(names))
        env[ENV_OWNED] = ",".join(owned)
        if control is not None:
            env[ENV_CONTROL_FD] = str(SD_LISTEN_FDS_START + len(socks))
        if endpoints:  # by address ("127.0.0.1:9100", "unix:PATH"): the new master matches its file's against them
            numbered = {bind: SD_LISTEN_FDS_START + len(passed) + index for index, bind in enumerate(endpoints)}
            env[ENV_ENDPOINTS] = json.dumps(numbered)
            passed += [sock.fileno() for sock in endpoints.values()]
        env[ENV_READY_FD] = str(SD_LISTEN_FDS_START + len(passed))
        argv = [sys.executable, "-m", "supervisor", "up", "-c", config_path, "--no-tui"]
        read_fd, write_fd = os.pipe()
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            pid = child.fork()
            if pid == 0:
                _exec_new_master(argv, env, [*passed, write_fd])  # never returns
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)  # the new master holds the only write end: end of file means it is gone
        os.set_blocking(read_fd, False)
        self.successor = successor = _Successor(pid, read_fd, bound_s, now + bound_s, graceful_s + KILL_AFTER_S)
        self.reactor.watch(read_fd, READ, lambda _: self._read(successor), name=f"new master {pid}'s pipe")
        logger.info("Upgrade: new master %d started (%s); it has %.0fs to be ready.", pid, " ".join(argv), bound_s)
        return Upgrading(pid, successor.deadline)

    def turn(self, now: float) -> None:
        """Once per turn of the loop: give up on a new master past its bound; kill one that failed and lingers."""
        successor = self.successor
        if successor is None:
            return
        if successor.outcome is None and now >= successor.deadline:
            self._settle(successor, f"the new master {successor.pid} was not ready within {successor.bound_s:.0f}s")
            _signal(successor.pid, signal.SIGTERM)  # its workers drain: some may serve already
        if successor.outcome is not None and successor.kill_at is None:
            successor.kill_at = now + successor.stop_s
        elif successor.kill_at is not None and now >= successor.kill_at:
            logger.warning("Upgrade: the new master %d did not stop; killing it.", successor.pid)
            _signal(successor.pid, signal.SIGKILL)
            successor.kill_at = float("inf")  # once; its end of file ends the story

    def next_deadline(self) -> float | None:
        successor = self.successor
        if successor is None:
            return None
        if successor.outcome is None:
            return successor.deadline
        return successor.kill_at if successor.kill_at is not None else 0.0

    def take(self) -> list[Upgraded]:
        """The outcomes settled since the last call."""
        settled, self.settled = self.settled, []
        return settled

    def close(self) -> None:
        """At exit: stop watching the pipe; a new master not ready (or failed) that still runs is told to stop."""
        successor, self.successor = self.successor, None
        if successor is not None:
            self.reactor.close(successor.read_fd)
            if successor.outcome is None or not successor.outcome.ok:
                _signal(successor.pid, signal.SIGTERM)

    # --- the pipe ------------------------------------------------------------------------

    def _read(self, successor: _Successor) -> None:
        try:
            data = os.read(successor.read_fd, MAX_LINE_BYTES)
        except BlockingIOError:
            return
        except OSError as error:  # nothing sensible comes of this pipe any more: as if it ended
            logger.warning("Upgrade: reading the new master's pipe failed: %s", error)
            data = b""
        if not data:
            self._settle(
                successor, f"the new master {successor.pid} exited before its apps were ready (its log says why)"
            )
            self._done(successor)
            return
        successor.received += data
        if b"\n" not in successor.received and len(successor.received) < MAX_LINE_BYTES:
            return
        line = bytes(successor.received).split(b"\n", 1)[0].decode(errors="replace").strip()
        successor.received.clear()
        if line == READY:
            self._settle(successor, None)
            self._done(successor)  # it lets go of its end too: nothing more to hear
        else:
            self._settle(successor, line.removeprefix(FAILED).strip() or "the new master failed")

    def _settle(self, successor: _Successor, error: str | None) -> None:
        """Record the outcome, the first time only."""
        if successor.outcome is not None:
            return
        successor.outcome = Upgraded(successor.pid, ok=error is None, error=error or "")
        self.settled.append(successor.outcome)
        if error is None:
            logger.info("Upgrade: the new master %d is ready.", successor.pid)
        else:
            logger.error("Upgrade failed; this master (%d) serves on: %s", os.getpid(), error)

    def _done(self, successor: _Successor) -> None:
        self.reactor.close(successor.read_fd)
        if self.successor is successor:
            self.successor = None


def _signal(pid: int, sig: int) -> None:
    # Called only while its pipe is open, so it still runs (nothing else holds the write end)
    # and the pid is still its own, not one reused after a reap.
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _exec_new_master(argv: list[str], env: dict[str, str], fds: list[int]) -> None:
    """In the forked child: own session, `fds` moved to 3, 4, ..., everything else closed, exec. Never returns."""
    code, ready_fd = 127, fds[-1]
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        for sig in MASTER_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        # Two steps, so that no descriptor is overwritten before it was copied: above them all, then down.
        high = max([*fds, SD_LISTEN_FDS_START + len(fds)]) + 1
        for offset, fd in enumerate(fds):
            os.dup2(fd, high + offset)
        for offset in range(len(fds)):
            os.dup2(high + offset, SD_LISTEN_FDS_START + offset)  # inheritable: they cross the exec
        ready_fd = SD_LISTEN_FDS_START + len(fds) - 1
        child.close_all_but(range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + len(fds)))
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        env["LISTEN_PID"] = str(os.getpid())
        signal.pthread_sigmask(signal.SIG_SETMASK, ())  # child.fork blocked them; exec keeps the mask
        os.execve(argv[0], argv, env)  # noqa: S606 - argv is ours: this interpreter, serve, the file's path
    except BaseException as error:  # nothing may return into the master's code
        code = 126 if isinstance(error, OSError) and error.errno == errno.EACCES else 127
        with contextlib.suppress(BaseException):
            os.write(ready_fd, f"{FAILED} cannot start {argv[0]}: {error}\n".encode(errors="replace"))
    finally:
        os._exit(code)
