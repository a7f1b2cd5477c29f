"""Where the master writes lines without ever waiting: its stderr and each app's log file.

A destination that stalls (a log shipper that stopped reading the master's stderr, a
terminal paused with Ctrl-S) or fails (a full disk, EIO, a log directory gone after
logrotate) must not hold up supervision, so every write here is non-blocking. Bytes that
cannot be written yet wait in a bounded buffer, flushed when the loop reports the
destination writable; past the bound, lines are dropped and counted. Once dropping starts
it goes on until the buffer has drained, so the gap sits at one place in the output, and
a line there says how many lines are missing. A destination that failed is left alone
(its lines dropped and counted) until `reopen()` (SIGUSR1) or RETRY_S later.

stderr is never switched to O_NONBLOCK in place: the flag lives on the open file
description, which the terminal or pipe shares with the shell and other processes. A
pipe, FIFO or terminal is reopened through /proc/self/fd (a description of our own); a
socket (journald's stdout stream) is written with MSG_DONTWAIT; a regular file does not
block, and reports ENOSPC or EIO as errors.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import stat
import time
from collections.abc import Callable
from typing import Protocol

from supervisor.master.reactor import WRITE, Watch

BUFFER_BYTES = 1 << 20  # per destination: about ten thousand typical lines
RETRY_S = 10.0  # a failed destination is tried again at its first line after this long
FLUSH_BYTES = 65536  # written per attempt, as much as a pipe holds
RESERVE_BYTES = 65536  # beyond the limit, for the master's own lines
CLOSE_WAIT_S = 1.0  # at shutdown, how long waiting lines may take to get out

_OPEN_FLAGS = os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class Channel(Protocol):
    """An open destination: `write` takes what fits now and raises BlockingIOError when nothing does."""

    pollable: bool  # whether the loop can watch it for WRITE (pipes, sockets, terminals; not files)

    def fileno(self) -> int: ...

    def write(self, data: memoryview) -> int: ...

    def close(self) -> None: ...


class _FdChannel:
    def __init__(self, fd: int, *, pollable: bool) -> None:
        self.fd = fd
        self.pollable = pollable

    def fileno(self) -> int:
        return self.fd

    def write(self, data: memoryview) -> int:
        return os.write(self.fd, data)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


class _SocketChannel:
    pollable = True

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def fileno(self) -> int:
        return self.sock.fileno()

    def write(self, data: memoryview) -> int:
        return self.sock.send(data, socket.MSG_DONTWAIT)

    def close(self) -> None:
        self.sock.close()


class _PolledChannel(_FdChannel):
    """Last resort when no description of our own can be had (no /proc): the shared one stays
    blocking, so write only when poll says there is room, and no more than PIPE_BUF at a time."""

    def write(self, data: memoryview) -> int:
        poller = select.poll()
        poller.register(self.fd, select.POLLOUT)
        if not poller.poll(0):
            raise BlockingIOError
        return os.write(self.fd, data[: select.PIPE_BUF])


def open_stream(fd: int = 2) -> Channel:
    """A non-blocking writer onto `fd` (the master's stderr) that leaves the shared description's flags alone.

    Raises:
        OSError: `fd` is not open.
    """
    mode = os.fstat(fd).st_mode
    if stat.S_ISREG(mode):
        return _FdChannel(os.dup(fd), pollable=False)  # dup: the shell's O_APPEND and offset are kept
    if stat.S_ISSOCK(mode):
        copy = os.dup(fd)
        try:
            return _SocketChannel(socket.socket(fileno=copy))
        except OSError:
            os.close(copy)
    pollable = stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(fd)
    try:
        own = os.open(f"/proc/self/fd/{fd}", _OPEN_FLAGS)
    except OSError:
        return _PolledChannel(os.dup(fd), pollable=True) if pollable else _FdChannel(os.dup(fd), pollable=False)
    return _FdChannel(own, pollable=pollable)


def open_file(path: str) -> Channel:
    """`path` opened for appending, created if missing; a FIFO with no reader fails (ENXIO) instead of waiting.

    Raises:
        OSError: it cannot be opened (missing directory, permissions, no reader on a FIFO).
    """
    fd = os.open(path, _OPEN_FLAGS | os.O_APPEND | os.O_CREAT, 0o666)
    mode = os.fstat(fd).st_mode
    return _FdChannel(fd, pollable=stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(fd))


Notice = Callable[["Outlet", str], None]


class Outlet:
    """One destination of lines, written without blocking: what it cannot take yet is buffered
    (up to `limit` bytes), beyond that dropped and counted; a failed one is retried on `reopen()`
    or `retry_s` later. `notice(outlet, text)` is told when a gap begins and when it ends."""

    def __init__(
        self,
        name: str,
        opener: Callable[[], Channel],
        *,
        notice: Notice,
        watch: Watch | None = None,
        limit: int = BUFFER_BYTES,
        retry_s: float = RETRY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.opener = opener
        self.notice = notice
        self.watch = watch
        self.limit = limit
        self.retry_s = retry_s
        self.clock = clock
        self.channel: Channel | None = None  # opened at the first line, and again after reopen()
        self.pending = bytearray()
        self.watching = False
        self.dropped = 0  # lines dropped since this outlet was made
        self.gap = 0  # lines dropped since the last one that got through
        self.reason = ""  # why the current gap began
        self.failed_at: float | None = None
        self.torn = False  # a failure cut a line short: the next text starts on a line of its own
        self.closed = False

    # --- what the owner calls -------------------------------------------------------------

    def write(self, line: bytes, *, urgent: bool = False) -> None:
        """Take one line (ending in a newline): written now, buffered, or dropped and counted. Never blocks.

        An `urgent` line (the master's own records) may use RESERVE_BYTES beyond the limit and
        is taken even while a gap is open: a flood of worker output must not silence the
        master's warnings and errors. It then comes before the line that marks the gap.
        """
        if self.closed:
            return
        if not self._due():
            self._drop(1, self.reason)
            return
        if self.pending and not self.watching:
            self._flush()  # nobody will say when it is writable: try now
        room = self.limit + (RESERVE_BYTES if urgent else 0) - len(self.pending)
        if self.pending and ((self.gap and not urgent) or len(line) > room):
            self._drop(1, f"its reader fell {self.limit // 1024} KiB behind")
            return
        if self.gap and not self.pending:
            self._end_gap()
            if self.failed_at is not None:  # the destination failed again
                self._drop(1, self.reason)
                return
        self._put(line, lines=1)

    def reopen(self) -> None:
        """SIGUSR1: close the destination so the next line opens it again; a failed one is retried then."""
        self._close_channel()
        self.failed_at = None

    def attach(self, watch: Watch | None) -> None:
        """Have waiting bytes flushed by `watch`'s loop (None: at the next line instead)."""
        self._stop_watching()
        self.watch = watch
        if self.pending:
            self._want_writable()

    def close(self, wait_s: float = 0.0) -> None:
        """Write what is waiting, for up to `wait_s` seconds, then close; later lines are ignored."""
        if self.closed:
            return
        self.attach(None)
        deadline = time.monotonic() + wait_s
        while self.pending and self.channel is not None and (remaining := deadline - time.monotonic()) > 0:
            poller = select.poll()
            poller.register(self.channel.fileno(), select.POLLOUT)
            poller.poll(remaining * 1000)
            self._flush()
        if self.gap and not self.pending and self._due():
            self._end_gap()  # say how many lines this run lost, if it can still be said
        self._close_channel()
        self.closed = True

    def fileno(self) -> int | None:
        return self.channel.fileno() if self.channel is not None else None

    # --- writing --------------------------------------------------------------------------

    def _due(self) -> bool:
        """False while a failed destination waits for its retry."""
        if self.failed_at is None:
            return True
        if self.clock() - self.failed_at < self.retry_s:
            return False
        self.failed_at = None
        return True

    def _put(self, data: bytes, *, lines: int) -> None:
        if self.pending:
            self.pending += data
            return
        try:
            written = self._write(data)
        except OSError as error:
            self._fail(error, lines=lines)
            return
        if written < len(data):
            self.pending += data[written:]
            self._want_writable()

    def _flush(self) -> None:
        while self.pending:
            # A copy (a view of `pending` held by a traceback would stop it from being resized),
            # of a pipe's worth: a destination that takes nothing costs little to try.
            chunk = bytes(self.pending[:FLUSH_BYTES])
            try:
                written = self._write(chunk)
            except OSError as error:
                self._fail(error, lines=0)
                return
            del self.pending[:written]
            if written < len(chunk):
                return
        self._stop_watching()
        if self.gap:
            self._end_gap()

    def _write(self, data: bytes) -> int:
        """Write as much of `data` as goes without blocking; how much that was.

        Raises:
            OSError: the destination failed (ENOSPC, EIO, EPIPE, or it could not be opened).
        """
        if self.channel is None:
            self.channel = self.opener()
        view = memoryview(data)
        done = 0
        try:
            while done < len(view):
                written = self.channel.write(view[done:])
                if not written:
                    break
                done += written
        except BlockingIOError:
            pass
        except OSError:
            if done:
                self.torn = data[done - 1] != ord("\n")
            raise
        return done

    # --- gaps and failures ----------------------------------------------------------------

    def _drop(self, lines: int, reason: str) -> None:
        if not lines:
            return
        if not self.gap:
            self.reason = reason
            retry = f"; retried on USR1 or in {self.retry_s:g} s" if self.failed_at is not None else ""
            self.notice(self, f"Lines to {self.name} are being dropped: {reason}{retry}.")
        self.gap += lines
        self.dropped += lines

    def _end_gap(self) -> None:
        """The destination takes writes again: mark the gap in it, and say so."""
        gap, torn = self.gap, self.torn
        text = f"{gap} line{'s' if gap != 1 else ''} dropped: {self.name} ({self.reason})"
        marker = f"{chr(10) if torn else ''}serve[{os.getpid()}] WARNING: {text}\n"
        self.gap, self.torn = 0, False
        self._put(marker.encode(), lines=0)
        if self.failed_at is not None:  # it failed again: the same gap goes on
            self.gap, self.torn = gap, self.torn or torn
            return
        self.notice(self, text)

    def _fail(self, error: OSError, *, lines: int) -> None:
        lost = lines + self.pending.count(b"\n")
        self.pending.clear()
        self._close_channel()
        self.failed_at = self.clock()
        self.reason = os.strerror(error.errno) if error.errno else str(error) or type(error).__name__
        self._drop(lost, self.reason)

    # --- the loop's side ------------------------------------------------------------------

    def _want_writable(self) -> None:
        channel = self.channel
        if self.watching or self.watch is None or channel is None or not channel.pollable:
            return
        fd = channel.fileno()
        try:
            self.watch.watch(fd, WRITE, self._writable, name=f"output to {self.name}", on_error=self._handler_failed)
        except (OSError, ValueError):  # a descriptor epoll refuses: flushed at the next line instead
            self.watch.forget(fd)
            return
        self.watching = True

    def _writable(self, events: int) -> None:
        self._flush()

    def _handler_failed(self) -> None:
        # The loop logged why; forget the descriptor (before `_fail` closes it), then treat
        # this as a failed destination.
        self._stop_watching()
        self._fail(OSError("its writer failed"), lines=0)

    def _stop_watching(self) -> None:
        if self.watching and self.watch is not None and self.channel is not None:
            self.watch.forget(self.channel.fileno())
        self.watching = False

    def _close_channel(self) -> None:
        self._stop_watching()
        if self.channel is not None:
            self.channel.close()
            self.channel = None
