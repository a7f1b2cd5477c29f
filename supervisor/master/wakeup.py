"""Signal intake for the master's single-threaded loop: handlers only record, the loop does the work.

A Python signal handler runs between two bytecodes of whatever the main thread was doing,
so a handler that reaps, logs or forks can deadlock on a lock that code held (gunicorn's
SIGCHLD handler called the logging module and did, gunicorn #3198). Here a handler appends
the signal number to a deque and nothing else. `signal.set_wakeup_fd` makes the C-level
handler write a byte to a socket the master's selector watches, so a signal wakes the loop
even while it is blocked in `select`; the loop then calls `drain` and turns each number into
a `Command` (supervisor.control.signal_to_command).

SIGCHLD gets a handler too: left at its default disposition it would be discarded without
waking the loop, and the loop reaps on the turn that wake-up starts.
"""

from __future__ import annotations

import contextlib
import signal
import socket
from collections import deque
from collections.abc import Callable, Iterable
from types import FrameType, TracebackType
from typing import Any, TypeAlias

# What signal.signal returns: a Python callable, SIG_DFL or SIG_IGN, or None for a handler
# installed by C code outside Python.
_Handler: TypeAlias = "Callable[[int, FrameType | None], Any] | int | signal.Handlers | None"

MASTER_SIGNALS: tuple[signal.Signals, ...] = (
    signal.SIGHUP,
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGTTIN,
    signal.SIGTTOU,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGCHLD,
)
_RECV_BYTES = 4096


class Wakeup:
    """Installed signal handlers that record, and a file descriptor the selector watches for them.

    Must be created, drained and restored from the main thread (the only one signal
    handlers and `set_wakeup_fd` work in). Use as a context manager, or call `restore`.
    """

    def __init__(self, signals: Iterable[int] = MASTER_SIGNALS) -> None:
        """Install a recording handler for each of `signals` and route wake-ups to a new socket pair.

        Raises:
            OSError, ValueError: a signal cannot be handled (SIGKILL, say); nothing stays installed.
        """
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self._received: deque[int] = deque()
        self._closed = False
        # The socket's buffer holds tens of thousands of wake-up bytes; if it ever filled, the
        # deque still has every signal, so a lost byte costs nothing and is not worth a warning.
        self._previous_wakeup_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        self._previous: dict[int, _Handler] = {}
        try:
            for signum in signals:
                self._previous[signum] = signal.signal(signum, self._record)
        except BaseException:
            self.restore()  # no half-installed intake left behind
            raise

    def _record(self, signum: int, frame: FrameType | None) -> None:
        self._received.append(signum)

    @property
    def signals(self) -> tuple[int, ...]:
        """The signals this object handles."""
        return tuple(self._previous)

    def fileno(self) -> int:
        """The descriptor that becomes readable when a signal arrives (register it with the selector)."""
        return self._reader.fileno()

    def drain(self) -> list[int]:
        """The signals received since the last drain, oldest first; empties the wake-up socket."""
        with contextlib.suppress(BlockingIOError):
            while True:
                self._reader.recv(_RECV_BYTES)
        # popleft, not list() then clear(): a handler may append between two statements.
        received = []
        while self._received:
            received.append(self._received.popleft())
        return received

    def restore(self) -> None:
        """Put back the handlers and the wake-up descriptor found at creation; close the sockets.

        Safe to call twice.
        """
        if self._closed:
            return
        self._closed = True
        for signum, handler in self._previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        signal.set_wakeup_fd(self._previous_wakeup_fd)
        self._reader.close()
        self._writer.close()

    def __enter__(self) -> Wakeup:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.restore()
