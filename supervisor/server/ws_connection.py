"""The asyncio.Protocol of an upgraded connection: runs the app on a WebSocket session, with keepalive and flow control.

`HttpConnection.on_upgrade` hands the transport over (`transport.set_protocol`); from then
on bytes go to `protocol.websocket.WebSocketSession` and what it returns is written. The
app's receive() takes messages from the session's inbox without awaiting while there are
any; reading pauses once `ws_max_queue` of them wait, and only then: a peer may well write a
large message before it reads what the app streams to it, so write pressure never stops
reading. What the peer asks us to answer (pongs, a close reply) is bounded instead: once more
than `MAX_UNREAD_ANSWERS` bytes of answers were written while the transport was write-paused,
the peer is not reading what it asks for, and the connection is aborted (the app hears 1006).
A keepalive pong that waits unread behind a full queue counts as missing, as with the
websockets library's own server. Like HTTP connections, timeouts other than the keepalive ping
are checked by the server clock (`sweep`), which also starts the 1012 close when the server
drains and aborts a close that cannot finish (the peer neither answers nor reads) once
`CLOSE_TIMEOUT_S` has passed.

The transport is whatever carries the WebSocket's bytes: the TCP connection an HTTP/1.1
upgrade hands over, or one HTTP/2 stream (`server/h2_websocket.py`, RFC 8441) dressed as an
asyncio transport, so both run this one class. Over HTTP/2 the session's HTTP answers go
to `stream_answer` (HEADERS on the stream) instead of being written.
"""

from __future__ import annotations

import asyncio
import logging
import os
from time import monotonic
from typing import TYPE_CHECKING

from supervisor.protocol.upgrade import WebSocketSettings
from supervisor.protocol.websocket import (
    CLOSED,
    DENIAL,
    HANDSHAKE,
    INTERNAL_ERROR,
    OPEN,
    ClientDisconnected,
    WebSocketSession,
)
from supervisor.server.cycle import also_wake
from supervisor.server.flow import FlowControl

if TYPE_CHECKING:
    from supervisor._types import Message, Scope
    from supervisor.protocol.websocket import StreamAnswer
    from supervisor.server.state import ServerState

logger = logging.getLogger("serve.error")

# How long a closing handshake may wait for the peer's close frame, and a closed connection for
# its buffered bytes to go out, before it is aborted (websockets' and uvicorn's close_timeout).
CLOSE_TIMEOUT_S = 10.0
# Bytes of answers to the peer's frames (pongs, a close reply) that may be written while the
# transport is write-paused, counted from the last resume_writing: about 500 pongs to the
# largest pings (125 bytes), far beyond what a peer that reads what it asks for leaves unread.
MAX_UNREAD_ANSWERS = 65536
SERVICE_RESTART = 1012  # RFC 6455 §7.4.1 via the IANA registry: the server is restarting


