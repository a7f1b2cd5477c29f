"""HttpConnection in-process: a fake transport, a real event loop, both parser fronts, no sockets.

Each test plays the client and the kernel: it feeds bytes with `data_received`, reads what
the connection wrote from the transport, reports back-pressure (pause/resume_writing) and
loss, and calls the server clock's `sweep` with a chosen time.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from time import monotonic
from typing import Any

import pytest
from fake_transport import FakeTransport
from support import split_responses

from supervisor._types import Message, Receive, Scope, Send
from supervisor.config.schema import APP_DEFAULTS
from supervisor.protocol.upgrade import WebSocketSettings
from supervisor.server.connection import DRAIN_IDLE_GRACE_S, MAX_QUEUED_REQUESTS, HttpConnection
from supervisor.server.state import ConnectionLimits, ServerState

STEP_TIMEOUT_S = 5.0
TURNS = 1000  # loop turns a condition may take before a test gives up on it

App = Callable[[Scope, Receive, Send], Awaitable[None]]


def get(path: str = "/", *headers: str) -> bytes:
    lines = "".join(f"{h}\r\n" for h in headers)
    return f"GET {path} HTTP/1.1\r\nHost: example.com\r\n{lines}\r\n".encode()


def post(path: str, body: bytes, *headers: str, length: int | None = None) -> bytes:
    size = len(body) if length is None else length
    lines = "".join(f"{h}\r\n" for h in headers)
    return f"POST {path} HTTP/1.1\r\nHost: example.com\r\nContent-Length: {size}\r\n{lines}\r\n".encode() + body


async def answer(send: Send, body: bytes, status: int = 200) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive) -> bytes:
    body, more = b"", True
    while more:
        message = await receive()
        assert message["type"] == "http.request", message
        body += message["body"]
        more = message["more_body"]
    return body


class Client:
    """One connection under test: the server side is real, the transport and the peer are this."""

    def __init__(self, app: App, http: str, *, ws: WebSocketSettings | None = None, **limits: Any) -> None:
        self.loop = asyncio.get_running_loop()
        high_water = limits.pop("high_water", 1 << 30)
        self.state = ServerState(
            app=app, loop=self.loop, limits=ConnectionLimits(access_log=False, **limits), http=http, ws=ws
        )
        self.transport = FakeTransport(self.loop, high_water=high_water)
        self.conn = HttpConnection(self.state, ("127.0.0.1", 8000))
        self.transport.connect(self.conn)

    def send(self, data: bytes) -> None:
        self.transport.protocol.data_received(data)  # type: ignore[union-attr]

    async def until(self, condition: Callable[[], object], what: str) -> None:
        """Let the loop run until `condition` holds (a bounded number of turns, no wall clock)."""
        for _ in range(TURNS):
            if condition():
                return
            await asyncio.sleep(0)
        raise AssertionError(f"never happened: {what}")

    async def settle(self, turns: int = 20) -> None:
        """Let every ready callback and task run (to check that something did NOT happen)."""
        for _ in range(turns):
            await asyncio.sleep(0)

    def wire(self) -> bytes:
        return b"".join(self.transport.chunks)

    def responses(self) -> list[tuple[int, dict[str, str], bytes]]:
        return split_responses(self.wire())


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def run(loop: asyncio.AbstractEventLoop, test: Coroutine[Any, Any, None]) -> None:
    """Run `test` on `loop`, then cancel whatever app task it left behind."""

    async def cancel_the_rest() -> None:
        left = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)

    try:
        loop.run_until_complete(asyncio.wait_for(test, STEP_TIMEOUT_S))
    finally:
        loop.run_until_complete(cancel_the_rest())


# Expect: 100-continue ----------------------------------------------------------------------------


def test_an_answer_started_before_the_body_then_ending_after_it_keeps_the_connection(
    loop: asyncio.AbstractEventLoop, http: str
) -> None:
    # A review (stop 20): once the app has started its answer no 100 is sent, and the head
    # waits for the body as it always did; the whole body came, so the connection stays.
    async def main() -> None:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            body = await read_body(receive)
            await send({"type": "http.response.body", "body": body or scope["path"].encode()})

        client = Client(app, http)
        client.send(post("/upload", b"", "Expect: 100-continue", length=5))
        await client.settle()
        assert client.wire() == b""  # no 100 Continue, no head yet
        client.send(b"hello" + get("/next"))
        await client.until(lambda: len(client.responses()) == 2, "both answered")
        (_, first, body), (_, _, second) = client.responses()
        assert (first.get("content-length"), first.get("connection"), body) == ("5", None, b"hello")
        assert second == b"/next"

    run(loop, main())


# Pipelining ------------------------------------------------------------------------------------


def test_a_pipeline_deeper_than_the_queue_is_answered_up_to_it_then_refused_and_closed(
    loop: asyncio.AbstractEventLoop, http: str
) -> None:
    # Found by a fault hunt (stop 20): every pipelined request of a read became a queued cycle.
    async def main() -> None:
        gate = loop.create_future()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["path"] == "/first":
                await gate
            await answer(send, b"ok")

        client = Client(app, http)
        client.send(get("/first") + get("/next") * (MAX_QUEUED_REQUESTS + 50))
        await client.settle()
        assert len(client.conn.queue) == MAX_QUEUED_REQUESTS
        gate.set_result(None)
        await client.until(lambda: client.transport.closed, "the connection closed")
        statuses = [status for status, _, _ in client.responses()]
        assert statuses == [200] * (MAX_QUEUED_REQUESTS + 1) + [503]

    run(loop, main())


def test_pipelined_requests_are_answered_in_order_with_reading_paused_meanwhile(
    loop: asyncio.AbstractEventLoop, http: str
) -> None:
    async def main() -> None:
        gate = loop.create_future()
        started: list[str] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            started.append(scope["path"])
            if scope["path"] == "/slow":
                await gate
            await answer(send, scope["path"].encode())

        client = Client(app, http)
        client.send(get("/slow") + get("/fast") + get("/last"))
        await client.settle()
        assert started == ["/slow"]  # the others wait their turn, their apps not started
        assert client.wire() == b""
        assert not client.transport.reading  # a queue is a reason to stop reading
        gate.set_result(None)
        await client.until(lambda: len(client.responses()) == 3, "three responses")
        assert [body for _, _, body in client.responses()] == [b"/slow", b"/fast", b"/last"]
        assert started == ["/slow", "/fast", "/last"]
        assert client.transport.reading
        assert not client.transport.closed

    run(loop, main())


def test_a_malformed_request_behind_valid_ones_is_answered_after_them(
    loop: asyncio.AbstractEventLoop, http: str
) -> None:
    async def main() -> None:
        gate = loop.create_future()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await gate
            await answer(send, b"ok")

        client = Client(app, http)
        client.send(get("/a") + b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
        await client.settle()
        assert client.wire() == b""
        gate.set_result(None)
        await client.until(lambda: client.transport.closed, "the connection closed")
        assert [status for status, _, _ in client.responses()] == [200, 400]

    run(loop, main())


# The held head ---------------------------------------------------------------------------------


def test_head_and_a_whole_body_leave_in_one_write_with_a_content_length(
    loop: asyncio.AbstractEventLoop, http: str
) -> None:
    async def main() -> None:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await answer(send, b"hello")

        client = Client(app, http)
        client.send(get())
        await client.until(lambda: client.transport.chunks, "a write")
        await client.settle()
        assert len(client.transport.chunks) == 1
        [(status, headers, body)] = client.responses()
        assert (status, headers["content-length"], body) == (200, "5", b"hello")
        assert client.state.total_requests == 1

    run(loop, main())


def _held_head_app(gate: asyncio.Future[None], *, then_receive: bool) -> App:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        if then_receive:
            assert (await receive())["type"] == "http.request"
        await gate
        await send({"type": "http.response.body", "body": b"late", "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    return app


def test_a_held_head_is_written_by_the_server_clock(loop: asyncio.AbstractEventLoop, http: str) -> None:
    async def main() -> None:
        gate = loop.create_future()
        client = Client(_held_head_app(gate, then_receive=False), http)
        client.send(get())
        await client.settle()
        assert client.wire() == b""  # held: the first body chunk may still join it
        client.conn.sweep(monotonic())
        await client.settle()
        head = client.wire()
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert head.endswith(b"\r\n\r\n")
        assert b"transfer-encoding: chunked" in head  # the length was not known yet
        gate.set_result(None)
        await client.until(lambda: client.state.total_requests == 1, "the response done")
        await client.settle()
        [(status, _, body)] = client.responses()
        assert (status, body) == (200, b"late")

    run(loop, main())


def test_a_held_head_is_written_when_the_app_waits_on_receive(loop: asyncio.AbstractEventLoop, http: str) -> None:
    async def main() -> None:
        gate = loop.create_future()
        client = Client(_held_head_app(gate, then_receive=True), http)
        client.send(get())
        await client.until(lambda: client.transport.chunks, "the head written")
        assert client.wire().endswith(b"\r\n\r\n")
        gate.set_result(None)
        await client.until(lambda: client.state.total_requests == 1, "the response done")
        await client.settle()
        [(_, _, body)] = client.responses()
        assert body == b"late"

    run(loop, main())


def test_expect_100_continue_is_answered_only_when_the_app_reads(loop: asyncio.AbstractEventLoop, http: str) -> None:
    async def main() -> None:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["path"] == "/read":
                await answer(send, await read_body(receive))
            else:
                await answer(send, b"refused", status=413)

        client = Client(app, http)
        client.send(post("/skip", b"", "Expect: 100-continue", length=4))
        await client.until(lambda: client.transport.closed or client.state.total_requests, "an answer")
        assert client.wire().startswith(b"HTTP/1.1 413 ")
        assert b"100 Continue" not in client.wire()

        other = Client(app, http)
        other.send(post("/read", b"", "Expect: 100-continue", length=4))
        await other.until(lambda: other.transport.chunks, "the 100 Continue")
        assert other.wire() == b"HTTP/1.1 100 Continue\r\n\r\n"
        other.transport.chunks.clear()
        other.send(b"body")
        await other.until(lambda: other.state.total_requests == 1, "the response done")
        [(_, _, body)] = other.responses()
        assert body == b"body"

    run(loop, main())


# Flow control ----------------------------------------------------------------------------------


def test_send_waits_while_the_transport_is_paused(loop: asyncio.AbstractEventLoop, http: str) -> None:
    chunk = b"x" * 100_000  # above the write-coalescing threshold: written at once

    async def main() -> None:
        sent = 0

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            nonlocal sent
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for _ in range(3):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                sent += 1
            await send({"type": "http.response.body", "body": b""})
            sent += 1

        client = Client(app, http, high_water=65536)
        client.send(get())
        received = b""
        for expected in (1, 2, 3, 4):
            await client.until(lambda: sent >= expected, f"send number {expected}")  # noqa: B023 - awaited here
            await client.settle()
            assert sent == expected  # the next send waits on drain() until the peer reads
            received += client.transport.take()  # resume_writing
        await client.until(lambda: client.state.total_requests == 1, "the response done")
        received += client.transport.take()
        [(_, _, body)] = split_responses(received)
        assert body == chunk * 3

    run(loop, main())


def test_reading_pauses_while_the_app_does_not_read_the_body(loop: asyncio.AbstractEventLoop, http: str) -> None:
    size = 200_000
    piece = b"y" * 16_384

    async def main() -> None:
        gate = loop.create_future()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await gate
            await answer(send, str(len(await read_body(receive))).encode())

        client = Client(app, http)
        client.send(post("/upload", b"", length=size))
        fed = 0
        while client.transport.reading:
            client.send(piece)
            fed += len(piece)
            await client.settle(2)
            assert fed <= 100_000, "reading never paused"
        assert fed > 65536  # paused only above the high-water mark
        gate.set_result(None)
        await client.until(lambda: client.transport.reading, "reading resumed")
        client.send(b"y" * (size - fed))
        await client.until(lambda: client.state.total_requests == 1, "the response done")
        [(_, _, body)] = client.responses()
        assert body == str(size).encode()

    run(loop, main())


# Timeouts (the server clock calls sweep) -------------------------------------------------------


def test_an_idle_keep_alive_connection_closes_after_the_timeout(loop: asyncio.AbstractEventLoop, http: str) -> None:
    async def main() -> None:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await answer(send, b"ok")

        client = Client(app, http, timeout_keep_alive=5.0)
        client.send(get())
        await client.until(lambda: client.state.total_requests == 1, "the response done")
        now = monotonic()
        client.conn.sweep(now + 4.0)
        assert not client.transport.closed
        client.conn.sweep(now + 5.5)
        assert client.transport.closed
        await client.until(lambda: client.transport.lost, "connection_lost")
        assert client.state.connections == set()
        assert client.transport.late_writes == 0

    run(loop, main())


def test_a_slow_request_head_is_answered_408(loop: asyncio.AbstractEventLoop, http: str) -> None:
    async def main() -> None:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            raise AssertionError("an incomplete head reaches no app")

        client = Client(app, http, timeout_request_header=2.0, timeout_keep_alive=60.0)
        client.send(b"GET / HTTP/1.1\r\nHost: exa")
        now = monotonic()
        client.conn.sweep(now + 1.0)
        assert client.wire() == b""
        client.conn.sweep(now + 2.5)
        [(status, _, _)] = client.responses()
        assert status == 408
        assert client.transport.closed

    run(loop, main())


def test_a_draining_server_closes_idle_connections_after_the_grace_and_busy_ones_after_their_response(
    loop: asyncio.AbstractEventLoop, http: str
) -> None:
    async def main() -> None:
        gate = loop.create_future()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await gate
            await answer(send, b"ok")

        idle = Client(app, http)
        busy = Client(app, http)
        busy.send(get())
        await busy.settle()
        idle.state.draining = busy.state.draining = True
        now = monotonic()
        idle.conn.sweep(now + DRAIN_IDLE_GRACE_S / 2)
        assert not idle.transport.closed  # a client may be sending on it right now
        idle.conn.sweep(now + DRAIN_IDLE_GRACE_S + 0.1)
        busy.conn.sweep(now + DRAIN_IDLE_GRACE_S + 0.1)
        assert idle.transport.closed
        assert not busy.transport.closed
        gate.set_result(None)
        await busy.until(lambda: busy.transport.closed, "closed after its response")
        [(status, headers, _)] = busy.responses()
        assert (status, headers["connection"]) == (200, "close")

    run(loop, main())


# Upgrade ---------------------------------------------------------------------------------------

WS_KEY = base64.b64encode(b"sixteen byte key").decode()
# RFC 6455 §4.2.2 fixes SHA-1 for the accept value: not a security use.
WS_ACCEPT = base64.b64encode(hashlib.sha1((WS_KEY + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())  # noqa: S324
UPGRADE = get(
    "/chat", "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {WS_KEY}", "Sec-WebSocket-Version: 13"
)
NO_PINGS = WebSocketSettings(
    max_size=APP_DEFAULTS["ws_max_size"],
    max_queue=APP_DEFAULTS["ws_max_queue"],
    ping_interval=None,
    ping_timeout=None,
    per_message_deflate=False,
)


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked, final frame with a short payload, as a client sends it (RFC 6455 §5.2)."""
    mask = b"\x0f\xf0\xaa\x55"
    masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """Split unmasked server frames with payloads under 126 bytes."""
    frames = []
    while data:
        opcode, size = data[0] & 0x0F, data[1]
        assert size < 126
        frames.append((opcode, data[2 : 2 + size]))
        data = data[2 + size :]
    return frames


