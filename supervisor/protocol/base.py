"""The contract between a parser front (bytes in) and the connection that serves requests.

A front turns bytes into four calls on a `RequestSink` and knows nothing of ASGI. The
sink is called synchronously from `Front.feed`; it may raise `ParseError`, which the
front lets through to the caller of `feed`. Calls instead of event objects because
httptools is callback-driven: forwarding costs nothing, an object per chunk would.
"""

from __future__ import annotations

from typing import Protocol

from supervisor._types import Headers


class RequestSink(Protocol):
    """Receives one request at a time, in order, from a front."""

    def on_request(self, method: bytes, target: bytes, http_version: str, headers: Headers) -> None:
        """A request head is complete. Header names are lowercased; values are raw bytes."""

    def on_body(self, chunk: bytes) -> None:
        """A piece of the current request's body (already de-chunked)."""

    def on_message_complete(self) -> None:
        """The current request's body is complete."""

    def on_upgrade(self, trailing: bytes) -> bool:
        """The current request (complete) asked to switch protocols (`Upgrade`, or `CONNECT`).

        `trailing` holds the bytes received after it. Return True if the sink took the
        connection over (the front stops for good), False to go on parsing HTTP/1.1 from
        `trailing` (an upgrade we do not speak, such as h2c, is served as plain HTTP).
        """


class Front(Protocol):
    """A parser front: feeds bytes, calls the sink, raises `ParseError` on bad input."""

    def feed(self, data: bytes) -> None:
        """Parse `data`, calling the sink for every event it completes."""

    def release(self) -> None:
        """The connection is gone: let go of the sink, which points back at the front (no cycle left for the collector).

        Nothing is fed after this; a second call does nothing.
        """
