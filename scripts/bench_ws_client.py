"""The WebSocket echo load generator scripts/bench runs (pinned to the client CPU): messages/s over N connections.

May import: the standard library only, and uvloop when it is installed.

wrk speaks only HTTP, and a client built on a WebSocket library would spend as much CPU per
message as the server it measures. This one is a closed loop like wrk (each connection has
one message in flight): the handshake by hand, one pre-masked frame sent again and again,
and just enough frame parsing to count the echoes (and answer pings). It prints one JSON
line: {"messages", "seconds", "errors", "p99_ms"}.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import struct
import sys
import time

MESSAGE = b"hello, websocket"  # a small text message: the per-message cost, nothing else
MASK = b"\x12\x34\x56\x78"
HANDSHAKE_TIMEOUT = 10.0
TEXT, CLOSE, PING = 0x1, 0x8, 0x9


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """A client frame (RFC 6455 §5.3: clients mask); payloads here are always under 126 bytes."""
    masked = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return bytes((0x80 | opcode, 0x80 | len(payload))) + MASK + masked


def handshake_request(host: str, port: int, path: str = "/") -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def parse_frames(buffer: bytearray) -> list[tuple[int, bytes]]:
    """Take every complete (unmasked, server) frame off the front of `buffer`."""
    frames = []
    while len(buffer) >= 2:
        length = buffer[1] & 0x7F
        start = 2
        if length == 126:
            if len(buffer) < 4:
                break
            (length,) = struct.unpack_from("!H", buffer, 2)
            start = 4
        elif length == 127:
            if len(buffer) < 10:
                break
            (length,) = struct.unpack_from("!Q", buffer, 2)
            start = 10
        if len(buffer) < start + length:
            break
        frames.append((buffer[0] & 0x0F, bytes(buffer[start : start + length])))
        del buffer[: start + length]
    return frames


class EchoConnection(asyncio.Protocol):
    """One connection: handshake, then send a message each time the previous one comes back."""

    def __init__(self, request: bytes, run: Run) -> None:
        self.request = request
        self.run = run
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.sent_at = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.request)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded.done():
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            if not self.buffer.startswith(b"HTTP/1.1 101"):
                self.upgraded.set_exception(ConnectionError(bytes(self.buffer[:80]).decode("latin-1")))
                return
            del self.buffer[: head_end + 4]
            self.upgraded.set_result(None)
        run = self.run
        for opcode, payload in parse_frames(self.buffer):
            if opcode == TEXT:
                if payload != MESSAGE:
                    run.errors += 1
                run.echoed(self)
            elif opcode == PING:
                self.transport.write(masked_frame(0xA, payload))  # type: ignore[union-attr]
            elif opcode == CLOSE:
                run.errors += 1

    def send(self) -> None:
        self.sent_at = time.perf_counter()
        self.transport.write(self.run.frame)  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.run.measuring:
            self.run.errors += 1
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError("closed during the handshake"))


class Run:
    """Counts echoes while measuring; keeps every round-trip time for the p99."""

    def __init__(self) -> None:
        self.frame = masked_frame(TEXT, MESSAGE)
        self.measuring = False
        self.running = True
        self.messages = 0
        self.errors = 0
        self.rtts: list[float] = []

    def echoed(self, connection: EchoConnection) -> None:
        now = time.perf_counter()
        if self.measuring:
            self.messages += 1
            self.rtts.append(now - connection.sent_at)
        if self.running:
            connection.send()


async def main(host: str, port: int, connections: int, seconds: float) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    run = Run()
    request = handshake_request(host, port)
    clients = []
    for _ in range(connections):
        _, client = await loop.create_connection(lambda: EchoConnection(request, run), host, port)
        clients.append(client)
    await asyncio.wait_for(asyncio.gather(*(c.upgraded for c in clients)), HANDSHAKE_TIMEOUT)
    for client in clients:
        client.send()
    run.measuring = True
    started = time.perf_counter()
    await asyncio.sleep(seconds)  # the measured duration, not a readiness wait
    run.measuring = False
    elapsed = time.perf_counter() - started
    run.running = False
    for client in clients:
        if client.transport is not None:
            client.transport.write(masked_frame(CLOSE, struct.pack("!H", 1000)))
            client.transport.close()
    rtts = sorted(run.rtts)
    p99 = rtts[int(len(rtts) * 0.99)] * 1000 if rtts else float("nan")
    return {"messages": run.messages, "seconds": elapsed, "errors": run.errors, "p99_ms": p99}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench_ws_client", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args(sys.argv[1:])
    runner = asyncio.run
    with contextlib.suppress(ImportError):
        import uvloop

        runner = uvloop.run
    print(json.dumps(runner(main(args.host, args.port, args.connections, args.seconds))))
