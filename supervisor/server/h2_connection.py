"""The asyncio.Protocol of an HTTP/2 connection: the transport, the `H2Front`, and a stream per request.

An HTTP/1.1 connection hands its transport over (`transport.set_protocol`) when TLS
negotiated h2 by ALPN, when the first bytes are the HTTP/2 preface (prior knowledge), or
after answering an `Upgrade: h2c` request with 101. From then on this object is the
front's `StreamSink`: each request gets an `H2Stream`, the channel of the same
`RequestResponseCycle` HTTP/1.1 uses. Bytes the front produces leave in one write per loop
turn. Timeouts and draining ride on the server clock (`sweep`), as for HTTP/1.1: a
draining server sends a graceful GOAWAY, lets the streams below it finish, then closes.
A stream is finished when its last byte has left, not when its app returned: the rest of a
body may wait for the client's window (`delivering`), and until then the connection is busy.
"""

from __future__ import annotations

import asyncio
import logging
from time import monotonic
from typing import TYPE_CHECKING

from supervisor.asgi.proxy_headers import apply_proxy_headers
from supervisor.errors import ParseError
from supervisor.protocol.h2_front import ConnectionEndedError, H2Front, default_fields
from supervisor.protocol.h2_limits import H2Limits
from supervisor.protocol.request import check_target_form, split_target
from supervisor.server.cycle import RequestResponseCycle
from supervisor.server.h2_stream import STREAM_HIGH_WATER, Drainable, H2Stream

if TYPE_CHECKING:
    from supervisor._types import Headers, Scope
    from supervisor.config.schema import AppConfig
    from supervisor.server.h2_websocket import H2WebSocketTransport
    from supervisor.server.state import ServerState

logger = logging.getLogger("serve.error")

DRAIN_IDLE_GRACE_S = 1.0  # after GOAWAY, how long an idle connection stays for requests already on the way


def h2_limits(config: AppConfig) -> H2Limits:
    """The HTTP/2 limits of an app's connections, from its settings."""
    return H2Limits(
        max_concurrent_streams=config.h2_max_concurrent_streams,
        initial_window_size=config.h2_initial_window_size,
        max_header_list_size=config.h2_max_header_list_size or config.max_request_header_size,
        max_header_fields=config.h2_max_header_fields,
        max_streams_per_connection=config.h2_max_streams_per_connection,
        reset_budget=config.h2_reset_budget,
        control_frame_budget=config.h2_control_frame_budget,
        max_continuation_frames=config.h2_max_continuation_frames,
        stall_timeout=config.h2_stall_timeout,
    )


