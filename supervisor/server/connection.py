"""The one asyncio.Protocol for HTTP/1.1: transport, parser front, pipelining, timeouts, flow control.

The connection is the `RequestSink` of its parser front and the `Channel` of the cycles it
serves: each request gets a `RequestResponseCycle` (the app's receive and send), and the
connection frames what that cycle hands it as HTTP/1.1. Requests on one connection are
answered strictly in order: a request whose head arrives while an earlier one is still
being answered waits in `queue`, and reading pauses until its turn. So only `cycle`, the
one being answered, ever sends, and the framing of its response (`framing`, `remaining`)
lives here. Timeouts are not timers per request: the server's clock calls `sweep` a few
times a second and each connection compares two timestamps it keeps anyway.
"""

from __future__ import annotations

import asyncio
import logging
from time import monotonic
from typing import TYPE_CHECKING

from supervisor.asgi.proxy_headers import apply_proxy_headers
from supervisor.errors import ParseError
from supervisor.protocol.h2c import (
    MAYBE_PREFACE,
    PREFACE_SEEN,
    SWITCHING,
    h2c_settings,
    preface_verdict,
    upgraded_scope,
)
from supervisor.protocol.proxy_protocol import Invalid, NeedMore, read_header
from supervisor.protocol.request import inspect_head, split_target
from supervisor.protocol.response import (
    CHUNK_END,
    CHUNKED,
    HEAD_REQUEST,
    HTTP_10,
    LENGTH,
    NO_BODY,
    encode_chunk,
    encode_head,
    encode_trailers,
    simple_response,
)
from supervisor.protocol.upgrade import is_websocket_upgrade, websocket_scope
from supervisor.server.cycle import RequestResponseCycle
from supervisor.server.flow import FlowControl

if TYPE_CHECKING:
    from supervisor._types import Headers, Scope
    from supervisor.asgi.proxy_headers import TrustedHosts
    from supervisor.protocol.base import Front
    from supervisor.server.state import ServerState

logger = logging.getLogger("serve.error")

