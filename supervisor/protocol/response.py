"""Response framing for both fronts: status lines, header checks, length or chunked, keep-alive.

May import: errors, _types and the standard library; never asyncio, socket or config/.

The head is built only when the first body message arrives (or the app ends), so that
head and first chunk leave in one write and a single-message body gets a Content-Length
instead of chunked framing.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Final

from supervisor._types import Headers

# Framing of a response body, decided once per response.
LENGTH: Final = 0  # Content-Length known: count what the app sends
CHUNKED: Final = 1  # Transfer-Encoding: chunked, framed by us
CLOSE: Final = 2  # HTTP/1.0 without a length: the body ends when the connection closes
NO_BODY: Final = 3  # HEAD, 1xx, 204, 304: whatever the app sends is dropped

_STATUS_LINES: dict[int, bytes] = {
    s.value: b"HTTP/1.1 %d %s\r\n" % (s.value, s.phrase.encode("ascii")) for s in HTTPStatus
}

# RFC 9110 §5.1 token, §5.5 field value (HTAB, SP, visible and obs-text only): a whole
# header line is checked by one match, which is what stops response splitting.
_HEADER_LINE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+: [\t\x20-\x7e\x80-\xff]*\r\n")

HEAD_REQUEST: Final = 1
HTTP_10: Final = 2

_SPECIAL = frozenset((b"content-length", b"transfer-encoding", b"connection", b"server", b"date"))

CHUNK_END: Final = b"0\r\n\r\n"


def status_line(status: int) -> bytes:
    """The HTTP/1.1 status line for `status`, precomputed for every registered code."""
    line = _STATUS_LINES.get(status)
    if line is None:
        if not 100 <= status <= 999:
            raise RuntimeError(f"invalid HTTP status {status!r}")
        line = _STATUS_LINES[status] = b"HTTP/1.1 %d \r\n" % status
    return line


# Apps send the same header lines again and again; checking and encoding one is a pure
# function of (name, value), so lines are remembered. Bounded, cleared when full.
_LINES: dict[tuple[bytes, bytes], bytes] = {}
_LINES_MAX = 2048
_LINE_CACHE_LEN = 512


def header_line(name: bytes, value: bytes) -> bytes:
    """`name: value` CRLF, refusing anything that could split the response.

    Raises:
        RuntimeError: the app sent an invalid name or value (a bug in the app).
    """
    key = (name, value)
    try:
        line = _LINES.get(key)
    except TypeError:  # unhashable (bytearray, list): not bytes at all, and it could not be cached below
        raise RuntimeError(f"response header name and value must be bytes, got {name!r}: {value!r}") from None
    if line is not None:
        return line
    try:
        line = name + b": " + value + b"\r\n"
    except TypeError:
        raise RuntimeError(f"response header name and value must be bytes, got {name!r}: {value!r}") from None
    if _HEADER_LINE.fullmatch(line) is None:
        raise RuntimeError(f"invalid response header {name!r}: {value!r}")
    if len(line) <= _LINE_CACHE_LEN:
        if len(_LINES) >= _LINES_MAX:
            _LINES.clear()
        _LINES[key] = line
    return line


def encode_head(
    status: int, headers: Headers, default_headers: bytes, keep_alive: bool, request_flags: int, final_body_length: int
) -> tuple[bytes, int, int, bool]:
    """Build the response head and decide how the body is framed.

    Args:
        status: the ASGI status.
        headers: the app's headers (bytes pairs, any case).
        default_headers: ready lines (Date, Server, configured headers), each ending in CRLF;
            Date and Server are left out when the app sets its own.
        keep_alive: whether the request allows the connection to be reused.
        request_flags: HEAD_REQUEST and/or HTTP_10 for the request being answered.
        final_body_length: length of the whole body when the first body message is also
            the last, else -1.

    Returns:
        (head bytes, framing, expected length or -1, keep_alive after the app's headers)

    Raises:
        RuntimeError: invalid status, header, or Content-Length from the app.
    """
    lines = [_STATUS_LINES.get(status) or status_line(status), default_headers]
    length = -1
    chunked = False
    for name, value in headers:
        line = header_line(name, value)
        lname = name.lower()
        if lname not in _SPECIAL:
            lines.append(line)
        elif lname == b"content-length":
            if not value.strip().isdigit():
                raise RuntimeError(f"invalid Content-Length {value!r}")
            length = int(value)
            lines.append(line)
        elif lname == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
            lines.append(line)
        elif lname == b"connection":
            # Written once below, from the final keep-alive decision.
            keep_alive = keep_alive and b"close" not in value.lower()
        else:  # the app's own Server or Date replaces ours
            lines[1] = _without(lines[1], lname)
            lines.append(line)
    framing, length = _framing(status, request_flags, length, chunked, final_body_length, lines)
    if framing == CLOSE:
        keep_alive = False
    if not keep_alive:
        lines.append(b"connection: close\r\n\r\n")
    elif request_flags & HTTP_10:
        lines.append(b"connection: keep-alive\r\n\r\n")
    else:
        lines.append(b"\r\n")
    return b"".join(lines), framing, length, keep_alive


def _framing(
    status: int, flags: int, length: int, chunked: bool, final_length: int, lines: list[bytes]
) -> tuple[int, int]:
    # RFC 9112 §6.3: 1xx, 204 and 304 never carry a body; HEAD's headers describe GET's body.
    if status < 200 or status == 204 or status == 304:
        return NO_BODY, -1
    if length < 0 and not chunked:
        if final_length >= 0:
            lines.append(b"content-length: %d\r\n" % final_length)
            length = final_length
        elif not flags & HEAD_REQUEST:
            if flags & HTTP_10:
                return CLOSE, -1
            lines.append(b"transfer-encoding: chunked\r\n")
            return CHUNKED, -1
    if flags & HEAD_REQUEST:
        return NO_BODY, length
    return (LENGTH, length) if length >= 0 else (CHUNKED, -1)


def _without(default_headers: bytes, lname: bytes) -> bytes:
    prefix = lname + b":"
    return b"".join(line + b"\r\n" for line in default_headers.split(b"\r\n") if line and not line.startswith(prefix))


def encode_chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (RFC 9112 §7.1); empty data yields nothing."""
    if not data:
        return b""
    return b"%x\r\n%s\r\n" % (len(data), data)


def simple_response(status: int, body: bytes, default_headers: bytes) -> bytes:
    """A complete plain-text response that closes the connection (errors we answer ourselves)."""
    return b"%s%scontent-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s" % (
        status_line(status),
        default_headers,
        len(body),
        body,
    )
