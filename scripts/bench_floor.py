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
"""

from __future__ import annotations

import argparse
import asyncio

import httptools
import uvloop

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


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    await loop.create_server(Answer, "127.0.0.1", port, backlog=2048)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--steps", default="", help="comma-separated: task, peer, parse")
    parser.add_argument("--busy", type=int, default=0, help="loop iterations of Python work per request")
    args = parser.parse_args()
    Answer.steps = frozenset(filter(None, args.steps.split(",")))
    Answer.busy = args.busy
    uvloop.install()
    asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