# How long a connection must have been idle before a draining server closes it: a client
# may already be sending on a connection that looks idle to us (gunicorn loses requests
# this way on HUP). Its next request, if any, is answered with Connection: close.
DRAIN_IDLE_GRACE_S = 1.0
PENDING_FLUSH_BYTES = 65536
# Requests that may wait behind the one being answered. A read of 256 KiB can hold thousands
# of tiny pipelined requests, each a cycle and a scope of about 1 KB: past this many the next
# is refused (503, after the earlier ones are answered) and the connection closed, so a peer
# costs a bounded amount (a fault hunt grew a worker by 99 MiB with 20 connections).
MAX_QUEUED_REQUESTS = 128
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class HttpConnection(FlowControl):
    """One client connection speaking HTTP/1.1: the `RequestSink` of its front, the `Channel` of its cycles."""

    # One per client connection: slots instead of a __dict__ make each one smaller (56 bytes)
    # and every attribute access a little cheaper (docs/benchmarks.md, round six). FlowControl
    # holds transport, loop, closing and the pause flags.
    __slots__ = (
        "__weakref__", "client", "cycle", "framing", "front", "head_started_at", "idle_since", "peer_trusted",
        "pending", "pending_size", "preface", "proxy_header", "queue", "reader", "refusal", "remaining", "scheme",
        "server", "start_pending", "state", "task",
    )  # fmt: skip

    def __init__(self, state: ServerState, server: tuple[str, int] | None = None, tls: bool = False) -> None:
        self.state = state
        self.loop = state.loop
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set in connection_made
        # Made in connection_made: the front and the connection point at each other, and a TLS
        # connection whose handshake fails never gets there, so it is freed at once, uncollected.
        self.front: Front = None  # type: ignore[assignment]
        self.client: tuple[str, int] | None = None
        self.server = server  # known up front for a listener bound to one address
        self.scheme = "https" if tls else "http"  # the listener's, known when it is bound
        self.peer_trusted: bool | None = None  # None: not judged yet (see _peer_is_trusted)
        self.proxy_header: bytearray | None = None  # the PROXY header so far, while one is awaited (proxy_protocol)
        self.cycle: RequestResponseCycle | None = None  # the one being answered
        self.reader: RequestResponseCycle | None = None  # the one whose body is being parsed
        self.queue: list[RequestResponseCycle] = []  # rarely more than one: a list is 56 bytes, a deque 760
        self.start_pending = False
        self.task: asyncio.Task[None] | None = None  # the app call for `cycle`
        self.read_paused = False
        self.write_paused = False
        self.drain_waiter: asyncio.Future[None] | None = None
        self.pending: list[bytes] = []  # body chunks to leave in one write at the end of this loop turn
        self.pending_size = 0
        self.framing = LENGTH  # how the body of the response being sent is delimited
        self.remaining = -1  # with LENGTH: bytes still owed to the declared Content-Length
        self.closing = False
        self.refusal: ParseError | None = None  # answered once the requests before it are
        self.idle_since = monotonic()
        self.head_started_at = -1.0
        # http2 on: the first bytes seen so far, while they may still be the HTTP/2 preface; None: not looking.
        self.preface: bytes | None = b"" if state.h2 is not None else None
        if tls:  # made at accept, connected only once the handshake is done
            state.tls_handshakes.add(self)

    # asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        state = self.state
        self.front = state.new_front(self, state.limits.max_head_size)
        if self.scheme == "https":
            state.tls_handshakes.discard(self)
        peer = transport.get_extra_info("peername")
        # An IPv4 peer already is the (host, port) pair ASGI wants; IPv6 and unix peers are converted.
        self.client = peer if type(peer) is tuple and len(peer) == 2 else _address(peer)
        if self.server is None:
            self.server = _address(transport.get_extra_info("sockname"))
        state.connections.add(self)
        if self.preface is not None and self.scheme == "https":
            self._negotiated_h2()
        if state.limits.proxy_protocol is not None:
            self._expect_proxy_header(state.limits.proxy_protocol)

    def data_received(self, data: bytes) -> None:
        if self.proxy_header is not None:
            data = self._read_proxy_header(self.proxy_header, data)
            if not data:
                return
        if self.closing or self.refusal is not None:
            return
        if self.preface is not None:
            data = self._sniff_preface(data)
            if not data:
                return
        if self.reader is None and self.head_started_at < 0:
            self.head_started_at = monotonic()
        try:
            self.front.feed(data)
        except ParseError as error:
            self._on_parse_error(error)
        if self.start_pending:
            self.start_pending = False
            self._start(self.cycle)  # type: ignore[arg-type]

    def _peer_is_trusted(self) -> bool:
        """Whether the peer is a trusted proxy (`forwarded_allow_ips`); judged once, when first asked.

        Asked only of a request that carries X-Forwarded-* headers, and at a handover to HTTP/2.
        """
        trusted = self.peer_trusted
        if trusted is None:
            hosts = self.state.trusted
            trusted = self.peer_trusted = hosts is not None and (self.client[0] if self.client else None) in hosts
        return trusted

    def _expect_proxy_header(self, senders: TrustedHosts) -> None:
        """proxy_protocol: only a trusted proxy may connect, and its header counts against timeout_request_header."""
        if (self.client[0] if self.client else None) not in senders:
            logger.warning("Closing a connection from %s: not in forwarded_allow_ips (proxy_protocol)", self.client)
            self.close_after_write()
            return
        self.proxy_header = bytearray()
        self.head_started_at = monotonic()

    def _read_proxy_header(self, header: bytearray, data: bytes) -> bytes:
        """The bytes after the PROXY header once it is whole; b"" while it is not, or when it is invalid (closed).

        The client and server it names replace the proxy's, and X-Forwarded-* headers are then
        believed only from a client that is itself trusted: behind a TCP proxy they are the client's own.
        """
        header += data
        result = read_header(header)
        if isinstance(result, NeedMore):
            return b""
        self.proxy_header = None
        if isinstance(result, Invalid):
            logger.warning("Closing a connection from %s: %s", self.client, result.reason)
            self.close_after_write()
            return b""
        if result.relayed:
            self.client, self.server = result.source, result.destination
            self.peer_trusted = None  # judged again, for the client the header named
        return result.rest

    def _on_parse_error(self, error: ParseError) -> None:
        self.state.warn_invalid(self.client, error.status, error.reason)
        reader, self.reader = self.reader, None
        if reader is not None:  # its body will never be whole: the app sees a disconnect
            reader.lose_connection()
            if reader is self.cycle:
                self.cycle = None
                self.start_pending = False
                if reader.head_sent:
                    self.abort()
                    return
            else:
                self.queue.remove(reader)
        if self.cycle is None:
            self.refuse(error.status, error.reason)
        else:
            # Earlier requests are answered first, in order; nothing after the bad one is.
            self.refusal = error
            self.pause_reading()

    def eof_received(self) -> bool:
        # The client sent FIN. Most clients that do so are gone: an app waiting on receive()
        # after its body hears http.disconnect at once (a long poll stops). Some only
        # half-closed and still read: a response the app sends anyway is written, then the
        # connection closes. A FIN inside a request body cuts that request short.
        if self.cycle is not None and self.reader is None:
            self.cycle.keep_alive = False
            for queued in self.queue:
                queued.keep_alive = False
            self.cycle.peer_finished()
            return True
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.state.connections.discard(self)
        if self.cycle is not None:
            self.cycle.lose_connection()
        if self.reader is not None:
            self.reader.lose_connection()
        if self.queue:
            for queued in self.queue:
                queued.lose_connection()
            self.queue.clear()
        if self.drain_waiter is not None:
            self.release_drain()
        # Break the cycles (cycle <-> channel, front <-> sink, llhttp's parser <-> front) so a
        # closed connection is freed by reference counting now: left to the garbage collector,
        # every closed connection cost a share of a collection (docs/benchmarks.md, Connection: close).
        self.cycle = self.reader = None
        self.front.release()

    # RequestSink (called by the front, inside feed) -------------------------------------------

    def on_request(self, method: bytes, target: bytes, http_version: str, headers: Headers) -> None:
        if self.queue and len(self.queue) >= MAX_QUEUED_REQUESTS:
            raise ParseError(503, "too many pipelined requests")
        keep_alive, expect_continue, _upgrade, trailers, forwarded = inspect_head(http_version, headers)
        state = self.state
        lifespan_state = state.lifespan_state
        # A copy of the state's template, then the request's own values: a third cheaper
        # than building the thirteen keys anew (docs/benchmarks.md, round five).
        scope: Scope = state.http_scope.copy()
        scope["http_version"] = http_version
        scope["server"] = self.server
        scope["client"] = self.client
        scope["scheme"] = self.scheme
        scope["method"] = _METHODS.get(method) or method.decode("ascii")
        scope["path"], scope["raw_path"], scope["query_string"] = split_target(target, scope["root_path"])
        scope["headers"] = headers
        scope["state"] = lifespan_state.copy() if lifespan_state else {}
        if forwarded and self._peer_is_trusted():
            apply_proxy_headers(scope, state.trusted)  # type: ignore[arg-type]
        if trailers:
            scope["extensions"] = {"http.response.trailers": {}}
        started_at = self.head_started_at if self.head_started_at >= 0 else monotonic()
        cycle = RequestResponseCycle(self, scope, keep_alive, expect_continue, started_at)
        self.head_started_at = -1.0
        self.reader = cycle
        if self.cycle is None:
            self.cycle = cycle
            self.start_pending = True
        else:
            self.queue.append(cycle)
            self.pause_reading()

    def on_body(self, chunk: bytes) -> None:
        self.reader.feed_body(chunk)  # type: ignore[union-attr]

    def on_message_complete(self) -> None:
        reader: RequestResponseCycle = self.reader  # type: ignore[assignment]  # the front completes only a read request
        self.reader = None
        reader.more_body = False  # reader.end_body() inline: once per request
        if reader.waiter is not None:
            reader.wake()

    def on_upgrade(self, trailing: bytes) -> bool:
        # Only a WebSocket upgrade (or h2c with http2 on) next in line is taken over; anything
        # else (an upgrade pipelined behind other requests, ws = "none") is served as plain HTTP.
        if self.state.h2 is not None and self._upgrade_h2c(trailing):
            return True
        cycle, settings, state = self.cycle, self.state.ws, self.state
        if settings is None or cycle is None or not self.start_pending or self.queue:
            return False
        if not is_websocket_upgrade(cycle.scope):
            return False
        limit = state.limits.limit_concurrency
        if limit is not None and (len(state.connections) > limit or state.active_requests >= limit):
            return False  # _start answers 503, as for any request over the limit
        # Imported at the first upgrade: a server that never meets one never loads websockets.
        from supervisor.server.ws_connection import WebSocketConnection

        self.start_pending = False
        self.cycle = None
        self.closing = True  # the transport is the WebSocket's from now on
        state.connections.discard(self)
        websocket = WebSocketConnection(
            state,
            settings,
            self.transport,
            websocket_scope(cycle.scope),
            read_paused=self.read_paused,
            write_paused=self.write_paused,
        )
        websocket.start(trailing)
        return True

    # Handing over to HTTP/2 (only with http2 on) --------------------------------------------------

    def _negotiated_h2(self) -> None:
        """Over TLS only ALPN decides (RFC 9113 §3.2): HTTP/2 if the client chose h2, and no sniffing."""
        self.preface = None
        ssl_object = self.transport.get_extra_info("ssl_object")
        if ssl_object is not None and ssl_object.selected_alpn_protocol() == "h2":
            self._to_http2(b"")

    def _sniff_preface(self, data: bytes) -> bytes:
        """Prior knowledge: a cleartext connection opening with the preface is HTTP/2 (RFC 9113 §3.3).

        Returns the bytes to parse as HTTP/1.1: b"" while they may still be the preface, or once
        the connection is HTTP/2's.
        """
        seen = self.preface + data if self.preface else data
        verdict = preface_verdict(seen)
        if verdict == MAYBE_PREFACE:
            self.preface = seen
            return b""
        self.preface = None
        if verdict == PREFACE_SEEN:
            self._to_http2(seen)
            return b""
        return seen

    def _upgrade_h2c(self, trailing: bytes) -> bool:
        """`Upgrade: h2c` on a request next in line without a body: 101, and its answer on stream 1.

        Cleartext only: over TLS only ALPN decides (RFC 9113 §3.2), so the request is answered as HTTP/1.1.
        """
        cycle = self.cycle
        if cycle is None or not self.start_pending or self.queue or self.scheme == "https":
            return False
        settings = h2c_settings(cycle.scope)
        if settings is None:
            return False  # a body, or no valid HTTP2-Settings: answered over HTTP/1.1, body intact
        self.start_pending = False
        self.cycle = None
        self.write(SWITCHING)
        self._to_http2(trailing, settings, upgraded_scope(cycle.scope))
        return True

    def _to_http2(self, data: bytes, settings: bytes | None = None, scope: Scope | None = None) -> None:
        # Imported here, not at the top: a server with http2 off never loads h2 (server.py imports it when on).
        from supervisor.server.h2_connection import Http2Connection

        self.resume_reading()
        self.closing = True  # the transport is the HTTP/2 connection's from now on
        self.state.connections.discard(self)
        http2 = Http2Connection(
            self.state,
            self.transport,
            client=self.client,
            server=self.server,
            scheme=self.scheme,
            peer_trusted=self._peer_is_trusted(),
        )
        http2.start(data, upgrade_settings=settings, upgrade_scope=scope)

    # Running the app -------------------------------------------------------------------------

    def _start(self, cycle: RequestResponseCycle) -> None:
        state = self.state
        limit = state.limits.limit_concurrency
        if limit is not None and (len(state.connections) > limit or state.active_requests >= limit):
            logger.warning("Exceeded concurrency limit (%d): answering 503", limit)
            cycle.complete = True
            self.refuse(503, "Service Unavailable")
            return
        state.active_requests += 1
        self.task = state.start_app_call(self._run_asgi(cycle))

    async def _run_asgi(self, cycle: RequestResponseCycle) -> None:
        try:
            result: object = await self.state.app(cycle.scope, cycle.receive, cycle.send)  # type: ignore[func-returns-value]
        except asyncio.CancelledError:
            self._abandon(cycle)
            raise
        except BaseException:
            logger.exception("Exception in ASGI application")
            self._abandon(cycle)
            return
        finally:
            self.state.active_requests -= 1
        if result is not None:
            logger.error("ASGI callable returned a value (%r); ignored", result)
        if cycle.disconnected:
            return  # the client left: an unfinished response is nobody's fault
        if not cycle.started:
            logger.error("ASGI callable returned without starting a response")
            self._abandon(cycle)
        elif not cycle.complete:
            logger.error("ASGI callable returned without completing the response")
            self._abandon(cycle)

    def _abandon(self, cycle: RequestResponseCycle) -> None:
        """The app failed: answer 500 if nothing was written yet, else cut the connection."""
        if cycle.complete or cycle.disconnected:
            return
        cycle.complete = True
        try:
            if cycle.head_sent:
                self.close_after_write()
            elif not self.closing:
                self.refuse(500, "Internal Server Error")
                # Logged and counted as any response (uvicorn writes its 500's access line too).
                cycle.status, cycle.sent = 500, len(b"Internal Server Error")
                self.state.count_response(cycle, monotonic())
        except Exception:  # what was pending could not be written: the connection must still end
            logger.exception("Could not end the response; connection aborted")
            self.abort()

    # Channel (called by `cycle`, the request being answered) -----------------------------------

    def send_continue(self) -> None:
        self.write(_CONTINUE)

    def send_head(self, status: int, headers: Headers, body: bytes, more_body: bool) -> None:
        cycle: RequestResponseCycle = self.cycle  # type: ignore[assignment]  # only the current cycle sends
        scope = cycle.scope
        flags = (HTTP_10 if scope["http_version"] == "1.0" else 0) | (HEAD_REQUEST if scope["method"] == "HEAD" else 0)
        state = self.state
        keep_alive = cycle.keep_alive and not state.draining
        if cycle.expect_continue and cycle.more_body:
            # Answered before the app asked for the body, so no 100 Continue went out: the
            # client may send that body yet, or not, and the bytes that follow cannot be told
            # apart from its next request. Close after this response (RFC 9110 §10.1.1).
            keep_alive = False
        # encode_head's keep_alive already accounts for a close-delimited body (framing CLOSE).
        head, self.framing, self.remaining, cycle.keep_alive = encode_head(
            status, headers, state.default_headers, keep_alive, flags, -1 if more_body else len(body)
        )
        if more_body or self.remaining != len(body) or self.framing != LENGTH or self.pending or self.closing:
            self.send_body(body, more_body, head)
            return
        # The common answer, one message of the length announced: what send_body does, without the call.
        self.remaining = 0
        self.transport.write(head + body)

    def send_body(self, body: bytes, more_body: bool, head: bytes = b"") -> None:
        """Frame and write the next piece of the body (`head`: sent first, in the same write).

        Pieces sent with more to come leave together at the end of the loop turn (`write_soon`).
        """
        framing = self.framing
        if framing == LENGTH:
            self.remaining -= len(body)
            if self.remaining < 0 or (not more_body and self.remaining):
                if head:  # nothing written yet: the app's error is answered 500 (_abandon)
                    raise RuntimeError("response body does not match its Content-Length")
                self._abort_length()
        elif framing == CHUNKED:
            body = encode_chunk(body) + CHUNK_END if not more_body else encode_chunk(body)
        elif framing == NO_BODY:
            body = b""
        # else CLOSE: the body runs until the connection closes, as it comes
        if head:
            body = head + body
        if not more_body:
            if self.pending or self.closing:
                self.write(body)
            else:
                self.transport.write(body)  # the common case of `write`, without its call
        elif body:
            self.write_soon(body)

    def send_trailers(self, fields: list[tuple[bytes, bytes]]) -> None:
        """Trailers go out after a chunked body to a client that asked for them (`TE: trailers`); else dropped."""
        if self.framing == CHUNKED and "http.response.trailers" in self.cycle.scope.get("extensions", ()):  # type: ignore[union-attr]
            self.write(encode_trailers(fields))
        else:
            self.send_body(b"", False)

    def _abort_length(self) -> None:
        self.cycle.keep_alive = False  # type: ignore[union-attr]
        self.close_after_write()
        raise RuntimeError("response body does not match its Content-Length")

    def finish(self) -> None:
        """The cycle being answered sent its last body byte: count it, then serve the next request or close."""
        cycle: RequestResponseCycle = self.cycle  # type: ignore[assignment]  # only the current cycle sends
        state = self.state
        now = monotonic()  # one reading for the figures, the access log and the idle timer
        state.count_response(cycle, now)
        if not cycle.keep_alive:
            # Complete, so nothing is left to tell it when the connection goes (connection_lost).
            self.cycle = None
            self.close_after_write()
            return
        if self.queue:
            self.cycle = self.queue.pop(0)
            self._start(self.cycle)
            if not self.queue and self.refusal is None:
                self.resume_reading()
            return
        self.cycle = None
        if self.refusal is not None:
            self.refuse(self.refusal.status, self.refusal.reason)
            return
        self.idle_since = now
        if self.read_paused:
            self.resume_reading()

    # Flow control and closing ----------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Write now, after anything still pending (responses never reorder)."""
        if self.pending:
            self.pending.append(data)
            data = b"".join(self.pending)
            self.pending.clear()
            self.pending_size = 0
        if data and not self.closing:
            self.transport.write(data)

    def write_soon(self, data: bytes) -> None:
        """Queue a body chunk; chunks sent in one loop turn leave in one write.

        uvloop writes at once when its buffer is empty, so ten `more_body` messages would
        be ten syscalls. Past PENDING_FLUSH_BYTES the chunks go out at once, which keeps the
        transport's own backpressure (pause_writing) in charge of large streams.
        """
        self.pending.append(data)
        self.pending_size += len(data)
        if self.pending_size >= PENDING_FLUSH_BYTES:
            self.write(b"")
        elif len(self.pending) == 1:
            self.loop.call_soon(self.write, b"")

    def close_after_write(self) -> None:
        if not self.closing:
            try:
                if self.pending:
                    self.write(b"")  # chunks still pending from write_soon go first
            finally:  # closed even if they cannot be written: else the peer waits, and the socket leaks
                self.closing = True
                self.transport.close()  # asyncio flushes the write buffer first

    def refuse(self, status: int, reason: str) -> None:
        """Answer a request we will not pass to the app, then close (the peer's framing is now suspect)."""
        if self.closing:
            return
        logger.debug("Refusing request from %s: %d %s", self.client, status, reason)
        self.write(simple_response(status, reason.encode("utf-8", "replace"), self.state.default_headers))
        self.close_after_write()

    def sweep(self, now: float) -> None:
        """Close the connection if it has been idle, or slow to send a head, for too long.

        Also writes the head of a response whose app sent its status and then waited.
        """
        if self.closing:
            return
        if self.cycle is not None:
            self.cycle.flush_head()
            return
        if self.reader is not None:
            return
        limits = self.state.limits
        if self.head_started_at >= 0:
            if now - self.head_started_at > limits.timeout_request_header:
                self.refuse(408, "Request Timeout")
        elif now - self.idle_since > limits.timeout_keep_alive or (
            self.state.draining and now - self.idle_since >= DRAIN_IDLE_GRACE_S
        ):
            self.close_after_write()

    def abort(self) -> None:
        """Cut the connection now (forced shutdown)."""
        self.closing = True
        self.transport.abort()


_METHODS = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")}


def _address(info: object) -> tuple[str, int] | None:
    if isinstance(info, tuple) and len(info) >= 2:
        return (str(info[0]), int(info[1]))
    return None
