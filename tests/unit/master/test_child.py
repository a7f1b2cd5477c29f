"""A process forked from the master keeps nothing of it: default signals, no wake-up fd, only the descriptors it needs."""

from __future__ import annotations

import json
import os
import signal
import socket

from supervisor.master.child import detach_from_master
from supervisor.master.wakeup import MASTER_SIGNALS, Wakeup

IGNORED = (signal.SIGINT, signal.SIGHUP)  # a terminal's signals reach the whole group: the master decides


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_a_forked_child_gets_default_signals_and_only_the_descriptors_it_keeps() -> None:
    reader, writer = os.pipe()
    kept, dropped = socket.socketpair()
    stray = os.open(os.devnull, os.O_RDONLY)  # a descriptor no list names: it must go too
    try:
        with Wakeup() as wakeup:
            watched = {"kept": kept.fileno(), "dropped": dropped.fileno(), "stray": stray, "wakeup": wakeup.fileno()}
            pid = os.fork()
            if pid == 0:  # pragma: no cover - measured in the child, reported through the pipe
                try:
                    detach_from_master(keep=[writer, kept.fileno()])
                    report = {
                        "signals": all(
                            signal.getsignal(signum) == (signal.SIG_IGN if signum in IGNORED else signal.SIG_DFL)
                            for signum in MASTER_SIGNALS
                        ),
                        "wakeup_fd": signal.set_wakeup_fd(-1),
                        "open": {name: _is_open(fd) for name, fd in watched.items()},
                    }
                    os.write(writer, json.dumps(report).encode())
                finally:
                    os._exit(0)
            os.close(writer)
            try:
                with os.fdopen(reader, "rb") as pipe:
                    report = json.loads(pipe.read())
            finally:
                os.waitpid(pid, 0)
            # The parent's own handlers are untouched.
            assert signal.getsignal(signal.SIGUSR1) != signal.SIG_DFL
    finally:
        os.close(stray)
        kept.close()
        dropped.close()
    assert report == {
        "signals": True,
        "wakeup_fd": -1,
        "open": {"kept": True, "dropped": False, "stray": False, "wakeup": False},
    }
