"""RFC 9113 conformance in the spirit of h2spec, against a real `serve run --http2`, in raw frames.

Frames are built with `hyperframe` (or by hand where even it refuses, e.g. a PING of the
wrong length) and header blocks with `hpack`, so a test can send what no well-behaved
client library would. Each test names the section whose MUST it checks, asserts the exact
error code of the server's GOAWAY or RST_STREAM, and, for malformed requests, that the app
was not called. After every test a fresh, well-behaved connection must be served.

RFC 9113 §5.4.1 lets an endpoint treat any stream error as a connection error; `h2` does so
for malformed header blocks and for frames on streams closed by END_STREAM. Where the RFC
says "stream error", the tests therefore accept RST_STREAM on that stream or GOAWAY, but
always with the RFC's code.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Sequence

import hpack
import pytest
from h2.errors import ErrorCodes
from hyperframe.frame import (
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    PriorityFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)
from support import ServeProcess, exchange, serve_run
from test_http2_client import H2Client, RawFrames, frame

pytestmark = pytest.mark.system

APP = "protocol_apps:app"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 2, 3, 4, 6, 7, 8, 9
END_STREAM, ACK, END_HEADERS, PADDED = 0x1, 0x1, 0x4, 0x8
PUSH_PROMISE = 5
MAX_FRAME_SIZE = 16384  # SETTINGS_MAX_FRAME_SIZE: the server keeps the default (RFC 9113 §6.5.2)
MAX_WINDOW = 2**31 - 1
WINDOW = MAX_FRAME_SIZE - 1  # the stream window the server advertises: one full frame overflows it

Field = tuple[bytes, bytes]


def get(path: bytes = b"/fixed", *extra: Field) -> list[Field]:
    return [(b":method", b"GET"), (b":scheme", b"http"), (b":path", path), (b":authority", b"h2.test"), *extra]


def post(path: bytes = b"/echo", *extra: Field) -> list[Field]:
    return [(b":method", b"POST"), (b":scheme", b"http"), (b":path", path), (b":authority", b"h2.test"), *extra]


class Peer:
    """A raw HTTP/2 client connection: frames out as given, the server's frames read back raw."""

    def __init__(self, server: ServeProcess, preface: bytes = PREFACE + SettingsFrame(0).serialize()) -> None:
        self.sock = socket.create_connection((server.host, server.port), timeout=10)
        self.sock.sendall(preface)
        self.frames = RawFrames(self.sock)
        self.encoder = hpack.Encoder()

    def send(self, *frames: Frame | bytes) -> None:
        """Everything in one write, so the server parses it in one read."""
        self.sock.sendall(b"".join(f if isinstance(f, bytes) else f.serialize() for f in frames))

    def block(self, fields: Sequence[Field]) -> bytes:
        return bytes(self.encoder.encode(list(fields), huffman=False))

    def headers(self, stream_id: int, fields: Sequence[Field], *, end_stream: bool = True) -> HeadersFrame:
        headers = HeadersFrame(stream_id, self.block(fields))
        headers.flags.add("END_HEADERS")
        if end_stream:
            headers.flags.add("END_STREAM")
        return headers

    def settled(self) -> None:
        """Wait for the server's SETTINGS, so what follows is read on an established connection."""
        self.frames.read_until(lambda: bool(self.frames.of(SETTINGS)))

    def ended(self, stream_id: int) -> bool:
        return any(f[1] & END_STREAM for f in self.frames.of(DATA, stream_id) + self.frames.of(HEADERS, stream_id))

    def connection_error(self) -> int:
        """The code of the server's GOAWAY; the server must then close the connection (RFC 9113 §5.4.1)."""
        self.frames.read_until(lambda: bool(self.frames.of(GOAWAY)))
        self.frames.read_until(lambda: self.frames.closed)
        return int.from_bytes(self.frames.of(GOAWAY)[0][3][4:8], "big")

    def stream_error(self, stream_id: int) -> int:
        """The code of the RST_STREAM the server sends on `stream_id`; the connection stays open."""
        self.frames.read_until(lambda: bool(self.frames.of(RST_STREAM, stream_id) or self.frames.of(GOAWAY)))
        assert not self.frames.of(GOAWAY), f"a connection error, not a stream error: {self.frames.of(GOAWAY)}"
        return int.from_bytes(self.frames.of(RST_STREAM, stream_id)[0][3], "big")

    def stream_or_connection_error(self, stream_id: int) -> int:
        """The code of RST_STREAM on `stream_id`, or of GOAWAY (RFC 9113 §5.4.1 allows either)."""
        self.frames.read_until(lambda: bool(self.frames.of(RST_STREAM, stream_id) or self.frames.of(GOAWAY)))
        if self.frames.of(GOAWAY):
            return self.connection_error()
        return int.from_bytes(self.frames.of(RST_STREAM, stream_id)[0][3], "big")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module", params=["httptools", "h11"])
