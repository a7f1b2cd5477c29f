"""RequestResponseCycle alone, through a channel that records what it is handed (no connection, no bytes)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest

from supervisor._types import Headers, Message
from supervisor.server.channel import Channel
from supervisor.server.cycle import BODY_HIGH_WATER, RequestResponseCycle


class RecordingChannel:
    """A channel as an HTTP/2 stream would be one: no framing here, just the calls in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.write_paused = False
        self.calls: list[tuple[Any, ...]] = []
        self.drained: asyncio.Future[None] | None = None
        self.bad_head = False

    async def drain(self) -> None:
        self.calls.append(("drain",))
        self.drained = self.loop.create_future()
        await self.drained

    def pause_reading(self) -> None:
        self.calls.append(("pause_reading",))

    def resume_reading(self) -> None:
        self.calls.append(("resume_reading",))

    def send_continue(self) -> None:
        self.calls.append(("continue",))

    def send_head(self, status: int, headers: Headers, body: bytes, more_body: bool) -> None:
        if self.bad_head:
            raise RuntimeError("invalid header")
        self.calls.append(("head", status, body, more_body))

    def send_body(self, body: bytes, more_body: bool) -> None:
        self.calls.append(("body", body, more_body))

    def send_trailers(self, fields: list[tuple[bytes, bytes]]) -> None:
        self.calls.append(("trailers", fields))

    def finish(self) -> None:
        self.calls.append(("finish",))

    def refuse(self, status: int, reason: str) -> None:
        self.calls.append(("refuse", status))


def _is_a_channel(channel: RecordingChannel) -> Channel:
    return channel  # mypy checks that the recording channel satisfies the Protocol


START: Message = {"type": "http.response.start", "status": 200, "headers": []}


def cycle_on(channel: RecordingChannel, *, method: str = "GET", expect_continue: bool = False) -> RequestResponseCycle:
    scope = {"type": "http", "method": method, "http_version": "1.1"}
    return RequestResponseCycle(
        _is_a_channel(channel), scope, keep_alive=True, expect_continue=expect_continue, started_at=0.0
    )


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def run(loop: asyncio.AbstractEventLoop, test: Coroutine[Any, Any, None]) -> None:
    loop.run_until_complete(asyncio.wait_for(test, 5.0))


def test_the_head_waits_for_the_first_body_piece_and_finish_follows_the_last(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        channel = RecordingChannel(loop)
        cycle = cycle_on(channel)
        await cycle.send(START)
        assert channel.calls == []
        await cycle.send({"type": "http.response.body", "body": b"a", "more_body": True})
        await cycle.send({"type": "http.response.body", "body": b"b"})
        assert channel.calls == [("head", 200, b"a", True), ("body", b"b", False), ("finish",)]
        assert cycle.complete
        with pytest.raises(RuntimeError, match="already complete"):
            await cycle.send({"type": "http.response.body", "body": b"c"})

    run(loop, main())


def test_a_receive_waiting_for_the_disconnect_hears_it_when_the_response_completes(
    loop: asyncio.AbstractEventLoop,
) -> None:
    # ASGI: receive() after the response is sent returns http.disconnect; one already waiting
    # (a listener task) must not wait on, into the next request or for ever.
    async def main() -> None:
        channel = RecordingChannel(loop)
        cycle = cycle_on(channel)
        cycle.end_body()
        assert (await cycle.receive())["type"] == "http.request"
        listener = asyncio.ensure_future(cycle.receive())
        await asyncio.sleep(0)
        assert not listener.done()
        await cycle.send(START)
        await cycle.send({"type": "http.response.body", "body": b"done"})
        assert await asyncio.wait_for(listener, 1.0) == {"type": "http.disconnect"}

    run(loop, main())


def test_receive_sends_a_held_head_and_asks_for_more_body(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        channel = RecordingChannel(loop)
        cycle = cycle_on(channel, method="POST")
        await cycle.send(START)
        pending = asyncio.ensure_future(cycle.receive())
        await asyncio.sleep(0)
        assert channel.calls == [("head", 200, b"", True), ("resume_reading",)]
        cycle.feed_body(b"x" * (BODY_HIGH_WATER + 1))
        assert channel.calls[-1] == ("pause_reading",)  # the app is behind: the channel stops reading
        cycle.end_body()
        message = await pending
        assert (len(message["body"]), message["more_body"]) == (BODY_HIGH_WATER + 1, False)

    run(loop, main())


def test_100_continue_only_when_the_app_reads_first(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        reads = RecordingChannel(loop)
        cycle = cycle_on(reads, method="POST", expect_continue=True)
        cycle.end_body()
        await cycle.receive()
        assert reads.calls == [("continue",)]

        answers = RecordingChannel(loop)
        cycle = cycle_on(answers, method="POST", expect_continue=True)
        await cycle.send(START)
        cycle.end_body()
        await cycle.receive()
        assert ("continue",) not in answers.calls
        # The held head still waits for the body (so it gets a Content-Length and the connection
        # is kept when the whole body came), and the cycle still says no 100 was sent: an answer
        # that goes out before the whole body closes its HTTP/1.1 connection (stop 20).
        assert answers.calls == []
        assert cycle.expect_continue

    run(loop, main())


def test_send_waits_on_drain_while_the_channel_is_paused(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        channel = RecordingChannel(loop)
        cycle = cycle_on(channel)
        await cycle.send(START)
        channel.write_paused = True
        sending = asyncio.ensure_future(cycle.send({"type": "http.response.body", "body": b"x"}))
        await asyncio.sleep(0)
        assert channel.calls == [("drain",)]
        channel.write_paused = False
        channel.drained.set_result(None)  # type: ignore[union-attr]
        await sending
        assert channel.calls[1:] == [("head", 200, b"x", False), ("finish",)]

    run(loop, main())


def test_after_a_disconnect_nothing_reaches_the_channel(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        channel = RecordingChannel(loop)
        cycle = cycle_on(channel)
        cycle.lose_connection()
        assert await cycle.receive() == {"type": "http.disconnect"}
        channel.write_paused = True  # a lost connection is not waited on
        await cycle.send(START)
        await cycle.send({"type": "http.response.body", "body": b"x"})
        assert channel.calls == []
        assert cycle.complete

    run(loop, main())


def test_a_head_refused_at_flush_is_answered_500_and_raised_by_the_next_send(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        channel = RecordingChannel(loop)
        cycle = cycle_on(channel)
        await cycle.send(START)
        channel.bad_head = True
        cycle.flush_head()  # the server clock: must not raise
        assert channel.calls == [("refuse", 500)]
        with pytest.raises(RuntimeError, match="invalid header"):
            await cycle.send({"type": "http.response.body", "body": b"x"})

    run(loop, main())


def test_messages_out_of_order_are_refused(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        cycle = cycle_on(RecordingChannel(loop))
        with pytest.raises(RuntimeError, match=r"expected 'http\.response\.start'"):
            await cycle.send({"type": "http.response.body", "body": b""})
        await cycle.send(START)
        with pytest.raises(RuntimeError, match=r"expected 'http\.response\.body'"):
            await cycle.send(START)

    run(loop, main())
