"""The floor under serve's `Connection: close` figure: a bare uvloop Protocol answering a canned response.

Not a server: a measuring stick. Each request is answered with one write and a close, with
optional steps of what a real server adds, so that the CPU per connection of each step can be
read with wrk over loopback (docs/benchmarks.md, "`Connection: close`, round three"):

    taskset -c 0 .venv/bin/python scripts/bench_floor.py --port 8001 --steps task,peer,parse --busy 1000
    taskset -c 1 wrk -t1 -c16 -d5s -H "Connection: close" http://127.0.0.1:8001/

Steps: `task` answers from an asyncio Task (as an ASGI server runs its app), `peer` reads the
peer and socket names at connect, `parse` parses the request with httptools. `--busy N` adds
N iterations of a Python loop per request: pure interpreter work of a known cost, to see how
the server's CPU per connection grows with the Python it runs.

`--steps asgi` is the least a real ASGI server does, alone: httptools, a scope, the demo
`hello` app (scripts/bench_apps.py) called from a Task, and a head built from what it sends.
No checks, no limits, no timeouts, no flow control: the ceiling for Python on this loop.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import httptools
import uvloop
from bench_apps import hello

RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 13\r\nconnection: close\r\n\r\nHello, world!"
)


def busy_work(iterations: int) -> int:
    total = 0
    for i in range(iterations):
        total += i
    return total


class Answer(asyncio.Protocol):
    """One connection: read the request, write the canned response, close."""

    steps: frozenset[str] = frozenset()
    busy = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        if "peer" in self.steps:
            self.names = (transport.get_extra_info("peername"), transport.get_extra_info("sockname"))
        self.parser = httptools.HttpRequestParser(self) if "parse" in self.steps else None

    def data_received(self, data: bytes) -> None:
        if self.parser is not None:
            self.parser.feed_data(data)
        if "task" in self.steps:
            asyncio.get_running_loop().create_task(self.answer())
        else:
            self.respond()

    async def answer(self) -> None:
        self.respond()

    def respond(self) -> None:
        busy_work(self.busy)
        self.transport.write(RESPONSE)
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.parser = None  # httptools' parser points back at us


class MinimalAsgi(asyncio.Protocol):
    """One connection of the least ASGI server: parse, scope, the app in a Task, a head from its messages."""

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.status_and_headers: tuple[int, list[tuple[bytes, bytes]]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.client = transport.get_extra_info("peername")

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.parser = None  # type: ignore[assignment]  # httptools' parser points back at us

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        self.keep_alive = parser.should_keep_alive()
        path, _, query = self.url.partition(b"?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": parser.get_http_version(),
            "server": ("127.0.0.1", 0),
            "client": self.client,
            "scheme": "http",
            "method": parser.get_method().decode("ascii"),
            "root_path": "",
            "path": path.decode("ascii"),
            "raw_path": path,
            "query_string": query,
            "headers": self.headers,
            "state": {},
        }
        self.url, self.headers = b"", []
        asyncio.get_running_loop().create_task(hello(scope, self.receive, self.send))

    async def receive(self) -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(self, message: dict[str, Any]) -> None:
        if self.status_and_headers is None:
            self.status_and_headers = (message["status"], list(message.get("headers", ())))
            return
        status, headers = self.status_and_headers
        self.status_and_headers = None
        lines = [b"HTTP/1.1 %d OK\r\n" % status, *(name + b": " + value + b"\r\n" for name, value in headers)]
        lines.append(b"\r\n" if self.keep_alive else b"connection: close\r\n\r\n")
        lines.append(message.get("body", b""))
        self.transport.write(b"".join(lines))
        if not self.keep_alive:
            self.transport.close()


async def serve(port: int, protocol: type[asyncio.Protocol]) -> None:
    loop = asyncio.get_running_loop()
    await loop.create_server(protocol, "127.0.0.1", port, backlog=2048)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--steps", default="", help="comma-separated: task, peer, parse; or asgi alone")
    parser.add_argument("--busy", type=int, default=0, help="loop iterations of Python work per request")
    args = parser.parse_args()
    Answer.steps = frozenset(filter(None, args.steps.split(",")))
    Answer.busy = args.busy
    uvloop.install()
    asyncio.run(serve(args.port, MinimalAsgi if "asgi" in Answer.steps else Answer))


if __name__ == "__main__":
    main()
