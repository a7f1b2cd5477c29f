"""An app for the worker-lifecycle system tests (tests/system/test_worker_lifecycle.py).

`app` answers every request with `PID ok`, except:

- `/exhaust?hold=S`: lowers this worker's descriptor limit a little above what it has open,
  opens /dev/null until EMFILE, prints "lifecycle_apps: exhausted N", holds them S seconds
  (awaiting, so the event loop and its clock run on under the pressure), closes them, puts
  the limit back and answers `PID freed N`.
- `/hang`: prints "lifecycle_apps: hang started" and never answers; it even shrugs off
  cancellation, as a request stuck in a badly written driver would, so only a hard exit ends it.
- `/grow?mib=N`: keeps N more MiB alive in this worker (touched, so resident), answers `PID grown`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_kept: list[bytearray] = []


def say(text: str) -> None:
    print(f"lifecycle_apps: {text}", flush=True)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The routes of the module docstring; lifespan accepted and ignored."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    query = {name: values[-1] for name, values in parse_qs(scope["query_string"].decode("latin-1")).items()}
    path = scope["path"]
    answer = "ok"
    if path == "/exhaust":
        answer = f"freed {await _exhaust(float(query.get('hold', '1')))}"
    elif path == "/hang":
        await _hang()
    elif path == "/grow":
        chunk = bytearray(int(query["mib"]) << 20)
        chunk[::4096] = b"\x01" * len(chunk[::4096])  # every page touched: resident, not just reserved
        _kept.append(chunk)
        answer = "grown"
    body = f"{os.getpid()} {answer}".encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _exhaust(hold_s: float) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 32, hard))
    opened: list[int] = []
    try:
        with contextlib.suppress(OSError):
            while True:
                opened.append(os.open(os.devnull, os.O_RDONLY))
        say(f"exhausted {len(opened)}")
        await asyncio.sleep(hold_s)
    finally:
        for fd in opened:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return len(opened)


async def _hang() -> None:
    say("hang started")
    while True:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)