def server(request: pytest.FixtureRequest) -> Iterator[ServeProcess]:
    """One server per HTTP/1.1 front: each hands the connection over to HTTP/2 on the preface."""
    with serve_run(APP, "--http2", "--http", request.param, "--h2-initial-window-size", str(WINDOW)) as process:
        yield process


@pytest.fixture
def peer(server: ServeProcess) -> Iterator[Peer]:
    connection = Peer(server)
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture(autouse=True)
def a_fresh_connection_is_served_afterwards(server: ServeProcess) -> Iterator[None]:
    yield
    with H2Client.connect(server.host, server.port) as client:
        status, _, body = client.response(client.request("GET", "/fixed"), timeout=5)
    assert (status, body) == (200, b"fixed body, 26 bytes long\n")


def app_calls(server: ServeProcess) -> int:
    """How many times the (single-worker) app has been called so far."""
    with H2Client.connect(server.host, server.port) as client:
        status, _, body = client.response(client.request("GET", "/calls"), timeout=5)
    assert status == 200
    return int(body)


def settings(*entries: tuple[int, int], flags: int = 0, stream_id: int = 0) -> bytes:
    payload = b"".join(code.to_bytes(2, "big") + value.to_bytes(4, "big") for code, value in entries)
    return frame(SETTINGS, flags, payload, stream_id)


def window_update(stream_id: int, increment: int) -> WindowUpdateFrame:
    update = WindowUpdateFrame(stream_id)
    update.window_increment = increment
    return update


# §3.4 Connection preface ---------------------------------------------------------------------


def test_3_4_a_preface_not_followed_by_settings_is_a_connection_error(server: ServeProcess) -> None:
    """RFC 9113 §3.4: the client preface ends with a SETTINGS frame; anything else is PROTOCOL_ERROR."""
    peer = Peer(server, PREFACE + PingFrame(0).serialize())
    try:
        assert peer.connection_error() == ErrorCodes.PROTOCOL_ERROR
    finally:
        peer.close()


def test_3_4_an_invalid_preface_ends_the_connection_without_calling_the_app(server: ServeProcess) -> None:
    """RFC 9113 §3.4: an invalid preface is a connection error (here it is not HTTP/2, so HTTP/1.1 refuses it)."""
    before = app_calls(server)
    reply = exchange(server.host, server.port, b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + SettingsFrame(0).serialize())
    assert reply.startswith((b"HTTP/1.1 4", b"HTTP/1.1 5")) or reply == b""
    assert app_calls(server) == before


# §4 Frames -----------------------------------------------------------------------------------


def test_4_1_unknown_frame_types_and_flags_are_ignored(peer: Peer) -> None:
    """RFC 9113 §4.1, §5.5: unknown types and unknown flags MUST be ignored."""
    ping = frame(PING, 0xF0, b"abcdefgh")  # unknown flags beside a clear ACK bit
    peer.send(frame(0x20, 0xFF, b"whatever", 1), ping)
    peer.frames.read_until(lambda: any(f[1] & ACK for f in peer.frames.of(PING)))
    assert [f[3] for f in peer.frames.of(PING) if f[1] & ACK] == [b"abcdefgh"]
    assert not peer.frames.of(GOAWAY)


def test_4_2_a_data_frame_over_max_frame_size_is_a_frame_size_error(peer: Peer) -> None:
    """RFC 9113 §4.2: a frame over SETTINGS_MAX_FRAME_SIZE MUST get FRAME_SIZE_ERROR."""
    peer.send(peer.headers(1, post(), end_stream=False), DataFrame(1, b"x" * (MAX_FRAME_SIZE + 1)))
    assert peer.connection_error() == ErrorCodes.FRAME_SIZE_ERROR


def test_4_2_a_headers_frame_over_max_frame_size_is_a_connection_error(peer: Peer) -> None:
    """RFC 9113 §4.2: a frame that can change connection state (a header block) too large: connection error."""
    big = get(b"/fixed", (b"x-big", b"y" * (MAX_FRAME_SIZE + 100)))
    peer.send(frame(HEADERS, END_HEADERS | END_STREAM, peer.block(big), 1))
    assert peer.connection_error() == ErrorCodes.FRAME_SIZE_ERROR


