"""FastAPI: JSON at /hello, a StreamingResponse at /stream, a WebSocket echo at /ws."""

from __future__ import annotations

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse
from stream_gate import gated_chunks

app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"framework": "fastapi", "path": "/hello"}


@app.get("/stream")
async def stream(gate: str) -> StreamingResponse:
    return StreamingResponse(gated_chunks(gate), media_type="text/plain")


@app.websocket("/ws")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass
