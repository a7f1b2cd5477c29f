"""Flow control for the connection protocols: pausing reads, and waiting for writes to drain.

Both the HTTP connection and the WebSocket connection that takes its transport over
inherit this: reading pauses while the app falls behind (and resumes when it catches up),
and a writer that outpaces the peer awaits `drain()` until the transport's buffer is below
its low-water mark again (asyncio's pause_writing/resume_writing callbacks).
"""

from __future__ import annotations

import asyncio


class FlowControl(asyncio.Protocol):
    """Read pausing and write draining over `transport`; subclasses set these attributes first."""

    # Slots, not a __dict__, for HttpConnection's sake (one per client connection).
    __slots__ = ("closing", "drain_waiter", "loop", "read_paused", "transport", "write_paused")

    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    closing: bool  # transport.close() called (or the transport handed over): leave it alone
    read_paused: bool
    write_paused: bool
    drain_waiter: asyncio.Future[None] | None

    def pause_reading(self) -> None:
        if not self.read_paused and not self.closing:
            self.read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.read_paused and not self.closing:
            self.read_paused = False
            self.transport.resume_reading()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self.release_drain()

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its low-water mark again."""
        if self.drain_waiter is None:
            self.drain_waiter = self.loop.create_future()
        await self.drain_waiter

    def release_drain(self) -> None:
        """Wake a writer waiting in `drain` (buffer drained, or the connection lost)."""
        waiter, self.drain_waiter = self.drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
