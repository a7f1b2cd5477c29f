"""Request bodies a parser front reads itself: chunked (one grammar for both fronts) and fixed-length.

llhttp and h11 read chunked bodies each their own way, and each refuses what the other
takes: llhttp refuses the whitespace RFC 9112 §7.1.1 allows around ";" and "=" (BWS, which
RFC 9110 §5.6.3 says a recipient must accept); h11 refuses it before ";" but takes
whitespace before the CRLF, any bytes after ";" (a bare CR among them) and sizes past 64
bits. Both fronts hand every chunked body to `ChunkedBody`, so the grammar lives here once
and both answer the same request the same way. Extensions and trailers are checked, then
dropped: ASGI has no place for them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from supervisor.errors import ParseError

_TCHAR = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
# RFC 9110 §5.6.4: qdtext and quoted-pair.
_QUOTED = rb'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"'
_EXTENSION = rb"[ \t]*;[ \t]*" + _TCHAR + rb"+(?:[ \t]*=[ \t]*(?:" + _TCHAR + rb"+|" + _QUOTED + rb"))?"
# RFC 9112 §7.1: chunk-size [ chunk-ext ] CRLF. Whitespace only around ";" and "=" (§7.1.1):
# "5 \r\n" is refused, as llhttp does, whatever h11 takes.
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]+)(?:" + _EXTENSION + rb")*\r\n")
# RFC 9112 §7.1.2 and §5: field-name ":" OWS field-value OWS; no obs-fold, no control bytes.
_TRAILER_LINE = re.compile(_TCHAR + rb"+:[\t\x20-\x7e\x80-\xff]*\r\n")
_MAX_SIZE_DIGITS = 16  # 64 bits, as llhttp: a longer size is an overflow, not a chunk

_SIZE, _DATA, _DATA_END, _TRAILERS = range(4)
_CRLF = b"\r\n"


class ChunkedBody:
    """Decodes one chunked request body as it arrives, handing the data to `on_body`."""

    __slots__ = ("_left", "_line", "_max_line", "_on_body", "_state", "_trailers")

    def __init__(self, on_body: Callable[[bytes], None], *, max_line: int) -> None:
        """`max_line` bounds a chunk-size line and, separately, the whole trailer section."""
        self._on_body = on_body
        self._max_line = max_line
        self._state = _SIZE
        self._left = 0  # chunk data still to come (_DATA), or bytes of its CRLF (_DATA_END)
        self._line = b""  # the start of a line that the last feed cut
        self._trailers = 0

    def feed(self, data: bytes, start: int = 0) -> int:
        """Read the body from `data[start:]`: the offset in `data` just past its end, or -1 if it goes on.

        Raises:
            ParseError: 400 for a malformed chunk or trailer, 431 for a trailer section over the limit.
        """
        pos, end = start, len(data)
        while pos < end:
            state = self._state
            if state == _DATA:
                pos = self._read_data(data, pos)
            elif state == _DATA_END:
                pos = self._read_crlf(data, pos)
            else:
                line_end = data.find(b"\n", pos)
                if line_end < 0:
                    self._hold(data[pos:])
                    return -1
                line = data[pos : line_end + 1]
                pos = line_end + 1
                if self._line:
                    line, self._line = self._line + line, b""
                if state == _SIZE:
                    pos = self._start_chunk(data, pos, self._read_size(line))
                elif self._read_trailer(line):
                    return pos
        return -1

    def _start_chunk(self, data: bytes, pos: int, size: int) -> int:
        stop = pos + size
        if size and data.startswith(_CRLF, stop):  # the whole chunk is here: one step
            self._on_body(data[pos:stop])
            return stop + 2
        if size:
            self._state, self._left = _DATA, size
        else:
            self._state = _TRAILERS
        return pos

    def _read_data(self, data: bytes, pos: int) -> int:
        take = min(self._left, len(data) - pos)
        self._on_body(data[pos : pos + take])
        self._left -= take
        if not self._left:
            self._state, self._left = _DATA_END, 2
        return pos + take

    def _read_crlf(self, data: bytes, pos: int) -> int:
        if self._left == 2 and data.startswith(_CRLF, pos):
            self._state = _SIZE
            return pos + 2
        if data[pos] != _CRLF[2 - self._left]:  # one byte at a time only across feeds
            raise ParseError(400, "chunk data longer than its size, or not followed by CRLF")
        self._left -= 1
        if not self._left:
            self._state = _SIZE
        return pos + 1

    def _hold(self, piece: bytes) -> None:
        self._line += piece
        if self._state == _TRAILERS:
            if self._trailers + len(self._line) > self._max_line:
                raise ParseError(431, "request trailer section too large")
        elif len(self._line) > self._max_line:
            raise ParseError(400, "chunk size line too long")

    def _read_size(self, line: bytes) -> int:
        match = _CHUNK_LINE.fullmatch(line) if len(line) <= self._max_line else None
        if match is None:
            raise ParseError(400, "invalid chunk size line")
        digits = match[1].lstrip(b"0")
        if len(digits) > _MAX_SIZE_DIGITS:
            raise ParseError(400, "chunk size too large")
        return int(digits, 16) if digits else 0

    def _read_trailer(self, line: bytes) -> bool:
        self._trailers += len(line)
        if self._trailers > self._max_line:
            raise ParseError(431, "request trailer section too large")
        if line == _CRLF:
            return True
        if _TRAILER_LINE.fullmatch(line) is None:
            raise ParseError(400, "invalid trailer field")
        return False


class LengthBody:
    """A body of known length that llhttp would not read (an upgrade request's), handed to `on_body`."""

    __slots__ = ("_left", "_on_body")

    def __init__(self, on_body: Callable[[bytes], None], length: int) -> None:
        self._on_body = on_body
        self._left = length

    def feed(self, data: bytes, start: int = 0) -> int:
        """Read the body from `data[start:]`: the offset in `data` just past its end, or -1 if it goes on."""
        take = min(self._left, len(data) - start)
        if take:
            self._on_body(data[start : start + take])
            self._left -= take
        return -1 if self._left else start + take