def test_an_upgrade_hands_the_transport_to_a_websocket_connection(loop: asyncio.AbstractEventLoop, http: str) -> None:
    from supervisor.server.ws_connection import WebSocketConnection

    async def main() -> None:
        events: list[Message] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            assert scope["type"] == "websocket"
            events.append(await receive())
            await send({"type": "websocket.accept"})
            message = await receive()
            events.append(message)
            await send({"type": "websocket.send", "text": message["text"].upper()})
            events.append(await receive())

        client = Client(app, http, ws=NO_PINGS)
        http_conn = client.conn
        # The first frame arrives with the handshake: the trailing bytes go over with the transport.
        client.send(UPGRADE + client_frame(0x1, b"hello"))
        websocket = client.transport.protocol
        assert isinstance(websocket, WebSocketConnection)
        assert client.state.connections == {websocket}  # the HTTP connection is no longer counted
        await client.until(lambda: len(events) == 2, "the app's first message")
        head, _, frames = client.wire().partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 ")
        assert b"sec-websocket-accept: " + WS_ACCEPT in head
        assert server_frames(frames) == [(0x1, b"HELLO")]
        assert client.state.websockets == 1
        client.send(client_frame(0x8, b"\x03\xe8"))  # close 1000
        await client.until(lambda: len(events) == 3, "the disconnect")
        assert events[0]["type"] == "websocket.connect"
        assert events[2] == {"type": "websocket.disconnect", "code": 1000, "reason": ""}
        await client.until(lambda: client.transport.lost, "the transport closed")
        assert client.state.websockets == 0
        assert client.state.connections == set()
        http_conn.data_received(b"GET / HTTP/1.1\r\n\r\n")  # a stale reference feeds nothing
        assert client.transport.late_writes == 0

    run(loop, main())


