"""What every connection of one server process shares: the app, limits, clock-fed headers, counters."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import weakref
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from email.utils import formatdate
from time import monotonic
from typing import TYPE_CHECKING, Any, Protocol

from supervisor import logs
from supervisor.asgi.adapters import TracedApp
from supervisor.asgi.proxy_headers import TrustedHosts
from supervisor.config.schema import APP_DEFAULTS
from supervisor.protocol.base import Front, RequestSink
from supervisor.protocol.front_httptools import HttptoolsFront

if TYPE_CHECKING:
    from supervisor._types import ASGIApp
    from supervisor.config.schema import AppConfig
    from supervisor.protocol.h2_limits import H2Limits
    from supervisor.protocol.upgrade import WebSocketSettings
    from supervisor.server.cycle import RequestResponseCycle
    from supervisor.status.slots import WorkerCounters

logger = logging.getLogger("serve.error")

# At most one "Invalid HTTP request" warning a second per worker, with a count of those left
# unsaid: a flood of bad requests must not fill the disk with log lines.
INVALID_WARNING_INTERVAL_S = 1.0


class FrontFactory(Protocol):
    """A parser front class: HttptoolsFront or H11Front."""

    def __call__(self, sink: RequestSink, max_head_size: int) -> Front: ...


class LiveConnection(Protocol):
    """What the server needs of each open connection, HTTP or WebSocket (its clock, its shutdown)."""

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The app call running for it, if any: cancelled when a drain runs out of time."""

    def sweep(self, now: float) -> None:
        """Enforce its timeouts as of `now` (time.monotonic()); called by the server clock."""

    def abort(self) -> None:
        """Cut it now (forced shutdown)."""


class TracedConnections(set[LiveConnection]):
    """`ServerState.connections` under log_level trace: a connection is logged as it joins and leaves.

    Every kind of connection joins the set once made and leaves it once closed (or handed over:
    an upgraded HTTP/1.1 connection leaves, its WebSocket or HTTP/2 successor joins), so the
    trace costs the connections nothing when it is off: the set is then a plain one.
    """

    def add(self, connection: LiveConnection) -> None:
        super().add(connection)
        logger.log(logs.TRACE, "%s - %s connection made", _peer_of(connection), _kind_of(connection))

    def discard(self, connection: object) -> None:
        if connection in self:
            super().discard(connection)
            logger.log(logs.TRACE, "%s - %s connection done", _peer_of(connection), _kind_of(connection))


def _peer_of(connection: object) -> str:
    """ "host:port" of a connection's client, as trace lines start; "-" when unknown (a unix socket)."""
    client = getattr(connection, "client", None)
    if client is None:  # a WebSocket connection keeps it in its scope
        client = getattr(connection, "scope", {}).get("client")
    return f"{client[0]}:{client[1]}" if client else "-"


def _kind_of(connection: object) -> str:
    name = type(connection).__name__
    return {"WebSocketConnection": "WebSocket", "Http2Connection": "HTTP/2"}.get(name, "HTTP")


@dataclass
class ConnectionLimits:
    """Plain values the connections read on every request (copied out of the config once).

    Each defaults to the schema's default of the setting it is copied from.
    """

    root_path: str = APP_DEFAULTS["root_path"]
    limit_concurrency: int | None = APP_DEFAULTS["limit_concurrency"]
    max_requests: int = APP_DEFAULTS["max_requests"]
    max_head_size: int = APP_DEFAULTS["max_request_header_size"]
    timeout_keep_alive: float = APP_DEFAULTS["timeout_keep_alive"]
    timeout_request_header: float = APP_DEFAULTS["timeout_request_header"]
    access_log: bool = APP_DEFAULTS["access_log"]
    # proxy_protocol: the peers that may (and must) open with a PROXY header; None when it is off.
    proxy_protocol: TrustedHosts | None = None

    @classmethod
    def of(cls, config: AppConfig, *, http: str) -> ConnectionLimits:
        """The limits of `config`'s connections, parsed by `http` ("httptools" or "h11")."""
        head = config.max_request_header_size
        h11_head = config.h11_max_incomplete_event_size  # uvicorn's name for the limit with h11
        if http == "h11" and h11_head is not None:
            # Replaces max_request_header_size's default, as uvicorn's only knob; when both are
            # set, the smaller holds: an explicit 32 KiB must not let a 150 KB head through.
            head = h11_head if head == APP_DEFAULTS["max_request_header_size"] else min(head, h11_head)
        return cls(
            root_path=config.root_path,
            limit_concurrency=config.limit_concurrency,
            max_requests=config.max_requests,
            max_head_size=head,
            timeout_keep_alive=config.timeout_keep_alive,
            timeout_request_header=config.timeout_request_header,
            access_log=config.access_log,
            proxy_protocol=TrustedHosts(config.forwarded_allow_ips) if config.proxy_protocol else None,
        )


