"""A closed HttpConnection is freed by reference counting, not left to the garbage collector.

With `Connection: close` every request is a connection: as cyclic garbage each one cost a
share of a collection (docs/benchmarks.md). The transport lets go of its protocol once the
connection is lost, as uvloop's and asyncio's do; nothing else may keep the connection.
"""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest
from fake_transport import FakeTransport

from supervisor._types import Receive, Scope, Send
from supervisor.server.connection import HttpConnection
from supervisor.server.state import ConnectionLimits, ServerState

TURNS = 1000


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"hi"})


async def _serve_one(http: str) -> tuple[weakref.ref[HttpConnection], bytes]:
    loop = asyncio.get_running_loop()
    state = ServerState(app=hello, loop=loop, limits=ConnectionLimits(access_log=False), http=http)
    transport = FakeTransport(loop)
    conn = HttpConnection(state, ("127.0.0.1", 8000))
    transport.connect(conn)
    conn.data_received(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    for _ in range(TURNS):
        if transport.lost:
            break
        await asyncio.sleep(0)
    assert transport.lost, "the connection never closed"
    assert conn.task is not None
    await conn.task
    transport.protocol = None  # what uvloop and asyncio do once connection_lost has run
    return weakref.ref(conn), b"".join(transport.chunks)


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_a_closed_connection_is_freed_without_the_collector(http: str) -> None:
    loop = asyncio.new_event_loop()
    gc.collect()
    gc.disable()
    try:
        alive, wire = loop.run_until_complete(_serve_one(http))
        assert wire.endswith(b"hi")
        assert b"connection: close" in wire.lower()
        assert alive() is None, f"kept alive by: {[type(r).__name__ for r in gc.get_referrers(alive())]}"
    finally:
        gc.enable()
        loop.close()
