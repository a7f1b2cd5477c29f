"""Muffin: JSON at /hello, a ResponseStream at /stream, a ResponseWebSocket echo at /ws."""

from __future__ import annotations

from typing import cast

import muffin
from stream_gate import gated_chunks

app = muffin.Application()


@app.route("/hello")
async def hello(request: muffin.Request) -> dict[str, str]:
    return {"framework": "muffin", "path": request.url.path}


@app.route("/stream")
async def stream(request: muffin.Request) -> muffin.ResponseStream:
    return muffin.ResponseStream(gated_chunks(request.query["gate"]), content_type="text/plain")


@app.route("/ws")
async def echo(request: muffin.Request) -> muffin.ResponseWebSocket:
    async with muffin.ResponseWebSocket(request) as ws:
        while True:
            message = await ws.receive(raw=True)
            if message["type"] == "websocket.disconnect":
                break
            await ws.send(message.get("text") or message.get("bytes") or "")
    return cast("muffin.ResponseWebSocket", ws)  # its __aenter__ returns typing.Self, unknown to Python 3.10
