"""Apps served by the system tests (tests/system): each says on stdout what it is doing, for the test to wait on.

`app` is the main one. Its routes (under any --root-path):

- `/scope`: the request's scope as JSON (scheme, client, server, paths, headers).
- `/env?name=NAME`: the value of environment variable NAME, or "<unset>".
- `/hold?until=PATH`: prints "hold started", waits until the file PATH exists, then streams
  HOLD_BODY_BYTES in four chunks; prints "hold cancelled" if cancelled first.
- `/forever`: prints "forever started" and never answers; prints "forever cancelled" when cancelled.
- `/empty`: returns without a response (the server logs an error and answers 500).
- anything else: "hello".

Its lifespan prints "system_apps: lifespan startup" and "system_apps: lifespan shutdown".
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

HOLD_BODY_BYTES = 4 * 65536
# A held request gives up after this long, so a test that forgets to release it cannot hang the server.
HOLD_LIMIT_S = 30.0
HOLD_POLL_S = 0.02

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


def say(text: str) -> None:
    print(f"system_apps: {text}", flush=True)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The main test app: lifespan that reports itself, and the routes of the module docstring."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    await _read_body(receive)
    route = scope["path"][len(scope["root_path"]) :] if scope["path"].startswith(scope["root_path"]) else "?"
    query = {name: values[-1] for name, values in parse_qs(scope["query_string"].decode("latin-1")).items()}
    if route == "/scope":
        await _answer(send, json.dumps(_describe(scope)).encode(), b"application/json")
    elif route == "/env":
        await _answer(send, os.environ.get(query.get("name", ""), "<unset>").encode())
    elif route == "/hold":
        await _hold(query["until"], send)
    elif route == "/forever":
        await _forever()
    elif route == "/empty":
        return
    else:
        await _answer(send, b"hello")


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            say("lifespan startup")
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            say("lifespan shutdown")
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read_body(receive: Receive) -> bytes:
    body: bytes = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def _answer(send: Send, body: bytes, content_type: bytes = b"text/plain") -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", content_type)]})
    await send({"type": "http.response.body", "body": body})


def _describe(scope: Scope) -> dict[str, Any]:
    return {
        "scheme": scope["scheme"],
        "client": scope["client"],
        "server": scope["server"],
        "path": scope["path"],
        "root_path": scope["root_path"],
        "raw_path": scope["raw_path"].decode("latin-1"),
        "http_version": scope["http_version"],
        "headers": [[name.decode("latin-1"), value.decode("latin-1")] for name, value in scope["headers"]],
    }


async def _hold(release_file: str, send: Send) -> None:
    say("hold started")
    try:
        deadline = time.monotonic() + HOLD_LIMIT_S
        while not os.path.exists(release_file) and time.monotonic() < deadline:
            await asyncio.sleep(HOLD_POLL_S)
    except asyncio.CancelledError:
        say("hold cancelled")
        raise
    chunk = HOLD_BODY_BYTES // 4
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    for index in range(4):
        await send({"type": "http.response.body", "body": (b"%d" % index) * chunk, "more_body": index < 3})


async def _forever() -> None:
    say("forever started")
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        say("forever cancelled")
        raise


async def no_lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    """An app that knows nothing of lifespan and fails on its scope, as many small apps do."""
    if scope["type"] != "http":
        raise RuntimeError(f"unsupported scope type {scope['type']!r}")
    await _read_body(receive)
    await _answer(send, b"no lifespan here")


async def failing_startup(scope: Scope, receive: Receive, send: Send) -> None:
    """Reports a failed lifespan startup, as a framework does when a startup hook raises."""
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "database unreachable at db:5432"})


def create_app() -> Callable[[Scope, Receive, Send], Any]:
    """An app factory: serve calls it (with --factory) and serves what it returns."""
    say("factory called")

    async def made(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await _read_body(receive)
            await _answer(send, b"made by the factory")

    return made


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """A WSGI app answering with what the environ says about the request."""
    body = environ["wsgi.input"].read()
    text = f"wsgi {environ['REQUEST_METHOD']} {environ['PATH_INFO']} {environ['wsgi.url_scheme']} {len(body)}"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [text.encode()]


class Asgi2App:
    """An ASGI2 app: instantiated with the scope, then called with receive and send."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(self, receive: Receive, send: Send) -> None:
        if self.scope["type"] == "http":
            await _read_body(receive)
            await _answer(send, f"asgi2 {self.scope['path']}".encode())
