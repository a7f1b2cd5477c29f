"""WebSocket peers that flood, stop reading or fragment without end, against a real `serve run`.

Each costs the server a bounded amount: memory (read from /proc) stays well under what the
peer sends, a peer that reads nothing is closed and its app told, and a healthy peer whose
app is slow to receive is not mistaken for a dead one. The app is tests/apps/ws_hostile_apps.py.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import h2.events
import pytest
from support import ServeProcess, serve_run
from test_http2_client import H2Client
from test_http2_websocket import WebSocketStream
from websockets.sync.client import connect

pytestmark = pytest.mark.system

APP = "ws_hostile_apps:app"
MiB = 1024 * 1024
MASK = b"\0\0\0\0"  # a zero masking key leaves the payload as it is (RFC 6455 §5.3)
PING = bytes((0x89, 0x80 | 125)) + MASK + b"p" * 125


def rss(pid: int) -> int:
    """The process's peak resident set size: what a flood cost at its worst, even once freed."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for pid {pid}")


@contextmanager
def raw_websocket(process: ServeProcess, path: str) -> Iterator[socket.socket]:
    """A WebSocket handshake on a socket with a tiny receive buffer, which the test then never reads."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect((process.host, process.port))
    key = base64.b64encode(os.urandom(16))
    sock.sendall(
        b"GET " + path.encode() + b" HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 101 "), head
    try:
        yield sock
    finally:
        sock.close()


def send_until_stalled(sock: socket.socket, batch: bytes, limit: int, *, stall_s: float = 2.0) -> int:
    """Send `batch` after `batch` until `limit` bytes are sent or the server stops taking them."""
    sock.settimeout(stall_s)
    sent = 0
    try:
        while sent < limit:
            sock.sendall(batch)
            sent += len(batch)
    except TimeoutError:
        pass
    except (BrokenPipeError, ConnectionResetError):
        pass
    return sent


def test_a_ping_flood_from_a_peer_that_never_reads_costs_bounded_memory() -> None:
    flood = 128 * MiB
    with serve_run(APP) as process, raw_websocket(process, "/echo") as sock:
        before = rss(process.proc.pid)
        sent = send_until_stalled(sock, PING * 512, flood)
        grown = rss(process.proc.pid) - before
        # Before the fix each ping's pong stayed in the write buffer: +190 MiB for 200 MiB of pings.
        assert grown < 48 * MiB, f"{grown / MiB:.0f} MiB more after {sent / MiB:.0f} MiB of pings"
        assert sent < flood  # the server stopped reading while its pongs were not read


def read_without_granting(client: H2Client, timeout: float) -> bool:
    """Read what the server sent without giving back any window for its DATA; False if nothing came."""
    client.sock.settimeout(timeout)
    try:
        data = client.sock.recv(65536)
    except (TimeoutError, BlockingIOError):
        return False
    assert data, "the server closed the connection"
    client.events.extend(client.conn.receive_data(data))
    client.flush()
    return True


def test_a_ping_flood_over_http2_gets_no_window_while_its_pongs_wait() -> None:
    flood = 16 * MiB
    with serve_run(APP, "--http2") as process:
        client = H2Client.connect(process.host, process.port)
        try:
            stream = WebSocketStream(client, "/echo")
            assert stream.head()[b":status"] == b"200"
            conn, sid, chunk = client.conn, stream.stream_id, PING * 100
            before, sent, quiet = rss(process.proc.pid), 0, 0
            deadline = time.monotonic() + 12
            while sent < flood and quiet < 2 and time.monotonic() < deadline:
                if min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size) < len(chunk):
                    quiet = 0 if read_without_granting(client, 1.0) else quiet + 1
                    continue
                conn.send_data(sid, chunk)
                client.flush()
                sent += len(chunk)
                read_without_granting(client, 0.0)
            grown = rss(process.proc.pid) - before
            assert not any(isinstance(e, h2.events.StreamReset) for e in client.events)
            # The pongs wait for window the client never gives: the server stops giving it window too.
            assert sent < 4 * MiB, f"the server took {sent / MiB:.0f} MiB of pings"
            assert grown < 16 * MiB
        finally:
            client.sock.close()


def test_a_peer_that_stops_reading_is_closed_and_its_app_told() -> None:
    options = ("--ws-ping-interval", "0.5", "--ws-ping-timeout", "0.5")
    with serve_run(APP, *options) as process, raw_websocket(process, "/flood"):
        # The keepalive fails; the app, waiting in send() for a peer that never reads, hears it.
        process.wait_for_line("ws_hostile_apps: send failed with ClientDisconnected", timeout=5)
        process.wait_for_line("ws_hostile_apps: then heard websocket.disconnect 1011", timeout=5)
        # Its close frame sits behind megabytes the peer never reads: aborted after the close timeout.
        process.wait_for_line("close timed out: connection aborted", timeout=13)
        process.wait_for_line("connection closed", timeout=2)


def test_a_drain_tells_the_app_waiting_on_a_peer_that_never_reads() -> None:
    with serve_run(APP, "--timeout-graceful-shutdown", "5") as process, raw_websocket(process, "/flood"):
        process.wait_for_line("ws_hostile_apps: stalled", timeout=10)  # send() waits in drain
        mark = len(process.lines)
        process.send_signal(signal.SIGTERM)
        process.wait_for_line("ws_hostile_apps: send failed with ClientDisconnected", timeout=3, start=mark)
        process.wait_for_line("ws_hostile_apps: then heard websocket.disconnect 1012", timeout=2, start=mark)
        assert process.wait_exit(10) == 0
        assert "Traceback" not in process.output


@pytest.mark.parametrize("size", [0, 1], ids=["empty", "one-byte"])
def test_a_message_in_tiny_fragments_is_refused_at_the_size_limit(size: int) -> None:
    frames = 2_500_000  # 2 MiB of one-byte fragments would reach the limit by payload alone
    with serve_run(APP, "--ws-max-size", str(2 * MiB)) as process, raw_websocket(process, "/echo") as sock:
        before = rss(process.proc.pid)
        sock.sendall(bytes((0x02, 0x80 | size)) + MASK + b"a" * size)
        send_until_stalled(sock, (bytes((0x00, 0x80 | size)) + MASK + b"a" * size) * 10_000, frames * (6 + size))
        process.wait_for_line("ws_hostile_apps: disconnect 1009", timeout=5)
        grown = rss(process.proc.pid) - before
        # Before the fix each fragment was its own bytes object: ~50 bytes of memory per byte.
        assert grown < 16 * MiB, f"{grown / MiB:.0f} MiB more"


def test_a_healthy_peer_is_not_judged_dead_while_its_pong_waits_behind_a_full_queue() -> None:
    options = ("--ws-ping-interval", "0.5", "--ws-ping-timeout", "0.5", "--ws-max-queue", "4")
    with serve_run("ws_apps:app", *options) as process:
        base = f"{process.host}:{process.port}"
        with connect(f"ws://{base}/stall", proxy=None, open_timeout=10, ping_interval=None) as ws:
            for _ in range(12):  # three times the queue: reading pauses, the client's pongs wait unread
                ws.send(b"0123456789")
            with pytest.raises(TimeoutError):
                ws.recv(timeout=2.5)  # five ping timeouts: the connection stays open
            with urllib.request.urlopen(f"http://{base}/release", timeout=10) as released:
                assert released.read() == b"released"
            ws.send("done")
            assert ws.recv(timeout=5) == "120"