def test_without_websocket_support_an_upgrade_is_plain_http(loop: asyncio.AbstractEventLoop, http: str) -> None:
    async def main() -> None:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await answer(send, scope["type"].encode(), status=426)

        client = Client(app, http, ws=None)
        client.send(UPGRADE)
        await client.until(lambda: client.state.total_requests == 1, "the response done")
        [(status, _, body)] = client.responses()
        assert (status, body) == (426, b"http")
        assert client.transport.protocol is client.conn

    run(loop, main())


# Disconnects -----------------------------------------------------------------------------------


def test_a_connection_lost_mid_body_is_an_http_disconnect(loop: asyncio.AbstractEventLoop, http: str) -> None:
    async def main() -> None:
        messages: list[Message] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            messages.append(await receive())
            messages.append(await receive())
            await answer(send, b"nobody hears this")  # ASGI 2.3: a no-op, not an error

        client = Client(app, http)
        client.send(post("/upload", b"0123456789", length=100))
        await client.until(lambda: messages, "the first piece")
        assert messages[0] == {"type": "http.request", "body": b"0123456789", "more_body": True}
        client.transport.peer_gone()
        await client.until(lambda: len(messages) == 2, "the disconnect")
        assert messages[1] == {"type": "http.disconnect"}
        await client.until(lambda: client.conn.task is not None and client.conn.task.done(), "the app finished")
        assert client.conn.task.exception() is None  # type: ignore[union-attr]
        assert client.wire() == b""
        assert client.state.connections == set()
        assert client.state.active_requests == 0

    run(loop, main())


