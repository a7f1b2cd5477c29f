"""The httptools (llhttp) front: bytes in, `RequestSink` calls out.

May import: errors, _types, protocol.base and the standard library; never asyncio, socket or config/.
"""

from __future__ import annotations

import httptools

from supervisor._types import Headers
from supervisor.errors import ParseError
from supervisor.protocol.base import RequestSink


class HttptoolsFront:
    """Feeds llhttp and forwards its callbacks; the only policy here is the head-size limit.

    llhttp looks its callbacks up once, on the object handed to the parser, so `on_body`
    and `on_message_complete` are the sink's own bound methods: no extra Python frame
    per body chunk.
    """

    __slots__ = (
        "_head_size",
        "_headers",
        "_held",
        "_max_head_size",
        "_parser",
        "_sink",
        "_url",
        "on_body",
        "on_message_complete",
    )

    def __init__(self, sink: RequestSink, *, max_head_size: int) -> None:
        self._sink = sink
        self._max_head_size = max_head_size
        self._url = b""
        self._headers: Headers = []
        self._head_size = 0
        self._held = 0
        self.on_body = sink.on_body
        self.on_message_complete = sink.on_message_complete
        self._parser = httptools.HttpRequestParser(self)

    def feed(self, data: bytes) -> None:
        """Parse `data`; raise `ParseError` for anything llhttp or the sink refuses."""
        open_head = self._headers if self._url else None
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            trailing = data[upgrade.args[0] :]
            if not self._sink.on_upgrade(trailing):
                self._parser = httptools.HttpRequestParser(self)
                if trailing:
                    self.feed(trailing)
        except httptools.HttpParserCallbackError as error:
            if isinstance(error.__context__, ParseError):
                raise error.__context__ from None
            raise
        except httptools.HttpParserError as error:
            raise ParseError(400, str(error) or "invalid HTTP request") from None
        if self._headers is open_head:
            # A head open before `data` and still open after it: all of `data` is head.
            # httptools holds a partial header until it is whole, so on_header cannot count it.
            self._held += len(data)
            if self._held > self._max_head_size:
                raise ParseError(431, "request head too large")

    # llhttp callbacks -------------------------------------------------------------------
    # No on_message_begin: the head state is reset when a head is handed over, which saves
    # a Python call per request. Sizes are counted inline for the same reason.

    def on_url(self, url: bytes) -> None:
        if not self._url and self._headers:
            # A chunked body's trailers come through on_header: they belong to the previous
            # request, never to this one.
            self._headers = []
            self._head_size = 0
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
        self._sink.on_request(parser.get_method(), url, parser.get_http_version(), headers)
