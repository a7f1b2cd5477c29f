"""The ASGI app of the HTTP/2 memory and attack tests: large bodies to pin, a small answer to prove service.

`/big?size=N` streams N bytes in 64 KiB body messages, the way an app serves a download:
a client that never opens its window must leave at most a stream's own buffer in the
server, not the body. Each 64 KiB piece is made afresh, so memory the server keeps shows
in its RSS. `/fixed` answers a short body at once.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

Scope = dict[str, Any]

PIECE = 65536
FIXED_BODY = b"fixed\n"


async def app(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        return
    if scope["path"] == "/big":
        await big(scope, send)
    else:
        headers = [(b"content-type", b"text/plain")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": FIXED_BODY})


async def big(scope: Scope, send: Any) -> None:
    query = parse_qs(scope["query_string"].decode("latin-1"))
    size = int(query["size"][0])
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % size)]})
    sent = 0
    while sent < size:
        step = min(PIECE, size - sent)
        sent += step
        # A fresh object each time (not one shared constant), as a real download's pieces are.
        await send({"type": "http.response.body", "body": bytes([sent % 251]) * step, "more_body": sent < size})