def test_a_long_poll_hears_the_disconnect_and_a_drain_wait_ends(loop: asyncio.AbstractEventLoop, http: str) -> None:
    async def main() -> None:
        heard: list[str] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["path"] == "/poll":
                await receive()
                heard.append((await receive())["type"])
                return
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"z" * 100_000, "more_body": True})
            await send({"type": "http.response.body", "body": b"z", "more_body": True})  # waits on drain
            heard.append("drained")

        poll = Client(app, http)
        poll.send(get("/poll"))
        await poll.settle()
        assert heard == []
        poll.transport.peer_gone()
        await poll.until(lambda: heard == ["http.disconnect"], "the disconnect")

        heard.clear()
        stuck = Client(app, http, high_water=1000)
        stuck.send(get("/stream"))
        await stuck.until(lambda: stuck.conn.write_paused, "writing paused")
        await stuck.settle()
        assert heard == []
        stuck.transport.peer_gone()
        await stuck.until(lambda: heard == ["drained"], "the drain wait released")

    run(loop, main())


def test_a_half_close_after_the_request_ends_the_connection_after_the_response(
    loop: asyncio.AbstractEventLoop, http: str
) -> None:
    async def main() -> None:
        heard: list[str] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await receive()
            heard.append((await receive())["type"])  # the peer sent FIN: disconnect at once
            await answer(send, b"still written")

        client = Client(app, http)
        client.send(get())
        await client.settle()
        assert client.conn.eof_received() is True  # keep the transport open for the answer
        await client.until(lambda: client.transport.closed, "closed after the response")
        assert heard == ["http.disconnect"]
        [(status, headers, body)] = client.responses()
        assert (status, headers["connection"], body) == (200, "close", b"still written")

    run(loop, main())
