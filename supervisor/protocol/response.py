"""Response framing for both fronts: status lines, header checks, length or chunked, keep-alive, trailers.

The head is built only when the first body message arrives (or the app ends), so that
head and first chunk leave in one write and a single-message body gets a Content-Length
instead of chunked framing.

The app's Content-Length and Transfer-Encoding never both go out (RFC 9112 §6.1-6.3):
Transfer-Encoding wins and the app's Content-Length is dropped; a final coding of chunked
is framed chunked by us, any other final coding ends the body by closing the connection;
an HTTP/1.0 client gets no Transfer-Encoding (chunked is left out, another coding is an
error); 1xx and 204 responses get neither header. Differing Content-Length values, or
chunked applied twice, are the app's error: a 500 before anything is written.
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
_END_CLOSE: Final = b"connection: close\r\n\r\n"
_END_KEEP_10: Final = b"connection: keep-alive\r\n\r\n"


def status_line(status: int) -> bytes:
    """The HTTP/1.1 status line for `status`, precomputed for every registered code."""
    line = _STATUS_LINES.get(status)
    if line is None:
        if not 100 <= status <= 999:
            raise RuntimeError(f"invalid HTTP status {status!r}")
        line = _STATUS_LINES[status] = b"HTTP/1.1 %d \r\n" % status
    return line


# Apps send the same header lines again and again; checking and encoding one is a pure
# function of (name, value), so each is remembered with its lowercased name (which
# `encode_head` needs too). Bounded, cleared when full.
_LINES: dict[tuple[bytes, bytes], tuple[bytes, bytes]] = {}
_LINES_MAX = 2048
_LINE_CACHE_LEN = 512


def header_line(name: bytes, value: bytes) -> bytes:
    """`name: value` CRLF, refusing anything that could split the response.

    Raises:
        RuntimeError: the app sent an invalid name or value (a bug in the app).
    """
    return _checked_line(name, value)[0]


def _checked_line(name: bytes, value: bytes) -> tuple[bytes, bytes]:
    """(`header_line`, the lowercased name), from the memo when seen before."""
    key = (name, value)
    try:
        entry = _LINES.get(key)
    except TypeError:  # unhashable (bytearray, list): not bytes at all, and it could not be cached below
        raise RuntimeError(f"response header name and value must be bytes, got {name!r}: {value!r}") from None
    if entry is not None:
        return entry
    try:
        line = name + b": " + value + b"\r\n"
    except TypeError:
        raise RuntimeError(f"response header name and value must be bytes, got {name!r}: {value!r}") from None
    if _HEADER_LINE.fullmatch(line) is None:
        raise RuntimeError(f"invalid response header {name!r}: {value!r}")
    entry = (line, name.lower())
    if len(line) <= _LINE_CACHE_LEN:
        if len(_LINES) >= _LINES_MAX:
            _LINES.clear()
        _LINES[key] = entry
    return entry


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
        RuntimeError: invalid status or header from the app, or framing headers that cannot
            be honoured (see `_coded_framing`); nothing has been sent then.
    """
    lines = [_STATUS_LINES.get(status) or status_line(status), default_headers]
    length = -1
    codings: list[bytes] | None = None
    for name, value in headers:
        try:
            line, lname = _LINES[name, value]
        except (KeyError, TypeError):  # not seen yet, or not bytes (refused there)
            line, lname = _checked_line(name, value)
        if lname not in _SPECIAL:
            lines.append(line)
        elif lname == b"content-length":
            if length < 0 and value.strip().isdigit():
                length = int(value)
                lines.append(line)
            else:
                length = _another_length(value, length)
        elif lname == b"transfer-encoding":
            codings = [value] if codings is None else [*codings, value]
            lines.append(line)
        elif lname == b"connection":
            # Written once below, from the final keep-alive decision.
            keep_alive = keep_alive and b"close" not in value.lower()
        else:  # the app's own Server or Date replaces ours
            lines[1] = _without(lines[1], lname)
            lines.append(line)
    if codings is None:
        if not request_flags and 200 <= status != 204 and status != 304 and (length >= 0 or final_body_length >= 0):
            # A plain response with its length known, the app's or its one body message's:
            # what _framing decides, without the call.
            if length < 0:
                length = final_body_length
                lines.append(_LENGTH_LINES.get(length) or _length_line(length))
            framing = LENGTH
        else:
            framing, length = _framing(status, request_flags, length, final_body_length, lines)
    else:
        framing, length = _coded_framing(status, request_flags, codings, final_body_length, lines)
    keep_alive = keep_alive and framing != CLOSE
    # The connection's fate, written once: HTTP/1.0 keeps a connection only when told so.
    lines.append(_END_CLOSE if not keep_alive else _END_KEEP_10 if request_flags & HTTP_10 else b"\r\n")
    return b"".join(lines), framing, length, keep_alive


# The Content-Length lines we add, by length: bodies repeat their sizes as routes repeat.
_LENGTH_LINES: dict[int, bytes] = {}
_LENGTH_LINES_MAX = 1024


def _length_line(length: int) -> bytes:
    line = b"content-length: %d\r\n" % length
    if len(_LENGTH_LINES) >= _LENGTH_LINES_MAX:
        _LENGTH_LINES.clear()
    _LENGTH_LINES[length] = line
    return line


def _another_length(value: bytes, length: int) -> int:
    # A Content-Length that is no number, or a second one: the same value again is
    # harmless (its line is not repeated); a different one leaves the framing unknowable.
    if not value.strip().isdigit():
        raise RuntimeError(f"invalid Content-Length {value!r}")
    if length >= 0 and int(value) != length:
        raise RuntimeError(f"differing Content-Length values {length} and {int(value)}")
    return int(value)


