"""The h11 front: bytes in, `RequestSink` calls out. h11 reads; our own writer frames responses.

May import: errors, _types, protocol.base and the standard library; never asyncio, socket or config/.

h11 insists on seeing a response before it reads the next request. We never give it
one: after each request a fresh `h11.Connection` is seeded with the old one's trailing
bytes, so pipelined requests parse at once and responses are framed by `response.py`
for both fronts alike.
"""

from __future__ import annotations

import re

import h11

from supervisor.errors import ParseError
from supervisor.protocol.base import RequestSink

# h11 silently unfolds obs-fold; RFC 9112 §5.2 lets a server reject it instead, and we
# do, as llhttp does, so both fronts answer the same request the same way.
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_FOLD = re.compile(rb"\n[ \t]")
_TAIL_BYTES = 3


class H11Front:
    """Feeds h11 and forwards its events."""

    __slots__ = ("_conn", "_in_head", "_max_head_size", "_sink", "_tail")

    def __init__(self, sink: RequestSink, *, max_head_size: int) -> None:
        self._sink = sink
        self._max_head_size = max_head_size
        self._conn = self._new_connection()
        self._in_head = True
        self._tail = b""

    def _new_connection(self) -> h11.Connection:
        return h11.Connection(h11.SERVER, max_incomplete_event_size=self._max_head_size)

    def feed(self, data: bytes) -> None:
        """Parse `data`; raise `ParseError` for anything h11 or the sink refuses."""
        if self._in_head:
            self._refuse_folding(data)
        self._conn.receive_data(data)
        self._drain()

    def _refuse_folding(self, data: bytes) -> None:
        seen = self._tail + data
        end = _HEAD_END.search(seen)
        head = seen if end is None else seen[: end.start() + 1]
        if _FOLD.search(head) is not None:
            raise ParseError(400, "obsolete line folding in request head")
        if end is None:
            self._tail = seen[-_TAIL_BYTES:]
        else:
            self._tail = b""
            self._in_head = False

    def _drain(self) -> None:
        sink = self._sink
        while True:
            try:
                event = self._conn.next_event()
            except h11.RemoteProtocolError as error:
                raise ParseError(error.error_status_hint, str(error) or "invalid HTTP request") from None
            kind = type(event)
            if kind is h11.Data:
                sink.on_body(bytes(event.data))  # type: ignore[union-attr]
            elif kind is h11.Request:
                self._in_head = False
                sink.on_request(
                    event.method,  # type: ignore[union-attr]
                    event.target,  # type: ignore[union-attr]
                    event.http_version.decode("ascii"),  # type: ignore[union-attr]
                    list(event.headers),  # type: ignore[union-attr]
                )
            elif kind is h11.EndOfMessage:
                sink.on_message_complete()
                if not self._next_request():
                    return
            else:  # NEED_DATA, PAUSED or ConnectionClosed: wait for more bytes
                return

    def _next_request(self) -> bool:
        upgrading = self._conn.their_state is h11.MIGHT_SWITCH_PROTOCOL  # type: ignore[attr-defined]
        trailing = bytes(self._conn.trailing_data[0])
        if upgrading and self._sink.on_upgrade(trailing):
            return False
        self._conn = self._new_connection()
        self._in_head = True
        self._tail = b""
        if trailing:
            self._refuse_folding(trailing)
            self._conn.receive_data(trailing)
        return True
