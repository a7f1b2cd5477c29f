"""An app whose lifespan startup waits until the test creates a file (bounded), then reports shutdown."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

WAIT_LIMIT_S = 30.0


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                print("slow_startup: waiting", flush=True)
                deadline = time.monotonic() + WAIT_LIMIT_S
                while not os.path.exists(os.environ["RELEASE_FILE"]) and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
                await send({"type": "lifespan.startup.complete"})
            else:
                print("slow_startup: shutdown", flush=True)
                await send({"type": "lifespan.shutdown.complete"})
                return
    elif scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"up"})


async def hanging_shutdown(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Starts at once; its lifespan shutdown never completes (bounded by WAIT_LIMIT_S)."""
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        print("slow_startup: shutdown hangs", flush=True)
        await asyncio.sleep(WAIT_LIMIT_S)
    elif scope["type"] == "http":
        await app(scope, receive, send)
