"""HTTP trailers: the cycle's handling of `http.response.trailers` (through test_cycle's recording channel), and the pure framing helpers."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest
from h2_defaults import default_limits
from test_cycle import RecordingChannel

from supervisor._types import Message
from supervisor.protocol.h2_front import H2Front
from supervisor.protocol.response import encode_trailers, trailer_fields
from supervisor.server.channel import Channel
from supervisor.server.cycle import RequestResponseCycle


def _channel(channel: RecordingChannel) -> Channel:
    return channel  # mypy checks the Protocol, send_trailers included


START: Message = {"type": "http.response.start", "status": 200, "headers": [], "trailers": True}
LAST: Message = {"type": "http.response.body", "body": b"done"}
TRAILERS: Message = {"type": "http.response.trailers", "headers": [(b"Grpc-Status", b"0")]}


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def run(loop: asyncio.AbstractEventLoop, test: Coroutine[Any, Any, None]) -> None:
    loop.run_until_complete(asyncio.wait_for(test, 5.0))


def cycle_on(channel: RecordingChannel) -> RequestResponseCycle:
    scope = {"type": "http", "method": "GET", "http_version": "1.1"}
    return RequestResponseCycle(_channel(channel), scope, keep_alive=True, expect_continue=False, started_at=0.0)


def test_the_last_body_leaves_as_more_to_come_and_the_trailers_end_the_response(
    loop: asyncio.AbstractEventLoop,
) -> None:
    channel = RecordingChannel(loop)
    cycle = cycle_on(channel)

    async def app() -> None:
        await cycle.send(START)
        await cycle.send(LAST)
        assert not cycle.complete
        await cycle.send({"type": "http.response.trailers", "headers": [(b"x-a", b"1")], "more_trailers": True})
        await cycle.send(TRAILERS)

    run(loop, app())
    assert channel.calls == [
        ("head", 200, b"done", True),  # chunked, not a Content-Length: trailers follow the body
        ("trailers", [(b"x-a", b"1"), (b"grpc-status", b"0")]),
        ("finish",),
    ]
    assert cycle.complete


def test_streamed_body_then_trailers(loop: asyncio.AbstractEventLoop) -> None:
    channel = RecordingChannel(loop)
    cycle = cycle_on(channel)

    async def app() -> None:
        await cycle.send(START)
        await cycle.send({"type": "http.response.body", "body": b"a", "more_body": True})
        await cycle.send({"type": "http.response.body", "body": b"b"})
        await cycle.send({"type": "http.response.trailers"})

    run(loop, app())
    assert channel.calls == [("head", 200, b"a", True), ("body", b"b", True), ("trailers", []), ("finish",)]
    assert cycle.sent == 2


def test_messages_out_of_order_are_refused(loop: asyncio.AbstractEventLoop) -> None:
    channel = RecordingChannel(loop)
    cycle = cycle_on(channel)

    async def app() -> None:
        await cycle.send(START)
        with pytest.raises(RuntimeError, match=r"expected 'http\.response\.body'"):
            await cycle.send(TRAILERS)  # before the body is over
        await cycle.send(LAST)
        with pytest.raises(RuntimeError, match=r"expected 'http\.response\.trailers'"):
            await cycle.send(LAST)
        await cycle.send(TRAILERS)
        with pytest.raises(RuntimeError, match="already complete"):
            await cycle.send(TRAILERS)

    run(loop, app())


def test_trailers_without_the_promise_are_refused(loop: asyncio.AbstractEventLoop) -> None:
    channel = RecordingChannel(loop)
    cycle = cycle_on(channel)

    async def app() -> None:
        await cycle.send({"type": "http.response.start", "status": 200})
        await cycle.send(LAST)
        with pytest.raises(RuntimeError, match="already complete"):
            await cycle.send(TRAILERS)

    run(loop, app())
    assert channel.calls == [("head", 200, b"done", False), ("finish",)]


def test_invalid_trailers_raise_before_anything_is_sent(loop: asyncio.AbstractEventLoop) -> None:
    channel = RecordingChannel(loop)
    cycle = cycle_on(channel)

    async def app() -> None:
        await cycle.send(START)
        await cycle.send(LAST)
        with pytest.raises(RuntimeError, match="may not be sent as a trailer"):
            await cycle.send({"type": "http.response.trailers", "headers": [(b"content-length", b"4")]})

    run(loop, app())
    assert channel.calls == [("head", 200, b"done", True)]
    assert not cycle.complete  # the app failed: the connection abandons the response


def test_after_a_disconnect_nothing_is_sent_but_the_response_completes(loop: asyncio.AbstractEventLoop) -> None:
    channel = RecordingChannel(loop)
    cycle = cycle_on(channel)

    async def app() -> None:
        await cycle.send(START)
        cycle.lose_connection()
        await cycle.send(LAST)
        assert not cycle.complete
        await cycle.send(TRAILERS)

    run(loop, app())
    assert channel.calls == []
    assert cycle.complete


# Pure helpers (protocol/response.py) ------------------------------------------------------------


def test_trailer_fields_lowercase_names_and_refuse_what_rfc_9110_keeps_out() -> None:
    assert trailer_fields([(b"Server-Timing", b"db;dur=53")]) == [(b"server-timing", b"db;dur=53")]
    assert trailer_fields([]) == []
    for name in (b"Content-Length", b"transfer-encoding", b"host", b"connection", b"trailer", b"te"):
        with pytest.raises(RuntimeError, match="may not be sent as a trailer"):
            trailer_fields([(name, b"x")])
    with pytest.raises(RuntimeError, match="pseudo-header"):
        trailer_fields([(b":status", b"200")])
    with pytest.raises(RuntimeError, match="invalid response header"):
        trailer_fields([(b"x-a", b"split\r\nx-b: 1")])
    with pytest.raises(RuntimeError, match="must be bytes"):
        trailer_fields([("x-a", "1")])  # type: ignore[list-item]


def test_encode_trailers_ends_a_chunked_body() -> None:
    assert encode_trailers([]) == b"0\r\n\r\n"
    assert encode_trailers([(b"x-a", b"1"), (b"x-b", b"2")]) == b"0\r\nx-a: 1\r\nx-b: 2\r\n\r\n"


# The HTTP/2 front: trailers after the body, also when the body waits for the client's window ----


class _Sink:
    def on_stream_request(self, *args: Any) -> None:
        pass

    def on_stream_body(self, *args: Any) -> None:  # pragma: no cover - no request body here
        pass

    def on_stream_end(self, *args: Any) -> None:
        pass

    def on_stream_reset(self, *args: Any) -> None:  # pragma: no cover - nothing reset here
        pass


GET = [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"), (b":authority", b"t")]


@pytest.mark.parametrize("window", [65535, 4])
def test_the_front_sends_trailers_as_the_streams_last_headers(window: int) -> None:
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    client.initiate_connection()
    client.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
    client.send_headers(1, GET, end_stream=True)
    front = H2Front(_Sink(), default_limits(), 0.0)
    front.feed(client.data_to_send(), 0.0)
    client.receive_data(front.output())
    front.feed(client.data_to_send(), 0.0)  # the SETTINGS ack: the window applies
    front.send_head(1, [(b":status", b"200")], end_stream=False)
    front.send_data(1, b"helloworld", end_stream=False)
    front.send_trailers(1, [(b"grpc-status", b"0")])
    events = client.receive_data(front.output())
    if window < 10:  # the trailers wait behind the body the window holds back
        assert not any(isinstance(e, h2.events.TrailersReceived) for e in events)
        client.increment_flow_control_window(10, 1)
        front.feed(client.data_to_send(), 0.0)
        events += client.receive_data(front.output())
    body = b"".join(e.data for e in events if isinstance(e, h2.events.DataReceived))
    assert body == b"helloworld"
    kinds = [type(e) for e in events if not isinstance(e, (h2.events.DataReceived, h2.events.WindowUpdated))]
    assert kinds[-2:] == [h2.events.TrailersReceived, h2.events.StreamEnded]
    assert next(e for e in events if isinstance(e, h2.events.TrailersReceived)).headers == [(b"grpc-status", b"0")]
