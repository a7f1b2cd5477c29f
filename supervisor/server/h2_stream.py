"""One HTTP/2 stream as the `Channel` of the request/response cycle that serves it.

The cycle is the same `RequestResponseCycle` HTTP/1.1 requests get; this channel frames
what it hands over as HEADERS and DATA on its stream (through the connection's `H2Front`),
and runs the stream's flow control: reading "pauses" by withholding the stream's
WINDOW_UPDATE (the client can send at most one window more), and `drain()` waits while the
stream's own response buffer is above its high-water mark or the transport is paused. No
stream waits on another's window, so none blocks the rest of the connection.
"""

from __future__ import annotations

import asyncio
import logging
from time import monotonic
from typing import TYPE_CHECKING, Protocol

from supervisor.protocol.h2_front import response_headers

if TYPE_CHECKING:
    from supervisor._types import Headers
    from supervisor.protocol.h2_front import H2Front
    from supervisor.server.cycle import RequestResponseCycle
    from supervisor.server.state import ServerState

logger = logging.getLogger("serve.error")

# Response bytes a stream may hold beyond what the client's window admits before the app's
# send() waits: one full frame plus change, like the transport's own high-water mark.
STREAM_HIGH_WATER = 65536
# Frames the windows admitted but not yet written: past this, a stream's send() writes them at
# once and waits if the transport pauses. Written only at the end of the loop turn, an app that
# sends piece after piece without waiting would pile its whole body up here for a client that
# does not read (CVE-2019-9517): the transport's own high-water mark never got a say.
OUTPUT_HIGH_WATER = 65536
_CONTINUE = [(b":status", b"100")]
_TEXT = [(b"content-type", b"text/plain; charset=utf-8")]


class Drainable(Protocol):
    """A writer waiting in drain() for its stream's buffer to go down: an `H2Stream`, or a WebSocket's stream."""

    stream_id: int

    def release_drain(self) -> None:
        """The stream's buffer is low again (or the stream is gone): wake the writer."""


class StreamCarrier(Protocol):
    """What a stream needs of its connection (`h2_connection.Http2Connection`)."""

    loop: asyncio.AbstractEventLoop
    state: ServerState
    front: H2Front
    write_paused: bool  # the transport's buffer is full: every stream waits
    draining_streams: set[Drainable]  # streams whose app waits in drain(), released as buffers empty

    def write_soon(self) -> None:
        """Write what the front produced at the end of this loop turn."""

    def write_now(self) -> None:
        """Write what the front produced now (the transport may pause writing)."""

    def acknowledge(self, stream_id: int, size: int) -> None:
        """Give request-body window back to the client."""

    def default_fields(self) -> list[tuple[bytes, bytes]]:
        """The server's default response headers as HTTP/2 fields."""

    def stream_done(self, stream: H2Stream) -> None:
        """The stream's response is complete or abandoned."""


class WindowOwner(Protocol):
    """A stream reading request DATA under flow control: an HTTP request or a WebSocket tunnel."""

    read_paused: bool
    unacked: int

    @property
    def conn(self) -> StreamCarrier:
        """The connection the stream is on."""

    @property
    def stream_id(self) -> int:
        """The stream's identifier."""


def took_in(owner: WindowOwner, flow_length: int, *, owed: bool) -> None:
    """`flow_length` bytes of the stream's window were used: acknowledged now, or owed until reading resumes."""
    if owed:
        owner.unacked += flow_length
    else:
        owner.conn.acknowledge(owner.stream_id, flow_length)


def resume_reading(owner: WindowOwner) -> None:
    """Reading resumes: the window owed while it was paused goes back to the client."""
    owner.read_paused = False
    if owner.unacked:
        owed, owner.unacked = owner.unacked, 0
        owner.conn.acknowledge(owner.stream_id, owed)


