"""Demo applications shipped with serve, to try it without writing an app first.

    serve run supervisor.demo.hello:app    plain text at /, a small JSON document at /json
    serve run supervisor.demo.stream:app   server-sent events ticking a few times
    serve run supervisor.demo.echo:app     a page at / that talks to a WebSocket echo at /ws

All three are plain ASGI, no framework, and share the lifespan answer below.
"""

from __future__ import annotations

from supervisor._types import Receive, Send


async def serve_lifespan(receive: Receive, send: Send) -> None:
    """Acknowledge startup and shutdown: the demos hold no resources to open or close."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def refuse_websocket(receive: Receive, send: Send) -> None:
    """Close a WebSocket handshake unaccepted, which the server answers with 403."""
    await receive()  # websocket.connect
    await send({"type": "websocket.close", "code": 1008})


async def send_plain(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """A whole response in two messages, with its content-length."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                *(headers or []),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
