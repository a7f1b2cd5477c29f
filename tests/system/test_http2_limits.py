"""HTTP/2 defences on a real `serve run --http2`: each limit broken once, then a fresh client served; GOAWAY on drain.

Every abuse must end only the abusive connection, with GOAWAY ENHANCE_YOUR_CALM (or the
RFC's code), and a well-behaved client connecting right after must be answered at once.
"""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable, Iterator

import h2.events
import h2.settings
import pytest
from h2.errors import ErrorCodes
from support import ServeProcess, serve_run
from test_http2_client import H2Client, RawFrames, frame, request_headers, window_update

pytestmark = pytest.mark.system

APP = "protocol_apps:app"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, CONTINUATION = 1, 3, 4, 6, 7, 9
END_STREAM, END_HEADERS = 0x1, 0x4
LIMITS = (
    "--h2-control-frame-budget", "50",
    "--h2-reset-budget", "20",
    "--h2-max-header-fields", "20",
    "--h2-max-continuation-frames", "4",
    "--h2-max-concurrent-streams", "10",
    "--h2-max-header-list-size", "4096",
    "--h2-stall-timeout", "1",
)  # fmt: skip


@pytest.fixture(scope="module")
def server() -> Iterator[ServeProcess]:
    with serve_run(APP, "--http2", *LIMITS) as process:
        yield process


def calmed(
    server: ServeProcess, abuse: Callable[[H2Client], object], reason: str, code: int = ErrorCodes.ENHANCE_YOUR_CALM
) -> None:
    """Run `abuse` on one connection: it must end with GOAWAY `code`, logged with `reason`; a fresh client is then served."""
    seen = len(server.lines)
    with H2Client.connect(server.host, server.port) as client:
        abuse(client)
        assert client.goaway().error_code == code
        client.wait_closed()
    server.wait_for_line(f"HTTP/2 connection from .* closed: {reason}", start=seen)
    with H2Client.connect(server.host, server.port) as fresh:
        assert fresh.response(fresh.request("GET", "/fixed"), timeout=5)[0] == 200


def test_a_ping_flood(server: ServeProcess) -> None:
    calmed(server, lambda client: client.send_raw(frame(PING, payload=bytes(8)) * 200), "more than 50 control frames")


@pytest.mark.parametrize(
    "flood",
    [frame(PING, flags=0x1, payload=bytes(8)), frame(SETTINGS, flags=0x1), frame(0x20, payload=b"x")],
    ids=["ping-acks", "settings-acks", "unknown-type"],
)
def test_a_flood_of_frames_that_bring_the_app_nothing(server: ServeProcess, flood: bytes) -> None:
    # Each costs h2 a parse and brings no request: the control-frame budget counts them.
    calmed(server, lambda client: client.send_raw(flood * 200), "more than 50 control frames")


def test_a_settings_flood(server: ServeProcess) -> None:
    calmed(server, lambda client: client.send_raw(frame(SETTINGS) * 200), "more than 50 control frames")


def test_a_settings_frame_with_too_many_entries(server: ServeProcess) -> None:
    calmed(
        server,
        lambda client: client.send_raw(frame(SETTINGS, payload=b"\x00\x03\x00\x00\x00\x0a" * 40)),
        "SETTINGS frame with 40 entries",
    )


def test_rapid_reset(server: ServeProcess) -> None:
    def abuse(client: H2Client) -> None:
        for _ in range(30):
            stream_id = client.conn.get_next_available_stream_id()
            client.conn.send_headers(stream_id, request_headers("GET", "/fixed"), end_stream=True)
            client.conn.reset_stream(stream_id)
        client.flush()

    calmed(server, abuse, "more than 20 stream resets a minute")


def test_made_you_reset(server: ServeProcess) -> None:
    # Frames on a stream the client reset make the server reset it again, each time.
    def abuse(client: H2Client) -> None:
        stream_id = client.request("POST", "/echo", b"")  # no body yet: the stream stays open
        client.conn.send_headers(stream_id + 2, request_headers("POST", "/hold-body?tag=myr"))
        client.conn.reset_stream(stream_id + 2)
        client.flush()
        data = frame(0, payload=b"x", stream_id=stream_id + 2)
        client.send_raw(data * 40)

    calmed(server, abuse, "more than 20 stream resets a minute")


