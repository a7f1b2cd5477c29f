"""A streamed response: server-sent events ticking a few times, sent chunked with no content-length.

curl -N http://127.0.0.1:8000/
"""

from __future__ import annotations

import asyncio
import json

from supervisor._types import ASGIApp, Receive, Scope, Send
from supervisor.demo import refuse_websocket, send_plain, serve_lifespan

TICKS = 5
INTERVAL = 1.0


def event(name: str, data: object) -> bytes:
    """One server-sent event (WHATWG HTML §9.2): name, one line of JSON, a blank line."""
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def _read_body(receive: Receive) -> bool:
    """Drain the request body; False if the client went away first."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return False
        if not message.get("more_body", False):
            return True


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _tick(send: Send, receive: Receive, ticks: int, interval: float) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")],
        }
    )
    # The request body is read by now, so the next receive() returns only when the
    # client goes away: waiting on it lets a closed tab stop the ticking at once.
    gone = asyncio.ensure_future(_until_disconnect(receive))
    try:
        for n in range(1, ticks + 1):
            await send({"type": "http.response.body", "body": event("tick", {"n": n, "of": ticks}), "more_body": True})
            done, _ = await asyncio.wait({gone}, timeout=interval)
            if done:
                return
        await send({"type": "http.response.body", "body": event("done", {"ticks": ticks})})
    finally:
        gone.cancel()


def make_app(ticks: int = TICKS, interval: float = INTERVAL) -> ASGIApp:
    """An app that sends `ticks` events `interval` seconds apart on GET /."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
        elif scope["type"] == "websocket":
            await refuse_websocket(receive, send)
        elif scope["path"] != "/":
            await send_plain(send, 404, b"Not Found")
        elif scope["method"] != "GET":
            await send_plain(send, 405, b"Method Not Allowed", [(b"allow", b"GET")])
        elif await _read_body(receive):
            await _tick(send, receive, ticks, interval)

    return app


app = make_app()
