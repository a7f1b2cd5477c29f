"""Worker output: each worker's stdout and stderr arrive on one pipe; the master turns them into lines.

A line is delivered as (app, pid, text) to a sink: the plain-log writer below prefixes it
(`api[1234] ...`, after the local time under [server] log_timestamps) on the master's stderr
and in the app's `log_file`; the dashboard keeps the latest ones in its log pane. An app
with log_format = "json" gets its lines through as they are, and any that is not a JSON
object (a `print`, a stack dump, a C library's message) wrapped into one. A worker that
writes without newlines cannot make the master buffer without bound: past MAX_LINE_BYTES
the text is cut into lines.

A pipe is read only when the loop says it is readable, and stays watched until its end of
file, or PIPE_GRACE_S after the worker was reaped, whichever comes first: a helper process
the app started inherits the pipe and can hold it open long after, and the master's
descriptors must stay bounded whatever the app starts. The worker's process group ends by
then (master/processes.py); what a process that left it writes afterwards is lost (EPIPE).
Every destination is an `Outlet` (master/outlets.py): a stalled or failed one costs
dropped, counted lines, never a wait.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from supervisor.control import LOG_MASTER
from supervisor.logs import JsonFormatter, LineHandler, iso_time, local_time
from supervisor.master.logring import LogRing
from supervisor.master.outlets import CLOSE_WAIT_S, Outlet, open_file, open_stream
from supervisor.master.reactor import READ, Watch

if TYPE_CHECKING:
    from supervisor.config.schema import AppConfig, ServerSection

logger = logging.getLogger("serve.error")

MAX_LINE_BYTES = 16384
READ_BYTES = 65536
# When a worker is reaped its pipe is read until empty, but no further than this: a helper
# process still writing into it must not keep the loop here (the rest comes as it is readable).
READS_AT_EXIT = 16
# How long a reaped worker's pipe is still read: longer than its group's grace before SIGKILL
# (processes.GROUP_GRACE_S), so what a helper wrote before it was killed is read too.
PIPE_GRACE_S = 6.0

LineSink = Callable[[str, int, str], None]


@dataclass
class _Pipe:
    app: str
    pid: int
    partial: bytearray = field(default_factory=bytearray)
    close_at: float | None = None  # its worker was reaped: closed then, end of file or not


class OutputRouter:
    """Owns the read ends of the workers' pipes, each watched for READ until its end of file."""

    def __init__(self, sink: LineSink, watch: Watch) -> None:
        self.sink = sink
        self.watch = watch
        self.pipes: dict[int, _Pipe] = {}

    def add(self, fd: int, app: str, pid: int) -> None:
        """Start watching a new worker's pipe (its read end, already non-blocking); it is ours to close."""
        self.pipes[fd] = _Pipe(app, pid)
        self.watch.watch(
            fd,
            READ,
            functools.partial(self._readable, fd),
            name=f"the output of {app}[{pid}]",
            on_error=functools.partial(self._finish, fd),
        )

    def worker_exited(self, fd: int, pid: int) -> None:
        """Worker `pid` was reaped: deliver what its pipe `fd` holds now, without waiting for more.

        At end of file the pipe is closed; otherwise it stays watched until then, or until
        `expire` is called PIPE_GRACE_S from now. Nothing happens if `fd` is no longer that
        worker's: its pipe may have ended already, and the number been given to a new worker's.
        """
        pipe = self.pipes.get(fd)
        if pipe is None or pipe.pid != pid:
            return
        self._drain(fd)
        if pipe.close_at is None:
            pipe.close_at = time.monotonic() + PIPE_GRACE_S

    def expire(self, now: float) -> None:
        """Close the pipes of reaped workers past their grace, with what they hold now delivered."""
        for fd, pipe in list(self.pipes.items()):
            if pipe.close_at is not None and now >= pipe.close_at:
                self._drain(fd)
                self._finish(fd)

    def next_deadline(self) -> float | None:
        """When the next reaped worker's pipe is due to close (None: none is waiting)."""
        return min((pipe.close_at for pipe in self.pipes.values() if pipe.close_at is not None), default=None)

    def _drain(self, fd: int) -> None:
        """What the pipe holds now, READS_AT_EXIT reads at most: a writer that keeps writing cannot hold the loop."""
        for _ in range(READS_AT_EXIT):
            if not self._read(fd):
                return

    def filenos(self) -> list[int]:
        """The pipes still open (for a forked child to close)."""
        return list(self.pipes)

    def close_all(self) -> None:
        """At shutdown: deliver what each pipe holds now, then close them all."""
        for fd in list(self.pipes):
            self._drain(fd)
            self._finish(fd)

    def _readable(self, fd: int, events: int) -> None:
        self._read(fd)

    def _read(self, fd: int) -> bool:
        """One non-blocking read; False when nothing more is there now (it would block, or end of file)."""
        pipe = self.pipes.get(fd)
        if pipe is None:
            return False
        try:
            data = os.read(fd, READ_BYTES)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        if not data:
            self._finish(fd)
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

    def _finish(self, fd: int) -> None:
        """Deliver a last unterminated line, if any; forget the pipe, then close it."""
        pipe = self.pipes.pop(fd, None)
        if pipe is None:
            return
        self.watch.close(fd)
        if pipe.partial:
            self.sink(pipe.app, pipe.pid, pipe.partial.decode("utf-8", "replace"))


