"""A blocking HTTP/2 client on the h2 library, for the HTTP/2 system tests (this file holds no tests).

Raw enough to send what a hostile peer sends (`send_raw`) and to see every frame event the
server answers with (`events`), on a plain or TLS loopback socket.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Sequence
from typing import Any

import h2.config
import h2.connection
import h2.events

Header = tuple[bytes, bytes]


def request_headers(method: str, path: str, *extra: Header, scheme: bytes = b"http") -> list[Header]:
    return [
        (b":method", method.encode()),
        (b":path", path.encode()),
        (b":scheme", scheme),
        (b":authority", b"h2.test"),
        *extra,
    ]


class H2Client:
    """One HTTP/2 connection to the server: requests by stream id, responses gathered from the events."""

    def __init__(self, sock: socket.socket | ssl.SSLSocket, *, upgraded: bytes | None = None) -> None:
        """`upgraded`: the HTTP2-Settings sent with an h2c upgrade whose 101 was read; its response is stream 1."""
        self.sock = sock
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        if upgraded is None:
            self.conn.initiate_connection()
        else:
            self.conn.initiate_upgrade_connection()
        self.events: list[Any] = []
        self.closed = False
        self.scheme = b"https" if isinstance(sock, ssl.SSLSocket) else b"http"
        self.flush()

    @classmethod
    def connect(cls, host: str, port: int, *, context: ssl.SSLContext | None = None) -> H2Client:
        sock = socket.create_connection((host, port), timeout=10)
        if context is not None:
            sock = context.wrap_socket(sock, server_hostname="localhost")
        return cls(sock)

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, method: str, path: str, body: bytes = b"", headers: Sequence[Header] = ()) -> int:
        stream_id = self.conn.get_next_available_stream_id()
        self.conn.send_headers(
            stream_id, request_headers(method, path, *headers, scheme=self.scheme), end_stream=not body
        )
        if body:
            self.send_body(stream_id, body)
        self.flush()
        return stream_id

    def send_body(self, stream_id: int, body: bytes) -> None:
        """Send `body` and end the stream, waiting for window as the server gives it."""
        while body:
            window = min(self.conn.local_flow_control_window(stream_id), self.conn.max_outbound_frame_size)
            if window <= 0:
                self.flush()
                self.read_until(lambda: self.conn.local_flow_control_window(stream_id) > 0)
                continue
            self.conn.send_data(stream_id, body[:window])
            body = body[window:]
        self.conn.end_stream(stream_id)
        self.flush()

    def read_once(self, timeout: float = 10.0) -> bool:
        """Read what arrives (waiting up to `timeout`); False once the server closed the connection."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            data = b""
        if not data:
            self.closed = True
            return False
        for event in self.conn.receive_data(data):
            self.events.append(event)
            if isinstance(event, h2.events.DataReceived):
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        self.flush()
        return True

    def read_until(self, done: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out; events so far: {self.events}")
            if not self.read_once(remaining):
                if done():
                    return
                raise AssertionError(f"connection closed; events so far: {self.events}")

    def ended(self, stream_id: int) -> bool:
        return any(
            isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset)) and e.stream_id == stream_id
            for e in self.events
        )

    def response(self, stream_id: int, timeout: float = 10.0) -> tuple[int, dict[bytes, bytes], bytes]:
        """(status, headers, body) of a stream, once it has ended."""
        self.read_until(lambda: self.ended(stream_id), timeout)
        headers = next(
            dict(e.headers)
            for e in self.events
            if isinstance(e, h2.events.ResponseReceived) and e.stream_id == stream_id
        )
        body = b"".join(
            e.data for e in self.events if isinstance(e, h2.events.DataReceived) and e.stream_id == stream_id
        )
        return int(headers[b":status"]), headers, body

    def goaway(self, timeout: float = 10.0) -> h2.events.ConnectionTerminated:
        """The server's GOAWAY (read until it comes)."""
        found: list[h2.events.ConnectionTerminated] = []

        def seen() -> bool:
            found[:] = [e for e in self.events if isinstance(e, h2.events.ConnectionTerminated)]
            return bool(found)

        self.read_until(seen, timeout)
        return found[0]

    def wait_closed(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.read_once(max(deadline - time.monotonic(), 0.01)):
            if time.monotonic() > deadline:
                raise AssertionError("the server kept the connection open")

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> H2Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def frame(kind: int, flags: int = 0, payload: bytes = b"", stream_id: int = 0) -> bytes:
    """One raw frame (RFC 9113 §4.1), for what a well-behaved client library refuses to send."""
    return len(payload).to_bytes(3, "big") + bytes((kind, flags)) + stream_id.to_bytes(4, "big") + payload


def window_update(stream_id: int, increment: int) -> bytes:
    return frame(8, payload=increment.to_bytes(4, "big"), stream_id=stream_id)


class RawFrames:
    """The server's frames as (type, flags, stream id, payload), read off a socket without h2.

    h2 takes no frame after a GOAWAY, so whatever follows one (the in-flight streams a draining
    server finishes) is read here.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.frames: list[tuple[int, int, int, bytes]] = []
        self.closed = False

    def read_until(self, done: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closed:
                raise AssertionError(f"not seen; frames so far: {[f[:3] for f in self.frames]}")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                data = b""
            self.closed = not data
            self.buffer += data
            while len(self.buffer) >= 9:
                length = int.from_bytes(self.buffer[:3], "big")
                if len(self.buffer) < 9 + length:
                    break
                head, self.buffer = self.buffer[: 9 + length], self.buffer[9 + length :]
                self.frames.append((head[3], head[4], int.from_bytes(head[5:9], "big") & 0x7FFFFFFF, head[9:]))

    def of(self, kind: int, stream_id: int | None = None) -> list[tuple[int, int, int, bytes]]:
        return [f for f in self.frames if f[0] == kind and (stream_id is None or f[2] == stream_id)]
