"""WebSocket over HTTP/2 (RFC 8441): one stream dressed as the transport a `WebSocketConnection` runs on.

With WebSockets on, the HTTP/2 front advertises SETTINGS_ENABLE_CONNECT_PROTOCOL, and an
extended CONNECT (`:protocol websocket`) opens a stream carried by `H2WebSocketTransport`.
On it runs the very `WebSocketConnection` an HTTP/1.1 upgrade gets (same session, keepalive,
draining, counts), because this class answers the few transport calls it makes: `write`
sends DATA as far as the stream's windows allow (the rest waits in the front's buffer, and
the writer is paused above the stream's high-water mark, and `release_drain` resumes it, as
asyncio's pause_writing and resume_writing do: so a client that sends pings without granting
window for the pongs is reset once its unread answers pass the WebSocket's bound), `close` ends
the stream (END_STREAM), `abort` resets it, `pause_reading` (the app's full queue) withholds the
stream's WINDOW_UPDATE.
The handshake's HTTP answers go out as HEADERS (`answer`): 200 instead of 101, or a refusal.
The client's END_STREAM is its FIN, its RST_STREAM a lost connection (the app hears 1006).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Protocol

from supervisor.asgi.proxy_headers import apply_proxy_headers
from supervisor.errors import ParseError
from supervisor.protocol.h2_front import response_headers
from supervisor.protocol.request import split_target
from supervisor.protocol.upgrade import websocket_scope
from supervisor.server.h2_stream import OUTPUT_HIGH_WATER, STREAM_HIGH_WATER, StreamCarrier, resume_reading, took_in
from supervisor.server.ws_connection import WebSocketConnection

if TYPE_CHECKING:
    from supervisor._types import Headers, Scope

logger = logging.getLogger("serve.error")

_TEXT = [(b"content-type", b"text/plain; charset=utf-8")]


class TunnelCarrier(StreamCarrier, Protocol):
    """What a WebSocket's stream needs of its connection (`h2_connection.Http2Connection`)."""

    scope_base: Scope  # what every stream's scope shares
    scheme: str
    peer_trusted: bool

    def tunnel_done(self, stream_id: int) -> None:
        """The WebSocket's stream has ended: forget it."""


def open_websocket(
    conn: TunnelCarrier, stream_id: int, protocol: bytes, target: bytes, headers: Headers
) -> H2WebSocketTransport | None:
    """Carry a WebSocket on the stream of an extended CONNECT; None when it is answered at once instead.

    The app starts at the end of this loop turn, once the whole read is parsed: a stream
    reset in the same read (rapid reset) never costs an app call.
    """
    state = conn.state
    settings = state.ws
    if protocol.lower() != b"websocket" or settings is None:
        _refuse(conn, stream_id, 501, "Not Implemented")  # RFC 8441 §4: only the protocols we serve
        return None
    limit = state.limits.limit_concurrency
    if limit is not None and (len(state.connections) > limit or state.active_requests >= limit):
        logger.warning("Exceeded concurrency limit (%d): answering 503", limit)
        _refuse(conn, stream_id, 503, "Service Unavailable")
        return None
    try:
        path, raw_path, query_string = split_target(target, state.limits.root_path)
    except ParseError:
        _refuse(conn, stream_id, 400, "Bad Request")
        return None
    scope: Scope = dict(conn.scope_base, path=path, raw_path=raw_path, query_string=query_string, headers=headers)
    scope["method"] = "CONNECT"
    scope["scheme"] = conn.scheme  # the transport's, as over HTTP/1.1: a trusted proxy's headers may change it
    scope["state"] = state.lifespan_state.copy()
    if conn.peer_trusted:
        apply_proxy_headers(scope, state.trusted)  # type: ignore[arg-type]
    transport = H2WebSocketTransport(conn, stream_id)
    transport.websocket = WebSocketConnection(
        state,
        settings,
        transport,
        websocket_scope(scope),
        read_paused=False,
        write_paused=False,
        stream_answer=transport.answer,
    )
    conn.loop.call_soon(transport.start)
    return transport


def _refuse(conn: TunnelCarrier, stream_id: int, status: int, reason: str) -> None:
    body = reason.encode()
    fields = response_headers(status, _TEXT, conn.default_fields(), len(body))
    conn.front.send_head(stream_id, fields, end_stream=False)
    conn.front.send_data(stream_id, body, end_stream=True)
    conn.write_soon()


