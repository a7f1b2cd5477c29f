"""The httptools (llhttp) front: bytes in, `RequestSink` calls out.

llhttp reads request heads and Content-Length bodies. Three things it must not read, and
the front takes over the byte stream for them: a chunked body (llhttp's chunk grammar is
not RFC 9112's; `body.ChunkedBody` reads it for both fronts), the body of an upgrade
request (llhttp skips it and would parse it as the next request: smuggling), and a method
it does not know (it stops inside it; the front reads the rest to answer 501 or 400).

llhttp says where it stopped only after an upgrade request. Elsewhere the front finds the
place by walking the bytes of the current feed with what it knows: the heads llhttp
completed in it, each ending at its first empty line, each followed by its Content-Length
(`_body_start`). The walk runs only at those moments and when a body runs past the end of
a feed; a plain request costs one Python call more than llhttp alone (on_message_complete).
"""

from __future__ import annotations

import httptools

from supervisor._types import Headers
from supervisor.errors import ParseError
from supervisor.protocol.base import RequestSink
from supervisor.protocol.body import ChunkedBody, LengthBody
from supervisor.protocol.request import method_refusal

_HEAD_END = b"\r\n\r\n"
_TAIL_BYTES = 3  # enough of a head's end to find an empty line cut across two feeds
_TCHARS = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"  # RFC 9110 §5.6.2
# llhttp knows these methods, but not in an HTTP/1.x request line: answered as their kind asks.
_LATE_REFUSALS = {
    "Invalid method for HTTP/x.x request": (501, "method not implemented"),  # RTSP methods
    "Expected HTTP/2 Connection Preface": (505, "HTTP/2 connection preface on an HTTP/1.1 port"),
    "Pause on PRI/Upgrade": (505, "HTTP/2 connection preface on an HTTP/1.1 port"),
}


class _ChunkedBodyStarts(Exception):  # noqa: N818 - a signal, not an error
    """Raised from llhttp's first chunk callback: stop before it hands over any chunk data."""


