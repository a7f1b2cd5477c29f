"""The channel: what one request/response cycle needs from whatever carries it to the client.

The cycle (`server.cycle`) is the ASGI side of one request: which message may come when,
the held-back head, the request body waiting for `receive()`, the disconnect. The channel
is the wire side: it frames what the cycle hands it, runs its own flow control in both
directions, and decides what the end of a response means. The cycle hands over the status,
headers and body, never bytes, so the same cycle can serve any version of HTTP.

Today the one channel is the HTTP/1.1 connection (`HttpConnection`), which carries its
requests' cycles one after another and frames with `protocol.response`. An HTTP/2
connection would give each stream a channel of its own: HEADERS and DATA frames instead of
a status line and chunks, the stream's window instead of the transport's buffer for
`drain()`, WINDOW_UPDATE withheld instead of `transport.pause_reading()`, and END_STREAM
instead of "the next pipelined request may go" for `finish()`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import asyncio

    from supervisor._types import Headers


class Channel(Protocol):
    """Carries one request/response cycle at a time; the cycle calls nothing else."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the cycle's waiters belong to."""

    @property
    def write_paused(self) -> bool:
        """The peer is not taking the response as fast as it comes: the cycle awaits `drain()` before the next piece."""

    async def drain(self) -> None:
        """Return once the peer can take more (or the channel is gone)."""

    def pause_reading(self) -> None:
        """Stop taking the request body from the peer: the app has fallen behind reading it."""

    def resume_reading(self) -> None:
        """Take the request body again: the app is waiting for it."""

    def send_continue(self) -> None:
        """Ask the client for the body it announced with `Expect: 100-continue` (RFC 9110 §10.1.1)."""

    def send_head(self, status: int, headers: Headers, body: bytes, more_body: bool) -> None:
        """Send the response head together with the first piece of its body.

        With `more_body=False`, `body` is all of it, so its length is known. The channel
        adds its default headers and decides the framing.

        Raises:
            RuntimeError: the app's head is invalid; nothing was sent.
        """

    def send_body(self, body: bytes, more_body: bool) -> None:
        """Send the next piece of the body (`more_body=False`: the last one).

        Raises:
            RuntimeError: the body does not match the length the head declared; the channel
                ends once what was accepted before is sent.
        """

    def send_trailers(self, fields: list[tuple[bytes, bytes]]) -> None:
        """End the response with trailers (`fields` checked, names lowercase), after a body sent with more to come.

        A channel that cannot carry them (HTTP/1.1 without `TE: trailers`, or not chunked)
        drops them and ends the body as it would have.

        Raises:
            RuntimeError: the body does not match the length the head declared.
        """

    def finish(self) -> None:
        """The response is complete (its last piece was sent): count it and move on."""

    def refuse(self, status: int, reason: str) -> None:
        """Answer with an error of ours instead of the app's response (none of which was sent), then end."""
