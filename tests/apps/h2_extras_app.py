"""The app the trailers and WebSocket-over-HTTP/2 tests talk to: one route per behaviour, chosen by path."""

from __future__ import annotations

import json
import sys
from typing import Any

Scope = dict[str, Any]

TRAILER_HEADERS = [(b"x-checksum", b"abc123"), (b"grpc-status", b"0")]


async def app(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "websocket":
        await websocket(scope, receive, send)
    elif scope["type"] == "http":
        await http(scope, receive, send)


async def http(scope: Scope, receive: Any, send: Any) -> None:
    path = scope["path"]
    if path == "/extensions":
        body = json.dumps({"extensions": sorted(scope.get("extensions", {})), "http_version": scope["http_version"]})
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body.encode()})
        return
    headers = [(b"trailer", b"x-checksum, grpc-status")]
    if path == "/trailers-length":
        headers.append((b"content-length", b"10"))
    await send({"type": "http.response.start", "status": 200, "headers": headers, "trailers": True})
    await send({"type": "http.response.body", "body": b"hello", "more_body": True})
    await send({"type": "http.response.body", "body": b"world"})
    if path == "/trailers-bad":
        await send({"type": "http.response.trailers", "headers": [(b"content-length", b"1")]})
        return
    await send({"type": "http.response.trailers", "headers": TRAILER_HEADERS[:1], "more_trailers": True})
    await send({"type": "http.response.trailers", "headers": TRAILER_HEADERS[1:]})


async def websocket(scope: Scope, receive: Any, send: Any) -> None:
    message = await receive()
    assert message["type"] == "websocket.connect"
    path = scope["path"]
    if path == "/deny":
        await send({"type": "websocket.close"})  # before accepting: 403
        return
    if path == "/deny-custom":
        await send({"type": "websocket.http.response.start", "status": 401, "headers": [(b"x-why", b"token")]})
        await send({"type": "websocket.http.response.body", "body": b"no token"})
        return
    await send({"type": "websocket.accept", "subprotocol": None})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            print(f"h2_extras_app: disconnect {message['code']} on {path}", file=sys.stderr, flush=True)
            return
        if message.get("text") == "scope":
            info = {"http_version": scope["http_version"], "scheme": scope["scheme"], "path": path}
            await send({"type": "websocket.send", "text": json.dumps(info)})
        elif message.get("text") == "bye":
            await send({"type": "websocket.close", "code": 1000, "reason": "bye"})
            return
        else:
            await send({"type": "websocket.send", **{k: v for k, v in message.items() if k in ("text", "bytes")}})