class HttptoolsFront:
    """Feeds llhttp and forwards its callbacks; the head-size limit and the take-overs are its own.

    llhttp looks its callbacks up once, on the object handed to the parser, so `on_body`
    is the sink's own bound method: no extra Python frame per body chunk.
    """

    __slots__ = (
        "_body",
        "_body_left",
        "_completed",
        "_head_size",
        "_headers",
        "_held",
        "_idle",
        "_max_head_size",
        "_method",
        "_parser",
        "_sink",
        "_switching",
        "_tail",
        "_url",
        "on_body",
    )

    def __init__(self, sink: RequestSink, max_head_size: int) -> None:
        self._sink = sink
        self._max_head_size = max_head_size
        self._url = b""
        self._headers: Headers = []
        self._head_size = 0
        self._held = 0
        self.on_body = sink.on_body
        self._parser = httptools.HttpRequestParser(self)
        # Where the stream stands, for the walk (see the module docstring).
        self._idle = True  # llhttp is between requests (not inside a body)
        self._completed: list[Headers] = []  # heads llhttp completed during the current feed
        self._body_left = 0  # Content-Length body bytes that open the next feed
        self._tail = b""  # the last bytes of a head that the next feed goes on with
        # The take-overs.
        self._body: ChunkedBody | LengthBody | None = None
        self._switching = False  # the request whose body is read asked to switch protocols
        self._method: bytearray | None = None  # an unknown method, read until it ends

    def release(self) -> None:
        """The connection is gone: let go of the parser, the sink and a body reader, which all point back here.

        Without this the front, llhttp's parser and the sink form a cycle that only the garbage
        collector frees; with it a closed connection is freed by reference counting at once.
        A second call does nothing.
        """
        self._body = None  # a chunked or upgrade body reader calls the sink too
        self._parser = self._sink = self.on_body = None  # type: ignore[assignment]

    def feed(self, data: bytes) -> None:
        """Parse `data`; raise `ParseError` for anything llhttp, body.py or the sink refuses."""
        rest: bytes | None = data
        while rest:
            if self._body is not None:
                end = self._body.feed(rest)
                rest = None if end < 0 else self._end_body(rest[end:])
                continue
            if self._method is not None:
                self._read_method(rest)
                return
            open_head = self._headers if self._url else None
            if self._completed:
                self._completed.clear()
            try:
                self._parser.feed_data(rest)
            except (httptools.HttpParserError, httptools.HttpParserUpgrade) as stop:
                rest = self._stopped(rest, stop, head_was_open=open_head is not None)
                continue
            if self._headers is open_head:
                # A head open before `rest` and still open after it: all of `rest` is head.
                # httptools holds a partial header until it is whole, so on_header cannot count it.
                self._held += len(rest)
                if self._held > self._max_head_size:
                    raise ParseError(431, "request head too large")
            # Between requests, with no body pending, is the common end: nothing to note.
            rest = (
                self._note_feed_end(rest, open_head is not None)
                if self._url or not self._idle or self._body_left
                else None
            )

    def _stopped(self, data: bytes, stop: Exception, *, head_was_open: bool) -> bytes | None:
        """llhttp stopped inside `data`: take over, or raise the refusal. The bytes still to parse, or None."""
        if isinstance(stop, httptools.HttpParserUpgrade):
            return self._take_upgrade_body(data, stop.args[0])
        cause = stop.__context__
        if isinstance(cause, _ChunkedBodyStarts) or (
            not isinstance(stop, httptools.HttpParserCallbackError) and self._in_chunked_body()
        ):  # a first chunk line, which llhttp read or refused: body.py decides
            return self._take_chunked_body(data, self._walk(data, head_was_open=head_was_open))
        if isinstance(cause, ParseError):
            raise cause from None
        if isinstance(stop, httptools.HttpParserCallbackError):
            raise stop
        if isinstance(stop, httptools.HttpParserInvalidMethodError):
            self._take_method(data, head_was_open=head_was_open)
            return None
        status, reason = _LATE_REFUSALS.get(str(stop), (400, str(stop) or "invalid HTTP request"))
        raise ParseError(status, reason) from None

    def _walk(self, data: bytes, *, head_was_open: bool) -> int:
        """Where the body of the last head completed in `data` starts (see `_body_start`)."""
        # _body_left and _tail still describe the start of `data`: only a feed's end changes them.
        return _body_start(data, self._completed, self._body_left, self._tail if head_was_open else b"")

    def _note_feed_end(self, data: bytes, head_was_open: bool) -> bytes | None:
        """Note where the next feed starts: inside a head, inside a body, or between requests."""
        if self._url:
            # The head's own last bytes: one that opened in this feed has at least a method,
            # a space and a target byte in it.
            earlier = self._tail if head_was_open and not self._completed else b""
            self._tail = (earlier + data[-_TAIL_BYTES:])[-_TAIL_BYTES:]
            self._body_left = 0
        elif self._idle:
            self._body_left = 0
        elif not self._completed:
            self._body_left -= len(data)
        else:
            headers = self._completed[-1]
            start = self._walk(data, head_was_open=head_was_open)
            if _is_chunked(headers):  # its first chunk line is not whole yet
                return self._take_chunked_body(data, start)
            self._body_left = _content_length(headers) - (len(data) - start)
        return None

    def _in_chunked_body(self) -> bool:
        return not self._idle and bool(self._completed) and _is_chunked(self._completed[-1])

    # Take-overs ---------------------------------------------------------------------------

    def _take_chunked_body(self, data: bytes, start: int) -> bytes:
        self._parser = httptools.HttpRequestParser(self)  # llhttp stopped inside the body
        self._body_left = 0
        self._body = ChunkedBody(self._sink.on_body, max_line=self._max_head_size)
        return data[start:]

    def _take_upgrade_body(self, data: bytes, offset: int) -> bytes | None:
        # llhttp stopped after the head of a request asking to switch protocols, having
        # skipped its body; on_message_complete held the completion back until it is read.
        headers = self._completed[-1]
        self._parser = httptools.HttpRequestParser(self)
        self._body_left = 0
        if _is_chunked(headers):
            self._body = ChunkedBody(self._sink.on_body, max_line=self._max_head_size)
        else:
            self._body = LengthBody(self._sink.on_body, _content_length(headers))
        end = self._body.feed(data, offset)
        return None if end < 0 else self._end_body(data[end:])

    def _end_body(self, rest: bytes) -> bytes | None:
        """The body read by the front is complete; the bytes after it still to parse, or None."""
        self._body = None
        self._idle = True
        self._sink.on_message_complete()
        if self._switching:
            self._switching = False
            if self._sink.on_upgrade(rest):
                return None
        return rest

    def _take_method(self, data: bytes, *, head_was_open: bool) -> None:
        # llhttp stopped inside the method of a request that begins after the last one
        # completed in this feed (it took the method's first bytes from an earlier feed
        # only if they could start a method it knows).
        start = self._body_left
        if self._completed:
            start = self._walk(data, head_was_open=head_was_open) + _content_length(self._completed[-1])
        self._method = bytearray()
        self._read_method(data[_skip_empty_lines(data, start) :])

    def _read_method(self, data: bytes) -> None:
        method = self._method
        assert method is not None  # noqa: S101 - only called while reading a method
        method += data
        end = len(method) - len(method.lstrip(_TCHARS))
        if end < len(method):
            raise method_refusal(bytes(method[:end]), then_space=method[end] == ord(" "))
        if len(method) > self._max_head_size:
            raise ParseError(431, "request head too large")

    # llhttp callbacks -------------------------------------------------------------------
    # No on_message_begin: the head state is reset when a head is handed over, which saves
    # a Python call per request. Sizes are counted inline for the same reason.

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_size += len(url)
        if self._head_size > self._max_head_size:
            raise ParseError(431, "request head too large")

    def on_header(self, name: bytes, value: bytes) -> None:
        # llhttp drops the whitespace before a value but keeps the whitespace after it, which
        # RFC 9112 §5.1 says is not part of the value (h11 drops both).
        self._headers.append((name.lower(), value.rstrip(b" \t")))
        self._head_size += len(name) + len(value) + 4
        if self._head_size > self._max_head_size:
            raise ParseError(431, "request head too large")

    def on_headers_complete(self) -> None:
        parser = self._parser
        url, headers = self._url, self._headers
        self._url = b""
        self._headers = []
        self._head_size = 0
        self._held = 0
        self._idle = False
        self._completed.append(headers)
        self._sink.on_request(parser.get_method(), url, parser.get_http_version(), headers)

    def on_message_complete(self) -> None:
        if self._parser.should_upgrade():
            self._switching = True  # completed once its body, if any, is read: _take_upgrade_body
            return
        self._idle = True
        self._sink.on_message_complete()

    def on_chunk_header(self) -> None:
        raise _ChunkedBodyStarts


