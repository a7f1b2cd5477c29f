"""The plain ASGI applications scripts/bench serves, one per scenario.

May import: the standard library only (both contestants load this file with --app-dir scripts).

Each app is as lean as an ASGI app can be, so the server's own cost per request is what
the benchmark measures. Every app answers lifespan, so neither server logs a fallback.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

HELLO_BODY = b"Hello, world!"
BIG_SIZE = 64 * 1024
BIG_BODY = b"x" * BIG_SIZE
STREAM_CHUNKS = 10
STREAM_CHUNK = b"chunk of a streamed response\n"
STREAM_BODY = STREAM_CHUNK * STREAM_CHUNKS

_TEXT = (b"content-type", b"text/plain; charset=utf-8")
_OCTETS = (b"content-type", b"application/octet-stream")


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _respond(send: Send, body: bytes, content_type: tuple[bytes, bytes]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [content_type, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    """13 bytes of text with a content-length: the per-request overhead, nothing else."""
    if scope["type"] == "http":
        await _respond(send, HELLO_BODY, _TEXT)
    elif scope["type"] == "lifespan":
        await _lifespan(receive, send)


async def big(scope: Scope, receive: Receive, send: Send) -> None:
    """A 64 KiB body in one message: the write path for a body larger than a socket buffer chunk."""
    if scope["type"] == "http":
        await _respond(send, BIG_BODY, _OCTETS)
    elif scope["type"] == "lifespan":
        await _lifespan(receive, send)


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the whole request body and sends it back: the read path."""
    if scope["type"] == "http":
        parts = []
        more_body = True
        while more_body:
            message = await receive()
            parts.append(message.get("body", b""))
            more_body = message.get("more_body", False)
        await _respond(send, b"".join(parts), _OCTETS)
    elif scope["type"] == "lifespan":
        await _lifespan(receive, send)


async def stream(scope: Scope, receive: Receive, send: Send) -> None:
    """Ten body messages and no content-length, so the server frames them as chunked."""
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": [_TEXT]})
        for _ in range(STREAM_CHUNKS - 1):
            await send({"type": "http.response.body", "body": STREAM_CHUNK, "more_body": True})
        await send({"type": "http.response.body", "body": STREAM_CHUNK})
    elif scope["type"] == "lifespan":
        await _lifespan(receive, send)


async def ws_echo(scope: Scope, receive: Receive, send: Send) -> None:
    """WebSocket echo for the scenario to come: every message goes back as it came."""
    if scope["type"] == "websocket":
        while True:
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.accept"})
            elif message["type"] == "websocket.receive":
                if message.get("bytes") is not None:
                    await send({"type": "websocket.send", "bytes": message["bytes"]})
                else:
                    await send({"type": "websocket.send", "text": message["text"]})
            else:
                return
    elif scope["type"] == "http":
        await _respond(send, HELLO_BODY, _TEXT)
    elif scope["type"] == "lifespan":
        await _lifespan(receive, send)
