"""serve's loggers, their uvicorn-style formats and colours, and --log-config loading.

Logger names mirror uvicorn's with "serve." for "uvicorn.": "serve" (the parent, holding
the error handler), "serve.error", "serve.access" and "serve.asgi". A uvicorn log config
works as it is: its "uvicorn*" loggers are taken as serve's, and its formatters
`uvicorn.logging.DefaultFormatter` and `AccessFormatter` as `supervisor.logs`' own, which
take the same arguments (unless the config names serve's loggers itself).

`log_format = "json"` swaps both default formatters for `JsonFormatter`: one object per
line, the app and worker index taken from the SERVE_APP and SERVE_WORKER_ID the master
puts in each worker's environment. `access_log_format` (gunicorn's atoms) is compiled once
by `configure_logging`; unset, the access line costs what it always did.

The master alone swaps the handlers that write to stderr for a `LineHandler`
(`stderr_diverted`): its lines then share the non-blocking stderr writer that worker output
goes through, so a stalled stderr reader costs dropped lines, never a stalled master.
In a worker, the default config's `PipeHandler`s write its pipe to the master without
blocking, so a master that stops reading for a while (a slow hook, SIGSTOP) costs dropped,
counted lines, never a stalled app (so does any reader of a `serve run` on a pipe). The
app's own print() and a --log-config's handlers write as they always did, and may block.
"""

from __future__ import annotations

import configparser
import contextlib
import copy
import http
import json
import logging
import logging.config
import os
import select
import stat
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal, TextIO, cast

from supervisor.config.access_format import AccessFormat, AccessRecord, compile_format
from supervisor.errors import ConfigError, Problem

TRACE = 5
logging.addLevelName(TRACE, "TRACE")

LOG_LEVELS = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": TRACE,
}

SERVE_LOGGERS = ("serve", "serve.error", "serve.access", "serve.asgi")
error_logger = logging.getLogger("serve.error")
access_logger = logging.getLogger("serve.access")

# Turned off by configure_logging(access_log=False); read on every response.
_access_on = True
# Set by configure_logging(access_log_format=...); None: uvicorn's line.
_access_format: AccessFormat | None = None

_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
_LEVEL_COLOURS = {
    TRACE: "\x1b[34m",  # blue
    logging.DEBUG: "\x1b[36m",  # cyan
    logging.INFO: "\x1b[32m",  # green
    logging.WARNING: "\x1b[33m",  # yellow
    logging.ERROR: "\x1b[31m",  # red
    logging.CRITICAL: "\x1b[91m",  # bright red
}
_STATUS_CLASS_COLOURS = {
    1: "\x1b[97m",  # bright white
    2: "\x1b[32m",
    3: "\x1b[33m",
    4: "\x1b[31m",
    5: "\x1b[91m",
}
_PHRASES = {status.value: status.phrase for status in http.HTTPStatus}

DEFAULT_FORMAT = "%(levelprefix)s %(message)s"
ACCESS_FORMAT = '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s %(duration)s'


def colours_wanted(use_colors: bool | None, stream: TextIO) -> bool:
    """True and False are obeyed; None means colour only a terminal, and never under NO_COLOR."""
    if use_colors is not None:
        return use_colors
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())


class DefaultFormatter(logging.Formatter):
    """uvicorn's "INFO:     message" layout: `%(levelprefix)s` is the level name, a colon, padding.

    With colours on, the level name is coloured and a record's `color_message` extra, when
    present, replaces its plain message.
    """

    default_stream = "stderr"

    def __init__(
        self,
        fmt: str | None = None,
        datefmt: str | None = None,
        style: Literal["%", "{", "$"] = "%",
        use_colors: bool | None = None,
    ) -> None:
        super().__init__(fmt=fmt or DEFAULT_FORMAT, datefmt=datefmt, style=style)
        self.use_colors = colours_wanted(use_colors, getattr(sys, self.default_stream))

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        # A copy, because other handlers may format the same record without colours.
        record = copy.copy(record)
        levelname = record.levelname
        padding = " " * max(0, 8 - len(levelname))
        if self.use_colors:
            colour = _LEVEL_COLOURS.get(record.levelno)
            if colour is not None:
                levelname = f"{colour}{levelname}{_RESET}"
            color_message = record.__dict__.get("color_message")
            if color_message is not None:
                record.msg = color_message
                record.message = record.getMessage()
        record.levelprefix = f"{levelname}:{padding}"
        self.add_fields(record)
        return super().formatMessage(record)

    def add_fields(self, record: logging.LogRecord) -> None:
        """Hook for subclasses to add format fields to the (copied) record."""