class WebSocketConnection(FlowControl):
    """One upgraded client connection: the transport, the session, the app's task."""

    def __init__(
        self,
        state: ServerState,
        settings: WebSocketSettings,
        transport: asyncio.Transport,
        scope: Scope,
        *,
        read_paused: bool,
        write_paused: bool,
        stream_answer: StreamAnswer | None = None,
    ) -> None:
        self.state = state
        self.loop = state.loop
        self.settings = settings
        self.transport = transport
        self.scope = scope
        self.session = WebSocketSession(scope, settings, state.default_headers, stream_answer)
        self.max_queue = settings.max_queue
        self.low_water = settings.max_queue // 4  # resume reading only once the app has caught up
        self.read_paused = read_paused
        self.queue_full = False  # reading paused until the app takes the inbox down to low_water
        self.write_paused = write_paused
        self.drain_waiter: asyncio.Future[None] | None = None
        self.waiter: asyncio.Future[None] | None = None  # the app waiting in receive()
        self.task: asyncio.Task[None] | None = None
        self.ping_handle: asyncio.TimerHandle | None = None
        self.lost = False
        self.closing = False  # transport.close() called
        self.counted = False  # in state.websockets
        self.close_deadline = 0.0  # when a close gives up on the peer's reply or on flushing; 0: none
        self.unread_answers = 0  # bytes of answers written since writing was paused (`MAX_UNREAD_ANSWERS`)

    def start(self, trailing: bytes) -> None:
        """Take the transport over and run the app (or refuse an invalid handshake)."""
        self.state.connections.add(self)
        self.transport.set_protocol(self)
        session = self.session
        if not session.valid:
            self._after(HANDSHAKE, session.refusal())
            return
        self.task = self.loop.create_task(self._run_asgi())
        if trailing:
            self.data_received(trailing)

    # asyncio.Protocol ------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        session = self.session
        was_open = session.phase == OPEN
        out = session.receive(data)
        if out and not self.closing:
            self.transport.write(out)
            if self.write_paused:
                self.unread_answers += len(out)
                if self.unread_answers > MAX_UNREAD_ANSWERS:
                    # The peer asks (pings) without reading the answers: they would pile up here.
                    logger.info(
                        '%s - "WebSocket %s" peer does not read its answers: connection aborted', *self._describe()
                    )
                    self.abort()
                    return
        if session.close_transport:
            self._close_transport()
        if was_open and session.phase == CLOSED:
            self.release_drain()  # a send() waiting for the peer to read hears the close instead
        inbox = session.inbox
        if inbox:
            waiter = self.waiter
            if waiter is not None:
                self.waiter = None
                if not waiter.done():
                    waiter.set_result(None)
            if len(inbox) >= self.max_queue:
                self.queue_full = True
                self.pause_reading()
        if not session.upgraded:
            self.pause_reading()  # bytes before the 101 wait in the kernel, not in memory

    def eof_received(self) -> None:
        # A half-close: the peer has nothing more to say, so the connection ends (asyncio
        # closes the transport); the app hears 1006 unless a close frame came first.
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = self.closing = True
        state = self.state
        state.connections.discard(self)
        if self.counted:
            self.counted = False
            state.websockets -= 1
            logger.info("connection closed")
        if self.ping_handle is not None:
            self.ping_handle.cancel()
            self.ping_handle = None
        self.session.connection_lost()
        self._wake()
        self.release_drain()

    # The app ---------------------------------------------------------------------------------

    async def _run_asgi(self) -> None:
        failed = False
        try:
            result: object = await self.state.app(self.scope, self.receive, self.send)  # type: ignore[func-returns-value]
        except ClientDisconnected:
            result = None  # the app let the peer's departure through: nothing is wrong
        except asyncio.CancelledError:
            self._app_finished(failed=True)
            raise
        except BaseException:
            logger.exception("Exception in ASGI application")
            result, failed = None, True
        if result is not None:
            logger.error("ASGI callable returned a value (%r); ignored", result)
        self._app_finished(failed=failed)

    def _app_finished(self, *, failed: bool) -> None:
        session = self.session
        if self.lost:
            return
        phase = session.phase
        if phase == HANDSHAKE and not failed:
            logger.error("ASGI callable returned without accepting the WebSocket: answering 403")
        self._after(phase, session.app_finished(failed=failed))

    async def receive(self) -> Message:
        """The next message for the app: websocket.connect, .receive, and last .disconnect."""
        session = self.session
        inbox = session.inbox
        while not inbox:
            if session.closed_message is not None:
                return session.closed_message  # already delivered: asked again, told again
            earlier = self.waiter
            waiter = self.waiter = self.loop.create_future()
            if earlier is not None and not earlier.done():
                waiter.add_done_callback(also_wake(earlier))  # two tasks in receive(): one wake reaches both
            await waiter
        message = inbox.popleft()
        if self.queue_full and len(inbox) <= self.low_water:
            self.queue_full = False
            self._resume_if_free()
        return message

    async def send(self, message: Message) -> None:
        """Take one message from the app and write what it becomes.

        Raises:
            ClientDisconnected: the WebSocket is closed or the connection is gone.
            RuntimeError: a message out of order, or invalid.
        """
        session = self.session
        # Released by resume_writing, by the close (ClientDisconnected below), or by the loss.
        while self.write_paused and not self.lost and session.phase != CLOSED:
            await self.drain()
        phase = session.phase
        data = session.send(message)
        if session.phase == phase:
            if data:
                self.transport.write(data)
            return
        self._after(phase, data)

    # Phase changes ---------------------------------------------------------------------------

    def _after(self, before: int, data: bytes) -> None:
        """Write `data`, then do what the session's move from phase `before` asks for."""
        session = self.session
        if data and not self.closing:
            self.transport.write(data)
        phase = session.phase
        if phase == OPEN and before == HANDSHAKE:
            self._opened()
        elif phase == CLOSED and before == OPEN and not session.close_transport:
            # We sent a close frame: keep reading until the peer's arrives, for a while.
            self.close_deadline = monotonic() + CLOSE_TIMEOUT_S
            self.queue_full = False  # nothing more is queued for the app
            self._resume_if_free()
        elif phase == CLOSED and before in (HANDSHAKE, DENIAL):
            logger.info('%s - "WebSocket %s" %d', *self._describe(), session.status)
        if session.close_transport:
            self._close_transport()
        if phase == CLOSED:
            self.release_drain()
        self._wake()

    def _opened(self) -> None:
        state = self.state
        state.websockets += 1
        self.counted = True
        logger.info('%s - "WebSocket %s" [accepted]', *self._describe())
        logger.info("connection open")
        interval = self.settings.ping_interval
        if interval:
            self.ping_handle = self.loop.call_later(interval, self._ping)
        if len(self.session.inbox) > self.low_water:
            self.queue_full = True  # frames sent before the 101 already fill the queue
        else:
            self._resume_if_free()

    def _describe(self) -> tuple[str, str]:
        scope = self.scope
        client = scope["client"]
        query = scope["query_string"]
        target = scope["raw_path"].decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        return (f"{client[0]}:{client[1]}" if client else "-", target)

    # Keepalive -------------------------------------------------------------------------------
    # One ping at a time: the next goes out `ping_interval` after the last, but never before
    # its pong was due, so a slow pong is never confused with a newer ping's.

    def _ping(self) -> None:
        self.ping_handle = None
        session = self.session
        if self.lost or session.phase != OPEN:
            return
        self.transport.write(session.ping(os.urandom(4)))
        interval = self.settings.ping_interval or 0.0
        timeout = self.settings.ping_timeout
        if timeout is None:
            self.ping_handle = self.loop.call_later(interval, self._ping)
        else:
            self.ping_handle = self.loop.call_later(timeout, self._check_pong, interval - timeout)

    def _check_pong(self, until_next_ping: float) -> None:
        self.ping_handle = None
        session = self.session
        if self.lost or session.phase != OPEN:
            return
        if session.pong_due is not None:
            # Also when reading is paused for the app's full queue and the pong may be waiting
            # unread: otherwise a peer could fill the queue and then go silent for ever.
            logger.info('%s - "WebSocket %s" keepalive ping timeout: closing', *self._describe())
            self._after(OPEN, session.fail(INTERNAL_ERROR, "keepalive ping timeout"))
            return
        self.ping_handle = self.loop.call_later(max(until_next_ping, 0.0), self._ping)

    # Server clock, shutdown ------------------------------------------------------------------

    def sweep(self, now: float) -> None:
        """Called by the server clock: close with 1012 when draining; give up on a close that cannot finish."""
        if self.lost:
            return
        session = self.session
        if self.state.draining and session.phase == OPEN:
            self._after(OPEN, session.close(SERVICE_RESTART))
        elif self.close_deadline and now >= self.close_deadline:
            if self.closing or self.transport.get_write_buffer_size():
                # transport.close() waits for the buffer to flush, which a peer that reads nothing
                # never lets happen: without the abort, connection_lost would never come.
                logger.info('%s - "WebSocket %s" close timed out: connection aborted', *self._describe())
                self.abort()
            else:
                self._close_transport()

    def abort(self) -> None:
        """Cut the connection now (forced shutdown)."""
        self.closing = True
        self.transport.abort()

    # Flow control ----------------------------------------------------------------------------

    def _wake(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def resume_writing(self) -> None:
        self.unread_answers = 0  # the peer reads again: what it asked for is on its way
        super().resume_writing()

    def _resume_if_free(self) -> None:
        """Resume reading unless the app's full queue still holds it (or the 101 is not written yet)."""
        if not self.queue_full and self.session.upgraded:
            self.resume_reading()

    def _close_transport(self) -> None:
        if not self.closing:
            self.closing = True
            if not self.close_deadline:
                self.close_deadline = monotonic() + CLOSE_TIMEOUT_S  # `sweep` aborts a flush that hangs
            self.transport.close()  # asyncio flushes the write buffer first
