"""Apps served by the `serve up` system tests (tests/system/test_master_*.py).

`app` answers every request with `PID VERSION`, except:

- `/env?name=NAME`: `PID VALUE`, VALUE being environment variable NAME or "<unset>".
- `/block?seconds=S`: prints "master_apps: block started", then blocks its event loop in
  time.sleep(S): the worker stops ticking (health check) and cannot drain (stop).
- `/slow?seconds=S`: prints "master_apps: slow started", then answers after awaiting S seconds.

VERSION is read at import from the file named by MASTER_APPS_VERSION_FILE ("v0" when unset),
so a test changes the code a new generation of workers loads by rewriting that file. A file
saying "fail-import" makes the import itself fail, as a broken deploy would.

`lifespan_fails` is an app whose lifespan startup fails.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

VERSION_FILE_ENV = "MASTER_APPS_VERSION_FILE"
FAIL_IMPORT = "fail-import"

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def _read_version() -> str:
    path = os.environ.get(VERSION_FILE_ENV)
    version = Path(path).read_text(encoding="utf-8").strip() if path else "v0"
    if version == FAIL_IMPORT:
        raise RuntimeError(f"master_apps: import refused, {path} says {FAIL_IMPORT}")
    return version


VERSION = _read_version()


def say(text: str) -> None:
    print(f"master_apps: {text}", flush=True)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The routes of the module docstring; lifespan accepted and ignored."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send, fail=False)
        return
    if scope["type"] != "http":
        return
    query = {name: values[-1] for name, values in parse_qs(scope["query_string"].decode("latin-1")).items()}
    path = scope["path"]
    answer = VERSION
    if path == "/env":
        answer = os.environ.get(query.get("name", ""), "<unset>")
    elif path == "/block":
        say("block started")
        time.sleep(float(query["seconds"]))  # blocking on purpose: a worker whose event loop is stuck
    elif path == "/slow":
        say("slow started")
        await asyncio.sleep(float(query["seconds"]))
    body = f"{os.getpid()} {answer}".encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def lifespan_fails(scope: Scope, receive: Receive, send: Send) -> None:
    """An app whose lifespan startup fails: its workers never become ready."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send, fail=True)


async def _lifespan(receive: Receive, send: Send, *, fail: bool) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if fail:
                await send({"type": "lifespan.startup.failed", "message": "master_apps: no database"})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