def test_a_continuation_flood(server: ServeProcess) -> None:
    def abuse(client: H2Client) -> None:
        client.send_raw(frame(HEADERS, payload=b"\x82", stream_id=1) + frame(CONTINUATION, stream_id=1) * 10)

    calmed(server, abuse, "more than 4 CONTINUATION frames")


def test_too_many_header_fields(server: ServeProcess) -> None:
    many = [(b"x-h%d" % i, b"v") for i in range(21)]
    calmed(server, lambda client: client.request("GET", "/fixed", headers=many), "more than 20 header fields")


def test_an_hpack_bomb_over_the_header_list_size(server: ServeProcess) -> None:
    # Each repetition of an indexed 1-byte reference decodes to a full field: the decoded size is what counts.
    def abuse(client: H2Client) -> None:
        client.request("GET", "/fixed", headers=[(b"x-bomb", b"b" * 1000)])  # now in the dynamic table
        client.request("GET", "/fixed", headers=[(b"x-bomb", b"b" * 1000)] * 8)

    calmed(server, abuse, "HTTP/2 protocol error: .*[Hh]eader list")


def test_more_concurrent_streams_than_advertised(server: ServeProcess) -> None:
    def abuse(client: H2Client) -> None:
        # Encoded by the client's own HPACK encoder, framed by hand: h2 would not send the 11th.
        for stream_id in range(1, 24, 2):
            block = client.conn.encoder.encode(request_headers("GET", "/sleep?s=2"))
            client.send_raw(frame(HEADERS, END_HEADERS | END_STREAM, block, stream_id))

    calmed(server, abuse, "HTTP/2 protocol error: .*[Ss]treams", code=ErrorCodes.PROTOCOL_ERROR)


def test_a_stream_stalled_on_a_zero_window_is_reset(server: ServeProcess) -> None:
    with H2Client.connect(server.host, server.port) as client:
        client.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
        stalled = client.request("GET", "/stream?size=300000")
        client.read_until(lambda: client.ended(stalled), timeout=5)
        reset = [e for e in client.events if isinstance(e, h2.events.StreamReset)]
        assert [(e.stream_id, e.error_code) for e in reset] == [(stalled, ErrorCodes.CANCEL)]
        # The connection itself goes on.
        client.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 65535})
        assert client.response(client.request("GET", "/fixed"))[0] == 200


def test_a_connection_that_stops_inside_the_preface_is_closed() -> None:
    with (
        serve_run(APP, "--http2", "--timeout-keep-alive", "1") as process,
        socket.create_connection((process.host, process.port), timeout=10) as sock,
    ):
        sock.sendall(PREFACE[:10])
        sock.settimeout(5)
        assert sock.recv(100) == b""


def test_drain_sends_goaway_and_finishes_the_streams_in_flight() -> None:
    with serve_run(APP, "--http2") as process:
        with socket.create_connection((process.host, process.port), timeout=10) as sock:
            client = H2Client(sock)
            # A window of zero keeps the response in flight until the client opens it.
            client.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
            first = client.request("GET", "/stream?size=200000&piece=50000")
            frames = RawFrames(sock)
            frames.read_until(lambda: bool(frames.of(HEADERS, first)))
            process.send_signal(signal.SIGTERM)
            # RFC 9113 §6.8: first a GOAWAY naming no last stream, with a PING to time the second.
            frames.read_until(lambda: bool(frames.of(GOAWAY)) and bool(frames.of(PING)))
            assert frames.of(GOAWAY)[0][3] == b"\x7f\xff\xff\xff" + bytes(4)
            # A request sent before the client saw it is served, not refused.
            block = client.conn.encoder.encode(request_headers("GET", "/fixed"))
            sock.sendall(frame(HEADERS, END_HEADERS | END_STREAM, block, first + 2))
            sock.sendall(frame(PING, 0x1, frames.of(PING)[0][3]))  # the answer: now the last stream is known
            frames.read_until(lambda: len(frames.of(GOAWAY)) == 2)
            assert frames.of(GOAWAY)[1][3] == (first + 2).to_bytes(4, "big") + bytes(4)  # NO_ERROR
            sock.sendall(window_update(first, 200000) + window_update(first + 2, 1000) + window_update(0, 300000))
            for stream_id, size in ((first, 200000), (first + 2, 26)):
                frames.read_until(lambda: any(f[1] & END_STREAM for f in frames.of(0, stream_id)))  # noqa: B023
                assert sum(len(f[3]) for f in frames.of(0, stream_id)) == size
            frames.read_until(lambda: frames.closed)
        assert process.wait_exit() == 0
