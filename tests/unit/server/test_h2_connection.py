"""The HTTP/2 connection in-process: an h2 client on a fake transport, a real loop, the shared cycle.

Hand-over from HttpConnection (preface, h2c), app failures, limits, flow control and the clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
from fake_transport import FakeTransport
from h2_defaults import default_limits

from supervisor._types import Receive, Scope, Send
from supervisor.protocol.h2_limits import H2Limits
from supervisor.server.connection import HttpConnection
from supervisor.server.h2_connection import Http2Connection
from supervisor.server.state import ConnectionLimits, ServerState

App = Callable[[Scope, Receive, Send], Awaitable[None]]
GET = [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/p?q=1"), (b":authority", b"h2.test")]
TURNS = 200


async def answer(send: Send, body: bytes = b"ok", status: int = 200) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


class Peer:
    """An h2 client on the far side of a fake transport, with the server side real."""

    def __init__(
        self, app: App, *, h2_limits: H2Limits | None = None, high_water: int = 1 << 30, **limits: Any
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.state = ServerState(
            app=app,
            loop=self.loop,
            limits=ConnectionLimits(access_log=False, **limits),
            http="httptools",
            h2=h2_limits or default_limits(),
        )
        self.transport = FakeTransport(self.loop, high_water=high_water)
        self.transport.connect(HttpConnection(self.state, ("127.0.0.1", 8000)))
        self.client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.events: list[Any] = []

    @property
    def conn(self) -> Http2Connection:
        protocol = self.transport.protocol
        assert isinstance(protocol, Http2Connection)
        return protocol

    def start(self) -> None:
        self.client.initiate_connection()
        self.flush()

    def flush(self) -> None:
        data = self.client.data_to_send()
        if data:
            self.transport.protocol.data_received(data)  # type: ignore[union-attr]

    def receive(self) -> None:
        data = self.transport.take()
        if data:
            for event in self.client.receive_data(data):
                self.events.append(event)
            self.flush()

    async def until(self, condition: Callable[[], object], what: str) -> None:
        for _ in range(TURNS):
            self.receive()
            if condition():
                return
            await asyncio.sleep(0)
        raise AssertionError(f"never happened: {what}; events: {self.events}")

    def ended(self, stream_id: int) -> bool:
        return any(
            isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset)) and e.stream_id == stream_id
            for e in self.events
        )

    def response(self, stream_id: int) -> tuple[int, bytes]:
        head = next(e for e in self.events if isinstance(e, h2.events.ResponseReceived) and e.stream_id == stream_id)
        body = b"".join(
            e.data for e in self.events if isinstance(e, h2.events.DataReceived) and e.stream_id == stream_id
        )
        return int(dict(head.headers)[b":status"]), body

    def resets(self) -> list[tuple[int, int]]:
        return [(e.stream_id, e.error_code) for e in self.events if isinstance(e, h2.events.StreamReset)]


def run(test: Coroutine[Any, Any, None]) -> None:
    """Run `test` on a fresh loop; asyncio.run cancels whatever app task it leaves behind."""
    asyncio.run(asyncio.wait_for(test, 10))


def test_the_preface_hands_the_connection_over_and_streams_share_the_cycle() -> None:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)
        body = (await receive())["body"]
        await answer(send, body or b"none")

    async def main() -> None:
        peer = Peer(app)
        peer.start()
        assert peer.state.h2_connections == 1
        assert not peer.state.connections - {peer.conn}
        peer.client.send_headers(1, [(b":method", b"POST"), *GET[1:]])
        peer.client.send_data(1, b"data", end_stream=True)
        peer.client.send_headers(3, GET, end_stream=True)
        peer.flush()
        await peer.until(lambda: peer.ended(1) and peer.ended(3), "both answered")
        assert peer.response(1) == (200, b"data")
        assert peer.response(3) == (200, b"none")
        assert seen[1]["http_version"] == "2"
        assert seen[1]["headers"][0] == (b"host", b"h2.test")
        assert (seen[1]["path"], seen[1]["query_string"]) == ("/p", b"q=1")
        assert peer.state.total_requests == 2
        assert peer.state.h2_streams == 0
        peer.transport.peer_gone()
        assert peer.state.h2_connections == 0

    run(main())


def test_a_preface_split_across_reads_is_still_recognised() -> None:
    async def main() -> None:
        peer = Peer(lambda scope, receive, send: answer(send))
        peer.client.initiate_connection()
        data = peer.client.data_to_send()
        http1 = peer.transport.protocol
        for index in range(0, len(data), 5):
            peer.transport.protocol.data_received(data[index : index + 5])  # type: ignore[union-attr]
        assert peer.transport.protocol is not http1
        peer.client.send_headers(1, GET, end_stream=True)
        peer.flush()
        await peer.until(lambda: peer.ended(1), "answered")
        assert peer.response(1) == (200, b"ok")

    run(main())


def test_http1_is_served_as_before_with_http2_on() -> None:
    async def main() -> None:
        peer = Peer(lambda scope, receive, send: answer(send))
        http1 = peer.transport.protocol
        http1.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # type: ignore[union-attr]
        for _ in range(20):
            await asyncio.sleep(0)
        assert peer.transport.protocol is http1
        assert b"".join(peer.transport.chunks).startswith(b"HTTP/1.1 200 OK")

    run(main())


def test_app_failures_answer_500_or_reset_the_stream() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        if path == "/raise":
            raise RuntimeError("boom")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        if path == "/cut":
            await send({"type": "http.response.body", "body": b"partial", "more_body": True})
            raise RuntimeError("boom after the head")
        if path == "/value":
            await send({"type": "http.response.body", "body": b"v"})
            return 1  # type: ignore[return-value]
        # "/unfinished": returns after the start alone

    async def main() -> None:
        peer = Peer(app)
        peer.start()
        for stream_id, path in ((1, b"/raise"), (3, b"/cut"), (5, b"/value"), (7, b"/unfinished")):
            peer.client.send_headers(stream_id, [*GET[:2], (b":path", path), GET[3]], end_stream=True)
        peer.flush()
        await peer.until(lambda: all(peer.ended(s) for s in (1, 3, 5, 7)), "all four ended")
        assert peer.response(1) == (500, b"Internal Server Error")
        assert peer.resets() == [(3, h2.errors.ErrorCodes.INTERNAL_ERROR)]
        assert peer.response(5) == (200, b"v")
        assert peer.response(7) == (500, b"Internal Server Error")
        assert peer.state.active_requests == 0

    run(main())


def test_concurrency_limit_and_a_bad_target_are_answered_without_the_app() -> None:
    calls: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        calls.append(scope["path"])
        await asyncio.sleep(0.5)
        await answer(send)

    async def main() -> None:
        peer = Peer(app, limit_concurrency=1)
        peer.start()
        peer.client.send_headers(1, GET, end_stream=True)
        peer.client.send_headers(3, GET, end_stream=True)
        peer.client.send_headers(5, [*GET[:2], (b":path", b"no-slash"), GET[3]], end_stream=True)
        peer.client.send_headers(7, [*GET[:2], (b":path", b"h:80"), GET[3]], end_stream=True)  # authority-form
        peer.flush()
        await peer.until(lambda: peer.ended(3) and peer.ended(5) and peer.ended(7), "refused")
        assert peer.response(3) == (503, b"Service Unavailable")
        assert peer.response(5) == peer.response(7) == (400, b"Bad Request")
        assert calls == ["/p"]

    run(main())


def test_head_no_body_and_100_continue() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "POST":
            await receive()
        status = 204 if scope["path"] == "/empty" else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"dropped" if status == 204 else b"body", "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def main() -> None:
        peer = Peer(app)
        peer.start()
        peer.client.send_headers(1, [(b":method", b"HEAD"), *GET[1:]], end_stream=True)
        peer.client.send_headers(3, [*GET[:2], (b":path", b"/empty"), GET[3]], end_stream=True)
        peer.client.send_headers(5, [(b":method", b"POST"), *GET[1:], (b"expect", b"100-continue")])
        peer.flush()
        await peer.until(lambda: peer.ended(1) and peer.ended(3), "HEAD and 204 answered")
        assert peer.response(1) == (200, b"")
        assert peer.response(3) == (204, b"")
        await peer.until(
            lambda: any(isinstance(e, h2.events.InformationalResponseReceived) for e in peer.events), "100 Continue"
        )
        peer.client.send_data(5, b"x", end_stream=True)
        peer.flush()
        await peer.until(lambda: peer.ended(5), "the POST answered")
        assert peer.response(5) == (200, b"body")

    run(main())


def test_request_body_window_is_given_back_only_as_the_app_reads() -> None:
    gate = asyncio.Event()
    received: list[int] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await gate.wait()
        more = True
        while more:
            message = await receive()
            received.append(len(message["body"]))
            more = message["more_body"]
        await answer(send, str(sum(received)).encode())

    async def main() -> None:
        peer = Peer(app)
        peer.start()
        peer.receive()
        peer.client.send_headers(1, [(b":method", b"POST"), *GET[1:]])
        sent = 0
        while peer.client.local_flow_control_window(1) > 0:  # the whole window, while the app does not read
            size = min(peer.client.local_flow_control_window(1), 16384)
            peer.client.send_data(1, bytes(size))
            sent += size
            peer.flush()
            peer.receive()
        assert sent < 65536 + 65535 + 16384  # what the app's buffer and one window hold, and no more
        gate.set()
        await peer.until(lambda: peer.client.local_flow_control_window(1) > 0, "window given back")
        peer.client.end_stream(1)
        peer.flush()
        await peer.until(lambda: peer.ended(1), "answered")
        assert peer.response(1) == (200, str(sent).encode())

    run(main())


def test_a_slow_reader_pauses_only_its_own_stream() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/big":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for _ in range(8):
                await send({"type": "http.response.body", "body": bytes(50000), "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        else:
            await answer(send)

    async def main() -> None:
        peer = Peer(app)
        peer.client.initiate_connection()
        peer.client.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1000})
        peer.flush()
        peer.client.send_headers(1, [*GET[:2], (b":path", b"/big"), GET[3]], end_stream=True)
        peer.flush()
        await peer.until(lambda: peer.conn.draining_streams, "the big stream waits in drain()")
        peer.client.send_headers(3, GET, end_stream=True)
        peer.flush()
        await peer.until(lambda: peer.ended(3), "the small stream answered meanwhile")
        peer.client.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20})
        peer.client.increment_flow_control_window(1 << 20)
        peer.flush()
        await peer.until(lambda: peer.ended(1), "the big stream finished")
        assert len(peer.response(1)[1]) == 400000

    run(main())


def test_transport_backpressure_pauses_every_stream() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(4):
            await send({"type": "http.response.body", "body": bytes(10000), "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def main() -> None:
        peer = Peer(app, high_water=5000)
        peer.start()
        peer.client.send_headers(1, GET, end_stream=True)
        peer.flush()
        for _ in range(20):
            await asyncio.sleep(0)
        assert peer.conn.write_paused
        await peer.until(lambda: peer.ended(1), "answered as the peer reads")

    run(main())


def test_a_client_that_reads_nothing_stops_the_app_then_is_dropped() -> None:
    # Windows wide open, nothing read: frames made in one loop turn must not pile up unwritten.
    pieces = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(100):
            await send({"type": "http.response.body", "body": bytes(16384), "more_body": True})
            pieces.append(1)
        await send({"type": "http.response.body", "body": b""})

    async def main() -> None:
        peer = Peer(app, high_water=100_000, h2_limits=default_limits(stall_timeout=5.0))
        peer.client.local_settings = h2.settings.Settings(
            client=True, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1}
        )
        peer.start()
        peer.client.increment_flow_control_window(2**31 - 1 - 65535)
        peer.client.send_headers(1, GET, end_stream=True)
        peer.flush()
        for _ in range(20):
            await asyncio.sleep(0)
        assert peer.conn.write_paused
        assert len(pieces) < 12  # stopped near the transport's high water, not after all 1.6 MB
        assert peer.conn.front.unsent() <= 65536 + 16384 + 100
        paused = peer.conn.paused_since
        peer.conn.sweep(paused + 4)
        assert not peer.transport.aborted
        assert peer.state.h2_limits_exceeded == 0
        peer.conn.sweep(paused + 5)  # paused for the whole stall timeout: cut, without a GOAWAY no one reads
        assert peer.transport.aborted
        assert peer.state.h2_limits_exceeded == 1

    run(main())


def test_a_stream_stalled_on_a_zero_window_is_reset_and_counted() -> None:
    async def main() -> None:
        peer = Peer(lambda scope, receive, send: answer(send, bytes(1000)), h2_limits=default_limits(stall_timeout=5.0))
        peer.client.local_settings = h2.settings.Settings(
            client=True, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0}
        )
        peer.start()
        peer.client.send_headers(1, GET, end_stream=True)
        peer.flush()
        await peer.until(lambda: any(isinstance(e, h2.events.ResponseReceived) for e in peer.events), "head sent")
        now = peer.conn.idle_since
        peer.conn.sweep(now)  # seen blocked: the stall clock starts
        peer.conn.sweep(now + 4.9)
        assert peer.state.h2_limits_exceeded == 0
        peer.conn.sweep(now + 5)
        await peer.until(lambda: peer.ended(1), "reset")
        assert peer.resets() == [(1, h2.errors.ErrorCodes.CANCEL)]
        assert peer.state.h2_limits_exceeded == 1
        assert not peer.transport.closed  # only the stream: the connection goes on

    run(main())


def test_the_clock_flushes_late_heads_closes_idle_and_drains() -> None:
    gate = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await gate.wait()
        await send({"type": "http.response.body", "body": b"late"})

    async def main() -> None:
        peer = Peer(app, timeout_keep_alive=1000.0)
        peer.start()
        peer.client.send_headers(1, GET, end_stream=True)
        peer.flush()
        await peer.until(lambda: peer.conn.streams[1].cycle.started, "app sent its status")
        now = peer.conn.idle_since
        peer.conn.sweep(now + 100)  # in flight: nothing closes; the held head goes out
        await peer.until(lambda: any(isinstance(e, h2.events.ResponseReceived) for e in peer.events), "head flushed")
        peer.state.draining = True
        peer.conn.sweep(now + 100)
        await peer.until(lambda: any(isinstance(e, h2.events.ConnectionTerminated) for e in peer.events), "GOAWAY")
        gate.set()
        frames_after: list[bytes] = []
        for _ in range(20):
            await asyncio.sleep(0)
            frames_after.append(peer.transport.take())
        assert b"late" in b"".join(frames_after)  # the stream in flight finished after GOAWAY
        # h2 drops its answer to our PING when a GOAWAY follows in the same read: the grace ends the drain.
        peer.conn.sweep(now + 100.5)
        assert peer.conn.front.last_stream_id < 0
        assert not peer.transport.closed  # a grace for requests already on their way
        peer.conn.sweep(now + 101)
        assert peer.conn.front.last_stream_id == 1  # the final GOAWAY
        assert peer.transport.closed

    run(main())


def test_idle_and_silent_connections_are_closed_by_the_clock() -> None:
    async def main() -> None:
        peer = Peer(lambda scope, receive, send: answer(send), timeout_keep_alive=5.0, timeout_request_header=2.0)
        peer.start()
        opened = peer.conn.opened_at
        peer.conn.sweep(opened + 4)
        assert not peer.transport.closed
        peer.conn.sweep(opened + 6)
        assert peer.transport.closed
        assert peer.state.h2_limits_exceeded == 0  # idle is no broken limit
        # A connection handed over by ALPN that never sends its preface: the header timeout.
        silent = Http2Connection(
            peer.state, FakeTransport(peer.loop), client=None, server=None, scheme="https", peer_trusted=False
        )
        silent.start(b"")
        silent.sweep(silent.opened_at + 3)
        assert silent.closing
        assert peer.state.h2_limits_exceeded == 1
        silent.sweep(silent.opened_at + 4)  # closed: nothing more
        assert peer.state.h2_limits_exceeded == 1
        silent.abort()

    run(main())


def test_abort_cancels_every_streams_app() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(10)

    async def main() -> None:
        peer = Peer(app)
        peer.start()
        peer.client.send_headers(1, GET, end_stream=True)
        peer.flush()
        await peer.until(lambda: peer.state.active_requests, "app started")
        assert peer.conn.task is None
        peer.conn.abort()
        await peer.until(lambda: not peer.state.active_requests, "app cancelled")
        assert peer.transport.aborted

    run(main())


def test_a_client_reset_tells_the_app_and_an_abusive_client_is_cut() -> None:
    messages: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        messages.append((await receive())["type"])
        messages.append((await receive())["type"])

    async def main() -> None:
        peer = Peer(app, h2_limits=default_limits(control_frame_budget=5))
        peer.start()
        peer.client.send_headers(1, [(b":method", b"POST"), *GET[1:]])
        peer.client.send_data(1, b"x")
        peer.flush()
        await peer.until(lambda: messages, "first message")
        peer.client.reset_stream(1)
        peer.flush()
        await peer.until(lambda: len(messages) == 2, "disconnect")
        assert messages == ["http.request", "http.disconnect"]
        assert peer.state.h2_limits_exceeded == 0  # one reset is within the budget
        for index in range(10):
            peer.client.ping(b"%08d" % index)
        peer.flush()
        await peer.until(lambda: peer.transport.closed, "closed")
        assert peer.state.h2_limits_exceeded == 1
        peer.conn.data_received(b"ignored")

    run(main())


def test_an_h2c_upgrade_is_answered_with_101_then_on_stream_1() -> None:
    async def main() -> None:
        peer = Peer(lambda scope, receive, send: answer(send, scope["http_version"].encode()))
        settings = peer.client.initiate_upgrade_connection()
        assert settings is not None
        peer.transport.protocol.data_received(  # type: ignore[union-attr]
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
            b"HTTP2-Settings: " + settings + b"\r\n\r\n" + peer.client.data_to_send()
        )
        await asyncio.sleep(0)
        wire = peer.transport.take()
        assert wire.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
        peer.events += peer.client.receive_data(wire.split(b"\r\n\r\n", 1)[1])
        await peer.until(lambda: peer.ended(1), "stream 1 answered")
        assert peer.response(1) == (200, b"2")

    run(main())
