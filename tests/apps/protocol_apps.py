"""The ASGI app the HTTP protocol tests talk to: one route per behaviour, chosen by path.

State is per process, so a test can ask the server what the app saw:
`/calls` answers how many times the app has been called (itself excluded), `/progress`
how many bytes `/flood` has handed to `send`. Events a test waits for are printed to the
server's output as `protocol_apps: ...` lines.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from typing import Any
from urllib.parse import parse_qs

Scope = dict[str, Any]
Message = dict[str, Any]

CALLS = 0
FLOOD_SENT: dict[str, int] = {}
HOLDS: dict[str, asyncio.Event] = {}

FIXED_BODY = b"fixed body, 26 bytes long\n"


def piece(index: int, size: int) -> bytes:
    """The `index`-th piece of a streamed body: distinct per index, so a lost or reordered piece shows."""
    label = b"%010d;" % index
    return (label * (size // len(label) + 1))[:size]


def note(line: str) -> None:
    print(f"protocol_apps: {line}", file=sys.stderr, flush=True)


async def app(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    global CALLS
    path = scope["path"].removeprefix(scope["root_path"])
    route = ROUTES.get(path) or (scope_info if path.startswith("/scope/") else not_found)
    if route is not calls:
        CALLS += 1
    await route(scope, receive, send)


def query(scope: Scope) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(scope["query_string"].decode("latin-1")).items()}


async def read_body(receive: Any) -> tuple[bytes, int]:
    body: list[bytes] = []
    messages = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            note("disconnected while reading a body")
            return b"".join(body), messages
        messages += 1
        body.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(body), messages


async def respond(send: Any, body: bytes, status: int = 200, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers or []})
    await send({"type": "http.response.body", "body": body})


async def not_found(scope: Scope, receive: Any, send: Any) -> None:
    await respond(send, b"no route", 404)


async def calls(scope: Scope, receive: Any, send: Any) -> None:
    await respond(send, str(CALLS).encode())


async def count(scope: Scope, receive: Any, send: Any) -> None:
    """A plain route whose calls `/calls` counts."""
    await read_body(receive)
    await respond(send, b"counted")


async def fixed(scope: Scope, receive: Any, send: Any) -> None:
    await respond(send, FIXED_BODY, headers=[(b"content-type", b"text/plain")])


async def echo(scope: Scope, receive: Any, send: Any) -> None:
    body, _ = await read_body(receive)
    await respond(send, body)


async def scope_info(scope: Scope, receive: Any, send: Any) -> None:
    """The scope as JSON (bytes as latin-1), with the body and how many receive() calls it took."""
    body, messages = await read_body(receive)
    info = {
        "method": scope["method"],
        "http_version": scope["http_version"],
        "path": scope["path"],
        "raw_path": scope["raw_path"].decode("latin-1"),
        "query_string": scope["query_string"].decode("latin-1"),
        "root_path": scope["root_path"],
        "scheme": scope["scheme"],
        "client": scope["client"],
        "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]],
        "body": body.decode("latin-1"),
        "messages": messages,
    }
    await respond(send, json.dumps(info).encode(), headers=[(b"content-type", b"application/json")])


async def upload(scope: Scope, receive: Any, send: Any) -> None:
    """Reads the body as it streams in; answers its length and SHA-256 without keeping it."""
    digest = hashlib.sha256()
    length = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        digest.update(chunk)
        length += len(chunk)
        if not message.get("more_body", False):
            break
    await respond(send, json.dumps({"length": length, "sha256": digest.hexdigest()}).encode())


async def chunks(scope: Scope, receive: Any, send: Any) -> None:
    """`n` body messages of `size` bytes each, no Content-Length: the server frames them."""
    params = query(scope)
    n, size = int(params.get("n", "3")), int(params.get("size", "5"))
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    for index in range(n):
        await send({"type": "http.response.body", "body": piece(index, size), "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def own_headers(scope: Scope, receive: Any, send: Any) -> None:
    """Sets its own Server and Date, and Connection: close."""
    headers = [(b"server", b"own-server"), (b"date", b"Thu, 01 Jan 1970 00:00:00 GMT"), (b"connection", b"close")]
    await respond(send, b"own", headers=headers)


async def sleep_then_answer(scope: Scope, receive: Any, send: Any) -> None:
    """Answers late, so a pipelined request behind it is ready first."""
    await read_body(receive)
    await asyncio.sleep(float(query(scope).get("s", "0.2")))
    await respond(send, b"slept")


async def no_read(scope: Scope, receive: Any, send: Any) -> None:
    """Answers without reading the request body."""
    await respond(send, b"did not read")


async def length_short(scope: Scope, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"10")]})
    await send({"type": "http.response.body", "body": b"12345"})


async def length_short_streamed(scope: Scope, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"10")]})
    await send({"type": "http.response.body", "body": b"1234", "more_body": True})
    await send({"type": "http.response.body", "body": b"5678"})


async def length_long(scope: Scope, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"3")]})
    await send({"type": "http.response.body", "body": b"1234567890"})


async def length_long_streamed(scope: Scope, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"6")]})
    await send({"type": "http.response.body", "body": b"1234", "more_body": True})
    await send({"type": "http.response.body", "body": b"5678", "more_body": True})


async def inject_value(scope: Scope, receive: Any, send: Any) -> None:
    await respond(send, b"unreachable", headers=[(b"x-a", b"a\r\nx-injected: yes")])


async def inject_name(scope: Scope, receive: Any, send: Any) -> None:
    await respond(send, b"unreachable", headers=[(b"x-injected: yes\r\nx-a", b"a")])


async def inject_lf(scope: Scope, receive: Any, send: Any) -> None:
    await respond(send, b"unreachable", headers=[(b"x-a", b"a\nx-injected: yes")])


async def raise_before_start(scope: Scope, receive: Any, send: Any) -> None:
    raise RuntimeError("protocol_apps: raised before start")


async def raise_after_start(scope: Scope, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    raise RuntimeError("protocol_apps: raised after start")


async def raise_after_body(scope: Scope, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"partial", "more_body": True})
    raise RuntimeError("protocol_apps: raised after the first body chunk")


async def return_without_response(scope: Scope, receive: Any, send: Any) -> None:
    return


async def return_after_start(scope: Scope, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})


async def wait_disconnect(scope: Scope, receive: Any, send: Any) -> None:
    """Reads the body, then waits on receive() without answering; prints what it got."""
    tag = query(scope).get("tag", "-")
    await read_body(receive)
    note(f"waiting {tag}")
    message = await receive()
    note(f"received {message['type']} {tag}")


async def stream(scope: Scope, receive: Any, send: Any) -> None:
    """`size` bytes in `piece`-byte body messages (the pieces of `piece()`)."""
    params = query(scope)
    size, step = int(params["size"]), int(params.get("piece", "65536"))
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(size).encode())]})
    sent = index = 0
    while sent < size:
        data = piece(index, min(step, size - sent))
        sent += len(data)
        index += 1
        await send({"type": "http.response.body", "body": data, "more_body": sent < size})


async def flood(scope: Scope, receive: Any, send: Any) -> None:
    """Like `stream`, recording in FLOOD_SENT[tag] how many bytes `send` has accepted so far."""
    params = query(scope)
    tag, size, step = params["tag"], int(params["size"]), 65536
    FLOOD_SENT[tag] = 0
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(size).encode())]})
    index = 0
    while FLOOD_SENT[tag] < size:
        data = piece(index, min(step, size - FLOOD_SENT[tag]))
        index += 1
        await send({"type": "http.response.body", "body": data, "more_body": FLOOD_SENT[tag] + len(data) < size})
        FLOOD_SENT[tag] += len(data)
    note(f"flood done {tag}")


async def hold_body(scope: Scope, receive: Any, send: Any) -> None:
    """Takes one body message, then stops reading until `/release?tag=` is called; then reads the rest."""
    tag = query(scope)["tag"]
    held = HOLDS.setdefault(tag, asyncio.Event())
    first = await receive()
    note(f"holding {tag} after {len(first.get('body', b''))} bytes")
    await held.wait()
    digest = hashlib.sha256(first.get("body", b""))
    length = len(first.get("body", b""))
    more = first.get("more_body", False)
    while more:
        message = await receive()
        digest.update(message.get("body", b""))
        length += len(message.get("body", b""))
        more = message.get("more_body", False)
    await respond(send, json.dumps({"length": length, "sha256": digest.hexdigest()}).encode())


async def release(scope: Scope, receive: Any, send: Any) -> None:
    HOLDS.setdefault(query(scope)["tag"], asyncio.Event()).set()
    await respond(send, b"released")


async def progress(scope: Scope, receive: Any, send: Any) -> None:
    await respond(send, str(FLOOD_SENT.get(query(scope)["tag"], -1)).encode())


ROUTES = {
    "/calls": calls,
    "/count": count,
    "/fixed": fixed,
    "/echo": echo,
    "/scope": scope_info,
    "/upload": upload,
    "/chunks": chunks,
    "/own-headers": own_headers,
    "/sleep": sleep_then_answer,
    "/no-read": no_read,
    "/length-short": length_short,
    "/length-short-streamed": length_short_streamed,
    "/length-long": length_long,
    "/length-long-streamed": length_long_streamed,
    "/inject-value": inject_value,
    "/inject-name": inject_name,
    "/inject-lf": inject_lf,
    "/raise-before-start": raise_before_start,
    "/raise-after-start": raise_after_start,
    "/raise-after-body": raise_after_body,
    "/return-without-response": return_without_response,
    "/return-after-start": return_after_start,
    "/wait-disconnect": wait_disconnect,
    "/stream": stream,
    "/flood": flood,
    "/progress": progress,
    "/hold-body": hold_body,
    "/release": release,
}
