"""The h11 front: bytes in, `RequestSink` calls out. h11 reads; our own writer frames responses.

h11 insists on seeing a response before it reads the next request. We never give it
one: after each request a fresh `h11.Connection` is seeded with the old one's trailing
bytes, so pipelined requests parse at once and responses are framed by `response.py`
for both fronts alike. A chunked body is read by `body.ChunkedBody`, not by h11, so that
both fronts take the same chunk grammar.
"""

from __future__ import annotations

import re

import h11

from supervisor._types import Headers
from supervisor.errors import ParseError
from supervisor.protocol.base import RequestSink
from supervisor.protocol.body import ChunkedBody
from supervisor.protocol.request import SERVED_METHODS, TOKEN, check_target_form, method_refusal

# h11 lets through, and hides from `request.inspect_head`, what llhttp refuses: obs-fold
# (it unfolds; RFC 9112 §5.2 lets a server reject it), a repeated or listed Content-Length
# (it merges equal values; §6.3), a head over the limit that arrives whole (it counts
# only incomplete events), methods llhttp cannot parse (see request.SERVED_METHODS), a
# bare LF (it ends a line there: behind a proxy that keeps "X: y<LF>Content-Length: 5" as
# one value, a hidden length; §2.2 lets a server take it, llhttp does not, nor do we), and
# control bytes in a field value (RFC 9110 §5.5 allows none but HTAB; h11 passes them on).
# Each head is checked here before h11 sees it, so both fronts answer the same request
# the same way.
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # CTL and DEL but HTAB, CR, LF
_FOLD = re.compile(rb"\n[ \t]")
_CONTENT_LENGTH = re.compile(rb"\ncontent-length:([^\r\n]*)", re.IGNORECASE)
_TAIL_BYTES = 3


class H11Front:
    """Feeds h11 and forwards its events."""

    __slots__ = ("_body", "_conn", "_head", "_in_head", "_max_head_size", "_sink", "_switching")

    def __init__(self, sink: RequestSink, max_head_size: int) -> None:
        self._sink = sink
        self._max_head_size = max_head_size
        self._conn = self._new_connection()
        self._in_head = True
        self._head = bytearray()  # the head received so far, until its blank line
        self._body: ChunkedBody | None = None  # the chunked body being read, not by h11
        self._switching = False  # whether that body's request asked to switch protocols

    def release(self) -> None:
        """The connection is gone: let go of the sink (and of a body reader calling it), which point back here.

        Without this the front and the sink keep each other alive until the garbage collector
        runs; with it a closed connection is freed by reference counting at once. A second
        call does nothing.
        """
        self._body = None
        if hasattr(self, "_sink"):
            del self._sink

    def _new_connection(self) -> h11.Connection:
        return h11.Connection(h11.SERVER, max_incomplete_event_size=self._max_head_size)

    def feed(self, data: bytes) -> None:
        """Parse `data`; raise `ParseError` for anything h11, body.py or the sink refuses."""
        if self._body is not None:
            end = self._body.feed(data)
            if end < 0 or not self._end_body(data[end:]):
                return
        else:
            self._receive(data)
        self._drain()

    def _receive(self, data: bytes) -> None:
        if self._in_head:
            if not self._head:
                # RFC 9112 §2.2: empty lines before a request line are skipped; llhttp skips
                # any CR and LF there, h11 refuses them.
                data = data.lstrip(b"\r\n")
            self._check_head(data)
        if data:  # h11 takes empty data for the end of the stream
            self._conn.receive_data(data)

    def _check_head(self, data: bytes) -> None:
        head = self._head
        search_from = max(len(head) - _TAIL_BYTES, 0)
        head += data
        end = _HEAD_END.search(head, search_from)
        if end is None:
            if len(head) > self._max_head_size:
                raise ParseError(431, "request head too large")
            return
        head_end = end.start() + 1
        if head_end > self._max_head_size:
            raise ParseError(431, "request head too large")
        _check_method(head)
        head_stop = end.end()
        # Three counts in C cost less than one regex with lookarounds: they agree only when
        # every CR and every LF belong to a CRLF.
        if not head.count(b"\n", 0, head_stop) == head.count(b"\r\n", 0, head_stop) == head.count(b"\r", 0, head_stop):
            raise ParseError(400, "bare CR or LF in request head")
        if _CONTROL.search(head, 0, head_stop) is not None:
            raise ParseError(400, "control character in request head")
        if _FOLD.search(head, 0, head_end) is not None:
            raise ParseError(400, "obsolete line folding in request head")
        lengths = _CONTENT_LENGTH.findall(head, 0, head_end)
        if len(lengths) > 1 or (lengths and b"," in lengths[0]):
            raise ParseError(400, "more than one Content-Length")
        head.clear()
        self._in_head = False

    def _drain(self) -> None:
        sink = self._sink
        while True:
            try:
                event = self._conn.next_event()
            except h11.RemoteProtocolError as error:
                # h11 hints 501 for any Transfer-Encoding but chunked; request.py answers 400
                # (RFC 9112 §6.3: the body length cannot be known), and so does this front.
                status = 400 if error.error_status_hint == 501 else error.error_status_hint
                raise ParseError(status, str(error) or "invalid HTTP request") from None
            kind = type(event)
            if kind is h11.Data:
                sink.on_body(bytes(event.data))  # type: ignore[union-attr]
            elif kind is h11.Request:
                self._in_head = False
                headers = list(event.headers)  # type: ignore[union-attr]
                check_target_form(event.method, event.target)  # type: ignore[union-attr]
                sink.on_request(
                    event.method,  # type: ignore[union-attr]
                    event.target,  # type: ignore[union-attr]
                    event.http_version.decode("ascii"),  # type: ignore[union-attr]
                    headers,
                )
                chunked = any(name == b"transfer-encoding" for name, _ in headers)
                if chunked and not self._read_chunked(event.method, headers):  # type: ignore[union-attr]
                    return
            elif kind is h11.EndOfMessage:
                sink.on_message_complete()
                upgrading = self._conn.their_state is h11.MIGHT_SWITCH_PROTOCOL  # type: ignore[attr-defined]
                if not self._next_request(bytes(self._conn.trailing_data[0]), upgrading=upgrading):
                    return
            else:  # NEED_DATA, PAUSED or ConnectionClosed: wait for more bytes
                return

    def _read_chunked(self, method: bytes, headers: Headers) -> bool:
        """Read a chunked body with `ChunkedBody` from the bytes h11 holds; False while it goes on."""
        # h11's rule for a request that may switch protocols once it is complete.
        self._switching = method == b"CONNECT" or any(name == b"upgrade" and value.strip() for name, value in headers)
        self._body = ChunkedBody(self._sink.on_body, max_line=self._max_head_size)
        held = bytes(self._conn.trailing_data[0])
        end = self._body.feed(held)
        return end >= 0 and self._end_body(held[end:])

    def _end_body(self, trailing: bytes) -> bool:
        self._body = None
        self._sink.on_message_complete()
        return self._next_request(trailing, upgrading=self._switching)

    def _next_request(self, trailing: bytes, *, upgrading: bool) -> bool:
        if upgrading and self._sink.on_upgrade(trailing):
            return False
        self._conn = self._new_connection()
        self._in_head = True
        self._receive(trailing)
        return True


def _check_method(head: bytearray) -> None:
    line_end = head.find(b"\n")
    space = head.find(b" ", 0, line_end)
    if space > 0:
        method = bytes(head[:space])
        if method not in SERVED_METHODS and TOKEN.fullmatch(method):
            raise method_refusal(method, then_space=True)
