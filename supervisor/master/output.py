"""Worker output: each worker's stdout and stderr arrive on one pipe; the master turns them into lines.

May import: the standard library.

A line is delivered as (app, pid, text) to a sink: the plain-log writer below prefixes it
(`api[1234] ...`) on the master's stderr and appends it to the app's `log_file`; the
dashboard keeps the latest ones in its log pane. A worker that writes without newlines
cannot make the master buffer without bound: past MAX_LINE_BYTES the text is cut into lines.
"""

from __future__ import annotations

import logging
import os
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

MAX_LINE_BYTES = 16384
READ_BYTES = 65536

LineSink = Callable[[str, int, str], None]


@dataclass
class _Pipe:
    app: str
    pid: int
    partial: bytearray = field(default_factory=bytearray)


class OutputRouter:
    """Owns the read ends of the workers' pipes until each is drained and closed."""

    def __init__(self, sink: LineSink) -> None:
        self.sink = sink
        self.pipes: dict[int, _Pipe] = {}

    def add(self, fd: int, app: str, pid: int) -> None:
        """Start reading a worker's pipe (already non-blocking)."""
        self.pipes[fd] = _Pipe(app, pid)

    def read(self, fd: int) -> bool:
        """Read what is available; return False once the worker closed its end (fd closed here)."""
        pipe = self.pipes[fd]
        try:
            data = os.read(fd, READ_BYTES)
        except BlockingIOError:
            return True
        except OSError:
            data = b""
        if not data:
            self.close(fd)
            return False
        pipe.partial += data
        *lines, rest = pipe.partial.split(b"\n")
        while len(rest) > MAX_LINE_BYTES:
            lines.append(rest[:MAX_LINE_BYTES])
            rest = rest[MAX_LINE_BYTES:]
        pipe.partial = bytearray(rest)
        for line in lines:
            self.sink(pipe.app, pipe.pid, line.decode("utf-8", "replace").rstrip("\r"))
        return True

    def close(self, fd: int) -> None:
        """Deliver a last unterminated line, if any, and close the pipe."""
        pipe = self.pipes.pop(fd, None)
        if pipe is None:
            return
        if pipe.partial:
            self.sink(pipe.app, pipe.pid, pipe.partial.decode("utf-8", "replace"))
        os.close(fd)

    def close_all(self) -> None:
        for fd in list(self.pipes):
            while self.read(fd):
                pass
        self.pipes.clear()


RECENT_LINES = 500


class PlainLog:
    """Where worker lines go: `app[pid] text` on a stream (stderr; none under the dashboard),
    into the app's log file when it has one, and into `recent` for the dashboard's log pane."""

    def __init__(self, stream: TextIO | None = None, *, to_stream: bool = True) -> None:
        self.stream = (stream or sys.stderr) if to_stream else None
        self.paths: dict[str, str] = {}
        self.files: dict[str, TextIO] = {}
        self.recent: deque[str] = deque(maxlen=RECENT_LINES)

    def set_log_file(self, app: str, path: str | None) -> None:
        """Where `app`'s lines also go; None for nowhere. Takes effect on the next line."""
        old = self.files.pop(app, None)
        if old is not None:
            old.close()
        if path:
            self.paths[app] = path
        else:
            self.paths.pop(app, None)

    def reopen(self) -> None:
        """SIGUSR1: close every log file so the next line reopens it (after logrotate moved it)."""
        for handle in self.files.values():
            handle.close()
        self.files.clear()

    def __call__(self, app: str, pid: int, text: str) -> None:
        line = f"{app}[{pid}] {text}"
        self.recent.append(line)
        if self.stream is not None:
            self.stream.write(line + "\n")
            self.stream.flush()
        path = self.paths.get(app)
        if path is not None:
            handle = self.files.get(app)
            if handle is None:
                handle = self.files[app] = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open across lines
            handle.write(text + "\n")
            handle.flush()

    def close(self) -> None:
        self.reopen()


class RecentHandler(logging.Handler):
    """The master's own log records, as lines of the dashboard's log pane (`serve[pid] ...`)."""

    def __init__(self, log: PlainLog) -> None:
        super().__init__()
        self.log = log
        self.pid = os.getpid()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.log.recent.append(f"serve[{self.pid}] {self.format(record)}")
        except Exception:
            self.handleError(record)
