"""Time N requests through HttpConnection over a fake transport: the hot path without sockets.

Run: .venv/bin/python tests/unit/server/hotpath_timing.py [--requests N] [--repeat R]

64 keep-alive connections each get one request per round; a round ends when every
response is written. The "close" scenario instead opens 16 connections per round, each
sending one `Connection: close` request, and a round ends when all of them are closed
(the connection's whole life in Python: made, parsed, answered, lost). Prints the median
microseconds per request for each scenario, parser front and loop kind. Not a pytest
module: it measures, it does not assert.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

from fake_transport import FakeTransport

from supervisor._types import Receive, Scope, Send
from supervisor.server.connection import HttpConnection
from supervisor.server.state import ServerState

try:
    from supervisor.server.state import ConnectionLimits
except ImportError:  # the tree before ConnectionLimits, to time a baseline
    from supervisor.server.state import Limits as ConnectionLimits  # type: ignore[attr-defined,no-redef]

CONNECTIONS = 64


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"Hello, world!"})


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/octet-stream")]}
    )
    await send({"type": "http.response.body", "body": body})


async def stream(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    for _ in range(9):
        await send({"type": "http.response.body", "body": b"chunk of text\n", "more_body": True})
    await send({"type": "http.response.body", "body": b"chunk of text\n"})


GET = b"GET /hello HTTP/1.1\r\nHost: example.com\r\nUser-Agent: timing\r\nAccept: */*\r\n\r\n"
POST = b"POST /echo HTTP/1.1\r\nHost: example.com\r\nContent-Length: 4096\r\n\r\n" + b"x" * 4096

CLOSE = b"GET /hello HTTP/1.1\r\nHost: example.com\r\nUser-Agent: timing\r\nConnection: close\r\n\r\n"
CLOSE_CONNECTIONS = 16

SCENARIOS: dict[str, tuple[Any, bytes]] = {
    "hello": (hello, GET),
    "close": (hello, CLOSE),
    "echo 4 KiB": (echo, POST),
    "stream 10": (stream, GET),
}


async def _run(app: Any, request: bytes, http: str, rounds: int) -> float:
    loop = asyncio.get_running_loop()
    state = ServerState(app=app, loop=loop, limits=ConnectionLimits(access_log=False), http=http)
    if request is CLOSE:
        return await _run_close(state, rounds)
    transports = []
    for index in range(CONNECTIONS):
        transport = FakeTransport(loop, peer=("127.0.0.1", 40000 + index))
        transport.connect(HttpConnection(state, ("127.0.0.1", 8000)))
        transports.append(transport)
    expected = 0
    started = time.perf_counter()
    for _ in range(rounds):
        for transport in transports:
            transport.protocol.data_received(request)  # type: ignore[union-attr]
        expected += CONNECTIONS
        while state.total_requests < expected:
            await asyncio.sleep(0)
        for transport in transports:
            transport.chunks.clear()
            transport.buffered = 0
    elapsed = time.perf_counter() - started
    for transport in transports:
        transport.close()
    await asyncio.sleep(0)
    return elapsed / (rounds * CONNECTIONS) * 1e6


async def _run_close(state: ServerState, rounds: int) -> float:
    loop = asyncio.get_running_loop()
    rounds = max(rounds * CONNECTIONS // CLOSE_CONNECTIONS, 1)  # as many requests as the keep-alive runs
    started = time.perf_counter()
    for _ in range(rounds):
        transports = []
        for index in range(CLOSE_CONNECTIONS):
            transport = FakeTransport(loop, peer=("127.0.0.1", 40000 + index))
            transport.connect(HttpConnection(state, ("127.0.0.1", 8000)))
            transport.protocol.data_received(CLOSE)  # type: ignore[union-attr]
            transports.append(transport)
        while not all(transport.lost for transport in transports):
            await asyncio.sleep(0)
        for transport in transports:
            transport.protocol = None  # as uvloop's and asyncio's transports do once the connection is lost
    elapsed = time.perf_counter() - started
    return elapsed / (rounds * CLOSE_CONNECTIONS) * 1e6


def _loops() -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    kinds: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {"asyncio": asyncio.new_event_loop}
    try:
        import uvloop

        kinds["uvloop"] = uvloop.new_event_loop
    except ImportError:
        pass
    return kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=64_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--scenario", choices=SCENARIOS, help="only this scenario")
    parser.add_argument("--http", choices=("httptools", "h11"), help="only this parser front")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), help="only this loop")
    args = parser.parse_args()
    rounds = max(args.requests // CONNECTIONS, 1)
    for name, (app, request) in SCENARIOS.items():
        for http in ("httptools", "h11"):
            for kind, new_loop in _loops().items():
                if args.scenario not in (None, name) or args.http not in (None, http) or args.loop not in (None, kind):
                    continue
                loop = new_loop()
                try:
                    loop.run_until_complete(_run(app, request, http, max(rounds // 10, 1)))  # warm-up
                    runs = [loop.run_until_complete(_run(app, request, http, rounds)) for _ in range(args.repeat)]
                finally:
                    loop.close()
                print(
                    f"{name:<11} {http:<9} {kind:<7} {statistics.median(runs):6.2f} µs/request  (min {min(runs):.2f})"
                )


if __name__ == "__main__":
    main()
