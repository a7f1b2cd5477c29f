"""Large bodies both ways through a `Server` in the test process, both fronts: intact, and with backpressure.

Backpressure is shown from outside: a client that stops reading (or an app that stops
reading) makes the other side stall with a bounded amount in flight, and once it
resumes, every byte arrives intact.
"""

from __future__ import annotations

import hashlib
import json
import select
import socket
import time
from collections.abc import Iterator

import pytest
from apps.protocol_apps import piece
from inprocess import InProcessServer, serve_inprocess
from support import read_until_closed, split_responses

FRONTS = ("httptools", "h11")
MiB = 1 << 20
PIECE = 65536


@pytest.fixture(scope="module", params=FRONTS)
def server(request: pytest.FixtureRequest) -> Iterator[InProcessServer]:
    with serve_inprocess("protocol_apps:app", http=request.param, access_log=False) as running:
        yield running


def pattern(size: int) -> bytes:
    """`size` bytes made of the app's pieces, as `/stream` sends them."""
    return b"".join(piece(index, min(PIECE, size - offset)) for index, offset in enumerate(range(0, size, PIECE)))


def request_once(server: InProcessServer, data: bytes, timeout: float = 30.0) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
        sock.sendall(data)
        [response] = split_responses(read_until_closed(sock, timeout))
    return response


def get(server: InProcessServer, target: str) -> bytes:
    status, _, body = request_once(server, f"GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
    assert status == 200, body
    return body


def test_large_request_body_with_content_length_arrives_intact(server: InProcessServer) -> None:
    body = pattern(8 * MiB)
    head = b"POST /upload HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body)
    status, _, answer = request_once(server, head + body)
    assert status == 200
    assert json.loads(answer) == {"length": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def test_large_chunked_request_body_arrives_intact(server: InProcessServer) -> None:
    body = pattern(8 * MiB)
    framed = b"".join(
        b"%x\r\n%s\r\n" % (len(c), c) for c in (body[i : i + 100_000] for i in range(0, len(body), 100_000))
    )
    head = b"POST /upload HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
    status, _, answer = request_once(server, head + framed + b"0\r\n\r\n")
    assert status == 200
    assert json.loads(answer) == {"length": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def test_large_response_arrives_intact(server: InProcessServer) -> None:
    size = 8 * MiB
    status, headers, body = request_once(
        server, b"GET /stream?size=%d HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % size
    )
    assert (status, headers["content-length"]) == (200, str(size))
    assert body == pattern(size)


def send_until_stalled(sock: socket.socket, data: bytes, stall_s: float = 0.5) -> int:
    """Send from `data` without blocking until the peer accepts nothing for `stall_s`; bytes sent."""
    sock.setblocking(False)
    sent = 0
    try:
        while sent < len(data):
            _, writable, _ = select.select([], [sock], [], stall_s)
            if not writable:
                return sent
            try:
                sent += sock.send(data[sent : sent + 4 * PIECE])
            except BlockingIOError:
                continue
        return sent
    finally:
        sock.setblocking(True)


def test_an_app_not_reading_its_body_stops_the_upload(server: InProcessServer) -> None:
    """The server stops reading once the app falls behind, and loses nothing when it catches up."""
    size = 32 * MiB
    body = pattern(size)
    tag = f"upload-{server.port}"
    mark = len(server.lines)
    with socket.create_connection((server.host, server.port), timeout=30) as sock:
        sock.sendall(b"POST /hold-body?tag=%s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (tag.encode(), size))
        sock.sendall(body[:PIECE])
        server.wait_for_line(f"holding {tag} after", start=mark)
        accepted = PIECE + send_until_stalled(sock, body[PIECE:])
        # In flight: kernel buffers on both ends and one read buffer in the server (~4 MiB here).
        assert accepted < size // 2, f"the server took {accepted} bytes the app did not read"
        get(server, f"/release?tag={tag}")
        sock.sendall(body[accepted:])
        [(status, _, answer)] = split_responses(_read_one(sock))
    assert status == 200
    assert json.loads(answer) == {"length": size, "sha256": hashlib.sha256(body).hexdigest()}


def _read_one(sock: socket.socket) -> bytes:
    """One Content-Length framed response from a connection left open."""
    data = b""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        data += sock.recv(65536)
        head, sep, rest = data.partition(b"\r\n\r\n")
        if sep:
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            if len(rest) >= length:
                return data
    raise AssertionError(f"no complete response: {data[:200]!r}")


def progress(server: InProcessServer, tag: str) -> int:
    return int(get(server, f"/progress?tag={tag}"))


def test_a_client_not_reading_stops_the_app_sending(server: InProcessServer) -> None:
    """send() blocks once the client stops reading: the server does not buffer the whole response."""
    size = 32 * MiB
    tag = f"flood-{server.port}"
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.settimeout(30)
        sock.connect((server.host, server.port))
        sock.sendall(b"GET /flood?tag=%s&size=%d HTTP/1.1\r\nHost: t\r\n\r\n" % (tag.encode(), size))
        # Wait (bounded) until the app has sent something and then stopped advancing.
        seen = [progress(server, tag)]
        for _ in range(40):
            time.sleep(0.1)  # a sampling interval, not a readiness signal: the stall is what is measured
            seen.append(progress(server, tag))
            if len(seen) >= 3 and seen[-1] > 0 and seen[-1] == seen[-2] == seen[-3]:
                break
        assert 0 < seen[-1] == seen[-2], seen
        assert seen[-1] < size // 2, f"the app handed {seen[-1]} bytes to a client that reads nothing"
        # Now read it all: every byte arrives, in order.
        received = 0
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(65536)
        head, _, first = head.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        expected = pattern(size)
        buffer = first
        while received + len(buffer) < size:
            chunk = sock.recv(1 << 20)
            assert chunk, f"closed after {received + len(buffer)} bytes"
            buffer += chunk
            if len(buffer) > 8 * MiB:
                assert buffer == expected[received : received + len(buffer)]
                received += len(buffer)
                buffer = b""
        assert buffer == expected[received:]