def test_4_3_an_invalid_hpack_index_is_a_compression_error(peer: Peer) -> None:
    """RFC 9113 §4.3: a header block that cannot be decoded MUST be a COMPRESSION_ERROR."""
    indexed_far = b"\xff\x80\x01"  # indexed field 127 + 128 = 255: past both tables
    peer.send(frame(HEADERS, END_HEADERS | END_STREAM, b"\x82\x86\x84" + indexed_far, 1))
    assert peer.connection_error() == ErrorCodes.COMPRESSION_ERROR


def test_4_3_hpack_index_zero_is_a_compression_error(peer: Peer) -> None:
    """RFC 9113 §4.3 with RFC 7541 §6.1: index 0 MUST be treated as a decoding error."""
    peer.send(frame(HEADERS, END_HEADERS | END_STREAM, b"\x80", 1))
    assert peer.connection_error() == ErrorCodes.COMPRESSION_ERROR


def test_4_3_a_table_size_update_above_the_setting_is_a_compression_error(peer: Peer) -> None:
    """RFC 9113 §4.3 with RFC 7541 §4.2: a size update above SETTINGS_HEADER_TABLE_SIZE (4096) is an error."""
    size_update = b"\x3f\xe1\x3f"  # 31 + 8161 = 8192
    peer.send(frame(HEADERS, END_HEADERS | END_STREAM, size_update + b"\x82\x86\x84", 1))
    assert peer.connection_error() == ErrorCodes.COMPRESSION_ERROR


# §5.1 Stream states and identifiers ------------------------------------------------------------


def test_5_1_data_on_an_idle_stream_is_a_protocol_error(peer: Peer) -> None:
    """RFC 9113 §5.1 (idle): anything but HEADERS or PRIORITY MUST be a connection error PROTOCOL_ERROR."""
    peer.send(DataFrame(1, b"hello"))
    assert peer.connection_error() == ErrorCodes.PROTOCOL_ERROR


def test_5_1_rst_stream_on_an_idle_stream_is_a_protocol_error(peer: Peer) -> None:
    """RFC 9113 §5.1 (idle), §6.4: RST_STREAM for an idle stream MUST be a connection error PROTOCOL_ERROR."""
    reset = RstStreamFrame(1)
    reset.error_code = ErrorCodes.CANCEL
    peer.send(reset)
    assert peer.connection_error() == ErrorCodes.PROTOCOL_ERROR


def test_5_1_window_update_on_an_idle_stream_is_a_protocol_error(peer: Peer) -> None:
    """RFC 9113 §5.1 (idle): WINDOW_UPDATE on an idle stream MUST be a connection error PROTOCOL_ERROR."""
    peer.send(window_update(1, 100))
    assert peer.connection_error() == ErrorCodes.PROTOCOL_ERROR


def test_5_1_headers_on_a_half_closed_remote_stream_is_stream_closed(server: ServeProcess, peer: Peer) -> None:
    """RFC 9113 §5.1 (half-closed (remote)): frames other than WINDOW_UPDATE, PRIORITY, RST_STREAM: STREAM_CLOSED."""
    peer.send(peer.headers(1, post(b"/sleep?s=2")))  # END_STREAM: half-closed (remote) while the app sleeps
    peer.settled()
    peer.send(peer.headers(1, [(b"x-trailer", b"late")]))
    assert peer.stream_or_connection_error(1) == ErrorCodes.STREAM_CLOSED


def test_5_1_data_on_a_half_closed_remote_stream_is_stream_closed(peer: Peer) -> None:
    """RFC 9113 §5.1 (half-closed (remote)): DATA after END_STREAM MUST be STREAM_CLOSED."""
    peer.send(peer.headers(1, post(b"/sleep?s=2")))
    peer.settled()
    peer.send(DataFrame(1, b"more"))
    assert peer.stream_or_connection_error(1) == ErrorCodes.STREAM_CLOSED


def test_5_1_data_on_a_stream_closed_by_end_stream_is_stream_closed(peer: Peer) -> None:
    """RFC 9113 §5.1 (closed): frames after both END_STREAMs MUST be STREAM_CLOSED (a connection error here)."""
    peer.send(peer.headers(1, get()))
    peer.frames.read_until(lambda: peer.ended(1))
    peer.send(DataFrame(1, b"late"))
    assert peer.stream_or_connection_error(1) == ErrorCodes.STREAM_CLOSED


def test_5_1_data_on_a_stream_the_client_reset_is_a_stream_error(peer: Peer) -> None:
    """RFC 9113 §5.1 (closed by RST_STREAM): further frames get a stream error STREAM_CLOSED."""
    reset = RstStreamFrame(1)
    reset.error_code = ErrorCodes.CANCEL
    peer.send(peer.headers(1, post(b"/echo"), end_stream=False), reset)
    peer.settled()
    peer.send(DataFrame(1, b"after the reset"))
    assert peer.stream_error(1) == ErrorCodes.STREAM_CLOSED