RECENT_LINES = 500


class PlainLog:
    """Where worker lines go: `app[pid] text` on the master's stderr (none under the dashboard),
    the text alone into the app's log file when it has one, and into `recent` for the dashboard's
    log pane. Each destination is an Outlet: never waited on; stalled or failed, it drops and counts."""

    def __init__(self, *, to_stream: bool = True, watch: Watch | None = None) -> None:
        self.recent: deque[str] = deque(maxlen=RECENT_LINES)
        self.ring = LogRing()  # every line, the master's own too, for `serve logs` and `serve top`
        self.watch = watch
        self.pid = os.getpid()
        self.stderr = Outlet("stderr", open_stream, notice=self._notice, watch=watch) if to_stream else None
        self.files: dict[str, Outlet] = {}  # app -> its log file
        self.retired: Counter[str] = Counter()  # lines dropped by outlets no longer in use
        self.timestamps = False  # [server] log_timestamps: text lines start with the local time
        self.json_master = False  # [server] log_format = "json"
        self.json_apps: set[str] = set()  # apps whose log_format is json
        self.indexes: dict[int, int] = {}  # pid -> worker index, as its JSON lines say (for wrapped lines)

    def lines_of(self, app: str) -> list[str]:
        """The dashboard's lines for the pane of `app`: its own and the master's, RECENT_LINES at most,
        from the per-app rings, so that a chatty app cannot push them out as it does `recent`."""
        return [line.prefixed() for line in self.ring.latest((app, LOG_MASTER), RECENT_LINES)]

    def attach(self, watch: Watch | None) -> None:
        """Flush stalled destinations from `watch`'s loop (the arbiter's); None before that loop closes."""
        self.watch = watch
        for outlet in self._outlets():
            outlet.attach(watch)

    def set_app(self, name: str, app: AppConfig, server: ServerSection) -> None:
        """How `name`'s lines are written (log_format, log_file) and the [server] table's log keys."""
        self.set_log_file(name, app.log_file)
        if app.log_format == "json":
            self.json_apps.add(name)
        else:
            self.json_apps.discard(name)
        self.set_server(server)

    def set_server(self, server: ServerSection) -> None:
        """The [server] table's log keys, for the master's own lines (set before its first one)."""
        self.timestamps = server.log_timestamps
        if server.log_format == "json" and not self.json_master:
            self.json_master = True
            _json_master_lines()

    def set_log_file(self, app: str, path: str | None) -> None:
        """Where `app`'s lines also go; None for nowhere. The same path again is reopened (and retried)."""
        old = self.files.get(app)
        if old is not None and old.name == path:
            old.reopen()
            return
        if old is not None:
            self._retire(self.files.pop(app))
        if path:
            self.files[app] = Outlet(path, functools.partial(open_file, path), notice=self._notice, watch=self.watch)

    def reopen(self) -> None:
        """SIGUSR1: every destination reopens at its next line (after logrotate moved a file; a failed one is retried)."""
        for outlet in self._outlets():
            outlet.reopen()

    def __call__(self, app: str, pid: int, text: str) -> None:
        line = f"{app}[{pid}] {text}"
        self.recent.append(line)
        if app in self.json_apps:
            line = self._json_line(app, pid, text)
        elif self.timestamps:
            line = f"{_stamp()} {line}"
        self.ring.add(app, pid, text)
        if self.stderr is not None:
            self.stderr.write(_encode(line))
        outlet = self.files.get(app)
        if outlet is not None:
            outlet.write(_encode(line))

    def _json_line(self, app: str, pid: int, text: str) -> str:
        """`text` if it is this worker's own log record, else `text` wrapped into one.

        A record passes through only when its app and pid are the pipe's: an app printing JSON
        cannot pass its lines off as another app's or the master's.
        """
        if text.startswith("{") and text.endswith("}"):
            try:
                entry = json.loads(text)
            except (ValueError, RecursionError):  # deep nesting: not a record, whatever it is
                entry = None
            if isinstance(entry, dict) and entry.get("app") == app and entry.get("pid") == pid:
                worker = entry.get("worker")
                if isinstance(worker, int) and self.indexes.get(pid) != worker:
                    if len(self.indexes) >= MAX_INDEXES_KEPT:  # pids of workers long gone
                        del self.indexes[next(iter(self.indexes))]
                    self.indexes[pid] = worker
                return text
        return json.dumps(
            {
                "ts": iso_time(time.time()),
                "level": "INFO",
                "logger": "output",
                "app": app,
                "worker": self.indexes.get(pid),
                "pid": pid,
                "message": text,
            },
            ensure_ascii=False,
        )

    def master_line(self, text: str) -> None:
        """One of the master's own log records, formatted, onto its stderr (see logs.stderr_diverted)."""
        self.ring.add(LOG_MASTER, self.pid, text)
        if self.timestamps and not self.json_master:
            text = f"{_stamp()} {text}"
        if self.stderr is not None:
            self.stderr.write(_encode(text), urgent=True)

    @property
    def dropped(self) -> dict[str, int]:
        """Lines dropped so far, by destination ("stderr" or a log file's path); only those that dropped any."""
        counts = Counter(self.retired)
        for outlet in self._outlets():
            counts[outlet.name] += outlet.dropped
        return {name: count for name, count in counts.items() if count}

    def filenos(self) -> list[int]:
        """The destinations' open descriptors (for a forked child to close)."""
        return [fd for outlet in self._outlets() if (fd := outlet.fileno()) is not None]

    def close(self, wait_s: float = CLOSE_WAIT_S) -> None:
        """Write what is waiting (for up to `wait_s` seconds in all), then close every destination."""
        self.watch = None
        deadline = time.monotonic() + wait_s
        for outlet in self._outlets():
            outlet.close(max(0.0, deadline - time.monotonic()))

    def _outlets(self) -> list[Outlet]:
        return [*([self.stderr] if self.stderr is not None else []), *self.files.values()]

    def _retire(self, outlet: Outlet) -> None:
        outlet.close()
        self.retired[outlet.name] += outlet.dropped

    def _notice(self, outlet: Outlet, text: str) -> None:
        if outlet is self.stderr:
            # Not onto the stalled stderr itself: into the dashboard's lines; the outlet marks the gap in stderr.
            self.recent.append(f"serve[{self.pid}] WARNING: {text}")
        else:
            logger.warning(text)  # wherever the master's own lines go: its stderr, or the dashboard