# The walk ---------------------------------------------------------------------------------


def _body_start(data: bytes, heads: list[Headers], body_left: int, tail: bytes) -> int:
    """Where, in `data`, the body of the last of `heads` starts (just past its head).

    `heads` are the heads llhttp completed while reading `data`, in order; `body_left` is
    how much of an earlier request's body opens `data`; `tail` the last bytes of a head
    begun in an earlier feed (empty if none). llhttp skips empty lines before a request
    line, takes no bare LF, and reads a request's Content-Length after its head (chunked
    and upgrade bodies never reach it), so each head ends at the first empty line after
    its start and the next starts after its body.
    """
    pos = body_left
    last = len(heads) - 1
    for index, headers in enumerate(heads):
        if index == 0 and tail:  # an empty line may straddle the two feeds
            found = (tail + data[: len(_HEAD_END) - 1]).find(_HEAD_END)
            end = found + len(_HEAD_END) - len(tail) if found >= 0 else _head_end(data, 0)
        else:
            end = _head_end(data, _skip_empty_lines(data, pos))
        if index == last:
            return end
        pos = end + _content_length(headers)
    raise ParseError(400, "request framing lost")  # no head: never reached from the callers


def _head_end(data: bytes, start: int) -> int:
    found = data.find(_HEAD_END, start)
    if found < 0:  # cannot be, after llhttp completed a head here: refuse rather than guess
        raise ParseError(400, "request framing lost")
    return found + len(_HEAD_END)


def _skip_empty_lines(data: bytes, pos: int) -> int:
    end = len(data)
    while pos < end and data[pos] in b"\r\n":
        pos += 1
    return pos


def _content_length(headers: Headers) -> int:
    for name, value in headers:
        if name == b"content-length":
            if not value.isdigit():  # request.inspect_head refuses it first; never guess a length
                raise ParseError(400, "invalid Content-Length")
            return int(value)
    return 0


def _is_chunked(headers: Headers) -> bool:
    # request.inspect_head lets Transfer-Encoding through only as "chunked" and alone; the
    # same test here keeps the front from reading any other body as chunked.
    names = [name for name, _ in headers]
    if b"content-length" in names:
        return False
    return any(name == b"transfer-encoding" and value.strip().lower() == b"chunked" for name, value in headers)
