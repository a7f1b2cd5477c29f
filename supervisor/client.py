"""Talking to a running master over its control socket (`serve status|reload|scale|stop`).

May import: control, errors, the standard library.
"""

from __future__ import annotations

import socket

from supervisor.control import MAX_LINE_BYTES, Command, MessageError, Reply, decode_reply, encode_request
from supervisor.errors import ControlError

DEFAULT_TIMEOUT_S = 10.0
RELOAD_TIMEOUT_S = 120.0  # a reload answers once the new generation is ready: imports and lifespans take time


def request(socket_path: str, command: Command, *, config_path: str, timeout: float = DEFAULT_TIMEOUT_S) -> Reply:
    """Send one command to the master listening on `socket_path` and return its reply.

    Raises:
        ControlError: no master answers there, or its reply is not one (the message says which).
    """
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    except OSError as error:  # pragma: no cover - unix sockets exist wherever serve runs
        raise ControlError(f"cannot create a unix socket: {error}") from error
    with sock:
        sock.settimeout(timeout)
        try:
            sock.connect(socket_path)
        except (FileNotFoundError, ConnectionRefusedError) as error:
            raise ControlError(
                f"no master is running for {config_path} (nothing listens on {socket_path}); start one with "
                f"`serve up -c {config_path}`"
            ) from error
        except OSError as error:
            raise ControlError(
                f"cannot reach the master of {config_path} at {socket_path}: {error.strerror}"
            ) from error
        try:
            sock.sendall(encode_request(command))
            line = _read_line(sock)
        except TimeoutError:
            raise ControlError(f"the master of {config_path} did not answer within {timeout:g} s") from None
        except OSError as error:
            raise ControlError(f"the master of {config_path} closed the connection: {error}") from error
    try:
        return decode_reply(line)
    except MessageError as error:
        raise ControlError(f"the master of {config_path} sent a reply serve cannot read: {error}") from error


def send(socket_path: str, command: Command, *, config_path: str) -> None:
    """Send a command without waiting for the reply (the dashboard shows what follows).

    Raises:
        ControlError: no master listens there.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(DEFAULT_TIMEOUT_S)
        try:
            sock.connect(socket_path)
            sock.sendall(encode_request(command))
        except OSError as error:
            raise ControlError(f"no master is running for {config_path} ({socket_path}: {error})") from error


def _read_line(sock: socket.socket) -> bytes:
    received = bytearray()
    while b"\n" not in received:
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError("closed before a whole reply arrived")
        received += chunk
        if len(received) > MAX_LINE_BYTES:
            raise OSError("reply too long")
    return bytes(received.split(b"\n", 1)[0])