class Http2Connection(asyncio.Protocol):
    """One client connection speaking HTTP/2; `start` takes the transport over."""

    def __init__(
        self,
        state: ServerState,
        transport: asyncio.Transport,
        *,
        client: tuple[str, int] | None,
        server: tuple[str, int] | None,
        scheme: str,
        peer_trusted: bool,
    ) -> None:
        self.state = state
        self.loop = state.loop
        self.transport = transport
        self.client = client
        self.server = server
        self.scheme = scheme
        self.peer_trusted = peer_trusted
        self.front: H2Front = None  # type: ignore[assignment]  # made in start
        self.streams: dict[int, H2Stream] = {}
        self.tunnels: dict[int, H2WebSocketTransport] = {}  # streams carrying a WebSocket (RFC 8441)
        # Streams whose app is done but whose response still waits for the client's window: the
        # connection is busy until they leave (or are reset), and `serve status` counts them.
        self.delivering: set[int] = set()
        self.starting: list[H2Stream] = []  # streams whose head came in this read: their apps start after it
        self.draining_streams: set[Drainable] = set()  # streams whose app waits in drain()
        self.write_paused = False
        self.paused_since = 0.0  # when the transport last paused writing: the client stopped reading
        self.stall_timeout = 0.0  # h2_stall_timeout, set in start
        self.flush_scheduled = False
        self.closing = False
        self.opened_at = self.idle_since = monotonic()
        self.drain_began = -1.0  # when the server clock first saw the server draining
        self.received = False  # any byte since the hand-over: the preface timeout stops
        # What every stream's scope shares, made once per connection.
        self.scope_base: Scope = {
            "type": "http",
            "http_version": "2",
            "server": server,
            "client": client,
            "root_path": state.limits.root_path,
        }
        # state.default_headers and its HTTP/2 fields, redone when the clock changes them (once a second).
        self._defaults: tuple[bytes, list[tuple[bytes, bytes]]] = (b"", [])

    @property
    def task(self) -> asyncio.Task[None] | None:
        # The server cancels one task per connection; `abort` cancels every stream's.
        return None

    def start(self, data: bytes, *, upgrade_settings: bytes | None = None, upgrade_scope: Scope | None = None) -> None:
        """Take the transport: send SETTINGS, serve stream 1 of an h2c upgrade, then read `data`.

        Raises:
            ValueError: `upgrade_settings` is invalid (nothing was taken over).
        """
        limits = self.state.h2
        assert limits is not None  # noqa: S101 - handed over only when http2 is on
        self.stall_timeout = limits.stall_timeout
        self.front = H2Front(
            self,
            limits,
            monotonic(),
            upgrade_settings=upgrade_settings,
            connect_sink=self if self.state.ws is not None else None,
        )
        self.transport.set_protocol(self)
        self.state.connections.add(self)
        self.state.h2_connections += 1
        if upgrade_scope is not None:
            upgrade_scope["extensions"] = {"http.response.trailers": {}}  # as on every HTTP/2 stream
            self.starting.append(self._open(1, upgrade_scope))
            self.streams[1].cycle.end_body()  # RFC 7540 §3.2: the upgraded request is stream 1, complete
        self.write_soon()
        if data:
            self.data_received(data)
        else:
            self._start_new()

    # asyncio.Protocol ------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.received = True
        try:
            self.front.feed(data, monotonic())
        except ConnectionEndedError as ended:
            self.state.h2_limits_exceeded += ended.abuse
            level = logging.WARNING if ended.abuse else logging.INFO if ended.error else logging.DEBUG
            logger.log(level, "HTTP/2 connection from %s closed: %s", self.client, ended.reason)
            self._close()
            return
        self._start_new()
        if self.draining_streams:
            self._release_drained()
        if self.delivering:
            self._settle_delivered()
        self.write_soon()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closing and self not in self.state.connections:
            return
        self.closing = True
        self.state.connections.discard(self)
        self.state.h2_connections -= 1
        streams, self.streams = self.streams, {}
        for stream in streams.values():
            stream.lose()
        self.state.h2_streams -= len(streams) + len(self.delivering)
        self.delivering.clear()
        tunnels, self.tunnels = self.tunnels, {}
        for tunnel in tunnels.values():
            tunnel.reset()

    def pause_writing(self) -> None:
        self.write_paused = True
        self.paused_since = monotonic()

    def resume_writing(self) -> None:
        self.write_paused = False
        self._release_drained()

    # StreamSink (called by the front, inside feed) ---------------------------------------------

    def on_stream_request(self, stream_id: int, method: bytes, target: bytes, scheme: bytes, headers: Headers) -> None:
        try:
            check_target_form(method, target)  # `:path h:80` on a GET, as HTTP/1.1 refuses it
            path, raw_path, query_string = split_target(target, self.state.limits.root_path)
        except ParseError:
            path, raw_path, query_string = "", b"", b""  # answered 400 when it starts
        # The keys HTTP/1.1's scope has besides those of `scope_base`, from this stream's head.
        scope: Scope = dict(self.scope_base, path=path, raw_path=raw_path, query_string=query_string, headers=headers)
        scope["method"] = method.decode("ascii")
        # The transport's, as over HTTP/1.1: `:scheme` is the client's word, and only a trusted
        # proxy may change the scheme (its X-Forwarded-Proto, applied below).
        scope["scheme"] = self.scheme
        scope["state"] = self.state.lifespan_state.copy()
        scope["extensions"] = {"http.response.trailers": {}}  # HEADERS after DATA can always carry them
        if self.peer_trusted:
            apply_proxy_headers(scope, self.state.trusted)  # type: ignore[arg-type]
        self.starting.append(self._open(stream_id, scope))

    def on_stream_body(self, stream_id: int, chunk: bytes, flow_length: int) -> None:
        stream = self.streams.get(stream_id)
        if stream is not None:
            stream.feed(chunk, flow_length)
        elif stream_id in self.tunnels:
            self.tunnels[stream_id].feed(chunk, flow_length)
        else:
            self.front.acknowledge(stream_id, flow_length)  # answered already: the body is dropped

    def on_stream_end(self, stream_id: int) -> None:
        stream = self.streams.get(stream_id)
        if stream is not None:
            stream.cycle.end_body()
        elif stream_id in self.tunnels:
            self.tunnels[stream_id].end()

    def on_stream_reset(self, stream_id: int) -> None:
        stream = self.streams.pop(stream_id, None)
        if stream is not None:
            self.state.h2_streams -= 1
            stream.lose()
        elif stream_id in self.tunnels:
            self.tunnels.pop(stream_id).reset()
        elif stream_id in self.delivering:
            self.delivering.discard(stream_id)
            self.state.h2_streams -= 1
        self._maybe_idle()

    def on_stream_connect(
        self, stream_id: int, protocol: bytes, target: bytes, scheme: bytes, headers: Headers
    ) -> None:
        # Imported at the first extended CONNECT: a server that never meets one never loads websockets.
        from supervisor.server.h2_websocket import open_websocket

        tunnel = open_websocket(self, stream_id, protocol, target, headers)  # the scheme: the transport's
        if tunnel is not None:
            self.tunnels[stream_id] = tunnel

    def tunnel_done(self, stream_id: int) -> None:
        """A WebSocket's stream has ended (or been reset): forget it."""
        self.tunnels.pop(stream_id, None)
        self._maybe_idle()

    def _maybe_idle(self) -> None:
        # Idle from the moment nothing is left to serve or deliver: the keep-alive and drain clocks start.
        if not self.streams and not self.tunnels and not self.delivering:
            self.idle_since = monotonic()

    # Streams ---------------------------------------------------------------------------------

    def _open(self, stream_id: int, scope: Scope) -> H2Stream:
        stream = H2Stream(self, stream_id)
        stream.cycle = RequestResponseCycle(
            stream, scope, keep_alive=True, expect_continue=_expects_continue(scope), started_at=monotonic()
        )
        self.streams[stream_id] = stream
        self.state.h2_streams += 1
        return stream

    def _start_new(self) -> None:
        # Started once the whole read is parsed: a stream reset in the same read (rapid reset)
        # never costs an app call.
        starting, self.starting = self.starting, []
        state = self.state
        limit = state.limits.limit_concurrency
        for stream in starting:
            if stream.cycle.disconnected:
                continue
            if not stream.cycle.scope["raw_path"] and stream.cycle.scope["method"] != "CONNECT":
                stream.cycle.complete = True
                stream.refuse(400, "Bad Request")
            elif limit is not None and (len(state.connections) > limit or state.active_requests >= limit):
                logger.warning("Exceeded concurrency limit (%d): answering 503", limit)
                stream.cycle.complete = True
                stream.refuse(503, "Service Unavailable")
            else:
                stream.start()

    def stream_done(self, stream: H2Stream) -> None:
        """The stream's response is complete (or abandoned): forget it, once its bytes have left."""
        if self.streams.pop(stream.stream_id, None) is not None:
            if self.front.buffered(stream.stream_id):
                self.delivering.add(stream.stream_id)  # still counted in h2_streams
            else:
                self.state.h2_streams -= 1
        self._maybe_idle()

    def _settle_delivered(self) -> None:
        """Forget the finished streams whose last bytes the client's window has now admitted."""
        front = self.front
        left = {stream_id for stream_id in self.delivering if not front.buffered(stream_id)}
        if left:
            self.delivering -= left
            self.state.h2_streams -= len(left)
            self._maybe_idle()

    def acknowledge(self, stream_id: int, size: int) -> None:
        self.front.acknowledge(stream_id, size)
        self.write_soon()

    def default_fields(self) -> list[tuple[bytes, bytes]]:
        """The Date, Server and configured headers as HTTP/2 fields (redone when the clock changes them)."""
        current = self.state.default_headers
        if self._defaults[0] is not current:
            self._defaults = (current, default_fields(current))
        return self._defaults[1]

    def _release_drained(self) -> None:
        if self.write_paused:
            return
        for stream in list(self.draining_streams):
            if self.front.buffered(stream.stream_id) <= STREAM_HIGH_WATER:
                self.draining_streams.discard(stream)
                stream.release_drain()

    # Writing and closing -----------------------------------------------------------------------

    def write_soon(self) -> None:
        """Write what the front has at the end of this loop turn: every stream's frames in one write."""
        if not self.flush_scheduled and not self.closing:
            self.flush_scheduled = True
            self.loop.call_soon(self._flush)

    def write_now(self) -> None:
        """Write what the front has at once: a stream's send() found too much piled up (`OUTPUT_HIGH_WATER`)."""
        self._flush()

    def _flush(self) -> None:
        self.flush_scheduled = False
        if not self.closing:
            data = self.front.output()
            if data:
                self.transport.write(data)

    def _close(self) -> None:
        """Write the front's last bytes (its GOAWAY), then close once they are sent."""
        if self.closing:
            return
        self._flush()
        self.closing = True
        self.transport.close()
        self.connection_lost(None)

    def sweep(self, now: float) -> None:
        """The server clock: late heads, stalled streams, the preface and idle timeouts, draining."""
        if self.closing:
            return
        for stream in list(self.streams.values()):
            stream.cycle.flush_head()
        for stream_id in self.front.expire_stalled(now):
            logger.info("HTTP/2 stream %d of %s reset: stalled on a zero window", stream_id, self.client)
            self.state.h2_limits_exceeded += 1
            self.on_stream_reset(stream_id)
            self.write_soon()
        if self.write_paused and now - self.paused_since >= self.stall_timeout:
            # The client has read nothing for that long (slow read, CVE-2019-9517): no GOAWAY would reach it.
            logger.info("HTTP/2 connection from %s closed: it read nothing for %g s", self.client, self.stall_timeout)
            self.state.h2_limits_exceeded += 1
            self.abort()
            return
        limits = self.state.limits
        if self.state.draining:
            self._drain(now)
        if self.delivering:
            self._settle_delivered()
        if self.streams or self.tunnels or self.delivering:
            return
        if not self.received and now - self.opened_at > limits.timeout_request_header:
            # Handed over by ALPN, the client never sent its preface: the header timeout.
            logger.info(
                "HTTP/2 connection from %s closed: no preface within %g s", self.client, limits.timeout_request_header
            )
            self.state.h2_limits_exceeded += 1
            self._close()
        elif now - self.idle_since > limits.timeout_keep_alive or (
            self.front.last_stream_id >= 0 and now - max(self.idle_since, self.drain_began) >= DRAIN_IDLE_GRACE_S
        ):
            self.front.close()
            self._close()

    def _drain(self, now: float) -> None:
        """GOAWAY in two steps: the announcement, then (on the PING's answer, or a grace later) the last stream."""
        if self.drain_began < 0:
            self.drain_began = now
            self.front.begin_drain()
        elif now - self.drain_began >= DRAIN_IDLE_GRACE_S:
            self.front.goaway()
        self.write_soon()

    def abort(self) -> None:
        """Cut the connection now (forced shutdown): every stream's app is cancelled."""
        for stream in self.streams.values():
            if stream.task is not None:
                stream.task.cancel()
        self.closing = True
        self.transport.abort()


def _expects_continue(scope: Scope) -> bool:
    return any(name == b"expect" and value.lower() == b"100-continue" for name, value in scope["headers"])
