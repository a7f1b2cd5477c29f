"""Quart: JSON at /hello, an async generator body at /stream, a WebSocket echo at /ws."""

from __future__ import annotations

from collections.abc import AsyncIterator

from quart import Quart, request, websocket
from stream_gate import gated_chunks

app = Quart(__name__)


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"framework": "quart", "path": request.path}


@app.get("/stream")
async def stream() -> tuple[AsyncIterator[bytes], int, dict[str, str]]:
    return gated_chunks(request.args["gate"]), 200, {"content-type": "text/plain"}


@app.websocket("/ws")
async def echo() -> None:
    # Quart cancels this task when the client goes away.
    while True:
        await websocket.send(await websocket.receive())
