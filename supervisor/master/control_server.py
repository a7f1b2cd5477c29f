"""The master's control socket: `serve status|reload|scale|stop` talk to the running master here.

May import: control, sockets, errors, the standard library.

A unix socket (mode 0600: only the master's user may steer it). Each client connection
carries one JSON request line and gets one JSON reply line (supervisor/control.py). Reading
is non-blocking from the master's loop; a reply is written with a short timeout so a stuck
client cannot stall the loop for long. A reload's reply is held until the new generation is
ready or abandoned, so `serve reload` can say which.
"""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass, field

from supervisor import sockets
from supervisor.control import MAX_LINE_BYTES, Command, MessageError, Reply, decode_request, encode_reply

REPLY_TIMEOUT_S = 2.0
SOCKET_MODE = 0o600


@dataclass
class ControlClient:
    """One accepted connection, until its reply is written."""

    sock: socket.socket
    received: bytearray = field(default_factory=bytearray)

    def fileno(self) -> int:
        return self.sock.fileno()


class ControlServer:
    """Owns the listening control socket and its client connections."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sock = sockets.bind_unix(path, backlog=16, mode=SOCKET_MODE)
        self.sock.setblocking(False)
        self.clients: dict[int, ControlClient] = {}

    def fileno(self) -> int:
        return self.sock.fileno()

    def filenos(self) -> list[int]:
        """Every descriptor of the control socket, for a forked child to close."""
        return [self.sock.fileno(), *self.clients]

    def accept(self) -> ControlClient | None:
        try:
            conn, _ = self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return None
        conn.setblocking(False)
        client = ControlClient(conn)
        self.clients[client.fileno()] = client
        return client

    def read(self, client: ControlClient) -> Command | Reply | None:
        """A complete request (a Command), a Reply to send at once (bad request), or None (need more)."""
        try:
            data = client.sock.recv(65536)
        except BlockingIOError:
            return None
        except OSError:
            data = b""
        if not data:
            return Reply.failure("the connection closed before a whole request arrived")
        client.received += data
        if b"\n" not in client.received:
            if len(client.received) > MAX_LINE_BYTES:
                return Reply.failure("request too long")
            return None
        line = bytes(client.received.split(b"\n", 1)[0])
        try:
            return decode_request(line)
        except MessageError as error:
            return Reply.failure(str(error))

    def reply(self, client: ControlClient, reply: Reply) -> None:
        """Write the reply and close the connection."""
        self.clients.pop(client.fileno(), None)
        with contextlib.suppress(OSError):  # the client left: nothing to tell
            client.sock.settimeout(REPLY_TIMEOUT_S)
            client.sock.sendall(encode_reply(reply))
        client.sock.close()

    def close(self) -> None:
        for client in list(self.clients.values()):
            self.reply(client, Reply.failure("the master is exiting"))
        self.sock.close()
        sockets.unlink(self.path)
