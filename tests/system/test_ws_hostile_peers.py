"""WebSocket peers that flood, stop reading or fragment without end, against a real `serve run`.

Each costs the server a bounded amount: memory (read from /proc) stays well under what the
peer sends, a peer that reads nothing is closed and its app told, and a peer that writes a
large message before it reads what the app streams to it is still read (no deadlock). The app
is tests/apps/ws_hostile_apps.py.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager

import h2.events
import pytest
from support import ServeProcess, serve_run
from test_http2_client import H2Client
from test_http2_websocket import WebSocketStream
from websockets.exceptions import ConnectionClosed
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


ABORTED = "peer does not read its answers: connection aborted"


def test_a_ping_flood_from_a_peer_that_never_reads_costs_bounded_memory() -> None:
    flood = 128 * MiB
    with serve_run(APP) as process, raw_websocket(process, "/echo") as sock:
        before = rss(process.proc.pid)
        sent = send_until_stalled(sock, PING * 512, flood)
        grown = rss(process.proc.pid) - before
        # Before the fix each ping's pong stayed in the write buffer: +190 MiB for 200 MiB of pings.
        assert grown < 48 * MiB, f"{grown / MiB:.0f} MiB more after {sent / MiB:.0f} MiB of pings"
        assert sent < flood
        # Its unread pongs passed the bound: cut off, and the app hears a lost connection.
        process.wait_for_line(ABORTED, timeout=5)
        process.wait_for_line("ws_hostile_apps: disconnect 1006", timeout=5)


def test_a_peer_that_writes_a_large_message_before_it_reads_is_still_read() -> None:
    size = 8 * MiB
    with (
        serve_run(APP, "--ws-max-size", str(2 * size)) as process,
        raw_websocket(process, "/stream") as sock,
    ):
        process.wait_for_line("ws_hostile_apps: stalled", timeout=10)  # every buffer towards us is full
        sock.settimeout(5)
        # Before the fix, write pressure paused reading too: both sides blocked writing for ever.
        sock.sendall(frame(0x82, b"y" * size))
        process.wait_for_line(f"ws_hostile_apps: received {size} bytes", timeout=5)
        assert sock.recv(65536)  # and the stream to the peer goes on once it reads
        assert ABORTED not in process.output


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


def test_a_peer_that_writes_a_large_message_before_it_reads_gets_window_over_http2() -> None:
    size = 8 * MiB
    with serve_run(APP, "--http2", "--ws-max-size", str(2 * size)) as process:
        client = H2Client.connect(process.host, process.port)
        client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms stall per window
        try:
            stream = WebSocketStream(client, "/stream")
            assert stream.head()[b":status"] == b"200"
            process.wait_for_line("ws_hostile_apps: stalled", timeout=10)  # our window for its DATA is spent
            conn, sid, rest = client.conn, stream.stream_id, memoryview(frame(0x82, b"y" * size))
            deadline = time.monotonic() + 8
            while rest and time.monotonic() < deadline:
                room = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size, len(rest))
                if not room:
                    read_without_granting(client, 1.0)  # the server must grant window while it cannot write
                    continue
                conn.send_data(sid, bytes(rest[:room]))
                client.flush()
                rest = rest[room:]
            assert not rest, f"{len(rest) / MiB:.1f} MiB left unsent: the server granted no more window"
            process.wait_for_line(f"ws_hostile_apps: received {size} bytes", timeout=5)
        finally:
            client.sock.close()


def test_a_ping_flood_over_http2_is_reset_once_its_pongs_pile_up() -> None:
    flood = 16 * MiB
    with serve_run(APP, "--http2") as process:
        client = H2Client.connect(process.host, process.port)
        try:
            stream = WebSocketStream(client, "/echo")
            assert stream.head()[b":status"] == b"200"
            conn, sid, chunk = client.conn, stream.stream_id, PING * 100
            before, sent = rss(process.proc.pid), 0
            deadline = time.monotonic() + 12

            def reset() -> bool:
                return any(isinstance(e, h2.events.StreamReset) and e.stream_id == sid for e in client.events)

            while sent < flood and not reset() and time.monotonic() < deadline:
                if min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size) < len(chunk):
                    read_without_granting(client, 1.0)
                    continue
                conn.send_data(sid, chunk)
                client.flush()
                sent += len(chunk)
                read_without_granting(client, 0.0)
            grown = rss(process.proc.pid) - before
            # The pongs wait for window the client never gives: past the bound, the stream is reset.
            assert reset(), f"no RST_STREAM after {sent / MiB:.1f} MiB of pings"
            assert sent < 4 * MiB, f"the server took {sent / MiB:.0f} MiB of pings"
            assert grown < 16 * MiB
            process.wait_for_line(ABORTED, timeout=5)
            process.wait_for_line("ws_hostile_apps: disconnect 1006", timeout=5)
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


def frame(first: int, payload: bytes) -> bytes:
    """A masked client frame: `first` is its first byte (FIN and opcode)."""
    size = len(payload)
    if size < 126:
        length = bytes((0x80 | size,))
    elif size < 65536:
        length = bytes((0x80 | 126,)) + struct.pack(">H", size)
    else:
        length = bytes((0x80 | 127,)) + struct.pack(">Q", size)
    return bytes((first,)) + length + MASK + payload


# (frames, limit): one-byte frames carry the limit byte by byte, 512 Ki of them, which before the fix
# cost 52 bytes of memory each (26 MiB); empty ones (6 bytes each on the wire) cost nothing but their
# parsing, which test_websocket_fragments.py checks in process, so fewer of them: under coverage every
# frame is slow.
@pytest.mark.parametrize(
    ("size", "frames", "limit"), [(0, 100_000, MiB // 2), (1, MiB // 2, MiB // 2)], ids=["empty", "one-byte"]
)
def test_a_message_in_tiny_fragments_costs_its_payload_and_the_limit_counts_payload_only(
    size: int, frames: int, limit: int
) -> None:
    last = limit - (frames - 2) * size  # what the FIN frame adds to reach the limit exactly
    with serve_run(APP, "--ws-max-size", str(limit)) as process, raw_websocket(process, "/count") as sock:
        before = rss(process.proc.pid)
        sock.sendall(frame(0x02, b""))  # the message opens empty
        tiny = frame(0x00, b"a" * size)
        for _ in range((frames - 2) // 10_000):
            sock.sendall(tiny * 10_000)
        sock.sendall(tiny * ((frames - 2) % 10_000) + frame(0x80, b"a" * last))
        process.wait_for_line(f"ws_hostile_apps: received {limit} bytes", timeout=10)
        grown = rss(process.proc.pid) - before
        # Before the fix each fragment was its own bytes object: ~50 bytes of memory per byte.
        assert grown < 16 * MiB, f"{grown / MiB:.1f} MiB more"
        # One byte over the limit, however it is split, is refused.
        sock.sendall(frame(0x02, b"a" * limit) + frame(0x80, b"a"))
        process.wait_for_line("ws_hostile_apps: disconnect 1009", timeout=5)


def test_a_pong_unread_behind_a_full_queue_counts_as_missing() -> None:
    # As with the websockets library's server: a peer cannot keep a connection whose app does
    # not receive by filling the queue and then saying nothing more.
    options = ("--ws-ping-interval", "0.5", "--ws-ping-timeout", "0.5", "--ws-max-queue", "4")
    with serve_run(APP, *options) as process:
        url = f"ws://{process.host}:{process.port}/slow"
        with connect(url, proxy=None, open_timeout=10, ping_interval=None) as ws:
            for _ in range(12):  # three times the queue: reading pauses, this client's pongs wait unread
                ws.send(b"0123456789")
            started = time.monotonic()
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=2.5)  # before the app receives again
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1011
            assert time.monotonic() - started < 2.5
        process.wait_for_line("keepalive ping timeout: closing", timeout=2)