MAX_INDEXES_KEPT = 4096
_stamp_second: dict[int, tuple[str, str]] = {}  # the current second's date-time and offset: one strftime a second


def _stamp() -> str:
    """ "2026-12-07 16:31:24.123+0100": the local time a line is written, to the millisecond."""
    now = time.time()
    second = int(now)
    parts = _stamp_second.get(second)
    if parts is None:
        text = local_time(second)  # "... HH:MM:SS.000+0100"
        parts = text[:-9], text[-5:]
        _stamp_second.clear()
        _stamp_second[second] = parts
    return f"{parts[0]}.{int((now - second) * 1000):03d}{parts[1]}"


def _json_master_lines() -> None:
    """The master's own lines as JSON objects: its stderr handlers (line handlers under the loop) get `JsonFormatter`."""
    for name in ("serve", "serve.error", "serve.access", ""):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, LineHandler) or type(handler) is logging.StreamHandler:
                handler.setFormatter(JsonFormatter())


def _encode(text: str) -> bytes:
    return (text + "\n").encode("utf-8", "backslashreplace")


class RecentHandler(logging.Handler):
    """The master's own log records, as lines of the dashboard's log pane (`serve[pid] ...`)."""

    def __init__(self, log: PlainLog) -> None:
        super().__init__()
        self.log = log
        self.pid = os.getpid()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            self.log.recent.append(f"serve[{self.pid}] {text}")
            self.log.ring.add(LOG_MASTER, self.pid, text)
        except Exception:
            self.handleError(record)