def _framing(status: int, flags: int, length: int, final_length: int, lines: list[bytes]) -> tuple[int, int]:
    # RFC 9112 §6.3: 1xx, 204 and 304 never carry a body; HEAD's headers describe GET's body.
    if status < 200 or status == 204 or status == 304:
        if length >= 0 and status != 304:
            _drop(lines, b"content-length:")  # RFC 9110 §8.6: never in a 1xx or 204
        return NO_BODY, -1
    if length < 0:
        if final_length >= 0:
            lines.append(_length_line(final_length))
            length = final_length
        elif not flags & HEAD_REQUEST:
            if flags & HTTP_10:
                return CLOSE, -1
            lines.append(b"transfer-encoding: chunked\r\n")
            return CHUNKED, -1
    if flags & HEAD_REQUEST:
        return NO_BODY, length
    return LENGTH, length


def _coded_framing(
    status: int, flags: int, values: list[bytes], final_length: int, lines: list[bytes]
) -> tuple[int, int]:
    """Framing when the app set Transfer-Encoding (RFC 9112 §6.1, §6.3): it overrides Content-Length.

    The app's Content-Length is dropped, so the two never go out together. A final coding of
    chunked is framed chunked by us (the app sends plain pieces); any other final coding is
    close-delimited. An HTTP/1.0 client cannot be sent Transfer-Encoding: chunked is left
    out (it is only framing), any other coding is an error (it changed the bytes).
    """
    _drop(lines, b"content-length:")
    if status < 200 or status == 204:
        _drop(lines, b"transfer-encoding:")  # RFC 9112 §6.1: never in a 1xx or 204
        return NO_BODY, -1
    codings = _codings(values)
    bodiless = status == 304 or flags & HEAD_REQUEST
    if flags & HTTP_10:
        if codings != [b"chunked"] and not bodiless:
            raise RuntimeError(f"Transfer-Encoding {b', '.join(values)!r} cannot be sent to an HTTP/1.0 client")
        _drop(lines, b"transfer-encoding:")
        return _framing(status, flags, -1, final_length, lines)
    if bodiless:
        return NO_BODY, -1
    return (CHUNKED, -1) if codings[-1] == b"chunked" else (CLOSE, -1)


_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _codings(values: list[bytes]) -> list[bytes]:
    # RFC 9112 §6.1: a comma-separated list over one or more fields, each coding a token
    # with optional parameters; empty elements do not count (RFC 9110 §5.6.1).
    codings = [item.partition(b";")[0].strip().lower() for value in values for item in value.split(b",")]
    codings = [coding for coding in codings if coding]
    if not codings or codings.count(b"chunked") > 1 or not all(_TOKEN.fullmatch(c) for c in codings):
        # Chunked applied twice would be decoded once by the client: the framing is wrong.
        raise RuntimeError(f"invalid Transfer-Encoding {b', '.join(values)!r}")
    return codings


def _drop(lines: list[bytes], prefix: bytes) -> None:
    # The app's own lines only: the status line and our defaults (0 and 1) are left alone.
    lines[2:] = [line for line in lines[2:] if line[: len(prefix)].lower() != prefix]


def _without(default_headers: bytes, lname: bytes) -> bytes:
    prefix = lname + b":"
    return b"".join(line + b"\r\n" for line in default_headers.split(b"\r\n") if line and not line.startswith(prefix))


def encode_chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (RFC 9112 §7.1); empty data yields nothing."""
    if not data:
        return b""
    return b"%x\r\n%s\r\n" % (len(data), data)


# RFC 9110 §6.5.1: what a trailer may not carry, since a recipient may drop trailers or merge
# them into the head: framing, routing, connection control, request modifiers, authentication,
# response control data and content processing fields.
_NOT_IN_TRAILERS = frozenset(
    (
        *(b"content-length", b"transfer-encoding", b"trailer", b"te", b"host", b"connection", b"keep-alive"),
        *(b"proxy-connection", b"upgrade", b"content-encoding", b"content-type", b"content-range"),
        *(b"cache-control", b"expires", b"date", b"location", b"retry-after", b"vary", b"age"),
        *(b"authorization", b"set-cookie"),
    )
)


def trailer_fields(headers: Headers) -> list[tuple[bytes, bytes]]:
    """The app's trailers, checked and with lowercase names (for either version of HTTP).

    Raises:
        RuntimeError: a name or value `header_line` refuses, a pseudo-header, or a field
            RFC 9110 §6.5.1 keeps out of trailers (the app's error).
    """
    fields = []
    for name, value in headers:
        if name[:1] == b":":
            raise RuntimeError(f"pseudo-header {name!r} in trailers")
        header_line(name, value)
        lname = name.lower()
        if lname in _NOT_IN_TRAILERS:
            raise RuntimeError(f"{name!r} may not be sent as a trailer (RFC 9110 §6.5.1)")
        fields.append((lname, value))
    return fields


def encode_trailers(fields: list[tuple[bytes, bytes]]) -> bytes:
    """The end of a chunked body that carries trailers (RFC 9112 §7.1.2): last chunk, fields, CRLF."""
    return b"".join((b"0\r\n", *(name + b": " + value + b"\r\n" for name, value in fields), b"\r\n"))


def simple_response(status: int, body: bytes, default_headers: bytes) -> bytes:
    """A complete plain-text response that closes the connection (errors we answer ourselves)."""
    return b"%s%scontent-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s" % (
        status_line(status),
        default_headers,
        len(body),
        body,
    )