def test_5_1_1_an_even_stream_id_from_the_client_is_a_protocol_error(peer: Peer) -> None:
    """RFC 9113 §5.1.1: client streams are odd; an even one MUST be a connection error PROTOCOL_ERROR."""
    peer.send(peer.headers(2, get()))
    assert peer.connection_error() == ErrorCodes.PROTOCOL_ERROR


def test_5_1_1_a_decreasing_stream_id_is_a_protocol_error(peer: Peer) -> None:
    """RFC 9113 §5.1.1: a new stream id MUST exceed every one opened before: else PROTOCOL_ERROR."""
    peer.send(peer.headers(5, get()))
    peer.frames.read_until(lambda: peer.ended(5))
    peer.send(peer.headers(3, get()))
    assert peer.connection_error() == ErrorCodes.PROTOCOL_ERROR


def test_5_3_1_a_stream_depending_on_itself_is_a_protocol_error(peer: Peer) -> None:
    """RFC 9113 §5.3.1: a stream cannot depend on itself: stream error PROTOCOL_ERROR."""
    priority = PriorityFrame(1)
    priority.depends_on, priority.stream_weight = 1, 16
    peer.send(priority)
    assert peer.stream_or_connection_error(1) == ErrorCodes.PROTOCOL_ERROR


# §6 Frame definitions --------------------------------------------------------------------------


def test_6_1_data_on_stream_zero_is_a_protocol_error(peer: Peer) -> None:
    """RFC 9113 §6.1: DATA on stream 0 MUST be a connection error PROTOCOL_ERROR."""
    peer.send(frame(DATA, 0, b"x", 0))
    assert peer.connection_error() == ErrorCodes.PROTOCOL_ERROR


def test_6_2_headers_on_stream_zero_is_a_protocol_error(peer: Peer) -> None:
    """RFC 9113 §6.2: HEADERS on stream 0 MUST be a connection error PROTOCOL_ERROR."""
    peer.send(frame(HEADERS, END_HEADERS | END_STREAM, peer.block(get()), 0))
    assert peer.connection_error() == ErrorCodes.PROTOCOL_ERROR


def test_6_3_priority_on_stream_zero_is_a_protocol_error(peer: Peer) -> None:
    """RFC 9113 §6.3: PRIORITY on stream 0 MUST be a connection error PROTOCOL_ERROR."""
    peer.send(frame(PRIORITY, 0, bytes(4) + b"\x10", 0))
    assert peer.connection_error() == ErrorCodes.PROTOCOL_ERROR


def test_6_3_priority_of_the_wrong_length_is_a_frame_size_error(peer: Peer) -> None:
    """RFC 9113 §6.3: a PRIORITY frame other than 5 bytes is a (stream) FRAME_SIZE_ERROR."""
    peer.send(frame(PRIORITY, 0, bytes(4), 1))
    assert peer.stream_or_connection_error(1) == ErrorCodes.FRAME_SIZE_ERROR


def test_6_3_priority_on_an_idle_stream_is_allowed(peer: Peer) -> None:
    """RFC 9113 §5.1, §6.3: PRIORITY may be sent on an idle stream; the stream then opens normally."""
    priority = PriorityFrame(3)
    priority.depends_on, priority.stream_weight = 0, 200
    peer.send(priority, peer.headers(3, get()))
    peer.frames.read_until(lambda: peer.ended(3))
    assert not peer.frames.of(GOAWAY)


def test_6_4_rst_stream_on_stream_zero_is_a_protocol_error(peer: Peer) -> None:
    """RFC 9113 §6.4: RST_STREAM on stream 0 MUST be a connection error PROTOCOL_ERROR."""
    peer.send(frame(RST_STREAM, 0, bytes(4), 0))
    assert peer.connection_error() == ErrorCodes.PROTOCOL_ERROR


def test_6_4_rst_stream_of_the_wrong_length_is_a_frame_size_error(peer: Peer) -> None:
    """RFC 9113 §6.4: an RST_STREAM frame other than 4 bytes MUST be a connection error FRAME_SIZE_ERROR."""
    peer.send(peer.headers(1, post(), end_stream=False), frame(RST_STREAM, 0, bytes(3), 1))
    assert peer.connection_error() == ErrorCodes.FRAME_SIZE_ERROR


