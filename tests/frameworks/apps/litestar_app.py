"""Litestar: JSON at /hello, a Stream response at /stream, a WebSocket echo at /ws."""

from __future__ import annotations

from typing import Any

from litestar import Litestar, WebSocket, get, websocket
from litestar.exceptions import WebSocketDisconnect
from litestar.response import Stream
from stream_gate import gated_chunks


@get("/hello")
async def hello() -> dict[str, str]:
    return {"framework": "litestar", "path": "/hello"}


@get("/stream")
async def stream(gate: str) -> Stream:
    return Stream(gated_chunks(gate), media_type="text/plain")


@websocket("/ws")
async def echo(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.accept()
    try:
        while True:
            await socket.send_text(await socket.receive_text())
    except WebSocketDisconnect:
        pass


app = Litestar([hello, stream, echo])
