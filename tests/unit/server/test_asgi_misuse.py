"""Apps that break the ASGI contract: each gets an exception from the send that broke it, and the client an
answer (a 500 while nothing was written) and a connection that ends. Found by a fault hunt (stop 21).

In-process, as test_connection_inprocess.py: a fake transport, a real loop, both parser fronts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from http import HTTPStatus
from time import monotonic
from typing import Any

import pytest
from test_connection_inprocess import NO_PINGS, UPGRADE, Client, client_frame, get, post, run
from test_cycle import RecordingChannel, cycle_on

from supervisor._types import Message, Receive, Scope, Send
from supervisor.protocol.upgrade import websocket_scope


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def _misbehaving(start: Message, *body: Message) -> tuple[Any, list[BaseException]]:
    """An app that sends `start` then `body`, and keeps what its sends raised (then raises it, as apps do)."""
    raised: list[BaseException] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(start)
            for message in body:
                await send(message)
        except Exception as error:
            raised.append(error)
            raise

    return app, raised


# A str body chunk ----------------------------------------------------------------------------------


def test_a_str_body_chunk_raises_in_send_and_the_connection_still_closes(
    loop: asyncio.AbstractEventLoop, http: str
) -> None:
    # It used to be queued unchecked, fail later inside a loop callback, and wedge every later
    # write: the connection was never closed (the client hung, the socket leaked in CLOSE-WAIT).
    async def main() -> None:
        app, raised = _misbehaving(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]},
            {"type": "http.response.body", "body": b"a", "more_body": True},
            {"type": "http.response.body", "body": "bcde", "more_body": True},
            {"type": "http.response.body", "body": b""},
        )
        client = Client(app, http)
        client.send(get())
        await client.until(lambda: client.transport.closed, "the connection closed")
        assert [type(error) for error in raised] == [TypeError]
        assert client.wire().endswith(b"\r\n\r\na")  # what was sent before it, then the end

    run(loop, main())


def test_bytearray_and_memoryview_bodies_are_sent(loop: asyncio.AbstractEventLoop, http: str) -> None:
    async def main() -> None:
        app, raised = _misbehaving(
            {"type": "http.response.start", "status": 200, "headers": []},
            {"type": "http.response.body", "body": bytearray(b"ab"), "more_body": True},
            {"type": "http.response.body", "body": memoryview(b"cd")},
        )
        client = Client(app, http)
        client.send(get())
        await client.until(lambda: client.state.total_requests == 1, "the response done")
        await client.settle()
        assert raised == []
        [(status, _, body)] = client.responses()
        assert (status, body) == (200, b"abcd")

    run(loop, main())


def test_a_connection_ends_even_when_its_pending_chunks_cannot_be_written(
    loop: asyncio.AbstractEventLoop, http: str
) -> None:
    async def main() -> None:
        gate = loop.create_future()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"a", "more_body": True})
            await gate
            raise ValueError("the app fails mid-body")

        client = Client(app, http)
        client.send(get())
        await client.until(lambda: client.conn.head_started_at < 0 and client.transport.chunks, "the head sent")
        client.conn.pending.append("not bytes")  # type: ignore[arg-type]  # whatever went wrong, the end must come
        gate.set_result(None)
        await client.until(lambda: client.transport.closed, "the connection closed")

    run(loop, main())


# Two tasks in receive() ----------------------------------------------------------------------------


def test_two_tasks_waiting_in_receive_are_both_woken(loop: asyncio.AbstractEventLoop, http: str) -> None:
    # A disconnect watcher started before the body read (starlette's StreamingResponse does
    # so): the earlier receive() was stranded for ever, the later one having replaced its waiter.
    async def main() -> None:
        seen: list[str] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            first = asyncio.ensure_future(receive())
            await asyncio.sleep(0)
            second = asyncio.ensure_future(receive())
            await asyncio.wait([first, second], return_when=asyncio.FIRST_COMPLETED)
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})  # complete: the other hears the disconnect
            seen.extend(sorted(message["type"] for message in await asyncio.gather(first, second)))

        client = Client(app, http)
        client.send(post("/", b"", length=3))
        await client.settle()
        client.send(b"abc")
        await client.until(lambda: seen, "both receive() calls answered")
        assert seen == ["http.disconnect", "http.request"]

    run(loop, main())


def test_every_disconnect_watcher_hears_the_connection_go(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        channel = RecordingChannel(loop)
        cycle = cycle_on(channel)
        cycle.end_body()
        assert (await cycle.receive())["type"] == "http.request"
        watchers = [asyncio.ensure_future(cycle.receive()) for _ in range(3)]
        await asyncio.sleep(0)
        cycle.lose_connection()
        messages = await asyncio.wait_for(asyncio.gather(*watchers), 1.0)
        assert [m["type"] for m in messages] == ["http.disconnect"] * 3

    loop.run_until_complete(main())


def test_a_cancelled_receive_leaves_the_other_waiting(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        channel = RecordingChannel(loop)
        cycle = cycle_on(channel)
        first = asyncio.ensure_future(cycle.receive())
        await asyncio.sleep(0)
        second = asyncio.ensure_future(cycle.receive())
        await asyncio.sleep(0)
        second.cancel()
        for _ in range(5):
            await asyncio.sleep(0)
        assert not first.done()  # woken by the cancel, it found nothing and waits again
        cycle.feed_body(b"x")
        cycle.end_body()
        assert await asyncio.wait_for(first, 1.0) == {"type": "http.request", "body": b"x", "more_body": False}

    loop.run_until_complete(main())


def test_two_tasks_waiting_in_a_websockets_receive_both_hear_the_close(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        seen: list[str] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await receive()  # websocket.connect
            await send({"type": "websocket.accept"})
            first = asyncio.ensure_future(receive())
            await asyncio.sleep(0)
            second = asyncio.ensure_future(receive())
            seen.extend(sorted(message["type"] for message in await asyncio.gather(first, second)))

        client = Client(app, "httptools", ws=NO_PINGS)
        client.send(UPGRADE)
        await client.until(lambda: b"\r\n\r\n" in client.wire(), "the 101")
        await client.settle()
        client.send(client_frame(0x1, b"hi") + client_frame(0x8, b"\x03\xe8"))  # a message, then close 1000
        await client.until(lambda: seen, "both receive() calls answered")
        assert seen == ["websocket.disconnect", "websocket.receive"]

    run(loop, main())


# Invalid heads -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "start",
    [
        {"status": 103},
        {"status": 101},
        {"status": 200.7},
        {"status": "200"},
        {"status": True},
        {"status": 99},
        {"status": 600},
        {"status": 200, "headers": None},
        {"status": 200, "headers": 5},
    ],
    ids=repr,
)
def test_an_invalid_head_raises_in_its_send_and_is_answered_500_at_once(
    loop: asyncio.AbstractEventLoop, http: str, start: dict[str, Any]
) -> None:
    async def main() -> None:
        gate = loop.create_future()
        raised: list[BaseException] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            try:
                await send({"type": "http.response.start", **start})
            except Exception as error:
                raised.append(error)
                raise
            await gate  # a head that passes waits here: the clock would send it

        client = Client(app, http)
        client.send(get())
        await client.until(lambda: client.transport.closed, "the 500 and the close")
        assert [type(error) for error in raised] == [RuntimeError]
        [(status, _, _)] = client.responses()
        assert status == 500
        gate.cancel()

    run(loop, main())


def test_headers_as_a_tuple_or_generator_and_an_int_enum_status_are_taken(
    loop: asyncio.AbstractEventLoop, http: str
) -> None:
    async def main() -> None:
        app, raised = _misbehaving(
            {
                "type": "http.response.start",
                "status": HTTPStatus.CREATED,
                "headers": (pair for pair in [(b"x-a", b"1")]),
            },
            {"type": "http.response.body", "body": b"ok"},
        )
        client = Client(app, http)
        client.send(get())
        await client.until(lambda: client.state.total_requests == 1, "the response done")
        await client.settle()
        assert raised == []
        [(status, headers, body)] = client.responses()
        assert (status, headers["x-a"], body) == (201, "1", b"ok")
        assert client.wire().startswith(b"HTTP/1.1 201 Created\r\n")

    run(loop, main())


def test_malformed_header_pairs_held_back_are_answered_500_by_the_clock_once(
    loop: asyncio.AbstractEventLoop, http: str
) -> None:
    # Pairs are checked when the head is built, not in the start send (a loop there cost 455
    # instructions a request). A TypeError or ValueError there escaped flush_head: the server
    # clock retried it every tick and the client waited for the app's next send.
    async def main() -> None:
        gate = loop.create_future()
        raised: list[BaseException] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": [(b"a", b"b", b"c")]})
            await gate
            try:
                await send({"type": "http.response.body", "body": b"x"})
            except Exception as error:
                raised.append(error)

        client = Client(app, http)
        client.send(get())
        await client.settle()
        client.conn.sweep(monotonic())
        await client.until(lambda: client.transport.closed, "the 500 and the close")
        [(status, _, _)] = client.responses()
        assert status == 500
        client.conn.sweep(monotonic())  # closed: nothing is tried again
        gate.set_result(None)
        await client.until(lambda: raised, "the next send raised")
        assert [type(error) for error in raised] == [ValueError]

    run(loop, main())


def test_a_head_refused_at_the_clock_is_answered_once_whatever_it_raises(loop: asyncio.AbstractEventLoop) -> None:
    # The head's pairs unpack but their contents are wrong: refused when it is flushed. A
    # TypeError there used to escape flush_head, and the server clock retried it every tick.
    async def main() -> None:
        channel = RecordingChannel(loop)
        cycle = cycle_on(channel)

        def bad_head(*args: object) -> None:
            raise TypeError("can't concat str to bytes")

        channel.send_head = bad_head  # type: ignore[method-assign,assignment]
        await cycle.send({"type": "http.response.start", "status": 200, "headers": [("x-a", "b")]})
        cycle.flush_head()
        cycle.flush_head()
        assert channel.calls == [("refuse", 500)]
        with pytest.raises(TypeError):
            await cycle.send({"type": "http.response.body", "body": b"x"})

    loop.run_until_complete(main())


# Content-Length mismatch in the first body message ---------------------------------------------------


@pytest.mark.parametrize(("length", "body"), [(10, b"abc"), (2, b"abcdef")])
def test_a_first_body_message_that_breaks_its_content_length_is_answered_500(
    loop: asyncio.AbstractEventLoop, http: str, length: int, body: bytes
) -> None:
    async def main() -> None:
        app, raised = _misbehaving(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % length)]},
            {"type": "http.response.body", "body": body},
        )
        client = Client(app, http)
        client.send(get())
        await client.until(lambda: client.transport.closed, "the 500 and the close")
        assert [type(error) for error in raised] == [RuntimeError]
        [(status, _, _)] = client.responses()
        assert status == 500

    run(loop, main())


def test_a_later_body_message_that_breaks_its_content_length_cuts_the_connection(
    loop: asyncio.AbstractEventLoop, http: str
) -> None:
    async def main() -> None:
        app, raised = _misbehaving(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]},
            {"type": "http.response.body", "body": b"ab", "more_body": True},
            {"type": "http.response.body", "body": b"cd"},
        )
        client = Client(app, http)
        client.send(get())
        await client.until(lambda: client.transport.closed, "the close")
        assert [type(error) for error in raised] == [RuntimeError]
        assert client.wire().endswith(b"\r\n\r\nab")  # the head and what fitted; no second response

    run(loop, main())


# scope["asgi"] -------------------------------------------------------------------------------------


def test_each_request_gets_an_asgi_dict_of_its_own(loop: asyncio.AbstractEventLoop, http: str) -> None:
    async def main() -> None:
        seen: list[dict[str, str]] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            seen.append(dict(scope["asgi"]))
            scope["asgi"]["spec_version"] = "9.9"  # a middleware adjusting its own scope
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

        client = Client(app, http)
        client.send(get() + get())
        await client.until(lambda: client.state.total_requests == 2, "both answered")
        assert seen == [{"version": "3.0", "spec_version": "2.3"}] * 2  # the first request's change is not seen

    run(loop, main())


def test_each_websocket_scope_gets_an_asgi_dict_of_its_own() -> None:
    http_scope: Scope = {
        "http_version": "1.1",
        "scheme": "http",
        "server": None,
        "client": None,
        "root_path": "",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": [],
        "state": {},
    }
    first, second = websocket_scope(http_scope), websocket_scope(http_scope)
    first["asgi"]["spec_version"] = "9.9"
    assert second["asgi"] == {"version": "3.0", "spec_version": "2.4"}