def test_6_5_settings_ack_with_a_payload_is_a_frame_size_error(peer: Peer) -> None:
    """RFC 9113 §6.5: a SETTINGS ACK with a payload MUST be a connection error FRAME_SIZE_ERROR."""
    peer.settled()
    peer.send(settings((0x3, 100), flags=ACK))
    assert peer.connection_error() == ErrorCodes.FRAME_SIZE_ERROR


def test_6_5_settings_of_a_length_not_a_multiple_of_6_is_a_frame_size_error(peer: Peer) -> None:
    """RFC 9113 §6.5: a SETTINGS length not a multiple of 6 MUST be a connection error FRAME_SIZE_ERROR."""
    peer.send(frame(SETTINGS, 0, bytes(3)))
    assert peer.connection_error() == ErrorCodes.FRAME_SIZE_ERROR


def test_6_5_settings_on_a_stream_is_a_protocol_error(peer: Peer) -> None:
    """RFC 9113 §6.5: SETTINGS on a stream other than 0 MUST be a connection error PROTOCOL_ERROR."""
    peer.send(settings((0x3, 100), stream_id=1))
    assert peer.connection_error() == ErrorCodes.PROTOCOL_ERROR


def test_6_5_2_enable_push_other_than_0_or_1_is_a_protocol_error(peer: Peer) -> None:
    """RFC 9113 §6.5.2: SETTINGS_ENABLE_PUSH other than 0 or 1 MUST be a connection error PROTOCOL_ERROR."""
    peer.send(settings((0x2, 2)))
    assert peer.connection_error() == ErrorCodes.PROTOCOL_ERROR


def test_6_5_2_initial_window_size_above_the_maximum_is_a_flow_control_error(peer: Peer) -> None:
    """RFC 9113 §6.5.2: SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1 MUST be a connection error FLOW_CONTROL_ERROR."""
    peer.send(settings((0x4, MAX_WINDOW + 1)))
    assert peer.connection_error() == ErrorCodes.FLOW_CONTROL_ERROR


@pytest.mark.parametrize("size", [MAX_FRAME_SIZE - 1, 2**24])
def test_6_5_2_max_frame_size_out_of_range_is_a_protocol_error(peer: Peer, size: int) -> None:
    """RFC 9113 §6.5.2: SETTINGS_MAX_FRAME_SIZE outside 2^14 .. 2^24-1 MUST be a connection error PROTOCOL_ERROR."""
    peer.send(settings((0x5, size)))
    assert peer.connection_error() == ErrorCodes.PROTOCOL_ERROR


def test_6_5_3_settings_are_acknowledged_and_unknown_ones_ignored(peer: Peer) -> None:
    """RFC 9113 §6.5.2, §6.5.3: unknown settings MUST be ignored; SETTINGS MUST be acknowledged."""
    peer.settled()
    peer.send(settings((0x4, 70000), (0xBEEF, 7)))
    peer.frames.read_until(lambda: any(f[1] & ACK for f in peer.frames.of(SETTINGS)))
    assert not peer.frames.of(GOAWAY)


def test_6_7_ping_is_answered_with_the_same_payload(peer: Peer) -> None:
    """RFC 9113 §6.7: a PING MUST be answered by a PING ACK with an identical payload."""
    peer.send(PingFrame(0, b"12345678"))
    peer.frames.read_until(lambda: any(f[1] & ACK for f in peer.frames.of(PING)))
    assert [f[3] for f in peer.frames.of(PING) if f[1] & ACK] == [b"12345678"]


def test_6_7_ping_of_the_wrong_length_is_a_frame_size_error(peer: Peer) -> None:
    """RFC 9113 §6.7: a PING whose length is not 8 MUST be a connection error FRAME_SIZE_ERROR."""
    peer.send(frame(PING, 0, bytes(6)))
    assert peer.connection_error() == ErrorCodes.FRAME_SIZE_ERROR


def test_6_7_ping_on_a_stream_is_a_protocol_error(peer: Peer) -> None:
    """RFC 9113 §6.7: PING on a stream other than 0 MUST be a connection error PROTOCOL_ERROR."""
    peer.send(frame(PING, 0, bytes(8), 1))
    assert peer.connection_error() == ErrorCodes.PROTOCOL_ERROR


def test_6_8_goaway_on_a_stream_is_a_protocol_error(peer: Peer) -> None:
    """RFC 9113 §6.8: GOAWAY on a stream other than 0 MUST be a connection error PROTOCOL_ERROR."""
    peer.send(frame(GOAWAY, 0, bytes(8), 1))
    assert peer.connection_error() == ErrorCodes.PROTOCOL_ERROR


