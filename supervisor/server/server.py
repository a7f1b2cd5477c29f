"""`Server`: one process serving one ASGI app on its listening sockets, with uvicorn's API.

Startup order: bind and make the TLS context (so a bad address or certificate fails
before the app is imported), load the app, lifespan startup, then accept. Shutdown order:
stop accepting, drain connections within `graceful_timeout`, cancel what is left,
lifespan shutdown last.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import ssl
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Protocol, TypeVar

from supervisor import logs, sockets as listeners
from supervisor.asgi.environment import apply_environment
from supervisor.asgi.loader import load_app
from supervisor.asgi.proxy_headers import TrustedHosts
from supervisor.config.convert import UnixBind
from supervisor.config.options import Config
from supervisor.config.schema import log_level_given
from supervisor.protocol.response import header_line
from supervisor.protocol.upgrade import WebSocketSettings
from supervisor.server.connection import DRAIN_IDLE_GRACE_S, HttpConnection
from supervisor.server.lifespan import Lifespan
from supervisor.server.loops import resolve_http, run_on_new_loop
from supervisor.server.state import ConnectionLimits, ServerState
from supervisor.server.tls import create_ssl_context

if TYPE_CHECKING:
    from supervisor.config.schema import AppConfig
    from supervisor.status.slots import WorkerCounters

logger = logging.getLogger("serve.error")
_T = TypeVar("_T")


def configure_logging(config: AppConfig) -> None:
    """Set up serve's loggers from an app's logging keys.

    As uvicorn's --log-level, log_level applies over a log config's own levels only when given.
    """
    logs.configure_logging(
        log_config=config.log_config,
        log_level=config.log_level if config.log_config is None or log_level_given(config) else None,
        use_colors=config.use_colors,
        access_log=config.access_log,
        log_format=config.log_format,
        access_log_format=config.access_log_format,
    )


CLOCK_INTERVAL_S = 1.0  # Date header granularity and the longest wait before a timeout is noticed
DRAIN_CLOCK_INTERVAL_S = 0.25
CANCELLED_REPLY_S = 1.0  # at the graceful timeout: how long cancelled requests get to answer 500


class Observer(Protocol):
    """Told about the server's life; the master's worker bootstrap reports it in the status slot."""

    def ready(self, state: ServerState) -> None:
        """Lifespan startup is done and every socket accepts."""

    def tick(self, state: ServerState) -> None:
        """The server clock ticked (every `Server.tick_interval` seconds): the heartbeat."""

    def draining(self, state: ServerState) -> None:
        """A stop began: no more accepting; in-flight requests finish."""


class Server:
    """Serves one app. `run()` blocks; `await serve()` runs inside an existing loop.

    Set `should_exit = True` for a graceful stop (from any thread), `force_exit = True`
    to skip the drain.
    """

    def __init__(
        self,
        config: Config | AppConfig,
        *,
        install_signal_handlers: bool = True,
        worker: bool = False,
        observer: Observer | None = None,
        counters: WorkerCounters | None = None,
        tick_interval: float = CLOCK_INTERVAL_S,
    ) -> None:
        """Args:
        config: the app's settings (uvicorn-style `Config`, or an `AppConfig`).
        install_signal_handlers: take SIGINT/SIGTERM (SIGTERM/SIGQUIT as a worker) while serving.
        worker: run as a process manager's worker: SIGTERM drains, SIGQUIT stops at once
            (SIGINT is the manager's: serve's master ignores it in workers, gunicorn's quits).
        observer: told when the server is ready, on every clock tick, and when it drains.
        counters: per-response figures (requests, status classes, latency) to keep up to date.
        tick_interval: the longest time between two clock ticks.
        """
        if isinstance(config, Config):
            # uvicorn's Config sets logging up when it is made; ours cannot (config/ sits
            # below logs), so the uvicorn-style entry point does it here.
            self.config = config.app_config
            configure_logging(self.config)
        else:
            self.config = config
        self.install_signal_handlers = install_signal_handlers
        self.worker = worker
        self.observer = observer
        self.counters = counters
        self.tick_interval = tick_interval
        self.started = False
        self.force_exit = False
        self.state: ServerState | None = None
        self.servers: list[asyncio.AbstractServer] = []
        self._should_exit = False
        self._exit_requested: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clock: asyncio.TimerHandle | None = None
        self._startup: asyncio.Future[None] | None = None
        self._lifespan_stop: asyncio.Future[None] | None = None  # lifespan shutdown, while it runs
        self._clock_failures: set[tuple[str, type[BaseException]]] = set()

    @property
    def should_exit(self) -> bool:
        return self._should_exit

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        self._should_exit = value
        if value and self._loop is not None and self._exit_requested is not None:
            self._loop.call_soon_threadsafe(_resolve, self._exit_requested)

    def run(self, sockets: list[socket.socket] | None = None) -> None:
        """Serve until told to stop, on a new event loop of the configured kind."""
        run_on_new_loop(self.serve(sockets), self.config.loop)

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        """Serve on `sockets` (or the configured binds) until `should_exit`.

        Raises:
            StartupError: the app could not be loaded, bound or started (exit code 3).
        """
        config = self.config
        loop = self._loop = asyncio.get_running_loop()
        self._exit_requested = loop.create_future()
        if self._should_exit:
            _resolve(self._exit_requested)
        logger.info("Started server process [%d]", os.getpid())
        bound = sockets if sockets is not None else _bind_all(config)
        try:
            await self._serve_on(bound, loop)
        finally:
            # Setting should_exit after serve() returned must not reach a loop that may be closed.
            self._loop = self._exit_requested = None
            if sockets is None:
                _close_all(bound, config)

    async def _serve_on(self, bound: list[socket.socket], loop: asyncio.AbstractEventLoop) -> None:
        config = self.config
        # Before the app: a bad certificate must not wait for (or run) the app's startup.
        ssl_context = create_ssl_context(config, http2=config.http2)
        apply_environment(config.env_file, config.env)  # under a master, the worker's bootstrap has done it
        # uvicorn puts its --app-dir (default: the working directory) first on sys.path.
        app = load_app(config.app, factory=config.factory, interface=config.interface, app_dir=config.app_dir or ".")
        lifespan = Lifespan(app, config.lifespan, logger)
        # Stop signals count from here: one during a slow startup lets startup finish, then
        # skips serving and runs lifespan shutdown; a second SIGINT (or SIGQUIT) abandons it.
        with _SignalCapture(self, loop, enabled=self.install_signal_handlers):
            self._startup = asyncio.ensure_future(lifespan.startup())
            try:
                await self._startup
            except asyncio.CancelledError:
                if not self.force_exit:
                    raise
                logger.warning("Startup abandoned: stopped at once.")
                return
            finally:
                self._startup = None
            await self._run_started(bound, loop, lifespan, ssl_context)

    async def _run_started(
        self,
        bound: list[socket.socket],
        loop: asyncio.AbstractEventLoop,
        lifespan: Lifespan,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        config = self.config
        try:
            if self._should_exit:
                logger.info("Stopped during startup: not serving.")
                return
            state = self.state = self._new_state(lifespan.app, loop, lifespan.state)
            for sock in bound:
                local = _fixed_local_address(sock)
                server = await loop.create_server(
                    partial(HttpConnection, state, local, ssl_context is not None),
                    sock=sock,
                    ssl=ssl_context,
                    # A handshake never started must not hold its descriptor for asyncio's 60 s:
                    # it gets the time a request head gets (asyncio refuses the argument without ssl).
                    ssl_handshake_timeout=config.timeout_request_header if ssl_context is not None else None,
                    backlog=config.backlog,
                )
                self.servers.append(server)
                where = listeners.describe(sock, tls=ssl_context is not None)
                logger.info("serve running on %s (Press CTRL+C to quit)", where)
            self._tick()
            self.started = True
            if self.observer is not None:
                self.observer.ready(state)
            await self._exit_requested  # type: ignore[misc]
            if self.observer is not None:
                self.observer.draining(state)
            await self._shutdown(state)
        finally:
            if self._clock is not None:
                self._clock.cancel()
            await self._shut_lifespan(lifespan)
            logger.info("Finished server process [%d]", os.getpid())

    async def _shut_lifespan(self, lifespan: Lifespan) -> None:
        """Lifespan shutdown, which a second SIGINT (or SIGQUIT) skips or abandons, as it does startup."""
        if self.force_exit:
            logger.warning("Application shutdown skipped: stopped at once.")
            return
        self._lifespan_stop = asyncio.ensure_future(lifespan.shutdown())
        try:
            await self._lifespan_stop
        except asyncio.CancelledError:
            if not self._forced():  # cancelled from outside (the loop's end), not by a second signal
                raise
            logger.warning("Application shutdown abandoned: stopped at once.")
        finally:
            self._lifespan_stop = None

    def _new_state(
        self, app: object, loop: asyncio.AbstractEventLoop, lifespan_state: dict[str, object]
    ) -> ServerState:
        config = self.config
        extra = []
        for name, value in config.headers:
            name_bytes, value_bytes = name.strip().lower().encode("latin-1"), value.strip().encode("latin-1")
            extra.append(header_line(name_bytes, value_bytes))
        http = resolve_http(config.http)
        state = ServerState(
            app=app,  # type: ignore[arg-type]
            loop=loop,
            limits=ConnectionLimits.of(config, http=http),
            http=http,
            trusted=TrustedHosts(config.forwarded_allow_ips) if config.proxy_headers else None,
            server_header=config.server_header,
            date_header=config.date_header,
            extra_headers=b"".join(extra),
            lifespan_state=lifespan_state,
            on_max_requests=self._max_requests_reached,
            counters=self.counters,
            ws=_websocket_settings(config),
            reset_contextvars=config.reset_contextvars,
        )
        if config.http2:
            # Imported only then: a server without HTTP/2 never loads the h2 library.
            from supervisor.server.h2_connection import h2_limits

            state.h2 = h2_limits(config)
        state.tick_date(time.time())
        return state

    def _max_requests_reached(self) -> None:
        logger.warning("Maximum request limit of %d reached: shutting down.", self.config.max_requests)
        self.retire()

    def retire(self) -> None:
        """Stop accepting now and drain: what the `max_requests` limit and a worker's memory limit do.

        Synchronous, so nothing is accepted after the call and every response whose head is
        not written yet says `Connection: close`; the drain itself follows as for any stop.
        """
        for server in self.servers:
            server.close()  # a second close does nothing (asyncio's and uvloop's alike)
        if self.state is not None:
            self.state.draining = True
        self.should_exit = True

    def _tick(self) -> None:
        """The server clock: refresh the Date header, enforce idle and head timeouts, tell the observer.

        It reschedules itself first and survives a failure of any step (EMFILE when the
        observer reads /proc, say): a clock that stopped would freeze the Date header, end
        every timeout and the heartbeat, and get a healthy worker killed as hung.
        """
        state = self.state
        assert state is not None  # noqa: S101 - both are set before the first tick
        assert self._loop is not None  # noqa: S101
        limits = state.limits
        interval = (
            DRAIN_CLOCK_INTERVAL_S
            if state.draining
            else min(self.tick_interval, limits.timeout_keep_alive / 4, limits.timeout_request_header / 4)
        )
        if self._clock is not None:
            self._clock.cancel()  # _shutdown ticks at once to switch to the drain interval: one clock only
        self._clock = self._loop.call_later(max(interval, 0.05), self._tick)
        self._guarded("the Date header", state.tick_date, time.time())
        now = time.monotonic()
        for conn in list(state.connections):
            self._guarded("a connection's timeouts", conn.sweep, now)
        if self.observer is not None:
            self._guarded("the observer", self.observer.tick, state)
        # Log lines a full pipe held back (a master that stopped reading) go out when it reads again.
        self._guarded("the log output", logs.flush_pending, 0.0)

    def _guarded(self, what: str, step: Callable[[_T], object], argument: _T) -> None:
        try:
            step(argument)
        except Exception as error:
            kind = (what, type(error))
            if kind not in self._clock_failures:  # once per kind: a lasting condition must not flood the log
                self._clock_failures.add(kind)
                logger.exception("server clock: %s failed (%r); the clock goes on", what, error)

    async def _shutdown(self, state: ServerState) -> None:
        self.retire()
        self._tick()
        if (state.connections or state.tls_handshakes) and not self.force_exit:
            logger.info("Waiting for %d connection(s) to finish.", len(state.connections) + len(state.tls_handshakes))
            await self._wait_drained(state)
        tasks = [conn.task for conn in state.connections if conn.task is not None and not conn.task.done()]
        for task in tasks:
            task.cancel()
        if tasks and not self.force_exit:
            # A cancelled request whose response has not begun is answered 500 (as uvicorn's) and
            # logged as the task ends: let it, before the connections are cut. An app that shrugs
            # off the cancellation is not waited for longer than CANCELLED_REPLY_S here.
            await asyncio.wait(tasks, timeout=CANCELLED_REPLY_S)
        for conn in list(state.connections):
            conn.abort()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _wait_drained(self, state: ServerState) -> None:
        loop = asyncio.get_running_loop()
        timeout = self.config.graceful_timeout
        began = loop.time()
        deadline = None if timeout is None else began + timeout
        # A TLS handshake under way when the drain began is waited for as briefly as an idle
        # connection is kept (a client may be sending its request already), then let go.
        while (
            state.connections or (state.tls_handshakes and loop.time() - began < DRAIN_IDLE_GRACE_S)
        ) and not self.force_exit:
            # Woken by the clock (every DRAIN_CLOCK_INTERVAL_S) rather than per connection:
            # draining is rare and a quarter second is well inside any grace period.
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                logger.warning("Graceful shutdown timed out: cancelling %d request(s).", state.active_requests)
                return
            waiter = loop.create_future()
            handle = loop.call_later(min(DRAIN_CLOCK_INTERVAL_S, remaining or DRAIN_CLOCK_INTERVAL_S), _resolve, waiter)
            try:
                await waiter
            finally:
                handle.cancel()

    def _forced(self) -> bool:
        """A second SIGINT (or SIGQUIT) came: read anew, since it arrives while we await."""
        return self.force_exit

    def handle_exit(self, sig: int) -> None:
        """A stop signal: the first asks for a graceful stop, a second SIGINT (or SIGQUIT) forces it."""
        if (self._should_exit and sig == signal.SIGINT) or sig == signal.SIGQUIT:
            logger.warning("Stopping at once (%s).", signal.Signals(sig).name)
            self.force_exit = True
            for pending in (self._startup, self._lifespan_stop):
                if pending is not None and not pending.done():
                    pending.cancel()
        elif not self._should_exit:
            logger.info("Shutting down (%s).", signal.Signals(sig).name)
        self.should_exit = True


class _SignalCapture:
    """SIGINT/SIGTERM -> graceful stop while serving; the previous handlers come back afterwards."""

    def __init__(self, server: Server, loop: asyncio.AbstractEventLoop, *, enabled: bool) -> None:
        self.server = server
        self.loop = loop
        self.enabled = enabled
        self.installed: list[int] = []

    def __enter__(self) -> None:
        if not self.enabled:
            return
        handled = (signal.SIGTERM, signal.SIGQUIT) if self.server.worker else (signal.SIGINT, signal.SIGTERM)
        for sig in handled:
            try:
                self.loop.add_signal_handler(sig, self.server.handle_exit, sig)
            except (ValueError, RuntimeError):  # not the main thread: the embedding program owns signals
                return
            self.installed.append(sig)

    def __exit__(self, *exc_info: object) -> None:
        for sig in self.installed:
            self.loop.remove_signal_handler(sig)


def _bind_all(config: AppConfig) -> list[socket.socket]:
    bound: list[socket.socket] = []
    try:
        bound.extend(listeners.open_listener(a, backlog=config.backlog, uds_mode=config.uds_mode) for a in config.bind)
    except BaseException:
        _close_all(bound, config)
        raise
    return bound


def _close_all(bound: list[socket.socket], config: AppConfig) -> None:
    for sock in bound:
        sock.close()
    # `bound` follows config.bind's order and stops at a failed bind, whose path may be
    # another server's live socket: only the files bound here are removed.
    for address in config.bind[: len(bound)]:
        if isinstance(address, UnixBind):
            listeners.unlink(address.path)


def _websocket_settings(config: AppConfig) -> WebSocketSettings | None:
    """The WebSocket options, or None when `ws = "none"` (upgrade requests then reach the app as HTTP)."""
    if config.ws == "none":
        return None
    return WebSocketSettings(
        max_size=config.ws_max_size,
        max_queue=config.ws_max_queue,
        ping_interval=config.ws_ping_interval,
        ping_timeout=config.ws_ping_timeout,
        per_message_deflate=config.ws_per_message_deflate,
    )


def _fixed_local_address(sock: socket.socket) -> tuple[str, int] | None:
    """The address every connection on `sock` arrives at, or None when it varies (wildcard, unix).

    Saves a getsockname() per accepted connection.
    """
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", "::"):
        return None
    return (str(host), int(port))


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