class H2Stream:
    """The channel of one stream's cycle; `conn` owns the front and the transport."""

    __slots__ = ("bodiless", "conn", "cycle", "drain_waiter", "read_paused", "stream_id", "task", "unacked")

    def __init__(self, conn: StreamCarrier, stream_id: int) -> None:
        self.conn = conn
        self.stream_id = stream_id
        self.cycle: RequestResponseCycle = None  # type: ignore[assignment]  # set right after, by the connection
        self.task: asyncio.Task[None] | None = None
        self.read_paused = False
        self.unacked = 0  # request-body bytes taken in while paused: the window owed to the client
        self.drain_waiter: asyncio.Future[None] | None = None
        self.bodiless = False  # HEAD, 1xx, 204, 304: body bytes from the app are dropped

    # Request body in -----------------------------------------------------------------------

    def feed(self, chunk: bytes, flow_length: int) -> None:
        cycle = self.cycle
        cycle.feed_body(chunk)  # may pause reading: then the window is owed until the app reads
        took_in(self, flow_length, owed=self.read_paused and not cycle.complete)

    # Channel -------------------------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self.conn.loop

    @property
    def write_paused(self) -> bool:
        conn = self.conn
        front = conn.front
        return (
            conn.write_paused
            or front.buffered(self.stream_id) > STREAM_HIGH_WATER
            or front.unsent() > OUTPUT_HIGH_WATER
        )

    async def drain(self) -> None:
        conn = self.conn
        if conn.front.unsent() > OUTPUT_HIGH_WATER:
            conn.write_now()  # the transport takes it, or pauses writing past its own high-water mark
            if not self.write_paused:
                return
        if self.drain_waiter is None:
            self.drain_waiter = self.conn.loop.create_future()
            self.conn.draining_streams.add(self)
        await self.drain_waiter

    def release_drain(self) -> None:
        waiter, self.drain_waiter = self.drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def pause_reading(self) -> None:
        self.read_paused = True

    def resume_reading(self) -> None:
        resume_reading(self)

    def send_continue(self) -> None:
        self.conn.front.send_head(self.stream_id, _CONTINUE, end_stream=False)
        self.conn.write_soon()

    def send_head(self, status: int, headers: Headers, body: bytes, more_body: bool) -> None:
        conn = self.conn
        fields = response_headers(status, headers, conn.default_fields(), -1 if more_body else len(body))
        self.bodiless = status < 200 or status in (204, 304) or self.cycle.scope["method"] == "HEAD"
        conn.write_soon()
        if (
            not more_body
            and status >= 200
            and conn.front.send_response(self.stream_id, fields, b"" if self.bodiless else body)
        ):
            return
        if self.bodiless or (not body and not more_body):
            conn.front.send_head(self.stream_id, fields, end_stream=not more_body)
        else:
            conn.front.send_head(self.stream_id, fields, end_stream=False)
            self.send_body(body, more_body)

    def send_body(self, body: bytes, more_body: bool) -> None:
        if self.bodiless:
            body = b""
        if body or not more_body:
            self.conn.front.send_data(self.stream_id, body, end_stream=not more_body)
            self.conn.write_soon()

    def send_trailers(self, fields: list[tuple[bytes, bytes]]) -> None:
        if fields:
            self.conn.front.send_trailers(self.stream_id, fields)
            self.conn.write_soon()
        else:
            self.send_body(b"", False)

    def finish(self) -> None:
        self.conn.state.count_response(self.cycle, monotonic())
        self.conn.stream_done(self)

    def refuse(self, status: int, reason: str) -> None:
        body = reason.encode("utf-8", "replace")
        fields = response_headers(status, _TEXT, self.conn.default_fields(), len(body))
        self.conn.front.send_head(self.stream_id, fields, end_stream=False)
        self.conn.front.send_data(self.stream_id, body, end_stream=True)
        self.conn.write_soon()
        self.conn.stream_done(self)

    # The app -------------------------------------------------------------------------------

    def start(self) -> None:
        """Run the app for this stream (the connection checked the concurrency limit)."""
        conn = self.conn
        state = conn.state
        state.active_requests += 1
        cycle = self.cycle
        self.task = state.start_app_call(state.app(cycle.scope, cycle.receive, cycle.send))  # type: ignore[arg-type]
        self.task.add_done_callback(self._app_returned)

    def _app_returned(self, task: asyncio.Task[None]) -> None:
        self.conn.state.active_requests -= 1
        cycle = self.cycle
        if task.cancelled():
            problem = "" if cycle.complete or cycle.disconnected else "cancelled"
        elif task.exception() is not None:
            logger.error("Exception in ASGI application", exc_info=task.exception())
            problem = "raised"
        elif cycle.disconnected or cycle.complete:
            if task.result() is not None:
                logger.error("ASGI callable returned a value (%r); ignored", task.result())
            return
        else:
            problem = (
                "returned without completing the response" if cycle.started else "returned without starting a response"
            )
            logger.error("ASGI callable %s", problem)
        if problem and not cycle.complete and not cycle.disconnected:
            cycle.complete = True
            if cycle.head_sent:
                self.conn.front.reset(self.stream_id)  # the client must not take a cut body as whole
                self.conn.write_soon()
                self.conn.stream_done(self)
            else:
                self.refuse(500, "Internal Server Error")
            # The stream is over for the app: a receive() waiting beside it, for the body or the
            # disconnect, hears http.disconnect, as over HTTP/1.1 when the connection closes.
            cycle.lose_connection()

    def lose(self) -> None:
        """The stream is gone (reset by the client or the server clock, or the connection lost)."""
        self.cycle.lose_connection()
        self.release_drain()
