"""A tiny HTTP responder inside the master's loop: /metrics, /livez, /readyz.

May import: config/, sockets, the standard library.

The master is single-threaded and forks, so these endpoints are not a server of their own:
the listening socket sits in the master's selector, and each connection is read without
blocking, answered from the master's current state, and closed (one request per
connection, `Connection: close`). A slow or silent client costs a file descriptor until
REQUEST_TIMEOUT_S, never a stall of the loop. The probes and scrapers that call these
(Prometheus, kubelet) are on a trusted network by configuration, not on the app's port.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus

from supervisor import sockets
from supervisor.config.convert import Bind, UnixBind

MAX_REQUEST_BYTES = 8192
REQUEST_TIMEOUT_S = 5.0
WRITE_TIMEOUT_S = 2.0

# path -> (status, content type, body)
Route = Callable[[], tuple[int, str, bytes]]


@dataclass
class _Client:
    sock: socket.socket
    since: float
    received: bytearray = field(default_factory=bytearray)

    def fileno(self) -> int:
        return self.sock.fileno()


class HttpEndpoint:
    """Answers GET (and HEAD) for a fixed set of paths on one listening socket."""

    def __init__(self, bind: Bind, routes: dict[str, Route]) -> None:
        self.bind = bind
        self.routes = routes
        self.sock = sockets.open_listener(bind, backlog=64)
        self.sock.setblocking(False)
        self.clients: dict[int, _Client] = {}

    def fileno(self) -> int:
        return self.sock.fileno()

    def filenos(self) -> list[int]:
        return [self.sock.fileno(), *self.clients]

    def accept(self) -> _Client | None:
        try:
            conn, _ = self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return None
        conn.setblocking(False)
        client = _Client(conn, time.monotonic())
        self.clients[client.fileno()] = client
        return client

    def read(self, client: _Client) -> bool:
        """Read what arrived; answer and close once the head is whole. True when the client is done."""
        try:
            data = client.sock.recv(MAX_REQUEST_BYTES)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        if not data:
            self._close(client)
            return True
        client.received += data
        if b"\r\n\r\n" not in client.received and b"\n\n" not in client.received:
            if len(client.received) > MAX_REQUEST_BYTES:
                self._answer(client, HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "text/plain", b"too large\n")
                return True
            return False
        self._respond(client)
        return True

    def expire(self, now: float) -> list[int]:
        """Close clients that never sent a whole request; return their descriptors."""
        stale = [fd for fd, client in self.clients.items() if now - client.since > REQUEST_TIMEOUT_S]
        for fd in stale:
            self._close(self.clients[fd])
        return stale

    def _respond(self, client: _Client) -> None:
        request_line = bytes(client.received.split(b"\n", 1)[0]).decode("latin-1").strip()
        parts = request_line.split()
        if len(parts) != 3 or parts[0] not in ("GET", "HEAD"):
            self._answer(client, HTTPStatus.METHOD_NOT_ALLOWED, "text/plain", b"GET only\n")
            return
        route = self.routes.get(parts[1].split("?", 1)[0])
        if route is None:
            known = " ".join(sorted(self.routes))
            self._answer(client, HTTPStatus.NOT_FOUND, "text/plain", f"not found; try {known}\n".encode())
            return
        status, content_type, body = route()
        self._answer(client, status, content_type, b"" if parts[0] == "HEAD" else body, length=len(body))

    def _answer(
        self, client: _Client, status: int, content_type: str, body: bytes, *, length: int | None = None
    ) -> None:
        phrase = HTTPStatus(status).phrase
        head = (
            f"HTTP/1.1 {status} {phrase}\r\ndate: {formatdate(usegmt=True)}\r\nserver: serve\r\n"
            f"content-type: {content_type}\r\ncontent-length: {len(body) if length is None else length}\r\n"
            "connection: close\r\n\r\n"
        ).encode("latin-1")
        with contextlib.suppress(OSError):  # the client left: nothing to tell
            client.sock.settimeout(WRITE_TIMEOUT_S)
            client.sock.sendall(head + body)
        self._close(client)

    def _close(self, client: _Client) -> None:
        self.clients.pop(client.fileno(), None)
        client.sock.close()

    def close(self) -> None:
        for client in list(self.clients.values()):
            self._close(client)
        self.sock.close()
        if isinstance(self.bind, UnixBind):
            sockets.unlink(self.bind.path)
