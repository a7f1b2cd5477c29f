"""Falcon (falcon.asgi.App): JSON at /hello, an async iterator body at /stream, a WebSocket echo at /ws."""

from __future__ import annotations

import falcon
import falcon.asgi
from falcon.errors import WebSocketDisconnected
from stream_gate import gated_chunks


class Hello:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = {"framework": "falcon", "path": req.path}


class Stream:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.stream = gated_chunks(req.get_param("gate", required=True))


class Echo:
    async def on_websocket(self, req: falcon.asgi.Request, ws: falcon.asgi.WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                await ws.send_text(await ws.receive_text())
        except WebSocketDisconnected:
            pass


app = falcon.asgi.App()
app.add_route("/hello", Hello())
app.add_route("/stream", Stream())
app.add_route("/ws", Echo())
