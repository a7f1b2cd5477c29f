"""HTTP/2 faults found by the second fault hunt (stop 21), over a real `serve run --http2`.

- A response still waiting for a slow client's window once its app had returned was cut: the
  connection counted as idle, so the keep-alive timeout (or a drain's grace) closed it.
- One-byte window openings spread over many streams never ran out the control-frame budget:
  each one-byte DATA frame they provoked paid for two of them.
- `:scheme` set the scope's scheme over cleartext; an extended CONNECT ending its stream at
  once got DATA before any HEADERS.
- Over TLS, `Upgrade: h2c` was honoured, and a handshake never started held its descriptor
  for asyncio's 60 s whatever `timeout_request_header` said.
The in-process tests beside these: tests/unit/server/test_h2_connection_hunt2.py and
tests/unit/protocol/test_h2_front_hunt2.py.
"""

from __future__ import annotations

import json
import signal
import socket
import ssl
import time
from collections.abc import Iterator
from functools import partial

import hpack
import pytest
import trustme
from h2.errors import ErrorCodes
from support import ServeProcess, certificate_files, serve_run, still_open, wait_closed
from test_http2_client import H2Client, RawFrames, frame, window_update

pytestmark = pytest.mark.system

APP = "protocol_apps:app"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, GOAWAY = 0, 1, 3, 4, 7
END_STREAM, END_HEADERS = 0x1, 0x4
KEEP_ALIVE_S = 1
WINDOW = 65535  # the client's default stream window: what the server may send before the client reads
SIZE = 1_000_000


@pytest.fixture(scope="module")
def server() -> Iterator[ServeProcess]:
    with serve_run(APP, "--http2", "--timeout-keep-alive", str(KEEP_ALIVE_S)) as process:
        yield process


def head(path: str, method: str = "GET", *extra: tuple[str, str]) -> bytes:
    fields = [(":method", method), (":scheme", "http"), (":path", path), (":authority", "h2.test"), *extra]
    return bytes(hpack.Encoder().encode(fields))


def open_raw(server: ServeProcess, *frames: bytes, settings: bytes = b"") -> tuple[socket.socket, RawFrames]:
    sock = socket.create_connection((server.host, server.port), timeout=10)
    sock.sendall(PREFACE + frame(SETTINGS, payload=settings) + b"".join(frames))
    return sock, RawFrames(sock)


def data_of(frames: RawFrames, stream_id: int) -> tuple[int, bool]:
    """(bytes received, whether END_STREAM came) of a stream's DATA frames so far."""
    data = frames.of(DATA, stream_id)
    return sum(len(f[3]) for f in data), any(f[1] & END_STREAM for f in data)


def held_download(server: ServeProcess) -> tuple[socket.socket, RawFrames]:
    """A GET of SIZE bytes in one body message (the app returns at once); the first window is read."""
    path = f"/stream?size={SIZE}&piece={SIZE}"
    sock, frames = open_raw(server, frame(HEADERS, END_HEADERS | END_STREAM, head(path), stream_id=1))
    frames.read_until(lambda: data_of(frames, 1)[0] == WINDOW)
    return sock, frames


def grown(frames: RawFrames, seen: int) -> bool:
    return data_of(frames, 1)[0] > seen


def read_the_rest(sock: socket.socket, frames: RawFrames, timeout: float = 10.0) -> int:
    """Grant window for what arrives, as a slow reader does, until stream 1 ends; its body's size."""
    deadline = time.monotonic() + timeout
    granted = 0
    while True:
        got, ended = data_of(frames, 1)
        if ended:
            return got
        if got > granted:
            sock.sendall(window_update(1, got - granted) + window_update(0, got - granted))
            granted = got
        frames.read_until(partial(grown, frames, got), timeout=max(deadline - time.monotonic(), 0))


def test_a_response_held_by_a_slow_client_outlives_the_keep_alive_timeout(server: ServeProcess) -> None:
    sock, frames = held_download(server)
    with sock:
        # The client reads nothing for longer than the keep-alive: slow, not idle.
        assert still_open(sock, KEEP_ALIVE_S + 1.5), "the server gave up on a response still being delivered"
        assert read_the_rest(sock, frames) == SIZE
        assert not frames.of(GOAWAY)
        wait_closed(sock, KEEP_ALIVE_S + 5)  # then idle: the keep-alive closes it


def quiet_for(frames: RawFrames, seconds: float) -> bool:
    """Whether the server keeps the connection open for `seconds` (whatever it sends meanwhile)."""
    try:
        frames.read_until(lambda: frames.closed, timeout=seconds)
    except (AssertionError, TimeoutError):  # the time ran out reading, or between reads
        return not frames.closed
    return False