class H2WebSocketTransport(asyncio.Transport):
    """The asyncio transport of a WebSocket carried by HTTP/2 stream `stream_id` of `conn`."""

    def __init__(self, conn: TunnelCarrier, stream_id: int) -> None:
        super().__init__()
        self.conn = conn
        self.stream_id = stream_id
        self.websocket: WebSocketConnection = None  # type: ignore[assignment]  # set right after, by open_websocket
        self.read_paused = False
        self.unacked = 0  # DATA taken in while reading is paused: the window owed to the client
        self.ended = False  # our END_STREAM or RST_STREAM is sent: nothing more goes out
        self.lost = False  # connection_lost is on its way to the WebSocket

    def start(self) -> None:
        if not self.lost:
            self.websocket.start(b"")

    # What the WebSocketConnection calls (asyncio.Transport) ------------------------------------

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        pass  # the connection hands this stream's bytes to `websocket` already (`feed`)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self.websocket

    def is_closing(self) -> bool:
        return self.ended or self.lost

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def get_write_buffer_size(self) -> int:
        """What waits for the client's window: a close that would wait on it is aborted instead."""
        return 0 if self.ended or self.lost else self.conn.front.buffered(self.stream_id)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.ended or self.lost or not data:
            return
        conn = self.conn
        conn.front.send_data(self.stream_id, bytes(data), end_stream=False)
        if conn.front.unsent() > OUTPUT_HIGH_WATER:
            conn.write_now()  # a client that reads nothing must not pile frames up in memory
        else:
            conn.write_soon()
        if conn.write_paused or conn.front.buffered(self.stream_id) > STREAM_HIGH_WATER:
            # The client's window (or the socket) is behind: the app's send() waits in drain()
            # until the connection finds the buffer low again and calls `release_drain`.
            self.websocket.pause_writing()
            conn.draining_streams.add(self)

    def release_drain(self) -> None:
        self.websocket.resume_writing()

    def pause_reading(self) -> None:
        self.read_paused = True

    def resume_reading(self) -> None:
        resume_reading(self)

    def is_reading(self) -> bool:
        return not self.read_paused

    def close(self) -> None:
        """The WebSocket is over: END_STREAM after what is buffered, then connection_lost."""
        if not self.ended and not self.lost:
            self.ended = True
            self.conn.front.send_data(self.stream_id, b"", end_stream=True)
            self.conn.write_soon()
        self._gone()

    def abort(self) -> None:
        if not self.ended and not self.lost:
            self.ended = True
            self.conn.front.reset(self.stream_id)
            self.conn.write_soon()
        self._gone()

    def _gone(self) -> None:
        # As asyncio does: connection_lost comes in a later callback than close().
        if not self.lost:
            self.lost = True
            self.conn.tunnel_done(self.stream_id)
            self.conn.loop.call_soon(self.websocket.connection_lost, None)

    # What the HTTP/2 connection calls -------------------------------------------------------

    def feed(self, chunk: bytes, flow_length: int) -> None:
        """DATA from the client: WebSocket frames (or bytes sent before the answer, which wait)."""
        if self.lost:
            self.conn.acknowledge(self.stream_id, flow_length)
            return
        self.websocket.data_received(chunk)
        took_in(self, flow_length, owed=self.read_paused)

    def end(self) -> None:
        """The client's END_STREAM: like a FIN, it ends the WebSocket (1006 unless a close frame came first)."""
        self.close()

    def reset(self) -> None:
        """RST_STREAM from the client, a stall, or the connection gone: the app hears 1006."""
        self.ended = True
        if not self.lost:
            self.lost = True
            self.websocket.connection_lost(None)

    def answer(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes, end: bool) -> None:
        """The session's HTTP answer (`StreamAnswer`): HEADERS, and DATA if there is a body."""
        if self.ended or self.lost:
            return
        conn = self.conn
        fields = response_headers(status, headers, conn.default_fields(), len(body) if end else -1)
        if end and not body:
            conn.front.send_head(self.stream_id, fields, end_stream=True)
        else:
            conn.front.send_head(self.stream_id, fields, end_stream=False)
            if end:
                conn.front.send_data(self.stream_id, body, end_stream=True)
        self.ended = end
        conn.write_soon()
