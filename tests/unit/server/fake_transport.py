"""An asyncio transport without a socket, for driving connection protocols in-process.

It does what the connections rely on from a real transport: keeps what is written,
reports back-pressure to its protocol (pause_writing above `high_water` buffered bytes,
resume_writing once `take()` empties the buffer below `low_water`), records read pausing,
and tells its protocol `connection_lost` on the next loop turn after close() or abort(),
as asyncio's own transports do.
"""

from __future__ import annotations

import asyncio
from typing import Any


class FakeTransport(asyncio.Transport):
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        peer: tuple[str, int] = ("127.0.0.1", 50000),
        local: tuple[str, int] = ("127.0.0.1", 8000),
        high_water: int = 1 << 30,
        low_water: int = 0,
    ) -> None:
        super().__init__()
        self.loop = loop
        self.protocol: asyncio.BaseProtocol | None = None
        self.extra: dict[str, Any] = {"peername": peer, "sockname": local}
        self.high_water = high_water
        self.low_water = low_water
        self.chunks: list[bytes] = []  # every write, in order (the wire)
        self.buffered = 0  # written but not yet taken by the "peer"
        self.writing_paused = False
        self.reading = True
        self.closed = False
        self.aborted = False
        self.lost = False
        self.late_writes = 0

    # What the protocol calls -----------------------------------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.extra.get(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self.protocol is not None
        return self.protocol

    def is_closing(self) -> bool:
        return self.closed

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if self.closed:
            self.late_writes += 1  # asyncio would drop these; the connection should not try
            return
        self.chunks.append(bytes(data))
        self.buffered += len(data)
        if self.buffered > self.high_water and not self.writing_paused:
            self.writing_paused = True
            self.protocol.pause_writing()  # type: ignore[union-attr]

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_reading(self) -> bool:
        return self.reading

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.loop.call_soon(self._lose, None)

    def abort(self) -> None:
        self.aborted = True
        self.close()

    # What the test calls ---------------------------------------------------------------------

    def connect(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol
        protocol.connection_made(self)

    def take(self) -> bytes:
        """The peer reads everything buffered: returns it, and lets the protocol write again."""
        data = b"".join(self.chunks)
        self.chunks.clear()
        self.buffered = 0
        if self.writing_paused and self.buffered <= self.low_water:
            self.writing_paused = False
            self.protocol.resume_writing()  # type: ignore[union-attr]
        return data

    def peer_gone(self) -> None:
        """The peer reset the connection: connection_lost with an error, now."""
        self.closed = True
        self._lose(ConnectionResetError("peer reset"))

    def _lose(self, exc: Exception | None) -> None:
        if not self.lost:
            self.lost = True
            self.protocol.connection_lost(exc)  # type: ignore[union-attr]
