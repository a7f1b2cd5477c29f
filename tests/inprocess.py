"""Serving an app inside the test process: `Server.serve()` on a loopback socket, no `serve` child.

`serve_inprocess(target, **options)` builds a `Config` from uvicorn-style keywords, binds
127.0.0.1 port 0 itself and runs `Server.serve([sock])` on a fresh event loop of the
configured kind (uvloop by default, as `serve run` would) in a background thread of the test
process. The loop is the test's own: the test starts it, is told when it is ready and stops
it, with no process in between. Why a thread rather than async tests: the integration tests
talk to the server the way clients do, with blocking raw sockets, httpx and websockets' sync
client, and those must not block the loop that serves them. Whatever needs a real process
(exit codes, signals, the CLI's flags and output, `serve up`) lives in tests/system.

What a `serve run` child gave for free, and how it is kept here:
- readiness: the server's `Observer.ready` (every socket accepts), never a log line or a sleep;
  a server that fails to start raises at once with its output and the error.
- output: records of serve's loggers emitted on the server's thread, formatted as serve's
  default log config formats them (`ERROR:    Exception in ASGI application`), plus what the
  app's module prints (its `print` is shadowed by one that appends to the output). The thread
  filter keeps two servers alive at once from reading each other's lines.
- per-process app state: the app module of a "module:attr" target is imported afresh for each
  server (its `sys.modules` entry is set aside meanwhile), so counters and events such as
  tests/apps' `RELEASE` start new, as they did in a new process.
- signals: none are taken (`install_signal_handlers=False`); a stop is `should_exit`, as for
  any program embedding `Server`, bounded by the graceful timeout plus a margin.
- global state is put back on the way out: serve's loggers (handlers, levels, propagation),
  the `sys.path` entries `load_app` added, the app module's `sys.modules` entry.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from support import APPS_DIR, wait_for_line

from supervisor import logs
from supervisor.config.options import Config
from supervisor.server.server import Server
from supervisor.server.state import ServerState
from supervisor.sockets import bind_tcp, describe

START_TIMEOUT_S = 20.0
STOP_MARGIN_S = 10.0  # beyond the graceful timeout: lifespan shutdown and the loop's own cleanup
UNBOUNDED_DRAIN_S = 10.0  # how long a stop waits for a drain the config leaves unbounded
LOOPBACK = "127.0.0.1"


class InProcessServer:
    """One `Server` on its own loop in a background thread; the attributes tests used on `ServeProcess`."""

    def __init__(self, app: str | Callable[..., Any], options: dict[str, Any]) -> None:
        if isinstance(app, str):
            options.setdefault("app_dir", str(APPS_DIR))
        self.config = Config(app, host=LOOPBACK, port=0, **options).app_config
        self.module_name = app.partition(":")[0] if isinstance(app, str) else None
        self.lines: list[str] = []
        self.error: BaseException | None = None
        self.url = ""
        self._changed = threading.Condition()
        self._settled = threading.Event()  # ready, or the thread ended first
        self._ready = False
        self._added_paths: list[str] = []  # by load_app, removed again at stop
        self._set_aside: ModuleType | None = None  # the app module imported before this server
        self.module: ModuleType | None = None  # the app module as this server imported it
        self._thread = threading.Thread(target=self._run, name=f"serve-inprocess-{app!r}", daemon=True)
        self._capture = _Capture(self)
        self.server = Server(self.config, install_signal_handlers=False, observer=self)
        self.sock = bind_tcp(LOOPBACK, 0, backlog=self.config.backlog)

    # -- Observer: called on the server's loop

    def ready(self, state: ServerState) -> None:
        self._ready = True
        self._settled.set()

    def tick(self, state: ServerState) -> None:
        """The heartbeat: nothing to report in a test."""

    def draining(self, state: ServerState) -> None:
        """A stop began: `stop` waits for the thread instead."""

    # -- What tests read

    @property
    def host(self) -> str:
        return str(self.sock.getsockname()[0])

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    @property
    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def add_output(self, text: str) -> None:
        """Append `text` (one or more lines) to the output; called from the server's thread."""
        with self._changed:
            self.lines.extend(text.splitlines() or [""])
            self._changed.notify_all()

    def wait_for_line(
        self, pattern: str | re.Pattern[str], timeout: float = START_TIMEOUT_S, start: int = 0
    ) -> re.Match[str]:
        """Block until a line at index >= start matches, the server stops, or `timeout` passes."""
        return wait_for_line(
            self.lines, self._changed, pattern, timeout=timeout, start=start, ended=lambda: not self._thread.is_alive()
        )

    # -- Life

    def start(self) -> None:
        """Start the thread and wait for the server's ready call; on failure, raise with its output."""
        path_before = list(sys.path)
        if self.module_name is not None:
            self._set_aside = sys.modules.pop(self.module_name, None)
        self._capture.attach()
        self._thread.start()
        settled = self._settled.wait(START_TIMEOUT_S)
        self._added_paths = [path for path in sys.path if path not in path_before]
        self.module = sys.modules.get(self.module_name) if self.module_name is not None else None
        if not (settled and self._ready):
            self.stop()
            why = "did not start" if settled else f"was not ready within {START_TIMEOUT_S}s"
            raise AssertionError(f"the server {why}:\n{self.output}") from self.error
        if self.module is not None:
            # Name lookup in the module finds this before the builtin: its prints become output.
            self.module.print = self._print  # type: ignore[attr-defined]
        self.url = describe(self.sock, tls=bool(self.config.ssl_certfile))

    def stop(self) -> None:
        """Ask for a graceful stop and wait for the thread, bounded; a server that will not end fails."""
        self._ask_to_exit()
        graceful = self.config.graceful_timeout
        self._thread.join((UNBOUNDED_DRAIN_S if graceful is None else graceful) + STOP_MARGIN_S)
        if self._thread.is_alive():
            self.server.force_exit = True
            self._thread.join(STOP_MARGIN_S)
        try:
            if self._thread.is_alive():
                raise AssertionError(f"the server did not stop:\n{self.output}")
            if self.error is not None and self._ready:
                raise AssertionError(f"the server failed while serving:\n{self.output}") from self.error
        finally:
            self._restore()

    def _ask_to_exit(self) -> None:
        if not self._thread.is_alive():
            return
        # Server forgets its loop when serve() returns, but the loop may still close between the
        # setter's check and its wake-up call: nothing is left to stop then.
        with contextlib.suppress(RuntimeError):
            self.server.should_exit = True

    def _restore(self) -> None:
        self._capture.detach()
        self.sock.close()
        for path in self._added_paths:
            if path in sys.path:
                sys.path.remove(path)
        if self.module_name is None:
            return
        if self.module is not None and sys.modules.get(self.module_name) is self.module:
            del sys.modules[self.module_name]
        if self._set_aside is not None:
            sys.modules.setdefault(self.module_name, self._set_aside)

    def _run(self) -> None:
        try:
            self.server.run([self.sock])
        except BaseException as error:  # reported by start() or stop() in the test's thread
            self.error = error
            self.add_output("".join(traceback.format_exception(error)))
        finally:
            self._settled.set()
            with self._changed:
                self._changed.notify_all()

    def _print(self, *values: object, sep: str | None = " ", end: str | None = "\n", **_: object) -> None:
        text = (" " if sep is None else sep).join(str(value) for value in values)
        self.add_output(text + ("\n" if end is None else end))

    def is_serving_thread(self, thread_id: int | None) -> bool:
        return thread_id is not None and thread_id == self._thread.ident