def test_6_9_window_update_of_zero_on_the_connection_is_a_protocol_error(peer: Peer) -> None:
    """RFC 9113 §6.9: an increment of 0 on the connection MUST be a connection error PROTOCOL_ERROR."""
    peer.send(frame(WINDOW_UPDATE, 0, bytes(4), 0))
    assert peer.connection_error() == ErrorCodes.PROTOCOL_ERROR


def test_6_9_window_update_of_zero_on_a_stream_is_a_protocol_error(peer: Peer) -> None:
    """RFC 9113 §6.9: an increment of 0 on a stream MUST be a stream error PROTOCOL_ERROR."""
    peer.send(peer.headers(1, post(b"/sleep?s=2")), frame(WINDOW_UPDATE, 0, bytes(4), 1))
    assert peer.stream_or_connection_error(1) == ErrorCodes.PROTOCOL_ERROR


def test_6_9_window_update_of_the_wrong_length_is_a_frame_size_error(peer: Peer) -> None:
    """RFC 9113 §6.9: a WINDOW_UPDATE other than 4 bytes MUST be a connection error FRAME_SIZE_ERROR."""
    peer.send(frame(WINDOW_UPDATE, 0, bytes(3) + b"\x01\x00", 0))
    assert peer.connection_error() == ErrorCodes.FRAME_SIZE_ERROR


def test_6_9_1_connection_window_overflow_is_a_flow_control_error(peer: Peer) -> None:
    """RFC 9113 §6.9.1: a connection window above 2^31-1 MUST be a connection error FLOW_CONTROL_ERROR."""
    peer.send(window_update(0, MAX_WINDOW), window_update(0, MAX_WINDOW))
    assert peer.connection_error() == ErrorCodes.FLOW_CONTROL_ERROR


def test_6_9_1_stream_window_overflow_is_a_flow_control_error(peer: Peer) -> None:
    """RFC 9113 §6.9.1: a stream window above 2^31-1 MUST be a stream error FLOW_CONTROL_ERROR."""
    peer.send(peer.headers(1, post(b"/sleep?s=2")), window_update(1, MAX_WINDOW), window_update(1, MAX_WINDOW))
    assert peer.stream_or_connection_error(1) == ErrorCodes.FLOW_CONTROL_ERROR


def test_6_9_1_data_beyond_the_stream_window_is_a_flow_control_error(peer: Peer) -> None:
    """RFC 9113 §6.9.1: a sender MUST NOT exceed the window it was given: FLOW_CONTROL_ERROR."""
    peer.settled()
    # The ACK puts the server's window in force; one frame then overflows it, however the server reads.
    overflow = DataFrame(1, b"z" * (WINDOW + 1))
    peer.send(settings(flags=ACK), peer.headers(1, post(b"/echo"), end_stream=False), overflow)
    assert peer.stream_or_connection_error(1) == ErrorCodes.FLOW_CONTROL_ERROR


def test_6_9_2_initial_window_size_that_overflows_a_stream_is_a_flow_control_error(peer: Peer) -> None:
    """RFC 9113 §6.9.2: a SETTINGS_INITIAL_WINDOW_SIZE change that overflows a window: FLOW_CONTROL_ERROR."""
    peer.send(peer.headers(1, post(b"/sleep?s=2")), window_update(1, MAX_WINDOW - 65535))
    peer.settled()
    peer.send(settings((0x4, 65536)))
    assert peer.connection_error() == ErrorCodes.FLOW_CONTROL_ERROR


def test_6_10_continuation_without_headers_is_a_protocol_error(peer: Peer) -> None:
    """RFC 9113 §6.10: CONTINUATION not preceded by HEADERS without END_HEADERS: PROTOCOL_ERROR."""
    peer.send(frame(CONTINUATION, END_HEADERS, peer.block(get()), 1))
    assert peer.connection_error() == ErrorCodes.PROTOCOL_ERROR


def test_6_10_a_frame_interleaved_in_a_header_block_is_a_protocol_error(peer: Peer) -> None:
    """RFC 9113 §6.10: any frame other than CONTINUATION of the same stream inside a header block: PROTOCOL_ERROR."""
    block = peer.block(get())
    peer.send(frame(HEADERS, END_STREAM, block[:4], 1), PingFrame(0, b"interlvd"))
    assert peer.connection_error() == ErrorCodes.PROTOCOL_ERROR


def test_6_10_continuation_on_another_stream_is_a_protocol_error(peer: Peer) -> None:
    """RFC 9113 §6.10: a CONTINUATION must be on the header block's own stream: PROTOCOL_ERROR."""
    block = peer.block(get())
    peer.send(frame(HEADERS, END_STREAM, block[:4], 1), frame(CONTINUATION, END_HEADERS, block[4:], 3))
    assert peer.connection_error() == ErrorCodes.PROTOCOL_ERROR


