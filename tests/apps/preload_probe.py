"""An app that says which process imported it: the master (preload) or the worker."""

from __future__ import annotations

import os
from typing import Any

IMPORTED_BY = os.getpid()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = f"{IMPORTED_BY} {os.getpid()}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})
