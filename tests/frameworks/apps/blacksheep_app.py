"""BlackSheep: JSON at /hello, StreamedContent at /stream, a WebSocket echo at /ws."""

from __future__ import annotations

from collections.abc import AsyncIterator

from blacksheep import Application, Request, Response, StreamedContent, WebSocket, json
from blacksheep.server.websocket import WebSocketDisconnectError
from stream_gate import gated_chunks

app = Application()


@app.router.get("/hello")
async def hello(request: Request) -> Response:
    return json({"framework": "blacksheep", "path": request.url.path.decode()})


@app.router.get("/stream")
async def stream(request: Request) -> Response:
    gate = request.query["gate"][0]

    async def provider() -> AsyncIterator[bytes]:
        async for chunk in gated_chunks(gate):
            yield chunk

    return Response(200, content=StreamedContent(b"text/plain", provider))


@app.router.ws("/ws")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnectError:
        pass
