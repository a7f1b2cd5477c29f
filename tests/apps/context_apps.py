"""An app that shows whether one request's contextvars reach the next (uvicorn's --reset-contextvars)."""

from __future__ import annotations

import contextvars
from typing import Any

seen: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="nothing")


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    before = seen.get()
    seen.set(scope["path"])
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": before.encode()})
