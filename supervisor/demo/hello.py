"""The smallest useful app: "Hello, world!" at / and a small JSON document at /json."""

from __future__ import annotations

import json
import os

from supervisor._types import Receive, Scope, Send
from supervisor.demo import refuse_websocket, send_plain, serve_lifespan

HELLO = b"Hello, world!"
_READ_METHODS = ("GET", "HEAD")


def document(scope: Scope) -> bytes:
    """What /json answers: enough to see which worker and which server spoke."""
    payload = {
        "message": "Hello, world!",
        "pid": os.getpid(),
        "server": scope.get("server"),
        "http_version": scope.get("http_version"),
        "path": scope["path"],
    }
    return json.dumps(payload, separators=(",", ":")).encode()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """GET / and GET /json; anything else is 404, other methods 405."""
    if scope["type"] == "lifespan":
        await serve_lifespan(receive, send)
        return
    if scope["type"] == "websocket":
        await refuse_websocket(receive, send)
        return
    if scope["path"] not in ("/", "/json"):
        await send_plain(send, 404, b"Not Found")
    elif scope["method"] not in _READ_METHODS:
        await send_plain(send, 405, b"Method Not Allowed", [(b"allow", b"GET, HEAD")])
    elif scope["path"] == "/":
        await send_plain(send, 200, HELLO)
    else:
        body = document(scope)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