class AccessFormatter(DefaultFormatter):
    """uvicorn's access line, plus the time the response took.

    Expects the records `log_access` makes: args (client, method, target, http_version,
    status) and a `duration_s` extra. Fields: `client_addr`, `request_line`, `status_code`
    ("200 OK", coloured by class) and `duration` ("1.2ms").
    """

    default_stream = "stdout"

    def __init__(
        self,
        fmt: str | None = None,
        datefmt: str | None = None,
        style: Literal["%", "{", "$"] = "%",
        use_colors: bool | None = None,
    ) -> None:
        super().__init__(fmt=fmt or ACCESS_FORMAT, datefmt=datefmt, style=style, use_colors=use_colors)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        line = record.__dict__.get("access_line")
        return line if isinstance(line, str) else super().formatMessage(record)  # access_log_format's, as it is

    def add_fields(self, record: logging.LogRecord) -> None:
        args = record.args
        status = args[4] if isinstance(args, tuple) and len(args) == 5 else None
        if not isinstance(status, int) or not isinstance(args, tuple):
            # Someone logged free text on serve.access: show it rather than fail.
            record.client_addr, record.request_line, record.status_code, record.duration = "-", record.message, "-", ""
            return
        client, method, target, http_version = args[:4]
        request_line = f"{method} {target} HTTP/{http_version}"
        status_code = f"{status} {_PHRASES.get(status, '')}".rstrip()
        if self.use_colors:
            request_line = f"{_BOLD}{request_line}{_RESET}"
            colour = _STATUS_CLASS_COLOURS.get(status // 100)
            if colour is not None:
                status_code = f"{colour}{status_code}{_RESET}"
        duration_s = record.__dict__.get("duration_s")
        record.client_addr = client
        record.request_line = request_line
        record.status_code = status_code
        record.duration = format_duration(duration_s) if duration_s is not None else ""


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts (UTC), level, logger, app, worker, pid, message.

    Access records add method, path, status, duration_ms, client and bytes; an exception
    adds exc (the traceback). `app` and `worker` default to the SERVE_APP and SERVE_WORKER_ID
    of the process (null in the master). Extra keyword arguments of the other formatters
    (fmt, use_colors) are accepted and ignored, so a log config can switch by name.
    """

    def __init__(self, app: str | None = None, worker: int | None = None, **ignored: object) -> None:
        super().__init__()
        self.app = app if app is not None else os.environ.get("SERVE_APP")
        index = os.environ.get("SERVE_WORKER_ID", "")
        self.worker = worker if worker is not None else (int(index) if index.isdigit() else None)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": iso_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "app": self.app,
            "worker": self.worker,
            "pid": record.process,
            "message": record.getMessage(),
        }
        args = record.args
        duration_s = record.__dict__.get("duration_s")
        if duration_s is not None and isinstance(args, tuple) and len(args) == 5:
            client, method, target, _, status = args
            line = record.__dict__.get("access_line")
            if isinstance(line, str):
                entry["message"] = line
            entry.update(
                method=method,
                path=target,
                status=status,
                duration_ms=round(duration_s * 1000, 3),
                client=client,
                bytes=record.__dict__.get("sent", 0),
            )
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def iso_time(created: float) -> str:
    """ "2026-12-07T15:31:24.123Z": UTC, to the millisecond."""
    whole = int(created)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((created - whole) * 1000):03d}Z"


def local_time(created: float) -> str:
    """ "2026-12-07 16:31:24.123+0100": local time with its offset, for text lines."""
    whole = int(created)
    local = time.localtime(whole)
    return (
        time.strftime("%Y-%m-%d %H:%M:%S", local) + f".{int((created - whole) * 1000):03d}" + time.strftime("%z", local)
    )


def format_duration(seconds: float) -> str:
    """ "0.3ms", "12.5ms", "1.25s": milliseconds below a second, seconds above."""
    if seconds < 1.0:
        return f"{seconds * 1000:.1f}ms"
    return f"{seconds:.2f}s"


def default_config(use_colors: bool | None = None, log_format: str = "text") -> dict[str, Any]:
    """The logging config used when no --log-config is given: errors to stderr, access to stdout."""
    if log_format == "json":
        config = default_config(use_colors=False)
        config["formatters"] = {"default": {"()": JsonFormatter}, "access": {"()": JsonFormatter}}
        return config
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "default": {
                "()": DefaultFormatter,
                "fmt": DEFAULT_FORMAT,
                "use_colors": colours_wanted(use_colors, sys.stderr),
            },
            "access": {
                "()": AccessFormatter,
                "fmt": ACCESS_FORMAT,
                "use_colors": colours_wanted(use_colors, sys.stdout),
            },
        },
        "handlers": {
            "default": {"formatter": "default", "class": "supervisor.logs.PipeHandler", "stream": "ext://sys.stderr"},
            "access": {"formatter": "access", "class": "supervisor.logs.PipeHandler", "stream": "ext://sys.stdout"},
        },
        "loggers": {
            "serve": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "serve.error": {"level": "INFO"},
            "serve.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }


def configure_logging(
    *,
    log_config: str | dict[str, Any] | None,
    log_level: str | None,
    use_colors: bool | None,
    access_log: bool,
    log_format: str,
    access_log_format: str | None = None,
) -> None:
    """Set up serve's loggers; call once per process, before serving (again on reload).

    Args:
        log_config: None for the default config; a dict for `logging.config.dictConfig`; or
            a file path: .json and .yaml/.yml are dictConfig files, anything else (.ini)
            goes to `logging.config.fileConfig`.
        log_level: a name from `LOG_LEVELS`, set on every serve logger; None keeps the
            levels `log_config` sets. A log config never disables serve's loggers (its
            disable_existing_loggers applies to other loggers only).
        use_colors: True/False force colours on/off; None colours terminals only. It
            applies to the default config, and to a dict config's "default" and "access"
            formatters when they are ours.
        access_log: False silences serve.access, and `log_access` then costs one check.
        log_format: "text" (uvicorn's lines) or "json" (`JsonFormatter`), for the default
            config; a log_config's own formatters are left as they are.
        access_log_format: gunicorn-style atoms for the access line; None: uvicorn's line.

    Raises:
        ConfigError: the log config file is missing, unreadable or invalid, the level is
            unknown, or the access log format does not compile.
    """
    global _access_on, _access_format
    logging.addLevelName(TRACE, "TRACE")
    level = _level_number(log_level) if log_level is not None else None
    _access_format = _compiled(access_log_format)
    if log_config is None:
        _apply_dict(default_config(use_colors, log_format), "<default log config>")
    elif isinstance(log_config, dict):
        _apply_dict(_with_colours(_from_uvicorn(log_config), use_colors), "<log_config>")
    else:
        _apply_file(log_config)
    if log_config is not None:
        # A config's disable_existing_loggers (True unless it says otherwise) would silence serve's
        # loggers, made before it; uvicorn's access logger is made after its config and keeps writing.
        for name in SERVE_LOGGERS:
            logging.getLogger(name).disabled = False
    if level is not None:
        for name in SERVE_LOGGERS:
            logging.getLogger(name).setLevel(level)
    _access_on = access_log
    if not access_log:
        access_logger.handlers = []
        access_logger.propagate = False


def send_to(handler: logging.Handler) -> None:
    """Route every serve logger that has a handler to `handler` alone (the dashboard's log pane)."""
    handler.setFormatter(DefaultFormatter("%(levelprefix)s %(message)s", use_colors=False))
    for name in SERVE_LOGGERS:
        logger = logging.getLogger(name)
        if logger.handlers:
            logger.handlers = [handler]


PIPE_BUFFER_BYTES = 1 << 20  # per handler: about ten thousand access lines, as the master's outlets keep
# POSIX: a write of at most PIPE_BUF bytes to a pipe is atomic (all or, non-blocking, EAGAIN), so
# lines written in such pieces, cut at a line's end, are never torn by another writer.
_ATOMIC_BYTES = select.PIPE_BUF
CLOSE_WAIT_S = 1.0  # at close, how long waiting lines may take to get out
_pipe_handlers: set[PipeHandler] = set()  # open ones, for the clock's flush; close() takes a handler out
# fd -> (pid, a non-blocking description of it), opened by a worker before it drops privileges:
# afterwards /proc/self/fd/N of the master's pipe (root's, mode 0600) cannot be opened.
_prepared: dict[int, tuple[int, int]] = {}


def prepare_pipes(*fds: int) -> None:
    """Open a non-blocking description of each pipe among `fds` now (a worker, still privileged)."""
    for fd in fds:
        with contextlib.suppress(OSError):
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                nonblocking = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
                _prepared[fd] = (os.getpid(), nonblocking)


class PipeHandler(logging.StreamHandler[TextIO]):
    """serve's own handler (the default config's two): a stream on a pipe is written without blocking.

    A worker's stdout and stderr are its pipe to the master; a master that stops reading (a
    slow hook, SIGSTOP) would leave the worker blocked in write() once the pipe is full, and
    its app unanswered. A pipe is therefore written through a non-blocking description of its
    own, opened through /proc/self/fd, so fds 1 and 2 stay blocking for the app's print().
    What does not fit waits in a bounded buffer, sent on later lines and on the server clock
    (`flush_pending`); past PIPE_BUFFER_BYTES lines are dropped until it drains, then one line
    says how many. A stream that is not a pipe (a terminal, a file) is written as by StreamHandler.
    """

    def __init__(self, stream: TextIO | None = None, limit: int = PIPE_BUFFER_BYTES) -> None:
        super().__init__(stream)
        self.limit = limit
        self.pid = 0  # the process `fd` belongs to: a forked child opens its own
        self.fd: int | None = None  # the non-blocking description; None: not a pipe, write the stream
        self.pending = bytearray()
        self.gap = 0  # lines dropped since the last one that got out
        self.dropped = 0
        _pipe_handlers.add(self)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fd = self._pipe()
            if fd is None:
                super().emit(record)
                return
            # What the app printed into the same stream goes first, as StreamHandler's flush did.
            self.stream.flush()
            line = self.format(record) + self.terminator
            self._put(fd, line.encode(getattr(self.stream, "encoding", None) or "utf-8", "backslashreplace"))
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def flush_pending(self, wait_s: float = 0.0) -> None:
        """Send what waits, as far as the pipe takes it, waiting up to `wait_s` seconds for room."""
        if not self.pending or self.pid != os.getpid() or self.fd is None:
            return
        deadline = time.monotonic() + wait_s
        with self.lock or contextlib.nullcontext():
            try:
                self._flush(self.fd)
                while self.pending and time.monotonic() < deadline:
                    time.sleep(0.01)  # only at close, once a pipe was full: a poll's precision buys nothing
                    self._flush(self.fd)
            except OSError:  # the reader is gone (EPIPE): what waits cannot be sent
                self.pending.clear()

    def close(self) -> None:
        self.flush_pending(CLOSE_WAIT_S)
        if self.fd is not None and self.pid == os.getpid():  # an fd inherited over fork is not ours to close
            with contextlib.suppress(OSError):
                os.close(self.fd)
        self.fd = None
        _pipe_handlers.discard(self)
        super().close()

    def _pipe(self) -> int | None:
        if self.pid == os.getpid():
            return self.fd
        self.pid, self.fd, self.gap = os.getpid(), None, 0
        self.pending.clear()  # the parent's: it sends them itself
        try:
            fileno = self.stream.fileno()
            if stat.S_ISFIFO(os.fstat(fileno).st_mode):
                self.stream.flush()  # what the stream holds goes first
                pid, prepared = _prepared.get(fileno, (0, -1))
                if pid == os.getpid():
                    self.fd = os.dup(prepared)  # the same description: non-blocking, opened before the drop
                else:
                    self.fd = os.open(f"/proc/self/fd/{fileno}", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except (AttributeError, OSError, ValueError) as error:  # no descriptor, or no /proc: write the stream
            if isinstance(error, PermissionError):
                _warn_blocking(error)
            self.fd = None
        return self.fd

    def _put(self, fd: int, data: bytes) -> None:
        if self.pending:
            self._flush(fd)
            if self.pending:
                if self.gap or len(self.pending) + len(data) > self.limit:
                    self.gap += 1  # until the buffer drains, so the gap sits at one place
                    self.dropped += 1
                else:
                    self.pending += data
                return
        written = _write_some(fd, data)
        if written < len(data):
            self.pending += data[written:]

    def _flush(self, fd: int) -> None:
        while self.pending:
            chunk = _whole_lines(self.pending)
            written = _write_some(fd, chunk)
            del self.pending[:written]
            if written < len(chunk):
                return
        if self.gap:
            gap, self.gap = self.gap, 0
            where = getattr(self.stream, "name", None) or "the pipe"
            text = f"{gap} log line{'s' if gap != 1 else ''} dropped: the reader of {where} fell {self.limit // 1024} KiB behind"
            record = logging.LogRecord("serve.error", logging.WARNING, __file__, 0, text, None, None)
            # In the handler's JSON when it writes JSON; else a plain line (not as a request).
            formatter = self.formatter if isinstance(self.formatter, JsonFormatter) else _MARKER_FORMATTER
            marker = (formatter.format(record) + self.terminator).encode()
            written = _write_some(fd, marker)
            self.pending += marker[written:]


_MARKER_FORMATTER = DefaultFormatter(use_colors=False)


def _whole_lines(pending: bytearray) -> bytes:
    """The next piece to write: whole lines up to PIPE_BUF bytes (atomic), or one longer line's start."""
    if len(pending) <= _ATOMIC_BYTES:
        return bytes(pending)
    end = pending.rfind(b"\n", 0, _ATOMIC_BYTES)
    return bytes(pending[: end + 1 if end >= 0 else _ATOMIC_BYTES])  # a line over PIPE_BUF may be torn


def _warn_blocking(error: OSError) -> None:
    print(f"serve: log lines are written blocking (no non-blocking pipe: {error})", file=sys.stderr, flush=True)


def _write_some(fd: int, data: bytes) -> int:
    """As much of `data` as the pipe takes now (0 when full). Raises OSError for EPIPE and kin."""
    try:
        return os.write(fd, data)
    except BlockingIOError:
        return 0


def flush_pending(wait_s: float = 0.0) -> None:
    """Send the log lines a full pipe held back (the server clock calls it; a worker before it exits, with a wait)."""
    for handler in list(_pipe_handlers):
        handler.flush_pending(wait_s)


class LineHandler(logging.Handler):
    """Hands each formatted record to `write` as one line (the master's stderr, written without blocking)."""

    def __init__(self, write: Callable[[str], None]) -> None:
        super().__init__()
        self.write = write
        self.pid = os.getpid()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if os.getpid() == self.pid:
                self.write(self.format(record))
            else:  # a process forked from the master: `write` feeds the master's loop, not ours
                sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


class LineStream:
    """`sys.stderr` in the master: text written to it becomes lines handed to `write`.

    What else writes to stderr (warnings, `logging.lastResort`, a traceback from a failing
    handler, an unraisable exception) then goes through the same non-blocking path as the
    master's log. A process forked from the master is not the master: there it writes to
    the real stderr (`sys.__stderr__`), as before.
    """

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write_line = write
        self.pid = os.getpid()
        self.partial = ""
        self.encoding = "utf-8"
        self.errors = "replace"

    def write(self, text: str) -> int:
        if os.getpid() != self.pid:
            real = sys.__stderr__
            return real.write(text) if real is not None else len(text)
        *lines, self.partial = (self.partial + text).split("\n")
        for line in lines:
            self.write_line(line)
        return len(text)

    def flush(self) -> None:
        """Lines are handed on as they end; a partial one waits for its newline."""

    def fileno(self) -> int:
        return 2

    def isatty(self) -> bool:
        return False


@contextlib.contextmanager
def stderr_diverted(write: Callable[[str], None]) -> Iterator[None]:
    """Within: serve's loggers (and the root logger) write their stderr lines through `write`.

    Each handler that writes to file descriptor 2 is swapped for a `LineHandler` with its
    level, filters and formatter (colours included); other handlers stay. `sys.stderr` and
    `logging.lastResort` go through `write` as well. The master uses it so that a stderr
    reader that stops reading cannot stall supervision. Everything is put back on the way out.
    """
    saved = {name: logging.getLogger(name).handlers for name in (*SERVE_LOGGERS, "")}
    swapped: dict[logging.Handler, logging.Handler] = {}
    for name, handlers in saved.items():
        logging.getLogger(name).handlers = [
            swapped.setdefault(handler, _line_handler(handler, write)) if _writes_to_stderr(handler) else handler
            for handler in handlers
        ]
    saved_stderr, saved_last_resort = sys.stderr, logging.lastResort
    sys.stderr = cast("TextIO", LineStream(write))
    last_resort = logging.lastResort = LineHandler(write)
    last_resort.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for name, handlers in saved.items():
            logging.getLogger(name).handlers = handlers
        sys.stderr, logging.lastResort = saved_stderr, saved_last_resort


def _writes_to_stderr(handler: logging.Handler) -> bool:
    # Exactly these: a FileHandler is a StreamHandler too, and stays as it is.
    if type(handler) not in (logging.StreamHandler, PipeHandler) or not isinstance(handler, logging.StreamHandler):
        return False
    try:
        return bool(handler.stream.fileno() == 2)
    except (AttributeError, OSError, ValueError):  # a stream without a descriptor (StringIO, closed)
        return False


def _line_handler(handler: logging.Handler, write: Callable[[str], None]) -> LineHandler:
    line_handler = LineHandler(write)
    line_handler.setLevel(handler.level)
    line_handler.setFormatter(handler.formatter)
    line_handler.filters = list(handler.filters)
    return line_handler


def access_enabled() -> bool:
    """Whether an access line would be written; lets the caller skip building its fields."""
    return _access_on and access_logger.isEnabledFor(logging.INFO)


def log_access(client: str, method: str, target: str, http_version: str, status: int, duration_s: float) -> None:
    """Write one access line: `127.0.0.1:5000 - "GET /path?q HTTP/1.1" 200 OK 1.2ms`.

    Args:
        client: "host:port" of the client ("" when unknown, e.g. a unix socket).
        method: the request method.
        target: path and query string as received.
        http_version: "1.1" or "1.0".
        status: the response status code.
        duration_s: seconds from the request head to the end of the response.
    """
    if _access_on and access_logger.isEnabledFor(logging.INFO):
        access_logger.info(
            '%s - "%s %s HTTP/%s" %d',
            client,
            method,
            target,
            http_version,
            status,
            extra={"duration_s": duration_s},
        )


def log_request(
    scope: Mapping[str, Any], status: int, headers: Sequence[tuple[bytes, bytes]], sent: int, duration_s: float
) -> None:
    """Write the access line of one finished HTTP request, in the configured format.

    Args:
        scope: the request's ASGI scope.
        status: the response status code.
        headers: the response headers the app sent.
        sent: response body bytes handed to the connection.
        duration_s: seconds from the request head to the end of the response.
    """
    if not (_access_on and access_logger.isEnabledFor(logging.INFO)):
        return
    client = scope["client"]
    query = scope["query_string"]
    target = scope["raw_path"].decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
    extra: dict[str, object] = {"duration_s": duration_s, "sent": sent}
    access_format = _access_format
    if access_format is not None:
        record = AccessRecord(scope, status, headers, sent, duration_s)
        if access_format.needs_time:
            record.time_text = _clf_now()
        extra["access_line"] = access_format.render(record)
    access_logger.info(
        '%s - "%s %s HTTP/%s" %d',
        f"{client[0]}:{client[1]}" if client else "-",
        scope["method"],
        target,
        scope["http_version"],
        status,
        extra=extra,
    )


_clf_cache: list[Any] = [0, ""]  # [second, its "[07/Dec/2026:15:31:24 +0000]"]: one strftime a second


def _clf_now() -> str:
    now = int(time.time())
    if _clf_cache[0] != now:
        _clf_cache[:] = [now, time.strftime("[%d/%b/%Y:%H:%M:%S %z]", time.localtime(now))]
    return str(_clf_cache[1])


def _compiled(access_log_format: str | None) -> AccessFormat | None:
    if access_log_format is None:
        return None
    try:
        return compile_format(access_log_format, pid=os.getpid(), environ=os.environ)
    except ValueError as error:
        raise ConfigError([Problem("<options>", None, "access_log_format", str(error))]) from None


def _level_number(name: str) -> int:
    try:
        return LOG_LEVELS[name.lower()]
    except KeyError:
        choices = ", ".join(LOG_LEVELS)
        raise ConfigError(
            [Problem("<options>", None, "log_level", f'expected one of {choices}, got "{name}"')]
        ) from None


def _with_colours(config: dict[str, Any], use_colors: bool | None) -> dict[str, Any]:
    if use_colors is None:
        return config
    config = copy.deepcopy(config)
    for name in ("default", "access"):
        formatter = config.get("formatters", {}).get(name)
        if isinstance(formatter, dict) and formatter.get("()") in _OUR_FORMATTERS:
            formatter["use_colors"] = use_colors
    return config


_OUR_FORMATTERS = (
    DefaultFormatter,
    AccessFormatter,
    "supervisor.logs.DefaultFormatter",
    "supervisor.logs.AccessFormatter",
)


def _apply_dict(config: dict[str, Any], source: str) -> None:
    try:
        logging.config.dictConfig(_from_uvicorn(config))
    except (ValueError, TypeError, AttributeError, ImportError) as exc:
        raise _invalid(source, None, f"invalid logging configuration: {_reason(exc)}") from exc


def _apply_file(path: str) -> None:
    if not os.path.isfile(path):
        raise _invalid(path, None, "log config file not found")
    if path.endswith((".json", ".yaml", ".yml")):
        _apply_dict(_read_dict_file(path), path)
        return
    try:
        # disable_existing_loggers=False: the app's loggers exist already and must keep working.
        logging.config.fileConfig(_ini_from_uvicorn(path), disable_existing_loggers=False)
    except Exception as exc:  # configparser, KeyError and friends: all mean a bad file
        raise _invalid(path, None, f"invalid logging configuration: {_reason(exc)}") from exc


_UVICORN_FORMATTERS = {
    "uvicorn.logging.DefaultFormatter": "supervisor.logs.DefaultFormatter",
    "uvicorn.logging.AccessFormatter": "supervisor.logs.AccessFormatter",
    "uvicorn.logging.ColourizedFormatter": "supervisor.logs.DefaultFormatter",
}


def _serve_name(name: str) -> str:
    """ "uvicorn.access" -> "serve.access"; other names as they are."""
    return "serve" + name[len("uvicorn") :] if name == "uvicorn" or name.startswith("uvicorn.") else name


def _speaks_uvicorn(names: Sequence[str]) -> bool:
    """Names uvicorn's loggers and none of serve's: written for uvicorn, and silent under serve as it is."""
    return any(_serve_name(name) != name for name in names) and not any(
        name == "serve" or name.startswith("serve.") for name in names
    )


def _from_uvicorn(config: dict[str, Any]) -> dict[str, Any]:
    """A dictConfig written for uvicorn, its loggers and formatters renamed to serve's."""
    loggers = config.get("loggers")
    if not isinstance(loggers, dict) or not _speaks_uvicorn(list(loggers)):
        return config
    config = copy.deepcopy(config)
    config["loggers"] = {_serve_name(name): value for name, value in loggers.items()}
    for formatter in (config.get("formatters") or {}).values():
        for key in ("()", "class"):
            if isinstance(formatter, dict) and formatter.get(key) in _UVICORN_FORMATTERS:
                formatter[key] = _UVICORN_FORMATTERS[formatter[key]]
    return config


def _ini_from_uvicorn(path: str) -> str | configparser.RawConfigParser:
    """An .ini log config written for uvicorn, its logger qualnames and formatter classes renamed."""
    parser = configparser.ConfigParser()  # as fileConfig reads it
    parser.read(path, encoding="utf-8")
    loggers = [parser[section] for section in parser.sections() if section.startswith("logger_")]
    if not _speaks_uvicorn([logger.get("qualname", "") for logger in loggers]):
        return path
    for logger in loggers:
        logger["qualname"] = _serve_name(logger.get("qualname", ""))
    for section in parser.sections():
        target = parser[section].get("class")
        if section.startswith("formatter_") and target in _UVICORN_FORMATTERS:
            parser[section]["class"] = _UVICORN_FORMATTERS[target]
    return parser


def _read_dict_file(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise _invalid(path, None, f"cannot read: {_reason(exc)}") from exc
    if path.endswith(".json"):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _invalid(path, exc.lineno, f"invalid JSON: {exc.msg}") from exc
    else:
        loaded = _parse_yaml(path, text)
    if not isinstance(loaded, dict):
        raise _invalid(path, None, f"expected a mapping at the top level, got {type(loaded).__name__}")
    return loaded


def _parse_yaml(path: str, text: str) -> Any:
    import yaml  # only .yaml log configs pay for PyYAML

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise _invalid(path, line, f"invalid YAML: {problem}") from exc


def _invalid(path: str, line: int | None, message: str) -> ConfigError:
    return ConfigError([Problem(path, line, "", message)])


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
