"""The HTTP/2 front against the h2 library as a client, in-process: requests, flow control, limits, GOAWAY."""

from __future__ import annotations

from typing import Any, cast

import h2.config
import h2.connection
import h2.events
import h2.settings
import hpack
import pytest
from h2.errors import ErrorCodes
from h2_defaults import default_limits

from supervisor.protocol.h2_front import (
    ConnectionEndedError,
    H2Front,
    _ReusingDecoder,
    _ReusingEncoder,
    default_fields,
    response_headers,
)

GET = [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/a?b=1"), (b":authority", b"example.com")]


class Sink:
    """Records the front's calls as tuples."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def on_stream_request(self, stream_id: int, method: bytes, target: bytes, scheme: bytes, headers: Any) -> None:
        self.calls.append(("request", stream_id, method, target, scheme, headers))

    def on_stream_body(self, stream_id: int, chunk: bytes, flow_length: int) -> None:
        self.calls.append(("body", stream_id, chunk, flow_length))

    def on_stream_end(self, stream_id: int) -> None:
        self.calls.append(("end", stream_id))

    def on_stream_reset(self, stream_id: int) -> None:
        self.calls.append(("reset", stream_id))


class Pair:
    """A front and an h2 client wired back to back."""

    def __init__(self, upgrade: bool = False, **limits: Any) -> None:
        self.sink = Sink()
        self.client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        settings = None
        if upgrade:
            settings = self.client.initiate_upgrade_connection()
        else:
            self.client.initiate_connection()
        self.front = H2Front(self.sink, default_limits(**limits), 0.0, upgrade_settings=settings)
        self.now = 0.0
        self.events: list[Any] = []

    def send(self, now: float | None = None) -> None:
        """Client -> front, then front -> client."""
        self.front.feed(self.client.data_to_send(), self.now if now is None else now)
        self.receive()

    def raw(self, data: bytes) -> None:
        self.front.feed(data, self.now)

    def receive(self) -> list[Any]:
        events = self.client.receive_data(self.front.output())
        self.events += events
        return events

    def of(self, kind: type) -> list[Any]:
        return [event for event in self.events if isinstance(event, kind)]


def test_a_request_reaches_the_sink_like_an_http1_one() -> None:
    pair = Pair()
    pair.client.send_headers(1, [*GET, (b"accept", b"*/*")], end_stream=True)
    pair.client.send_headers(3, [*GET[:3], (b":authority", b"b"), (b"host", b"b")], end_stream=True)
    pair.send()
    assert pair.sink.calls == [
        ("request", 1, b"GET", b"/a?b=1", b"https", [(b"host", b"example.com"), (b"accept", b"*/*")]),
        ("end", 1),
        ("request", 3, b"GET", b"/a?b=1", b"https", [(b"host", b"b")]),  # the client's own Host is kept
        ("end", 3),
    ]
    settings = pair.of(h2.events.RemoteSettingsChanged)[0].changed_settings
    assert settings[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS].new_value == 100
    assert settings[h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE].new_value == 65536
    # The connection window covers every stream's window at once.
    assert pair.client.outbound_flow_control_window == 100 * 65535


def test_a_connect_request_has_its_authority_as_target() -> None:
    pair = Pair()
    pair.client.send_headers(1, [(b":method", b"CONNECT"), (b":authority", b"example.com:443")])
    pair.send()
    assert pair.sink.calls == [("request", 1, b"CONNECT", b"example.com:443", b"", [(b"host", b"example.com:443")])]


def test_a_body_is_given_back_to_the_client_only_when_acknowledged() -> None:
    pair = Pair(initial_window_size=100)
    pair.send()  # the client learns the window
    pair.client.send_headers(1, [(b":method", b"POST"), *GET[1:]])
    pair.client.send_data(1, b"x" * 90, pad_length=9)
    pair.send()
    assert pair.sink.calls[1] == ("body", 1, b"x" * 90, 100)
    assert pair.client.local_flow_control_window(1) == 0
    pair.front.acknowledge(1, 100)
    pair.receive()
    assert pair.client.local_flow_control_window(1) == 100
    pair.client.end_stream(1)
    pair.send()
    assert pair.sink.calls[-1] == ("end", 1)


def test_a_response_within_the_window_is_sent_at_once() -> None:
    pair = Pair()
    pair.client.send_headers(1, GET, end_stream=True)
    pair.send()
    pair.front.send_head(1, [(b":status", b"200")], end_stream=False)
    assert pair.front.send_data(1, b"hello", end_stream=True) == 0
    pair.receive()
    assert pair.of(h2.events.ResponseReceived)[0].headers == [(b":status", b"200")]
    assert pair.of(h2.events.DataReceived)[0].data == b"hello"
    assert pair.of(h2.events.StreamEnded)


def test_unsent_counts_the_frames_made_until_output_takes_them() -> None:
    pair = Pair()
    pair.client.send_headers(1, GET, end_stream=True)
    pair.send()
    pair.front.output()
    assert pair.front.unsent() == 0
    pair.front.send_head(1, [(b":status", b"200")], end_stream=False)
    pair.front.send_data(1, b"x" * 1000, end_stream=False)
    pair.front.goaway()  # a frame the front keeps aside from h2's buffer
    unsent = pair.front.unsent()
    assert unsent > 1000 + 9 + 17
    assert len(pair.front.output()) == unsent
    assert pair.front.unsent() == 0


def test_a_response_beyond_the_window_waits_for_window_updates() -> None:
    pair = Pair()
    pair.client.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 10})
    pair.client.send_headers(1, GET, end_stream=True)
    pair.send()
    pair.receive()
    pair.front.send_head(1, [(b":status", b"200")], end_stream=False)
    assert pair.front.send_data(1, b"0123456789abcdef", end_stream=False) == 6
    assert pair.front.send_data(1, b"ghij", end_stream=True) == 10  # appended behind what waits
    assert pair.front.buffered(1) == 10
    assert pair.front.buffered(3) == 0
    pair.receive()
    pair.client.increment_flow_control_window(4, 1)
    pair.send()
    assert pair.front.buffered(1) == 6
    pair.client.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 100})
    pair.send()
    pair.receive()
    assert b"".join(event.data for event in pair.of(h2.events.DataReceived)) == b"0123456789abcdefghij"
    assert pair.of(h2.events.StreamEnded)
    assert pair.front.buffered(1) == 0


def test_a_stream_stalled_on_a_zero_window_is_reset_after_the_stall_timeout() -> None:
    pair = Pair(stall_timeout=5.0)
    pair.client.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
    pair.client.send_headers(1, GET, end_stream=True)
    pair.client.send_headers(3, GET, end_stream=True)
    pair.send()
    for stream_id in (1, 3):
        pair.front.send_head(stream_id, [(b":status", b"200")], end_stream=False)
        pair.front.send_data(stream_id, b"stuck", end_stream=True)
    pair.receive()
    assert pair.front.expire_stalled(10.0) == []  # first seen blocked now
    pair.client.increment_flow_control_window(1, 3)  # stream 3 moves a little: its clock restarts
    pair.send()
    assert pair.front.expire_stalled(12.0) == []
    assert pair.front.expire_stalled(15.0) == [1]
    assert pair.front.expire_stalled(16.0) == []
    assert pair.front.expire_stalled(17.0) == [3]
    pair.receive()
    assert {(e.stream_id, e.error_code) for e in pair.of(h2.events.StreamReset)} == {
        (1, ErrorCodes.CANCEL),
        (3, ErrorCodes.CANCEL),
    }


def test_a_client_reset_drops_the_streams_buffer_and_tells_the_sink() -> None:
    pair = Pair()
    pair.client.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
    pair.client.send_headers(1, GET, end_stream=True)
    pair.send()
    pair.front.send_head(1, [(b":status", b"200")], end_stream=False)
    pair.front.send_data(1, b"waiting", end_stream=True)
    pair.client.reset_stream(1, ErrorCodes.CANCEL)
    pair.send()
    assert pair.sink.calls[-1] == ("reset", 1)
    assert pair.front.buffered(1) == 0
    pair.front.reset(1)  # already closed by the client: nothing happens
    pair.front.acknowledge(1, 10)


def test_our_reset_of_a_failed_stream_is_internal_error() -> None:
    pair = Pair()
    pair.client.send_headers(1, GET, end_stream=True)
    pair.send()
    pair.front.send_head(1, [(b":status", b"200")], end_stream=False)
    pair.front.reset(1)
    pair.receive()
    assert pair.of(h2.events.StreamReset)[0].error_code == ErrorCodes.INTERNAL_ERROR


def test_an_h2c_upgrade_makes_stream_1_the_upgraded_request() -> None:
    pair = Pair(upgrade=True)
    pair.front.send_head(1, [(b":status", b"200")], end_stream=True)
    pair.send()
    assert pair.of(h2.events.ResponseReceived)[0].stream_id == 1
    assert pair.front.streams_opened == 1


def test_invalid_upgrade_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="HTTP2-Settings"):
        H2Front(Sink(), default_limits(), 0.0, upgrade_settings=b"AAMAAABkAA==")  # 7 bytes: no whole entries


def frames(data: bytes) -> list[tuple[int, int, bytes]]:
    """(type, stream id, payload) of each whole frame in `data`."""
    found = []
    while len(data) >= 9:
        length = int.from_bytes(data[:3], "big")
        found.append((data[3], int.from_bytes(data[5:9], "big"), data[9 : 9 + length]))
        data = data[9 + length :]
    return found


def test_goaway_lets_streams_below_it_finish_and_refuses_those_above() -> None:
    pair = Pair()
    pair.client.send_headers(1, [(b":method", b"POST"), *GET[1:]])
    pair.send()
    pair.front.goaway()
    pair.front.goaway(99)  # a second call changes nothing
    # The client sends on before it reads the GOAWAY: stream 1 goes on, stream 3 is refused.
    pair.client.send_data(1, b"body", end_stream=True)
    pair.client.send_headers(3, GET, end_stream=True)
    pair.raw(pair.client.data_to_send())
    assert pair.sink.calls[1:] == [("body", 1, b"body", 4), ("end", 1), ("end", 3)]  # 3 never had a request
    pair.front.send_head(1, [(b":status", b"204")], end_stream=True)
    pair.front.close()
    sent = [(kind, stream, payload) for kind, stream, payload in frames(pair.front.output()) if kind in (1, 3, 7)]
    goaway_1 = (7, 0, (1).to_bytes(4, "big") + bytes(4))  # last stream 1, NO_ERROR
    assert sent == [goaway_1, (3, 3, (7).to_bytes(4, "big")), (1, 1, sent[2][2]), goaway_1]  # REFUSED_STREAM


def test_a_drain_announces_goaway_then_names_the_last_stream_once_the_ping_returns() -> None:
    pair = Pair()
    pair.client.send_headers(1, GET, end_stream=True)
    pair.send()
    pair.front.begin_drain()
    pair.front.begin_drain()  # once
    sent = frames(pair.front.output())
    assert [(kind, payload) for kind, _, payload in sent] == [(6, b"serve-gw"), (7, b"\x7f\xff\xff\xff" + bytes(4))]
    # A stream the client sent before it saw the announcement is still served.
    encoded = pair.client.encoder.encode(GET)
    pair.raw(b"%s\x01\x05\x00\x00\x00\x03%s" % (len(encoded).to_bytes(3, "big"), encoded))
    assert pair.sink.calls[-2:] == [
        ("request", 3, b"GET", b"/a?b=1", b"https", [(b"host", b"example.com")]),
        ("end", 3),
    ]
    pair.raw(b"\x00\x00\x08\x06\x01\x00\x00\x00\x00serve-gw")  # the PING's answer
    pair.raw(b"\x00\x00\x08\x06\x01\x00\x00\x00\x00other-pg")  # someone else's: nothing
    assert pair.front.last_stream_id == 3
    assert frames(pair.front.output())[-1] == (7, 0, (3).to_bytes(4, "big") + bytes(4))
    pair.front.begin_drain()  # after the final GOAWAY: nothing
    assert pair.front.output() == b""


def test_the_stream_cap_sends_a_graceful_goaway_at_the_last_stream_served() -> None:
    pair = Pair(max_streams_per_connection=2)
    pair.client.send_headers(1, GET, end_stream=True)
    pair.client.send_headers(3, GET, end_stream=True)
    pair.send()
    assert [call[1] for call in pair.sink.calls if call[0] == "request"] == [1, 3]
    assert pair.of(h2.events.ConnectionTerminated)[0].last_stream_id == 3


def test_too_many_header_fields_end_the_connection_calmly() -> None:
    pair = Pair(max_header_fields=3)
    pair.client.send_headers(1, [*GET, *[(b"x-%d" % i, b"v") for i in range(4)]], end_stream=True)
    with pytest.raises(ConnectionEndedError, match="more than 3 header fields") as ended:
        pair.send()
    assert ended.value.abuse
    pair.receive()
    assert pair.of(h2.events.ConnectionTerminated)[0].error_code == ErrorCodes.ENHANCE_YOUR_CALM
    assert pair.sink.calls == []
    pair.raw(b"anything")  # a closed front takes nothing more


def test_a_ping_flood_ends_the_connection_calmly() -> None:
    pair = Pair(control_frame_budget=5)
    for i in range(6):
        pair.client.ping(b"%08d" % i)
    with pytest.raises(ConnectionEndedError) as ended:
        pair.send()
    assert ended.value.abuse
    pair.receive()
    assert pair.of(h2.events.ConnectionTerminated)[0].error_code == ErrorCodes.ENHANCE_YOUR_CALM
    assert not pair.of(h2.events.PingAckReceived)  # the flood never reached h2


def test_resets_the_client_provokes_count_against_the_reset_budget() -> None:
    # MadeYouReset: DATA on a stream the client reset makes h2 answer RST_STREAM on its own.
    pair = Pair(reset_budget=2)
    pair.client.send_headers(1, [(b":method", b"POST"), *GET[1:]])
    pair.send()
    pair.client.reset_stream(1)
    pair.send()  # one reset: the client's
    data_on_1 = b"\x00\x00\x01\x00\x00\x00\x00\x00\x01x"
    pair.raw(data_on_1)  # two: h2's answer
    with pytest.raises(ConnectionEndedError, match="2 stream resets a minute"):
        pair.raw(data_on_1)


def test_a_protocol_error_ends_the_connection_with_h2s_goaway() -> None:
    pair = Pair()
    with pytest.raises(ConnectionEndedError, match="protocol error") as ended:
        pair.raw(b"GET / HTTP/1.1\r\n\r\n" + b"\x00" * 16)
    assert (ended.value.abuse, ended.value.error) == (False, True)
    assert [kind for kind, _, _ in frames(pair.front.output())] == [4, 8, 7]  # SETTINGS, WINDOW_UPDATE, GOAWAY
    pair.front.goaway()  # nothing more after the end
    pair.front.close()
    assert pair.front.output() == b""


def test_a_protocol_error_h2_answers_itself_gets_one_goaway() -> None:
    pair = Pair()
    pair.client.send_headers(1, GET, end_stream=True)
    pair.send()
    with pytest.raises(ConnectionEndedError, match="protocol error"):
        pair.raw(b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x")  # DATA on stream 0 (RFC 9113 §6.1)
    assert [kind for kind, _, _ in frames(pair.front.output())] == [7]


def test_the_clients_goaway_ends_the_connection() -> None:
    pair = Pair()
    pair.client.close_connection()
    with pytest.raises(ConnectionEndedError, match="client sent GOAWAY"):
        pair.send()


def test_default_fields_turn_header_lines_into_pairs() -> None:
    assert default_fields(b"date: Mon\r\nserver: serve\r\nx-a: b: c\r\n") == [
        (b"date", b"Mon"),
        (b"server", b"serve"),
        (b"x-a", b"b: c"),
    ]
    assert default_fields(b"") == []


DEFAULTS = [(b"date", b"Mon"), (b"server", b"serve")]


def test_response_headers_add_defaults_and_a_known_length() -> None:
    assert response_headers(200, [(b"Content-Type", b"text/plain")], DEFAULTS, 5) == [
        (b":status", b"200"),
        *DEFAULTS,
        (b"content-type", b"text/plain"),
        (b"content-length", b"5"),
    ]
    assert response_headers(200, [], DEFAULTS, -1) == [(b":status", b"200"), *DEFAULTS]
    assert response_headers(204, [], [], 0) == [(b":status", b"204")]
    assert response_headers(304, [], [], 0) == [(b":status", b"304")]
    assert response_headers(101, [], [], 0) == [(b":status", b"101")]
    assert response_headers(200, [(b"content-length", b"9")], [], 3) == [
        (b":status", b"200"),
        (b"content-length", b"9"),
    ]


def test_response_headers_drop_connection_fields_and_let_the_app_override_defaults() -> None:
    headers = [(b"Connection", b"close"), (b"transfer-encoding", b"chunked"), (b"Server", b"app"), (b"x", b"1")]
    assert response_headers(200, headers, DEFAULTS, -1) == [
        (b":status", b"200"),
        (b"date", b"Mon"),
        (b"server", b"app"),
        (b"x", b"1"),
    ]


@pytest.mark.parametrize(
    ("status", "headers"),
    [(99, []), (1000, []), (200, [(b"x", b"a\r\nb")]), (200, [("x", "y")])],
)
def test_response_headers_refuse_what_http1_refuses(status: int, headers: Any) -> None:
    with pytest.raises(RuntimeError):
        response_headers(status, headers, [], -1)


def raw_headers(pair: Pair, headers: list[tuple[bytes, bytes]], *, flags: int = 0x5, stream_id: int = 1) -> bytes:
    """A HEADERS frame the client library would refuse to send, encoded with its own HPACK encoder."""
    block = pair.client.encoder.encode(headers)
    return len(block).to_bytes(3, "big") + bytes((1, flags)) + stream_id.to_bytes(4, "big") + block


@pytest.mark.parametrize(
    "headers",
    [
        [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"), (b"Accept", b"*/*")],  # §8.2.1 uppercase
        [*GET, (b"connection", b"keep-alive")],  # §8.2.2 connection-specific field
        [*GET, (b"te", b"gzip")],  # §8.2.2 TE other than "trailers"
        [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"x")],  # §8.3.1 no :path
        [(b":method", b"GET"), (b":path", b"/"), (b":authority", b"x")],  # §8.3.1 no :scheme
        [(b":path", b"/"), (b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/b")],  # §8.3 repeated
        [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"), (b":status", b"200")],  # §8.3 response pseudo
        [(b"accept", b"*/*"), (b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/")],  # §8.3 pseudo after
        [*GET, (b"x-a", b"a\r\nb")],  # §8.2.1 CR/LF in a value
    ],
    ids=["uppercase", "connection", "te", "no-path", "no-scheme", "repeated", "status", "pseudo-after", "crlf"],
)
def test_malformed_request_heads_are_protocol_errors(headers: list[tuple[bytes, bytes]]) -> None:
    # RFC 9113 §8.1.1: a malformed request is a stream or connection error of type PROTOCOL_ERROR;
    # h2 treats each as a connection error, and the request never reaches the app.
    pair = Pair()
    pair.raw(pair.client.data_to_send())
    with pytest.raises(ConnectionEndedError, match="protocol error"):
        pair.raw(raw_headers(pair, headers))
    assert pair.sink.calls == []
    assert [kind for kind, _, payload in frames(pair.front.output()) if kind == 7]


def test_a_stream_id_that_goes_backwards_is_a_protocol_error() -> None:
    # RFC 9113 §5.1.1: a stream identifier lower than one already opened.
    pair = Pair()
    pair.raw(pair.client.data_to_send())
    pair.raw(raw_headers(pair, GET, stream_id=5))
    with pytest.raises(ConnectionEndedError, match="protocol error"):
        pair.raw(raw_headers(pair, GET, stream_id=3))


def test_data_beyond_the_stream_window_is_a_flow_control_error() -> None:
    # RFC 9113 §6.9.1: a sender must not exceed the window; the receiver answers FLOW_CONTROL_ERROR.
    pair = Pair(initial_window_size=10)
    pair.raw(pair.client.data_to_send())
    pair.raw(raw_headers(pair, [(b":method", b"POST"), *GET[1:]], flags=0x4))
    with pytest.raises(ConnectionEndedError):
        pair.raw(b"\x00\x00\x14\x00\x00\x00\x00\x00\x01" + bytes(20))
    goaway = [payload for kind, _, payload in frames(pair.front.output()) if kind == 7]
    assert int.from_bytes(goaway[0][4:8], "big") == ErrorCodes.FLOW_CONTROL_ERROR


# Our own request checks (h2's inbound validation is off for speed) --------------------------


@pytest.mark.parametrize(
    "headers",
    [
        [*GET, (b":custom", b"x")],  # §8.3 an unknown pseudo-header
        [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b""), (b":authority", b"x")],  # §8.3.1 empty :path
        [*GET, (b"x:y", b"1")],  # §8.2.1 a colon in a name
        [*GET, (b"", b"1")],  # §8.2.1 an empty name
        [*GET, (b"x-a", b"a\x00b")],  # §8.2.1 NUL in a value
        [*GET, (b"x-a", b" a")],  # §8.2.1 leading whitespace
        [*GET, (b"x-a", b"a\t")],  # §8.2.1 trailing whitespace
        [*GET, (b"upgrade", b"h2c")],  # §8.2.2
        [*GET, (b"host", b"example.com"), (b"host", b"example.com")],  # two hosts
        [*GET, (b"host", b"other.example")],  # §8.3.1 :authority and host differ
        [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/")],  # neither :authority nor host
        [(b":scheme", b"http"), (b":path", b"/"), (b":authority", b"x")],  # §8.3.1 no :method
        [(b":method", b"CONNECT"), (b":path", b"/"), (b":authority", b"x:1")],  # §8.5 CONNECT with :path
        [*GET, (b":protocol", b"websocket")],  # RFC 8441 §4: :protocol only with CONNECT
        [(b":method", b"CONNECT"), (b":protocol", b"websocket"), (b":authority", b"x")],  # ... and :path, :scheme
        [(b":method", b"GET"), (b"cookie", b"a=1"), (b":scheme", b"http"), (b":path", b"/")],  # pseudo after cookie
    ],
    ids=[
        "unknown-pseudo",
        "empty-path",
        "colon",
        "empty-name",
        "nul",
        "leading-space",
        "trailing-tab",
        "upgrade",
        "two-hosts",
        "host-differs",
        "no-authority",
        "no-method",
        "connect-path",
        "protocol-without-connect",
        "extended-connect-no-path",
        "pseudo-after-cookie",
    ],
)
def test_more_malformed_request_heads_are_protocol_errors(headers: list[tuple[bytes, bytes]]) -> None:
    # RFC 9113 §8.1.1: checked by the front itself (h2's inbound validation is off), answered alike.
    pair = Pair()
    pair.raw(pair.client.data_to_send())
    with pytest.raises(ConnectionEndedError, match="protocol error"):
        pair.raw(raw_headers(pair, headers))
    assert pair.sink.calls == []
    goaway = [payload for kind, _, payload in frames(pair.front.output()) if kind == 7]
    assert int.from_bytes(goaway[0][4:8], "big") == ErrorCodes.PROTOCOL_ERROR


def test_cookies_are_joined() -> None:
    pair = Pair()
    pair.raw(pair.client.data_to_send())
    pair.raw(raw_headers(pair, [*GET, (b"cookie", b"a=1"), (b"x-a", b"1"), (b"cookie", b"b=2")]))
    assert pair.sink.calls == [
        (
            "request",
            1,
            b"GET",
            b"/a?b=1",
            b"https",
            [(b"host", b"example.com"), (b"x-a", b"1"), (b"cookie", b"a=1; b=2")],
        ),
        ("end", 1),
    ]
    # An extended CONNECT where it was not offered (no connect sink) is malformed (RFC 8441 §3):
    # tests/unit/protocol/test_h2_front_hunt2.py.


def test_cookies_count_towards_the_header_field_cap() -> None:
    pair = Pair(max_header_fields=2)
    pair.raw(pair.client.data_to_send())
    with pytest.raises(ConnectionEndedError, match="header fields"):
        pair.raw(raw_headers(pair, [*GET, (b"cookie", b"a=1"), (b"cookie", b"b=2"), (b"x-a", b"1")]))


def test_the_well_formed_fields_remembered_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("supervisor.protocol.h2_front._VALID_FIELDS_KEPT", 3)
    pair = Pair()
    pair.raw(pair.client.data_to_send())
    pair.raw(raw_headers(pair, [*GET, (b"x-a", b"1")]))
    assert len(pair.front._valid_fields) <= 3
    pair.raw(raw_headers(pair, [*GET, (b"x-a", b"1")], stream_id=3))
    assert [call[1] for call in pair.sink.calls if call[0] == "request"] == [1, 3]
    with pytest.raises(ConnectionEndedError, match="invalid value"):  # a valid one is no pass for a bad one
        pair.raw(raw_headers(pair, [*GET, (b"x-a", b"a\r\nb")], stream_id=5))


def trailers(pair: Pair, headers: list[tuple[bytes, bytes]]) -> bytes:
    return raw_headers(pair, headers, flags=0x5, stream_id=1)


def test_trailers_are_checked_and_otherwise_ignored() -> None:
    pair = Pair()
    pair.raw(pair.client.data_to_send())
    pair.raw(raw_headers(pair, [(b":method", b"POST"), *GET[1:]], flags=0x4))
    pair.raw(trailers(pair, [(b"x-checksum", b"abc")]))
    assert pair.sink.calls[-1] == ("end", 1)


@pytest.mark.parametrize(
    "fields", [[(b":path", b"/")], [(b"x-checksum", b"a\nb")], [(b"te", b"gzip")]], ids=["pseudo", "crlf", "te"]
)
def test_malformed_trailers_are_protocol_errors(fields: list[tuple[bytes, bytes]]) -> None:
    # RFC 9113 §8.1: trailers carry no pseudo-header, and follow the field rules of §8.2.
    pair = Pair()
    pair.raw(pair.client.data_to_send())
    pair.raw(raw_headers(pair, [(b":method", b"POST"), *GET[1:]], flags=0x4))
    with pytest.raises(ConnectionEndedError, match="protocol error"):
        pair.raw(trailers(pair, fields))


# HPACK blocks reused while the dynamic table is unchanged ---------------------------------------

FIELDS = [(b":status", b"200"), (b"server", b"serve"), (b"x-a", b"1")]


def test_an_encoder_reuses_a_block_only_while_its_table_is_unchanged() -> None:
    encoder, plain, client = _ReusingEncoder(), hpack.Encoder(), hpack.Decoder()
    blocks = [encoder.encode(FIELDS) for _ in range(3)]  # inserts, then all indexed, then reused
    assert blocks == [plain.encode(FIELDS) for _ in range(3)]
    assert blocks[1] is blocks[2]
    assert [client.decode(block, raw=True) for block in blocks] == [FIELDS] * 3
    assert encoder.encode([(b"x-b", b"2")]) == plain.encode([(b"x-b", b"2")])  # a new entry: the table moved
    encoder.header_table_size = plain.header_table_size = 100  # a resize is announced, never replayed
    assert encoder.encode(FIELDS) == plain.encode(FIELDS)
    assert encoder.encode(FIELDS) == plain.encode(FIELDS)


def test_an_encoder_drops_its_blocks_when_an_encode_moves_the_table() -> None:
    # A block made before another head added an entry refers to indices that have moved since:
    # replayed, the client would read other fields (found by a fault hunt, stop 19).
    encoder, plain, client = _ReusingEncoder(), hpack.Encoder(), hpack.Decoder()
    short = [(b":status", b"200"), (b"server", b"serve")]
    heads = [[*short, (b"content-length", b"100")], short, short, [(b"x-trailer", b"1")], short]
    for head in heads:
        block = encoder.encode(head)
        assert block == plain.encode(head)
        assert client.decode(block, raw=True) == head


def test_a_decoder_drops_its_lists_when_a_decode_moves_the_table() -> None:
    client, decoder = hpack.Encoder(), _ReusingDecoder()
    pseudo = [(b":method", b"GET"), (b":path", b"/"), (b":scheme", b"http")]
    heads = [
        [*pseudo, (b":authority", b"x"), (b"x-id", b"1")],
        [*pseudo, (b":authority", b"x"), (b"x-id", b"1")],  # all indexed: kept
        [*pseudo, (b":authority", b"x"), (b"x-id", b"2")],  # adds an entry: every index moves
        [*pseudo, (b"x-id", b"1"), (b"x-id", b"2")],  # the same bytes as the second head
    ]
    for head in heads:
        assert list(decoder.decode(client.encode(head), raw=True)) == head


def test_an_encoders_blocks_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("supervisor.protocol.h2_front._BLOCKS_KEPT", 1)
    encoder = _ReusingEncoder()
    encoder.encode([(b":status", b"200")])  # static table only: reusable at once
    encoder.encode([(b":status", b"404")])
    assert list(encoder._blocks) == [((b":status", b"404"),)]


def test_a_decoder_reuses_a_list_only_while_its_table_is_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("supervisor.protocol.h2_front._BLOCKS_KEPT", 1)
    client, decoder = hpack.Encoder(), _ReusingDecoder()
    inserting = client.encode(FIELDS)
    indexed = client.encode(FIELDS)
    assert decoder.decode(inserting, raw=True) == FIELDS
    first = decoder.decode(indexed, raw=True)
    assert decoder.decode(indexed, raw=True) is first  # reused
    assert decoder.decode(client.encode([(b":status", b"204")]), raw=True) == [(b":status", b"204")]  # the bound
    assert decoder.decode(indexed, raw=True) == FIELDS
    long = client.encode([(b"x-long", b"v" * 2000)])
    assert decoder.decode(long, raw=True) == [(b"x-long", b"v" * 2000)]  # changes the table: never kept
    again = client.encode([(b"x-long", b"v" * 2000)])
    assert decoder.decode(again, raw=True) == decoder.decode(again, raw=True)
    assert not any(len(key[1]) > 1024 for key in decoder._lists)


# The whole-response fast path ---------------------------------------------------------------------


def answered_pair(requests: int = 1) -> Pair:
    pair = Pair()
    for stream_id in range(1, 2 * requests, 2):
        pair.client.send_headers(stream_id, GET, end_stream=True)
    pair.send()
    return pair


@pytest.mark.parametrize(
    ("body", "extra"),
    [(b"hello", b""), (b"", b""), (b"hello", bytes(range(256)) * 200)],
    ids=["body", "no-body", "head-beyond-a-frame"],
)
def test_send_response_writes_what_h2_would_and_leaves_the_same_state(body: bytes, extra: bytes) -> None:
    fast, slow = answered_pair(2), answered_pair(2)
    head = [(b":status", b"200"), (b"content-length", b"%d" % len(body)), (b"x-big", extra)]
    for stream_id in (1, 3):
        assert fast.front.send_response(stream_id, head, body)
        slow.front.send_head(stream_id, head, end_stream=not body)
        if body:
            slow.front.send_data(stream_id, body, end_stream=True)
    assert fast.front.output() == slow.front.output()
    for pair in (fast, slow):
        assert pair.front._conn.outbound_flow_control_window == 65535 - 2 * len(body)
        assert [pair.front._conn.streams[s].closed for s in (1, 3)] == [True, True]


def test_send_response_declines_what_it_cannot_send_at_once() -> None:
    pair = Pair()
    pair.client.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 10})
    for stream_id in (1, 3, 5, 7):
        pair.client.send_headers(stream_id, GET, end_stream=True)
    pair.client.reset_stream(7)
    pair.send()
    pair.receive()
    head = [(b":status", b"200")]
    assert not pair.front.send_response(9, head, b"")  # no such stream
    assert not pair.front.send_response(7, head, b"")  # reset by the client
    assert not pair.front.send_response(1, head, b"x" * 11)  # beyond the stream's window
    pair.front.send_head(5, head, end_stream=False)
    pair.front.send_data(5, b"x" * 20, end_stream=False)  # 10 bytes wait for the window
    assert not pair.front.send_response(5, head, b"")
    assert pair.front.output().count(b"x") == 10  # nothing more was sent


def test_a_table_size_announced_twice_is_never_replayed() -> None:
    encoder, plain = _ReusingEncoder(), hpack.Encoder()
    head = [(b":status", b"200")]
    assert encoder.encode(head) == plain.encode(head)
    for size in (100, 4096):  # back where it was, but the changes are still to be announced
        encoder.header_table_size = plain.header_table_size = size
    assert encoder.encode(head) == plain.encode(head) != b"\x88"
    assert encoder.encode(head) == plain.encode(head) == b"\x88"


def test_a_decoder_limit_lowered_later_applies_to_a_block_seen_before() -> None:
    client, decoder = hpack.Encoder(), _ReusingDecoder()
    fields = [(b":status", b"200"), (b"x-a", b"v" * 100)]
    decoder.decode(client.encode(fields), raw=True)
    block = client.encode(fields)  # indexed: decoded once, then reused
    assert decoder.decode(block, raw=True) is decoder.decode(block, raw=True)
    decoder.max_header_list_size = 100
    with pytest.raises(hpack.OversizedHeaderListError):
        decoder.decode(block, raw=True)


# A request's lone HEADERS frame skips h2's frame layer --------------------------------------------


def test_a_head_cut_anywhere_is_read_whole_through_h2s_buffer() -> None:
    pair = Pair()
    pair.raw(pair.client.data_to_send())
    pair.client.send_headers(1, GET, end_stream=True)
    pair.client.send_headers(3, GET, end_stream=True)
    data = pair.client.data_to_send()
    pair.raw(data[:13])  # inside the first frame: h2 keeps the piece
    pair.raw(data[13:])  # h2 holds a piece: everything goes its way
    pair.client.send_headers(5, GET, end_stream=True)
    # Nothing held: the plain way again, from any buffer type a transport may hand over.
    pair.front.feed(cast(bytes, bytearray(pair.client.data_to_send())), pair.now)
    assert [call[:2] for call in pair.sink.calls if call[0] == "request"] == [
        ("request", 1),
        ("request", 3),
        ("request", 5),
    ]


def test_a_head_inside_another_streams_header_block_is_a_protocol_error() -> None:
    # RFC 9113 §6.10: nothing but CONTINUATION may follow a HEADERS frame without END_HEADERS.
    pair = Pair()
    pair.raw(pair.client.data_to_send())
    unfinished = raw_headers(pair, GET, flags=0x1)  # END_STREAM, no END_HEADERS
    with pytest.raises(ConnectionEndedError, match="protocol error"):
        pair.raw(unfinished + raw_headers(pair, GET, stream_id=3))
    assert pair.sink.calls == []


def test_an_undecodable_head_on_the_plain_way_is_a_compression_error() -> None:
    # RFC 9113 §4.3: index 127 is in neither table.
    pair = Pair()
    pair.raw(pair.client.data_to_send())
    with pytest.raises(ConnectionEndedError, match="protocol error"):
        pair.raw(b"\x00\x00\x02\x01\x05\x00\x00\x00\x01\xff\x00")
    goaway = [payload for kind, _, payload in frames(pair.front.output()) if kind == 7]
    assert int.from_bytes(goaway[0][4:8], "big") == ErrorCodes.COMPRESSION_ERROR


def test_the_plain_way_in_ends_where_h2s_own_does(monkeypatch: pytest.MonkeyPatch) -> None:
    pairs = [Pair(), Pair()]
    monkeypatch.setattr(pairs[1].front, "_opens_plainly", lambda stream_id, length: False)  # h2 all the way
    for pair in pairs:
        pair.raw(pair.client.data_to_send())
        pair.client.send_headers(1, [*GET, (b"x-a", b"1")], end_stream=True)
        pair.client.send_headers(3, [(b":method", b"POST"), *GET[1:]])
        pair.client.send_data(3, b"body", end_stream=True)
        pair.client.send_headers(5, GET, end_stream=True)
        pair.raw(pair.client.data_to_send())
    fast, slow = (pair.front for pair in pairs)
    assert pairs[0].sink.calls == pairs[1].sink.calls
    assert fast.output() == slow.output()
    for stream_id in (1, 3, 5):
        assert fast._conn.streams[stream_id].state_machine.state == slow._conn.streams[stream_id].state_machine.state
    assert fast._conn.highest_inbound_stream_id == slow._conn.highest_inbound_stream_id == 5


def test_more_streams_than_advertised_is_a_broken_limit_ended_with_protocol_error() -> None:
    pair = Pair(max_concurrent_streams=2)
    for stream_id in (1, 3):
        pair.client.send_headers(stream_id, GET)
    pair.send()
    # h2 would not send a third: encoded by the client's encoder, framed by hand.
    block = pair.client.encoder.encode(GET)
    with pytest.raises(ConnectionEndedError, match="protocol error") as ended:
        pair.raw(len(block).to_bytes(3, "big") + b"\x01\x05" + (5).to_bytes(4, "big") + block)
    assert (ended.value.abuse, ended.value.error) == (True, True)  # counted as a limit, logged as a warning


def test_a_header_list_over_its_size_is_a_broken_limit() -> None:
    pair = Pair(max_header_list_size=200)
    pair.client.send_headers(1, [*GET, (b"x-big", b"b" * 300)], end_stream=True)
    with pytest.raises(ConnectionEndedError, match="protocol error") as ended:
        pair.send()
    assert (ended.value.abuse, ended.value.error) == (True, True)
    pair.receive()
    assert pair.of(h2.events.ConnectionTerminated)[0].error_code == ErrorCodes.ENHANCE_YOUR_CALM
