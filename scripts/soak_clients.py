"""The load of scripts/soak: HTTP clients (keep-alive and close) and WebSocket echo clients, on threads.

May import: the standard library, and bench_ws_client (beside this file) for WebSocket framing.

Every client runs until told to stop and records each request (or echo) in a shared Tally:
successes by count, failures one by one with when, where, the worker pid last seen on that
connection and the error. A connection the server ends cleanly (`Connection: close`, a
WebSocket close frame, as a draining worker does) is not a failure: the client reconnects.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from bench_ws_client import CLOSE, PING, TEXT, handshake_request, masked_frame, parse_frames

REQUEST_TIMEOUT_S = 10.0
REQUESTS_PER_CONNECTION = 50
MESSAGES_PER_CONNECTION = 200
RECONNECT_PAUSE_S = 0.05

# A TCP address (host, port) or a unix socket path.
Address = tuple[str, int] | str


class ServerClosedError(Exception):
    """The server ended the connection cleanly where a client may expect it (not a failure)."""


@dataclass(frozen=True)
class Failure:
    at: float  # time.monotonic()
    client: str
    pid: int | None  # the worker that last answered on this connection, when known
    error: str


@dataclass
class Tally:
    """What every client did; shared, so every change holds the lock."""

    ok: int = 0
    clean_closes: int = 0
    failures: list[Failure] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def success(self) -> None:
        with self.lock:
            self.ok += 1

    def closed(self) -> None:
        with self.lock:
            self.clean_closes += 1

    def failed(self, client: str, pid: int | None, error: BaseException) -> None:
        with self.lock:
            self.failures.append(Failure(time.monotonic(), client, pid, repr(error)))


def connect(address: Address, timeout: float = REQUEST_TIMEOUT_S) -> socket.socket:
    if isinstance(address, str):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except BaseException:
            sock.close()
            raise
        return sock
    return socket.create_connection(address, timeout=timeout)


def read_response(sock: socket.socket, buffer: bytearray) -> tuple[int, dict[str, str], bytes]:
    """One Content-Length framed response; what arrives past it stays in `buffer`."""
    while b"\r\n\r\n" not in buffer:
        _receive(sock, buffer)
    head, _, _ = bytes(buffer).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    end = len(head) + 4 + int(headers.get("content-length", "0"))
    while len(buffer) < end:
        _receive(sock, buffer)
    body = bytes(buffer[len(head) + 4 : end])
    del buffer[:end]
    return int(lines[0].split(" ", 2)[1]), headers, body


def _receive(sock: socket.socket, buffer: bytearray, when: str = "before a whole response") -> None:
    chunk = sock.recv(65536)
    if not chunk:
        raise ConnectionError(f"closed {when}; got {bytes(buffer[:80])!r}")
    buffer += chunk


class Client(threading.Thread):
    """A thread that loops on connections until `stop` is set."""

    def __init__(self, name: str, tally: Tally, stop: threading.Event, think_s: float) -> None:
        super().__init__(name=name, daemon=True)
        self.tally = tally
        self.stop = stop
        self.think_s = think_s
        self.pid: int | None = None  # the worker that answered last on the current connection

    def run(self) -> None:
        while not self.stop.is_set():
            self.pid = None
            try:
                self.session()
            except ServerClosedError:
                self.tally.closed()
            except (OSError, ValueError, IndexError) as error:  # refused, reset, timed out, garbled
                if not self.stop.is_set():
                    self.tally.failed(self.name, self.pid, error)
                self.stop.wait(RECONNECT_PAUSE_S)

    def session(self) -> None:
        raise NotImplementedError

    def pause(self) -> None:
        if self.think_s:
            self.stop.wait(random.uniform(0, 2 * self.think_s))


class HttpClient(Client):
    """GET / over keep-alive connections (a new one every REQUESTS_PER_CONNECTION), or one per request."""

    def __init__(
        self, name: str, tally: Tally, stop: threading.Event, think_s: float, address: Address, *, keep_alive: bool
    ) -> None:
        super().__init__(name, tally, stop, think_s)
        self.address = address
        self.keep_alive = keep_alive

    def session(self) -> None:
        count = REQUESTS_PER_CONNECTION if self.keep_alive else 1
        buffer = bytearray()
        with connect(self.address) as sock:
            for index in range(count):
                if self.stop.is_set():
                    return
                last = index == count - 1
                close = b"Connection: close\r\n" if last else b""
                sock.sendall(b"GET / HTTP/1.1\r\nHost: soak\r\n%s\r\n" % close)
                status, headers, body = read_response(sock, buffer)
                if status != 200:
                    raise ValueError(f"status {status}: {body[:80]!r}")
                self.pid = int(body.split(b" ", 1)[0])
                self.tally.success()
                if headers.get("connection", "").lower() == "close" and not last:
                    raise ServerClosedError
                self.pause()


class WebSocketClient(Client):
    """Text messages echoed on one WebSocket at a time (a new one every MESSAGES_PER_CONNECTION)."""

    def __init__(self, name: str, tally: Tally, stop: threading.Event, think_s: float, host: str, port: int) -> None:
        super().__init__(name, tally, stop, think_s)
        self.host = host
        self.port = port
        self.pending: deque[tuple[int, bytes]] = deque()

    def session(self) -> None:
        buffer = bytearray()
        self.pending.clear()
        with connect((self.host, self.port)) as sock:
            sock.sendall(handshake_request(self.host, self.port))
            while b"\r\n\r\n" not in buffer:
                _receive(sock, buffer, "during the handshake")
            if not buffer.startswith(b"HTTP/1.1 101"):
                raise ValueError(f"no upgrade: {bytes(buffer[:80])!r}")
            del buffer[: buffer.index(b"\r\n\r\n") + 4]
            for number in range(MESSAGES_PER_CONNECTION):
                if self.stop.is_set():
                    break
                message = f"soak {number}".encode()
                sock.sendall(masked_frame(TEXT, message))
                if self._echo(sock, buffer) != message:
                    raise ValueError("the echo differs from the message")
                self.tally.success()
                self.pause()
            sock.sendall(masked_frame(CLOSE, struct.pack("!H", 1000)))

    def _echo(self, sock: socket.socket, buffer: bytearray) -> bytes:
        """The next text frame's payload; ServerClosedError on a close frame (a draining worker's 1012).

        Frames parsed but not yet used wait in `pending`: a close frame that arrived in the
        same read as an echo must not be dropped, or the client would wait for an echo the
        closed server never sends, until the worker is killed at graceful_timeout.
        """
        while True:
            while self.pending:
                opcode, payload = self.pending.popleft()
                if opcode == TEXT:
                    return payload
                if opcode == PING:
                    sock.sendall(masked_frame(0xA, payload))
                elif opcode == CLOSE:
                    raise ServerClosedError
            frames = parse_frames(buffer)
            if frames:
                self.pending.extend(frames)
            else:
                _receive(sock, buffer, "awaiting an echo")