@contextmanager
def serve_inprocess(app: str | Callable[..., Any], **options: Any) -> Iterator[InProcessServer]:
    """Serve `app` ("module:attr" from tests/apps unless `app_dir` says otherwise, or the app itself)
    on 127.0.0.1, port 0, in this process; `Config` keywords as `options`; stopped afterwards."""
    server = InProcessServer(app, dict(options))
    server.start()
    try:
        yield server
    finally:
        server.stop()


# -- serve's loggers, shared by every server alive in the process


class _Capture(logging.Handler):
    """Formats serve's records from one server's thread into that server's output."""

    def __init__(self, server: InProcessServer) -> None:
        super().__init__()
        self.server = server
        self.default = logs.DefaultFormatter(use_colors=False)
        self.access = logs.AccessFormatter(use_colors=False)

    def filter(self, record: logging.LogRecord) -> bool:
        return self.server.is_serving_thread(record.thread)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            formatter = self.access if record.name == logs.access_logger.name else self.default
            self.server.add_output(formatter.format(record))
        except Exception:
            self.handleError(record)

    def attach(self) -> None:
        _LOGGERS.take()
        logging.getLogger("serve").addHandler(self)

    def detach(self) -> None:
        if self in logging.getLogger("serve").handlers:
            logging.getLogger("serve").removeHandler(self)
            _LOGGERS.give_back()


class _SharedLoggers:
    """serve's loggers set up as its default config does, while at least one server runs.

    Every record ends at "serve" (the capture handlers hang there, one per server) and goes
    no further; what the loggers had before the first server is put back after the last.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0
        self.saved: list[tuple[logging.Logger, list[logging.Handler], int, bool, bool]] = []

    def take(self) -> None:
        with self.lock:
            self.users += 1
            if self.users > 1:
                return
            for name in logs.SERVE_LOGGERS:
                logger = logging.getLogger(name)
                self.saved.append((logger, list(logger.handlers), logger.level, logger.propagate, logger.disabled))
                logger.handlers = []
                logger.setLevel(logging.INFO if name == "serve" else logging.NOTSET)
                logger.propagate = name != "serve"
                logger.disabled = False

    def give_back(self) -> None:
        with self.lock:
            self.users -= 1
            if self.users > 0:
                return
            for logger, handlers, level, propagate, disabled in self.saved:
                logger.handlers = handlers
                logger.setLevel(level)
                logger.propagate = propagate
                logger.disabled = disabled
            self.saved = []


_LOGGERS = _SharedLoggers()
