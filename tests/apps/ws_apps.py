"""The ASGI apps the WebSocket tests talk to: one route per behaviour, chosen by path.

State is per process, so a test can ask the server what the app saw over HTTP:
`GET /seen` answers, as JSON, every `websocket.disconnect` the `/hold` route heard and
what `send()` did after it; `GET /release` lets `/stall` start reading.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]

SEEN: dict[str, list[Any]] = {"disconnects": [], "late_sends": []}
RELEASE = asyncio.Event()


class AppError(Exception):
    """Raised on purpose by the failing routes."""


async def app(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await _http(scope, receive, send)
    elif scope["type"] == "websocket":
        route = ROUTES.get(scope["path"], _echo)
        await route(scope, receive, send)


async def _http(scope: Scope, receive: Any, send: Any) -> None:
    if scope["path"] == "/release":
        RELEASE.set()
        body = b"released"
    elif scope["path"] == "/seen":
        body = json.dumps(SEEN).encode()
    else:
        # An upgrade request served as plain HTTP (ws = "none") lands here.
        body = json.dumps({"type": scope["type"], "path": scope["path"]}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


async def _echo(scope: Scope, receive: Any, send: Any) -> None:
    """Echo every message; a text "close CODE REASON" makes the server close with that code and reason."""
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is not None and text.startswith("close "):
            _, code, reason = text.split(" ", 2)
            await send({"type": "websocket.close", "code": int(code), "reason": reason})
            return
        if text is not None:
            await send({"type": "websocket.send", "text": text})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


async def _scope(scope: Scope, receive: Any, send: Any) -> None:
    """Accept with the client's last subprotocol and an extra header; send back the scope as JSON."""
    await receive()
    subprotocols = scope["subprotocols"]
    await send(
        {
            "type": "websocket.accept",
            "subprotocol": subprotocols[-1] if subprotocols else None,
            "headers": [(b"x-accepted-by", b"ws_apps")],
        }
    )
    shown = {key: value for key, value in scope.items() if key not in ("headers", "state")}
    shown["headers"] = [[name.decode(), value.decode()] for name, value in scope["headers"]]
    shown["raw_path"] = scope["raw_path"].decode()
    shown["query_string"] = scope["query_string"].decode()
    shown["state_is_dict"] = isinstance(scope["state"], dict)
    await send({"type": "websocket.send", "text": json.dumps(shown)})
    await receive()


async def _reject(scope: Scope, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "websocket.close", "code": 1008})


async def _no_accept(scope: Scope, receive: Any, send: Any) -> None:
    await receive()


async def _deny(scope: Scope, receive: Any, send: Any) -> None:
    await receive()
    headers = [(b"content-type", b"text/plain"), (b"x-denied", b"yes")]
    await send({"type": "websocket.http.response.start", "status": 401, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": b"no entry ", "more_body": True})
    await send({"type": "websocket.http.response.body", "body": b"without a token"})


async def _fail_before_accept(scope: Scope, receive: Any, send: Any) -> None:
    await receive()
    raise AppError("before accept")


async def _fail_after_accept(scope: Scope, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "websocket.accept"})
    await receive()
    raise AppError("after accept")


async def _server_close(scope: Scope, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": "bye"})
    await send({"type": "websocket.close", "code": 4001, "reason": "done here"})
    # The app keeps listening: what it hears now is the disconnect for its own close.
    SEEN["disconnects"].append(await receive())


async def _hold(scope: Scope, receive: Any, send: Any) -> None:
    """Accept, wait for the disconnect, record it, then try to send anyway."""
    await receive()
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            break
    SEEN["disconnects"].append(message)
    try:
        await send({"type": "websocket.send", "text": "too late"})
    except OSError as error:
        SEEN["late_sends"].append(type(error).__name__)
    else:
        SEEN["late_sends"].append("no error")


async def _stall(scope: Scope, receive: Any, send: Any) -> None:
    """Accept, read nothing until GET /release, then count what arrived and send the total."""
    await receive()
    await send({"type": "websocket.accept"})
    await RELEASE.wait()
    total = 0
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") == "done":
            await send({"type": "websocket.send", "text": str(total)})
            continue
        total += len(message["bytes"])


ROUTES = {
    "/scope": _scope,
    "/reject": _reject,
    "/no-accept": _no_accept,
    "/deny": _deny,
    "/fail-before-accept": _fail_before_accept,
    "/fail-after-accept": _fail_after_accept,
    "/server-close": _server_close,
    "/hold": _hold,
    "/stall": _stall,
}
