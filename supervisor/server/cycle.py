"""THE request/response cycle: ASGI `receive` and `send` for one HTTP request, whatever carries it.

States of a response, in order: not started -> started (status and headers held back)
-> head sent with the first body chunk -> complete. The head waits for the first body
message so both leave together and a one-message body gets a Content-Length. A head whose
body is slow to come is sent as soon as the app waits on `receive()` (streaming responses
listen for the disconnect that way), else by the server clock within a second: no timer
per request. The cycle hands status, headers and body to its `Channel`, which frames them
(HTTP/1.1 or an HTTP/2 stream) and owns the flow control: see server/channel.py.

Trailers (the ASGI "HTTP Trailers" extension): after `trailers: True` in the start message,
the last body message ends the body but not the response; the channel is told more is to
come, and the `http.response.trailers` message with `more_trailers` False ends it, checked
here once for both versions and handed over with `Channel.send_trailers`.

An app's mistake is refused in the send that makes it, so its own call raises and the client
gets a 500 while nothing is written: a final status that is not an int from 200 to 599,
headers that are no iterable, a body chunk that is not bytes-like (the pairs themselves are
checked when the head is built). Two tasks may wait in `receive()` at once (a disconnect
watcher beside a body read): every wake reaches both, and each scope gets its own "asgi" dict.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from supervisor.protocol.response import trailer_fields

if TYPE_CHECKING:
    from collections.abc import Callable

    from supervisor._types import Message, Scope
    from supervisor.server.channel import Channel

logger = logging.getLogger("serve.error")

_DISCONNECT: dict[str, Any] = {"type": "http.disconnect"}
# Above this many buffered request-body bytes the app is not keeping up: stop reading.
BODY_HIGH_WATER = 65536


class RequestResponseCycle:
    """One request: the body flowing in, the response flowing out, through `channel`."""

    __slots__ = (
        "body",
        "body_done",
        "channel",
        "complete",
        "disconnected",
        "expect_continue",
        "failure",
        "head_sent",
        "headers",
        "keep_alive",
        "more_body",
        "peer_done",
        "scope",
        "sent",
        "started",
        "started_at",
        "status",
        "trailers",
        "trailing",
        "waiter",
    )

    def __init__(
        self,
        channel: Channel,
        scope: Scope,
        keep_alive: bool,
        expect_continue: bool,
        started_at: float,
    ) -> None:
        self.channel = channel
        # The one place an HTTP scope (HTTP/1.1 and HTTP/2) gets its "asgi": a dict of its own, as
        # one shared dict carried a change made by one request into every later one; a display
        # of constants, cheaper than a copy. Spec 2.3, as uvicorn: send() after a disconnect is a
        # no-op rather than an OSError (2.4).
        scope["asgi"] = {"version": "3.0", "spec_version": "2.3"}
        self.scope = scope
        # Carried for the channel, never read here: whether the connection may serve another
        # request after this one (HTTP/1.1), and when the request began (figures, access log).
        self.keep_alive = keep_alive
        self.started_at = started_at
        self.expect_continue = expect_continue
        self.body = b""
        self.more_body = True  # the parser has not seen the end of the request body yet
        self.body_done = False  # the app has been handed more_body=False
        self.waiter: asyncio.Future[None] | None = None
        self.disconnected = False
        self.peer_done = False  # FIN received after the request
        self.started = False
        self.head_sent = False
        self.complete = False
        self.status = 0
        self.headers: Any = ()
        self.sent = 0  # response body bytes handed to the channel (the access log's bytes)
        self.failure: Exception | None = None  # a head refused while the app was not sending
        self.trailers: list[tuple[bytes, bytes]] | None = None  # the app said `trailers: True`: those so far
        self.trailing = False  # the body is over; the response ends with the app's last trailers message

    # Fed by the channel ------------------------------------------------------------------

    def feed_body(self, chunk: bytes) -> None:
        if self.complete:
            return  # the app answered without reading: the rest of the body is dropped
        self.body = self.body + chunk if self.body else chunk
        if len(self.body) > BODY_HIGH_WATER:
            self.channel.pause_reading()
        self.wake()

    def end_body(self) -> None:
        self.more_body = False
        if self.waiter is not None:
            self.wake()

    def peer_finished(self) -> None:
        """The client sent FIN after this request: receive() reports a disconnect, send() still writes."""
        self.peer_done = True
        self.wake()

    def lose_connection(self) -> None:
        self.disconnected = True
        self.wake()

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def _wait(self) -> None:
        earlier = self.waiter
        waiter = self.waiter = self.channel.loop.create_future()
        if earlier is not None and not earlier.done():
            # A second task in receive() (a disconnect watcher beside a body read): one wake must reach both.
            waiter.add_done_callback(also_wake(earlier))
        await waiter

    # ASGI receive ------------------------------------------------------------------------

    async def receive(self) -> Message:
        """Return the next `http.request` piece, then `http.disconnect` once the response is done or the peer is gone."""
        if self.expect_continue:
            # Still True means no 100 went out: an HTTP/1.1 answer sent before the whole body
            # then closes its connection. Once the app has started its answer no 100 is sent,
            # and its head waits for the body as any other (the client sends it after a while).
            if not self.started and not self.disconnected:
                self.expect_continue = False
                self.channel.send_continue()  # only once the app asks for the body
        elif self.started:
            self.flush_head()
        if not self.body_done:
            while not self.body and self.more_body and not self.disconnected:
                self.channel.resume_reading()
                await self._wait()
            if not self.disconnected and not self.body_done:  # another receive() may have taken the last piece
                body, self.body = self.body, b""
                more_body = self.more_body
                self.body_done = not more_body
                return {"type": "http.request", "body": body, "more_body": more_body}
        while not self.disconnected and not self.complete and not self.peer_done:
            await self._wait()
        return _DISCONNECT

    # ASGI send ---------------------------------------------------------------------------

    async def send(self, message: Message) -> None:
        """Take one response message from the app; hand it on when there is a body to send."""
        channel = self.channel
        if channel.write_paused and not self.disconnected:
            await channel.drain()
        if message["type"] != "http.response.body" or not self.started or self.complete or self.trailing:
            if message["type"] == "http.response.start" and not self.started:
                # Checked now, so that this send raises and the client is answered 500 at once; the
                # pairs themselves are checked when the head is built (a loop here cost 455
                # instructions a request): a held head found invalid then is answered at its flush.
                status = message["status"]
                headers = message.get("headers", ())
                if type(status) is not int or not 200 <= status <= 599 or type(headers) is not list:
                    status, headers = _checked_head(status, headers)
                self.status = status
                self.headers = headers
                self.started = True
                self.trailers = [] if message.get("trailers", False) else None
                return
            if message["type"] == "http.response.trailers" and self.trailing and not self.complete:
                self._take_trailers(message)
                return
            self._refuse_message(message)
        body = message.get("body", b"")
        if type(body) is not bytes:
            body = _checked_body(body)
        more_body = message.get("more_body", False)
        if not more_body and self.trailers is not None:
            # The body ends here but the response does not: to the channel, more is to come.
            self.trailing = more_body = True
        if self.disconnected:
            self.complete = not more_body
            return
        self.sent += len(body)
        if self.head_sent:
            channel.send_body(body, more_body)
        else:
            channel.send_head(self.status, self.headers, body, more_body)
            self.head_sent = True
        if not more_body:
            self.complete = True
            if self.waiter is not None:
                self.wake()  # a receive() waiting for the disconnect gets it now: the response is over (ASGI)
            channel.finish()

    def _take_trailers(self, message: Message) -> None:
        """An `http.response.trailers` message after the body: the last one (`more_trailers` False) ends the response."""
        self.trailers += trailer_fields(message.get("headers", ()))  # type: ignore[operator]  # set with `trailing`
        if message.get("more_trailers", False):
            return
        self.complete = True
        self.wake()
        if not self.disconnected:
            self.channel.send_trailers(self.trailers)
            self.channel.finish()

    def _refuse_message(self, message: Message) -> None:
        kind = message["type"]
        if self.failure is not None:
            raise self.failure
        if self.complete:
            raise RuntimeError(f"unexpected {kind!r}: the response is already complete")
        if self.trailing:
            raise RuntimeError(f"expected 'http.response.trailers', got {kind!r}")
        if self.started:
            raise RuntimeError(f"expected 'http.response.body', got {kind!r}")
        raise RuntimeError(f"expected 'http.response.start', got {kind!r}")

    def flush_head(self) -> None:
        """Send a held-back head now: the app sent its status and then waited.

        Called by `receive()` and by the server clock, neither of which may raise: a head that
        cannot be sent is answered 500 here, and the error is raised by the app's next `send()`.
        """
        if self.started and not self.head_sent and not self.complete and not self.disconnected:
            try:
                self.channel.send_head(self.status, self.headers, b"", True)
            except (RuntimeError, TypeError, ValueError) as error:  # the app's head, whatever its flaw
                logger.error("Invalid response from ASGI application: %s", error)
                self.failure = error
                self.complete = True
                self.channel.refuse(500, "Internal Server Error")
                return
            self.head_sent = True


def also_wake(earlier: asyncio.Future[None]) -> Callable[[asyncio.Future[None]], None]:
    """A callback that wakes `earlier` when the waiter that replaced it is done (or cancelled: a spurious wake is harmless)."""

    def wake(_: asyncio.Future[None]) -> None:
        if not earlier.done():
            earlier.set_result(None)

    return wake


def _checked_head(status: object, headers: object) -> tuple[int, Any]:
    """The status as a plain int and the headers as a sequence, off the common path (an int status, a list).

    Raises:
        RuntimeError: a status or headers no channel could send. A final status is an int
            from 200 to 599 (RFC 9110 §15): a 1xx is not an answer (h11 refuses one as
            final too), and bool is no status although it is an int. An int subclass
            (HTTPStatus) is taken as its value.
    """
    if not isinstance(status, int) or type(status) is bool or not 200 <= status <= 599:
        raise RuntimeError(f"invalid final HTTP status {status!r}: an int from 200 to 599")
    if type(headers) is list or type(headers) is tuple:
        return int(status), headers
    try:
        return int(status), list(headers)  # type: ignore[call-overload]  # any iterable of pairs (ASGI), read once
    except TypeError:
        raise RuntimeError(f"response headers must be an iterable of pairs, got {headers!r}") from None


def _checked_body(body: object) -> bytes:
    """A body chunk as bytes; TypeError for anything else (as uvicorn's transport.write raises)."""
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body)
    raise TypeError(f"response body must be bytes, got {type(body).__name__}")