def test_6_10_a_header_block_in_continuations_is_served(peer: Peer) -> None:
    """RFC 9113 §6.10: a header block split over HEADERS and CONTINUATION frames is one request."""
    block = peer.block(get())
    peer.send(
        frame(HEADERS, END_STREAM, block[:3], 1),
        frame(CONTINUATION, 0, block[3:6], 1),
        frame(CONTINUATION, END_HEADERS, block[6:], 1),
    )
    peer.frames.read_until(lambda: peer.ended(1))
    assert b"".join(f[3] for f in peer.frames.of(DATA, 1)) == b"fixed body, 26 bytes long\n"


# §8.2 and §8.3 Malformed requests: PROTOCOL_ERROR, and the app is never called ------------------


MALFORMED = {
    "8_2_uppercase_field_name": get(b"/count", (b"X-Upper", b"1")),
    "8_2_1_field_value_with_a_newline": get(b"/count", (b"x-ok", b"a\nb")),
    "8_2_1_field_value_with_nul": get(b"/count", (b"x-ok", b"a\x00b")),
    "8_2_1_field_value_with_a_leading_space": get(b"/count", (b"x-ok", b" a")),
    "8_2_1_field_value_with_a_trailing_tab": get(b"/count", (b"x-ok", b"a\t")),
    "8_2_1_field_name_with_a_space": get(b"/count", (b"x ok", b"a")),
    "8_2_2_connection_header": get(b"/count", (b"connection", b"keep-alive")),
    "8_2_2_keep_alive_header": get(b"/count", (b"keep-alive", b"timeout=5")),
    "8_2_2_transfer_encoding_header": post(b"/count", (b"transfer-encoding", b"chunked")),
    "8_2_2_upgrade_header": get(b"/count", (b"upgrade", b"websocket")),
    "8_2_2_te_other_than_trailers": get(b"/count", (b"te", b"gzip")),
    "8_3_pseudo_header_after_a_regular_one": [
        (b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"h2.test"), (b"x-first", b"1"),
        (b":path", b"/count"),
    ],
    "8_3_unknown_pseudo_header": get(b"/count", (b":foo", b"bar")),
    "8_3_response_pseudo_header_in_a_request": [(b":status", b"200"), *get(b"/count")],
    "8_3_1_duplicate_path": [*get(b"/count"), (b":path", b"/x")],
    "8_3_1_duplicate_method": [(b":method", b"POST"), *get(b"/count")],
    "8_3_1_missing_method": [(b":scheme", b"http"), (b":path", b"/count"), (b":authority", b"h2.test")],
    "8_3_1_missing_scheme": [(b":method", b"GET"), (b":path", b"/count"), (b":authority", b"h2.test")],
    "8_3_1_missing_path": [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"h2.test")],
    "8_5_connect_with_a_path": [
        (b":method", b"CONNECT"), (b":authority", b"h2.test:443"), (b":path", b"/count"),
    ],
    "8_3_1_empty_path": [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b""), (b":authority", b"h2.test")],
}  # fmt: skip


@pytest.mark.parametrize("fields", MALFORMED.values(), ids=MALFORMED.keys())
def test_8_a_malformed_request_is_a_protocol_error_and_never_reaches_the_app(
    server: ServeProcess, peer: Peer, fields: list[Field]
) -> None:
    """RFC 9113 §8.1.1, §8.2, §8.3: a malformed request MUST be a (stream) error PROTOCOL_ERROR, unanswered by the app."""
    before = app_calls(server)
    peer.send(peer.headers(1, fields))
    assert peer.stream_or_connection_error(1) == ErrorCodes.PROTOCOL_ERROR
    assert not peer.frames.of(HEADERS, 1)  # no response of any kind
    assert app_calls(server) == before


@pytest.mark.parametrize(("declared", "sent"), [(5, b"longer than declared"), (100, b"short")])
def test_8_1_1_content_length_not_matching_the_data_is_malformed(
    server: ServeProcess, peer: Peer, declared: int, sent: bytes
) -> None:
    """RFC 9113 §8.1.1: DATA lengths not summing to content-length make the request malformed: PROTOCOL_ERROR."""
    before = app_calls(server)
    head = peer.headers(1, post(b"/count", (b"content-length", str(declared).encode())), end_stream=False)
    body = DataFrame(1, sent)
    body.flags.add("END_STREAM")
    peer.send(head, body)  # in one read: the head is refused with its body, before any app starts
    assert peer.stream_or_connection_error(1) == ErrorCodes.PROTOCOL_ERROR
    assert not peer.frames.of(HEADERS, 1)
    assert app_calls(server) == before


