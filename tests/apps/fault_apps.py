"""Apps for the master's fault-injection tests (tests/system/test_master_faults.py) and scripts/soak.

`app` answers every request with `PID ok`, except:

- `/spawn?seconds=S`: starts `sleep S` as a helper process that inherits the worker's stdout
  and stderr (what an app's subprocess does by default) and answers `PID SLEEP_PID`.
- `/say?lines=N&size=B`: prints N lines of B bytes each on stdout (the worker's pipe to the
  master, hence the app's log_file), then answers `PID N`.

`never_ready` is an app whose lifespan startup never completes: its workers stay "starting".
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# Helpers started by /spawn: kept referenced so their Popen objects never warn about a running child.
HELPERS: list[subprocess.Popen[bytes]] = []


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The routes of the module docstring; lifespan accepted."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    query = {name: values[-1] for name, values in parse_qs(scope["query_string"].decode("latin-1")).items()}
    answer = "ok"
    if scope["path"] == "/spawn":
        helper = subprocess.Popen(["sleep", query.get("seconds", "30")])  # stdout and stderr inherited on purpose
        HELPERS.append(helper)
        answer = str(helper.pid)
    elif scope["path"] == "/say":
        lines, size = int(query.get("lines", "1")), int(query.get("size", "100"))
        text = "x" * size
        for _ in range(lines):
            print(text, flush=True)
        answer = str(lines)
    body = f"{os.getpid()} {answer}".encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def never_ready(scope: Scope, receive: Receive, send: Send) -> None:
    """Lifespan startup that waits forever (a database that never answers): never ready, still ticking."""
    if scope["type"] == "lifespan":
        await receive()  # lifespan.startup
        await asyncio.Event().wait()


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
