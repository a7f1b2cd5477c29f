"""Small ASGI apps shared by the integration tests."""

from __future__ import annotations

from typing import Any


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers with the request body (or the path when there is none)."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body or scope["path"].encode()})