def test_8_1_1_data_beyond_content_length_after_the_app_started_reaches_it_only_as_a_disconnect(
    server: ServeProcess, peer: Peer
) -> None:
    """RFC 9113 §8.1.1: a body longer than content-length is malformed; an app already running never gets it whole."""
    seen = len(server.lines)
    peer.send(peer.headers(1, post(b"/echo", (b"content-length", b"5")), end_stream=False), DataFrame(1, b"abc"))
    peer.send(PingFrame(0, b"started!"))  # its ACK: the server has read (and started) the request
    peer.frames.read_until(lambda: any(f[1] & ACK for f in peer.frames.of(PING)))
    peer.send(DataFrame(1, b"defgh"))
    assert peer.stream_or_connection_error(1) == ErrorCodes.PROTOCOL_ERROR
    server.wait_for_line("protocol_apps: disconnected while reading a body", timeout=5, start=seen)
    assert not peer.frames.of(HEADERS, 1)


def test_8_1_trailers_with_a_pseudo_header_are_malformed(peer: Peer) -> None:
    """RFC 9113 §8.1: trailers MUST NOT include pseudo-header fields: PROTOCOL_ERROR."""
    peer.send(
        peer.headers(1, post(b"/count"), end_stream=False),
        DataFrame(1, b"body"),
        peer.headers(1, [(b":path", b"/again")]),
    )
    assert peer.stream_or_connection_error(1) == ErrorCodes.PROTOCOL_ERROR


def test_8_1_a_second_headers_frame_without_end_stream_is_malformed(peer: Peer) -> None:
    """RFC 9113 §8.1: a HEADERS frame after the request's head MUST carry END_STREAM (trailers): PROTOCOL_ERROR."""
    peer.send(
        peer.headers(1, post(b"/count"), end_stream=False), peer.headers(1, [(b"x-trailer", b"1")], end_stream=False)
    )
    assert peer.stream_or_connection_error(1) == ErrorCodes.PROTOCOL_ERROR


def test_6_1_data_with_padding_longer_than_the_payload_is_a_protocol_error(peer: Peer) -> None:
    """RFC 9113 §6.1: a Pad Length not less than the payload length MUST be a connection error PROTOCOL_ERROR."""
    peer.send(peer.headers(1, post(), end_stream=False), frame(DATA, PADDED, b"\x05abc", 1))
    assert peer.connection_error() == ErrorCodes.PROTOCOL_ERROR


def test_6_2_headers_with_padding_longer_than_the_payload_is_a_protocol_error(peer: Peer) -> None:
    """RFC 9113 §6.2: a Pad Length not less than the header block fragment MUST be a connection error PROTOCOL_ERROR."""
    peer.send(frame(HEADERS, END_HEADERS | END_STREAM | PADDED, b"\x40" + peer.block(get()), 1))
    assert peer.connection_error() == ErrorCodes.PROTOCOL_ERROR


def test_8_4_push_promise_from_a_client_is_a_protocol_error(peer: Peer) -> None:
    """RFC 9113 §8.4: a server MUST treat a PUSH_PROMISE as a connection error PROTOCOL_ERROR."""
    peer.send(peer.headers(1, post(), end_stream=False))
    peer.send(frame(PUSH_PROMISE, END_HEADERS, (2).to_bytes(4, "big") + peer.block(get()), 1))
    assert peer.connection_error() == ErrorCodes.PROTOCOL_ERROR


def test_8_a_valid_request_in_raw_frames_reaches_the_app_once(server: ServeProcess, peer: Peer) -> None:
    """The counterpart of the malformed cases: the same framing, well formed, is served and counted."""
    before = app_calls(server)
    peer.send(peer.headers(1, get(b"/count", (b"te", b"trailers"))))
    peer.frames.read_until(lambda: peer.ended(1))
    assert b"".join(f[3] for f in peer.frames.of(DATA, 1)) == b"counted"
    assert app_calls(server) == before + 1


def test_6_8_the_client_goaway_ends_the_connection(peer: Peer) -> None:
    """RFC 9113 §6.8: after the client's GOAWAY the server closes once nothing is in flight."""
    goaway = GoAwayFrame(0)
    goaway.last_stream_id, goaway.error_code = 0, ErrorCodes.NO_ERROR
    peer.settled()
    peer.send(goaway)
    peer.frames.read_until(lambda: peer.frames.closed)