def test_a_drain_lets_a_response_below_its_goaway_finish_delivering() -> None:
    with serve_run(APP, "--http2") as process:
        sock, frames = held_download(process)
        with sock:
            process.send_signal(signal.SIGTERM)
            final = (1).to_bytes(4, "big")  # the last stream served: 1
            frames.read_until(lambda: any(f[3][:4] == final for f in frames.of(GOAWAY)))
            assert quiet_for(frames, 2.0), "closed 1 s after the final GOAWAY, the response cut"
            assert read_the_rest(sock, frames) == SIZE
        assert process.wait_exit(10) == 0


def answered(frames: RawFrames, data_frames: int) -> bool:
    return len(frames.of(DATA)) > data_frames or bool(frames.of(GOAWAY))


def test_a_data_dribble_over_many_streams_runs_out_the_control_budget(server: ServeProcess) -> None:
    # CVE-2019-9511 spread over streams: a one-byte WINDOW_UPDATE per stream per round, each
    # answered with a one-byte DATA frame, which used to pay the budget back twice over.
    streams = range(1, 200, 2)  # 100 streams, the concurrent-stream limit
    path = "/stream?size=100000&piece=100000"
    heads = [frame(HEADERS, END_HEADERS | END_STREAM, head(path), stream_id=sid) for sid in streams]
    zero_window = (4).to_bytes(2, "big") + (0).to_bytes(4, "big")  # SETTINGS_INITIAL_WINDOW_SIZE = 0
    sock, frames = open_raw(server, *heads, settings=zero_window)
    with sock:
        frames.read_until(lambda: len(frames.of(HEADERS)) == len(streams))
        deadline = time.monotonic() + 8
        while not frames.of(GOAWAY) and not frames.closed:
            assert time.monotonic() < deadline, f"no GOAWAY after {len(frames.of(DATA))} one-byte DATA frames"
            sent = len(frames.of(DATA))
            sock.sendall(b"".join(window_update(sid, 1) for sid in streams) + window_update(0, len(streams)))
            frames.read_until(partial(answered, frames, sent), timeout=5)
        code = int.from_bytes(frames.of(GOAWAY)[0][3][4:8], "big")
        assert code == ErrorCodes.ENHANCE_YOUR_CALM
    with H2Client.connect(server.host, server.port) as fresh:
        assert fresh.response(fresh.request("GET", "/fixed"), timeout=5)[0] == 200


def test_the_scheme_over_cleartext_is_http_whatever_scheme_the_client_names(server: ServeProcess) -> None:
    fields = [(":method", "GET"), (":scheme", "https"), (":path", "/scope"), (":authority", "h2.test")]
    block = bytes(hpack.Encoder().encode(fields))
    sock, frames = open_raw(server, frame(HEADERS, END_HEADERS | END_STREAM, block, stream_id=1))
    with sock:
        frames.read_until(lambda: data_of(frames, 1)[1])
    body = b"".join(f[3] for f in frames.of(DATA, 1))
    assert json.loads(body)["scheme"] == "http"


def test_an_extended_connect_ending_its_stream_at_once_is_reset(server: ServeProcess) -> None:
    block = head("/chat", "CONNECT", (":protocol", "websocket"), ("sec-websocket-version", "13"))
    sock, frames = open_raw(server, frame(HEADERS, END_HEADERS | END_STREAM, block, stream_id=1))
    with sock:
        frames.read_until(lambda: bool(frames.of(RST_STREAM, 1)))
        assert frames.of(RST_STREAM, 1)[0][3] == ErrorCodes.PROTOCOL_ERROR.to_bytes(4, "big")
        assert not frames.of(DATA, 1)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServeProcess, trustme.CA]]:
    authority = trustme.CA()
    keyfile, certfile = certificate_files(authority, tmp_path_factory.mktemp("tls"))
    options = ("--ssl-keyfile", str(keyfile), "--ssl-certfile", str(certfile), "--timeout-request-header", "1")
    with serve_run(APP, "--http2", *options) as process:
        yield process, authority


def test_an_h2c_upgrade_over_tls_is_answered_as_http1(tls_server: tuple[ServeProcess, trustme.CA]) -> None:
    process, authority = tls_server
    context = ssl.create_default_context()
    authority.configure_trust(context)
    context.set_alpn_protocols(["http/1.1"])
    raw = socket.create_connection((process.host, process.port), timeout=10)
    with context.wrap_socket(raw, server_hostname="localhost") as sock:
        sock.sendall(
            b"GET /fixed HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
            b"HTTP2-Settings: AAMAAABk\r\n\r\n"
        )
        assert sock.recv(100).startswith(b"HTTP/1.1 200 OK\r\n")


def test_a_tls_handshake_never_started_is_dropped_after_the_header_timeout(
    tls_server: tuple[ServeProcess, trustme.CA],
) -> None:
    process, _ = tls_server
    began = time.monotonic()
    with socket.create_connection((process.host, process.port), timeout=10) as sock:
        wait_closed(sock, 6)  # asyncio's own default is 60 s
    assert time.monotonic() - began < 6
