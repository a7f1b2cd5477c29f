"""THE request/response cycle: ASGI `receive` and `send` for one HTTP request, for both fronts.

May import: protocol/, errors, _types, the standard library (asyncio).

States of a response, in order: not started -> started (status and headers held back)
-> head written with the first body chunk -> complete. The head waits for the first
body message so both leave in one write and a one-message body gets a Content-Length.
A head whose body is slow to come is written as soon as the app waits on `receive()`
(streaming responses listen for the disconnect that way), else by the server clock
within a second: no per-request timer. Framing decisions live in `protocol.response`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from supervisor.protocol.response import (
    CHUNK_END,
    CHUNKED,
    CLOSE,
    HEAD_REQUEST,
    HTTP_10,
    LENGTH,
    NO_BODY,
    encode_chunk,
    encode_head,
)

if TYPE_CHECKING:
    from supervisor._types import Message, Scope
    from supervisor.server.connection import HttpConnection

logger = logging.getLogger("serve.error")

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_DISCONNECT: dict[str, Any] = {"type": "http.disconnect"}
# Above this many buffered request-body bytes the app is not keeping up: stop reading.
BODY_HIGH_WATER = 65536


class RequestResponseCycle:
    """One request: the body flowing in, the response flowing out."""

    __slots__ = (
        "body",
        "body_done",
        "complete",
        "conn",
        "disconnected",
        "expect_continue",
        "failure",
        "flags",
        "framing",
        "head_sent",
        "headers",
        "keep_alive",
        "more_body",
        "peer_done",
        "remaining",
        "scope",
        "started",
        "started_at",
        "status",
        "waiter",
    )

    def __init__(
        self,
        conn: HttpConnection,
        scope: Scope,
        *,
        keep_alive: bool,
        expect_continue: bool,
        started_at: float,
    ) -> None:
        self.conn = conn
        self.scope = scope
        self.keep_alive = keep_alive
        self.expect_continue = expect_continue
        self.started_at = started_at
        self.flags = (HTTP_10 if scope["http_version"] == "1.0" else 0) | (
            HEAD_REQUEST if scope["method"] == "HEAD" else 0
        )
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
        self.framing = LENGTH
        self.remaining = -1
        self.failure: RuntimeError | None = None  # a head refused while the app was not sending

    # Fed by the connection ---------------------------------------------------------------

    def feed_body(self, chunk: bytes) -> None:
        if self.complete:
            return  # the app answered without reading: the rest of the body is dropped
        self.body = self.body + chunk if self.body else chunk
        if len(self.body) > BODY_HIGH_WATER:
            self.conn.pause_reading()
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
        waiter = self.waiter = self.conn.loop.create_future()
        await waiter

    # ASGI receive ------------------------------------------------------------------------

    async def receive(self) -> Message:
        """Return the next `http.request` piece, then `http.disconnect` once the response is done or the peer is gone."""
        if self.expect_continue:
            self.expect_continue = False
            if not self.started and not self.disconnected:
                self.conn.write(_CONTINUE)  # RFC 9110 §10.1.1: only once the app asks for the body
        elif self.started:
            self.flush_head()
        if not self.body_done:
            while not self.body and self.more_body and not self.disconnected:
                self.conn.resume_reading()
                await self._wait()
            if not self.disconnected:
                body, self.body = self.body, b""
                more_body = self.more_body
                self.body_done = not more_body
                return {"type": "http.request", "body": body, "more_body": more_body}
        while not self.disconnected and not self.complete and not self.peer_done:
            await self._wait()
        return _DISCONNECT

    # ASGI send ---------------------------------------------------------------------------

    async def send(self, message: Message) -> None:
        """Take one response message from the app; write when there is a body to write."""
        conn = self.conn
        if conn.write_paused and not self.disconnected:
            await conn.drain()
        if message["type"] != "http.response.body" or not self.started or self.complete:
            if message["type"] == "http.response.start" and not self.started:
                self.status = message["status"]
                self.headers = message.get("headers", ())
                self.started = True
                return
            self._refuse_message(message)
        body = message.get("body", b"")
        more_body = message.get("more_body", False)
        if self.disconnected:
            self.complete = not more_body
            return
        if self.head_sent:
            data = self._frame(body, more_body)
        else:
            head = self._encode_head(-1 if more_body else len(body))
            data = head + self._frame(body, more_body)
        if more_body:
            if data:
                conn.write_soon(data)
            return
        self.complete = True
        conn.write(data)
        conn.response_done(self)

    def _refuse_message(self, message: Message) -> None:
        kind = message["type"]
        if self.failure is not None:
            raise self.failure
        if self.complete:
            raise RuntimeError(f"unexpected {kind!r}: the response is already complete")
        if self.started:
            raise RuntimeError(f"expected 'http.response.body', got {kind!r}")
        raise RuntimeError(f"expected 'http.response.start', got {kind!r}")

    def _frame(self, body: bytes, more_body: bool) -> bytes:
        framing = self.framing
        if framing == LENGTH:
            self.remaining -= len(body)
            if self.remaining < 0 or (not more_body and self.remaining):
                self._abort_length()
            return body
        if framing == CHUNKED:
            return encode_chunk(body) + CHUNK_END if not more_body else encode_chunk(body)
        if framing == NO_BODY:
            return b""
        return body  # CLOSE: the body runs until the connection closes

    def _abort_length(self) -> None:
        self.keep_alive = False
        self.conn.close_after_write()
        raise RuntimeError("response body does not match its Content-Length")

    def _encode_head(self, final_body_length: int) -> bytes:
        conn = self.conn
        keep_alive = self.keep_alive and not conn.state.draining
        head, self.framing, self.remaining, self.keep_alive = encode_head(
            self.status, self.headers, conn.state.default_headers, keep_alive, self.flags, final_body_length
        )
        self.head_sent = True
        if self.framing == CLOSE:
            self.keep_alive = False
        return head

    def flush_head(self) -> None:
        """Write a held-back head now: the app sent its status and then waited.

        Called by `receive()` and by the server clock, neither of which may raise: a head that
        cannot be encoded is answered 500 here, and the error is raised by the app's next `send()`.
        """
        if self.started and not self.head_sent and not self.complete and not self.disconnected:
            try:
                head = self._encode_head(-1)
            except RuntimeError as error:
                logger.error("Invalid response from ASGI application: %s", error)
                self.failure = error
                self.complete = True
                self.conn.refuse(500, "Internal Server Error")
                return
            self.conn.write(head)
