"""HTTP/2 front faults found by the second fault hunt, in-process (h2 as the client).

The encoder's table size capped whatever the client announces, long fields sent without
Huffman coding, no control-frame credit for small DATA frames (a dribble spread over streams),
`:method` and `:path` checked as HTTP/1.1 checks them, and extended CONNECT refused where it
was not offered or when it closes its stream at once.
"""

from __future__ import annotations

from typing import Any

import h2.events
import h2.settings
import hpack
import pytest
from h2.errors import ErrorCodes
from h2_defaults import default_limits
from test_h2_front import GET, Pair, raw_headers

from supervisor.protocol.h2_front import (
    ENCODER_TABLE_MAX,
    HUFFMAN_MAX,
    ConnectionEndedError,
    H2Front,
    _ReusingDecoder,
    _ReusingEncoder,
)
from supervisor.protocol.h2_limits import EARNING_FRAME_MIN

CONNECT = [
    (b":method", b"CONNECT"),
    (b":protocol", b"websocket"),
    (b":scheme", b"https"),
    (b":path", b"/ws"),
    (b":authority", b"example.com"),
]


def settings_pair(**values: int) -> Pair:
    """A pair whose client announces `values` (SettingCodes names) in its first SETTINGS."""
    pair = Pair()
    pair.client.update_settings({getattr(h2.settings.SettingCodes, name): value for name, value in values.items()})
    pair.send()
    pair.send()  # the front's ACK reaches the client, which then applies its own side
    return pair


def test_the_encoder_table_stays_within_its_cap_whatever_the_client_announces() -> None:
    pair = settings_pair(HEADER_TABLE_SIZE=2**30)
    encoder = pair.front._conn.encoder
    assert encoder.header_table_size == ENCODER_TABLE_MAX
    for index in range(50):  # distinct 1 KB fields: each would stay in a 1 GiB table
        pair.client.send_headers(2 * index + 1, GET, end_stream=True)
        pair.send()
        pair.front.send_head(
            2 * index + 1, [(b":status", b"302"), (b"location", b"/%d" % index + b"a" * 1000)], end_stream=True
        )
        pair.receive()
    assert encoder.header_table._current_size <= ENCODER_TABLE_MAX
    locations = [dict(event.headers)[b"location"] for event in pair.of(h2.events.ResponseReceived)]
    assert locations == [b"/%d" % index + b"a" * 1000 for index in range(50)]  # the client decodes them all


def test_a_smaller_table_size_is_taken_and_signalled() -> None:
    pair = settings_pair(HEADER_TABLE_SIZE=100)
    assert pair.front._conn.encoder.header_table_size == 100
    pair.client.send_headers(1, GET, end_stream=True)
    pair.send()
    pair.front.send_head(1, [(b":status", b"200"), (b"x-a", b"b" * 200)], end_stream=True)
    pair.receive()  # the client's decoder would refuse a table over its 100 bytes
    assert dict(pair.of(h2.events.ResponseReceived)[0].headers)[b"x-a"] == b"b" * 200


def test_long_fields_are_sent_without_huffman_coding_and_short_ones_with_it() -> None:
    encoder = _ReusingEncoder()
    long_value = b"a" * HUFFMAN_MAX
    short = encoder.encode([(b"x-short", b"aaaaaaaaaaaaaaaa")])
    long = encoder.encode([(b"x-long", long_value)])
    assert b"aaaaaaaaaaaaaaaa" not in short  # Huffman-coded
    assert long_value in long  # the value as it is: no Huffman coding
    assert len(long) > len(long_value)
    decoded = hpack.Decoder().decode(short + long, raw=True)
    assert decoded == [(b"x-short", b"aaaaaaaaaaaaaaaa"), (b"x-long", long_value)]
    # At the cap exactly (name and value together), still coded.
    edge = encoder.encode([(b"x-edge", b"b" * (HUFFMAN_MAX - len(b"x-edge")))])
    assert b"b" * (HUFFMAN_MAX - 6) not in edge


def dribble_pair(budget: int) -> tuple[Pair, list[int]]:
    """Streams on a zero initial window, each answered with a body that waits for window."""
    pair = Pair(control_frame_budget=budget)
    pair.client.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
    streams = [1, 3, 5, 7, 9]
    for stream_id in streams:
        pair.client.send_headers(stream_id, GET, end_stream=True)
    pair.send()
    pair.send()
    for stream_id in streams:
        pair.front.send_head(stream_id, [(b":status", b"200")], end_stream=False)
        pair.front.send_data(stream_id, b"x" * 100_000, end_stream=True)
    pair.receive()
    return pair, streams


def window_update(stream_id: int, increment: int) -> bytes:
    return (4).to_bytes(3, "big") + bytes((8, 0)) + stream_id.to_bytes(4, "big") + increment.to_bytes(4, "big")


def test_one_byte_window_openings_over_many_streams_run_out_the_control_budget() -> None:
    pair, streams = dribble_pair(budget=100)
    openings = b"".join(window_update(stream_id, 1) for stream_id in streams)
    for _ in range(19):  # 95 frames at one instant (no refill): within the budget, whatever they earn
        pair.front.feed(openings, pair.now)
        pair.front.output()
    with pytest.raises(ConnectionEndedError, match="control frames") as ended:
        pair.front.feed(openings * 2, pair.now)  # one-byte DATA frames paid nothing back
    assert ended.value.abuse


