"""The ASGI app tests/system/test_ws_hostile_peers.py talks to: one route per behaviour, chosen by path.

What the app hears is printed on the server's output (one line per event, prefixed
`ws_hostile_apps:`), so a test can wait for it even while the server drains.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

Scope = dict[str, Any]
CHUNK = b"x" * 65536


def _say(text: str) -> None:
    print(f"ws_hostile_apps: {text}", file=sys.stderr, flush=True)


async def app(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] != "websocket":
        return
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    path = scope["path"]
    if path == "/flood":
        await _flood(receive, send)
    elif path == "/stream":
        await _stream(receive, send)
    elif path == "/count":
        await _count(receive)
    elif path == "/slow":
        await asyncio.sleep(3)  # receives nothing for a while: its queue fills, reading pauses
        await _count(receive)
    else:
        await _echo(receive, send)


async def _echo(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            _say(f"disconnect {message['code']}")
            return
        data = {key: value for key, value in message.items() if key in ("text", "bytes")}
        await send({"type": "websocket.send", **data})


async def _count(receive: Any) -> None:
    """Say the size of each message received, and the disconnect."""
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            _say(f"disconnect {message['code']}")
            return
        _say(f"received {len(message.get('bytes') or message.get('text') or '')} bytes")


async def _stream(receive: Any, send: Any) -> None:
    """Send 64 KiB messages without end while receiving (and counting) what the peer sends."""
    streaming = asyncio.create_task(_send_until_failed(send))
    try:
        await _count(receive)
    finally:
        streaming.cancel()


async def _flood(receive: Any, send: Any) -> None:
    """Send 64 KiB messages until send() fails, then say what receive() tells."""
    await _send_until_failed(send)
    message = await receive()
    _say(f"then heard {message['type']} {message.get('code')}")


async def _send_until_failed(send: Any) -> None:
    """Send 64 KiB messages until send() fails.

    Says "stalled" once a send() has waited a quarter second: the peer stopped reading and
    the app waits in the server's drain.
    """
    sent = [0]
    watch = asyncio.create_task(_watch(sent))
    try:
        while True:
            await send({"type": "websocket.send", "bytes": CHUNK})
            sent[0] += 1
    except OSError as error:
        _say(f"send failed with {type(error).__name__} after {sent[0]} messages")
    finally:
        watch.cancel()


async def _watch(sent: list[int]) -> None:
    last = -1
    while sent[0] != last:
        last = sent[0]
        await asyncio.sleep(0.25)
    _say(f"stalled after {last} messages")
