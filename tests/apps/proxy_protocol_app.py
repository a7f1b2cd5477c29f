"""Served behind a (hand-built) PROXY protocol header: answers with the client and server it sees, and how
many requests reached it so far in this worker, so a test can tell that a refused connection never did."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]

calls = 0


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    global calls
    if scope["type"] != "http":
        return
    calls += 1
    body = json.dumps({"client": scope["client"], "server": scope["server"], "calls": calls}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