def test_window_openings_that_bring_full_frames_are_paid_for_by_them() -> None:
    pair, streams = dribble_pair(budget=100)
    for _ in range(100):  # 1000 WINDOW_UPDATEs at one instant, each stream's answered with a frame of 1 KiB
        openings = [window_update(stream_id, EARNING_FRAME_MIN) for stream_id in streams]
        pair.front.feed(b"".join(openings) + window_update(0, EARNING_FRAME_MIN * len(streams)), pair.now)
        pair.front.output()
    assert not pair.front.closed


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (b":method", b"G ET"),
        (b":method", b""),
        (b":method", b"GET/1"),
        (b":method", b"GET\x7f"),
        (b":path", b"/a b"),
        (b":path", b"/a\tb"),
        (b":path", b"/a\x01"),
        (b":path", b"/a\x7f"),
    ],
)
def test_a_method_or_path_http1_refuses_is_malformed(name: bytes, value: bytes) -> None:
    pair = Pair()
    pair.raw(pair.client.data_to_send())
    head = [(field, value if field == name else other) for field, other in GET]
    with pytest.raises(ConnectionEndedError, match="protocol error") as ended:
        pair.raw(raw_headers(pair, head))
    assert not ended.value.abuse
    assert pair.sink.calls == []
    assert frames_of(pair.front.output(), 7)[0][4:8] == ErrorCodes.PROTOCOL_ERROR.to_bytes(4, "big")


@pytest.mark.parametrize("method", [b"GET", b"M-SEARCH", b"PROPFIND", b"x~!#$%&'*+.^_`|"])
def test_every_token_is_a_method_and_query_characters_pass(method: bytes) -> None:
    pair = Pair()
    pair.raw(pair.client.data_to_send())
    pair.raw(raw_headers(pair, [(b":method", method), (b":scheme", b"https"), (b":path", b'/a?b=%20"<>'), GET[3]]))
    assert pair.sink.calls[0][1:4] == (1, method, b'/a?b=%20"<>')


def frames_of(data: bytes, kind: int) -> list[bytes]:
    """The payloads of the frames of `kind` in `data`."""
    found, position = [], 0
    while position + 9 <= len(data):
        length = int.from_bytes(data[position : position + 3], "big")
        if data[position + 3] == kind:
            found.append(data[position + 9 : position + 9 + length])
        position += 9 + length
    return found


class ConnectSink:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def on_stream_connect(self, stream_id: int, protocol: bytes, target: bytes, scheme: bytes, headers: Any) -> None:
        self.calls.append(("connect", stream_id, protocol, target))


def connect_front() -> tuple[H2Front, ConnectSink, Pair]:
    pair = Pair()
    connects = ConnectSink()
    pair.front = H2Front(pair.sink, default_limits(), 0.0, connect_sink=connects)
    pair.raw(pair.client.data_to_send())
    return pair.front, connects, pair


def test_an_extended_connect_where_it_was_not_offered_is_malformed() -> None:
    pair = Pair()  # no connect sink: SETTINGS_ENABLE_CONNECT_PROTOCOL was not sent
    pair.raw(pair.client.data_to_send())
    with pytest.raises(ConnectionEndedError, match="SETTINGS_ENABLE_CONNECT_PROTOCOL"):
        pair.raw(raw_headers(pair, CONNECT, flags=0x4))
    assert pair.sink.calls == []


def test_an_extended_connect_ending_its_stream_at_once_is_reset() -> None:
    front, connects, pair = connect_front()
    pair.raw(raw_headers(pair, CONNECT, flags=0x5, stream_id=1))  # END_HEADERS | END_STREAM
    assert connects.calls == []
    assert frames_of(front.output(), 3) == [ErrorCodes.PROTOCOL_ERROR.to_bytes(4, "big")]
    pair.raw(raw_headers(pair, CONNECT, flags=0x4, stream_id=3))  # a tunnel that stays open is carried
    assert connects.calls == [("connect", 3, b"websocket", b"/ws")]


def test_a_large_body_to_a_client_granting_window_as_it_reads_keeps_within_a_small_budget() -> None:
    # Normal traffic: 1 MB at the default windows, the client's WINDOW_UPDATEs paid for by the full frames.
    pair = Pair(control_frame_budget=10)
    pair.client.send_headers(1, GET, end_stream=True)
    pair.send()
    pair.front.send_head(1, [(b":status", b"200")], end_stream=False)
    pair.front.send_data(1, b"x" * 1_000_000, end_stream=True)
    pair.receive()
    seen = 0
    for _ in range(500):
        for event in pair.events[seen:]:
            if isinstance(event, h2.events.DataReceived):
                pair.client.acknowledge_received_data(event.flow_controlled_length, 1)
        seen = len(pair.events)
        if pair.of(h2.events.StreamEnded):
            break
        pair.send()
    assert sum(len(event.data) for event in pair.of(h2.events.DataReceived)) == 1_000_000


def test_long_fields_and_blocks_are_not_remembered() -> None:
    # Each is checked or encoded again when it comes back: cheap next to what keeping 256 fields
    # and 64 blocks of up to 64 KiB each would pin per connection.
    pair = Pair()
    pair.client.send_headers(1, [*GET[:2], (b":path", b"/" + b"a" * 2000), GET[3]], end_stream=True)
    pair.send()
    assert all(len(value) <= 1024 for _, value in pair.front._valid_fields)
    encoder = _ReusingEncoder()
    too_large = [(b"x-long", b"a" * 5000)]  # beyond the table: it leaves the (empty) table as it was
    assert encoder.encode(too_large) == encoder.encode(too_large)
    assert encoder._blocks == {}
    encoder.encode([(b"x-short", b"b")])
    encoder.encode([(b"x-short", b"b")])
    assert list(encoder._blocks) == [((b"x-short", b"b"),)]
    decoder = _ReusingDecoder()
    block = hpack.Encoder().encode(too_large)  # nothing stays in the table: the block reads the same way again
    assert decoder.decode(block, raw=True) == decoder.decode(block, raw=True) == too_large
    assert decoder._lists == {}
