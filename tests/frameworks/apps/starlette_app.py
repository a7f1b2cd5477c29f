"""Starlette: JSON at /hello, a StreamingResponse at /stream, a WebSocket echo at /ws."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from stream_gate import gated_chunks


async def hello(request: Request) -> JSONResponse:
    return JSONResponse({"framework": "starlette", "path": request.url.path})


async def stream(request: Request) -> StreamingResponse:
    return StreamingResponse(gated_chunks(request.query_params["gate"]), media_type="text/plain")


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass


app = Starlette(routes=[Route("/hello", hello), Route("/stream", stream), WebSocketRoute("/ws", echo)])