@dataclass
class ServerState:
    """Shared by every connection of one `Server`; owned and updated by the server."""

    app: ASGIApp
    loop: asyncio.AbstractEventLoop
    limits: ConnectionLimits
    http: str  # the front in use: "httptools" or "h11" ("auto" resolved by server/loops.py)
    trusted: TrustedHosts | None = None
    server_header: bool = APP_DEFAULTS["server_header"]
    date_header: bool = APP_DEFAULTS["date_header"]
    extra_headers: bytes = b""
    lifespan_state: dict[str, Any] = field(default_factory=dict)
    connections: set[LiveConnection] = field(default_factory=set)
    # Accepted on a TLS listener, handshake not done: not yet in `connections` (asyncio calls
    # connection_made after the handshake), but a drain waits a moment for them. Weak: a failed
    # handshake drops its connection without a word to it.
    tls_handshakes: weakref.WeakSet[object] = field(default_factory=weakref.WeakSet)
    active_requests: int = 0  # app calls running now (limit_concurrency)
    total_requests: int = 0
    draining: bool = False
    default_headers: bytes = b""
    on_max_requests: Callable[[], None] | None = None
    reset_contextvars: bool = False  # each request in a fresh contextvars context
    counters: WorkerCounters | None = None  # set under the master: per-response figures for the status slot
    ws: WebSocketSettings | None = None  # None (ws = "none"): upgrade requests are served as plain HTTP
    websockets: int = 0  # accepted WebSocket connections still open
    h2: H2Limits | None = None  # None: HTTP/2 is off (http2 = false), nothing is sniffed or offered
    h2_connections: int = 0  # HTTP/2 connections open
    h2_streams: int = 0  # HTTP/2 streams open (requests in flight on them)
    # Times a client broke an HTTP/2 limit: its connection closed (GOAWAY ENHANCE_YOUR_CALM, or the
    # RFC's code), or for a stream stalled on a zero window, that stream reset. Never decreases.
    h2_limits_exceeded: int = 0
    invalid_quiet_until: float = -1.0  # no invalid-request warning before then (monotonic)
    invalid_unsaid: int = 0  # invalid requests not warned about since the last warning

    def __post_init__(self) -> None:
        # log_level trace: connections are logged as they join and leave `connections`, and the
        # app is wrapped to log every ASGI message. Decided once here, so with trace off nothing
        # on a connection's path tests for it (two attribute tests cost 170 instructions a
        # Connection: close request, measured).
        self.trace: bool = logger.isEnabledFor(logs.TRACE)
        if self.trace:
            self.app = TracedApp(self.app)
            self.connections = TracedConnections(self.connections)
        if b"\r\nserver:" in b"\r\n" + self.extra_headers:
            # The user's own Server header (--header, headers) replaces serve's, as in uvicorn: two
            # Server fields would go out otherwise. extra_headers' names are lowercased.
            self.server_header = False
        self.tick_date(0.0)
        # The parser front chosen by `http`, built for each connection as new_front(sink, max_head_size):
        # positional, as a keyword would cost the class call a dict.
        self.new_front: FrontFactory = _front_class(self.http)
        # Every HTTP/1.1 request's scope starts as a copy of this, in this key order; the
        # connection then sets the values that vary (all but type and root_path; the cycle
        # gives each request an "asgi" dict of its own).
        self.http_scope: dict[str, Any] = {
            "type": "http",
            "http_version": "1.1",
            "server": None,
            "client": None,
            "scheme": "http",
            "method": "GET",
            "root_path": self.limits.root_path,
            "path": "",
            "raw_path": b"",
            "query_string": b"",
            "headers": [],
            "state": {},
        }

    def tick_date(self, now_epoch: float) -> None:
        """Recompute the Date/Server lines; called once a second by the server clock."""
        parts = []
        if self.date_header:
            parts.append(b"date: %s\r\n" % formatdate(now_epoch or None, usegmt=True).encode("ascii"))
        if self.server_header:
            parts.append(b"server: serve\r\n")
        parts.append(self.extra_headers)
        self.default_headers = b"".join(parts)

    def count_response(self, cycle: RequestResponseCycle, now: float) -> None:
        """A response sent whole, over either HTTP version: the total, max_requests, the slot's figures, the access log."""
        self.total_requests += 1
        if self.total_requests == self.limits.max_requests:
            self.max_requests_reached()
        if self.counters is not None:
            self.counters.observe_response(cycle.status, now - cycle.started_at)
        if self.limits.access_log:
            logs.log_request(cycle.scope, cycle.status, cycle.headers, cycle.sent, now - cycle.started_at)

    def warn_invalid(self, client: tuple[str, int] | None, status: int, reason: str) -> None:
        """A malformed request was refused: warn, as uvicorn does, at most once every INVALID_WARNING_INTERVAL_S."""
        now = monotonic()
        if now < self.invalid_quiet_until:
            self.invalid_unsaid += 1
            return
        self.invalid_quiet_until = now + INVALID_WARNING_INTERVAL_S
        unsaid, self.invalid_unsaid = self.invalid_unsaid, 0
        peer = f"{client[0]}:{client[1]}" if client else "-"
        more = f" ({unsaid} more since the last warning)" if unsaid else ""
        logger.warning("Invalid HTTP request received from %s: %d %s%s", peer, status, reason, more)

    def start_app_call(self, call: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run an app call (one request's) in a Task of its own, in a fresh context with `reset_contextvars`.

        Without a task factory set on the loop, the Task is made directly: what `create_task`
        does then, one call layer (about 0.15 µs a request) shorter. Always called from the
        loop's own callbacks, so the Task finds it as the running loop: passing `loop=` would
        cost the class call a keyword dict (about 800 instructions a request).
        """
        loop = self.loop
        if self.reset_contextvars:
            # Created inside an empty context, the task copies that one, not ours.
            return contextvars.Context().run(loop.create_task, call)
        if loop.get_task_factory() is None:
            # Named: an unnamed Task formats "Task-<n>" for itself, 1,460 instructions a request.
            return asyncio.Task(call, name="http")
        return loop.create_task(call)

    def max_requests_reached(self) -> None:
        """The connection counted the `max_requests`-th response (0 never matches: counts start at 1)."""
        if self.on_max_requests is not None:
            self.on_max_requests()


def _front_class(http: str) -> FrontFactory:
    """The parser front class for `http` ("httptools" or "h11"); h11 is imported only when chosen."""
    if http == "h11":
        from supervisor.protocol.front_h11 import H11Front

        return H11Front
    return HttptoolsFront
