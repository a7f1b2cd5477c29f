"""The HTTP/2 frame budgets, fed raw frames in every split, on a fake clock."""

from __future__ import annotations

import pytest
from h2_defaults import default_limits

from supervisor.protocol.h2_limits import FrameScanner, PeerAbuseError, TokenBucket, count_frames
from supervisor.protocol.h2c import PREFACE


def frame(kind: int, flags: int = 0, payload: bytes = b"", stream_id: int = 0) -> bytes:
    """One raw frame (RFC 9113 §4.1)."""
    return len(payload).to_bytes(3, "big") + bytes((kind, flags)) + stream_id.to_bytes(4, "big") + payload


DATA, HEADERS, PRIORITY, RST, SETTINGS, PING, WINDOW_UPDATE, CONTINUATION = 0, 1, 2, 3, 4, 6, 8, 9
GOAWAY = 7


def scanner(**limits: float) -> FrameScanner:
    return FrameScanner(default_limits(**limits), 0.0)


def test_token_bucket_refills_at_its_rate_up_to_its_capacity() -> None:
    bucket = TokenBucket(3, 1.0, now=0.0)
    assert bucket.take(3, 0.0)
    assert not bucket.take(1, 0.5)  # half a token back: not enough
    assert bucket.take(1, 1.0)
    assert bucket.take(3, 100.0)  # never more than the capacity
    assert not bucket.take(1, 100.0)
    bucket.give(10)
    assert bucket.tokens == 3


def test_control_frames_within_the_budget_pass_and_one_more_is_abuse() -> None:
    scan = scanner(control_frame_budget=4)
    scan.scan_inbound(PREFACE + frame(SETTINGS, payload=b"\x00\x03\x00\x00\x00\x64"), 0.0)
    scan.scan_inbound(frame(PING, payload=bytes(8)) + frame(PRIORITY, payload=bytes(5), stream_id=1), 0.0)
    scan.scan_inbound(frame(WINDOW_UPDATE, payload=b"\x00\x00\x01\x00"), 0.0)
    with pytest.raises(PeerAbuseError, match="4 control frames a second"):
        scan.scan_inbound(frame(DATA, stream_id=1), 0.0)  # an empty DATA without END_STREAM counts


def test_requests_data_and_final_empty_data_cost_nothing() -> None:
    scan = scanner(control_frame_budget=1)
    scan.scan_inbound(PREFACE, 0.0)
    for _ in range(10):
        scan.scan_inbound(frame(DATA, payload=b"x", stream_id=1) + frame(DATA, flags=1, stream_id=1), 0.0)
        scan.scan_inbound(frame(HEADERS, flags=4 | 1, payload=b"\x82", stream_id=3), 0.0)


@pytest.mark.parametrize(
    "flood",
    [
        frame(SETTINGS, flags=1),  # ACKs: one is due per SETTINGS the server sends, not thousands
        frame(PING, flags=1, payload=bytes(8)),
        frame(0x20, payload=b"x"),  # a frame type h2 skips (RFC 9113 §4.1): still a parse each
        frame(GOAWAY, payload=bytes(8)),
    ],
)
def test_frames_that_bring_the_app_nothing_spend_the_control_budget(flood: bytes) -> None:
    scan = scanner(control_frame_budget=3)
    scan.scan_inbound(PREFACE + flood * 3, 0.0)
    with pytest.raises(PeerAbuseError, match="more than 3 control frames a second"):
        scan.scan_inbound(flood, 0.0)


def test_the_control_budget_refills_over_time_and_sent_data_earns_it_back() -> None:
    scan = scanner(control_frame_budget=2)
    scan.scan_inbound(PREFACE + frame(PING, payload=bytes(8)) * 2, 0.0)
    scan.scan_inbound(frame(PING, payload=bytes(8)) * 2, 1.0)
    scan.earn(1)  # one DATA frame sent: a WINDOW_UPDATE for the stream and one for the connection
    scan.scan_inbound(frame(WINDOW_UPDATE, payload=bytes(4)) * 2, 1.0)
    with pytest.raises(PeerAbuseError):
        scan.scan_inbound(frame(WINDOW_UPDATE, payload=bytes(4)), 1.0)


def test_frames_split_anywhere_are_counted_once() -> None:
    stream = PREFACE + frame(PING, payload=bytes(8)) * 3 + frame(DATA, payload=b"abc", stream_id=1)
    for cut in range(1, len(stream)):
        scan = scanner(control_frame_budget=3)
        scan.scan_inbound(stream[:cut], 0.0)
        scan.scan_inbound(stream[cut:], 0.0)
        with pytest.raises(PeerAbuseError):
            scan.scan_inbound(frame(PING, payload=bytes(8)), 0.0)


def test_a_settings_frame_with_too_many_entries_is_abuse_even_as_an_ack() -> None:
    with pytest.raises(PeerAbuseError, match="33 entries"):
        scanner().scan_inbound(PREFACE + frame(SETTINGS, flags=1, payload=bytes(6 * 33)), 0.0)


def test_client_resets_spend_the_reset_budget_per_minute() -> None:
    scan = scanner(reset_budget=2)
    scan.scan_inbound(PREFACE + frame(RST, payload=bytes(4), stream_id=1) * 2, 0.0)
    scan.scan_inbound(frame(RST, payload=bytes(4), stream_id=3), 30.0)  # half a minute: one back
    with pytest.raises(PeerAbuseError, match="2 stream resets a minute"):
        scan.count_resets(1, 30.0)


def test_continuation_frames_are_capped_in_number() -> None:
    scan = scanner(max_continuation_frames=2)
    scan.scan_inbound(PREFACE + frame(HEADERS, payload=b"a", stream_id=1) + frame(CONTINUATION, payload=b"b"), 0.0)
    scan.scan_inbound(frame(CONTINUATION, payload=b"c", flags=4), 0.0)  # two: allowed, block closed
    scan.scan_inbound(frame(HEADERS, payload=b"a", stream_id=3) + frame(CONTINUATION) * 2, 0.0)
    with pytest.raises(PeerAbuseError, match="more than 2 CONTINUATION"):
        scan.scan_inbound(frame(CONTINUATION), 0.0)  # empty ones count too


def test_a_header_block_is_capped_in_bytes() -> None:
    scan = scanner(max_header_list_size=100)
    scan.scan_inbound(PREFACE + frame(HEADERS, payload=bytes(60), stream_id=1), 0.0)
    with pytest.raises(PeerAbuseError, match="over 100 bytes"):
        scan.scan_inbound(frame(CONTINUATION, payload=bytes(41)), 0.0)


def test_a_frame_interrupting_a_header_block_ends_the_count() -> None:
    # h2 refuses the interleaved frame itself; the scanner only stops counting the block.
    scan = scanner(max_continuation_frames=1)
    scan.scan_inbound(PREFACE + frame(HEADERS, payload=b"a", stream_id=1) + frame(PING, payload=bytes(8)), 0.0)
    scan.scan_inbound(frame(CONTINUATION) * 5, 0.0)


def test_without_a_preface_scanning_starts_at_the_first_frame() -> None:
    scan = FrameScanner(default_limits(control_frame_budget=1), 0.0, preface=False)
    with pytest.raises(PeerAbuseError):
        scan.scan_inbound(frame(PING, payload=bytes(8)) * 2, 0.0)


def test_count_frames_counts_one_kind_in_whole_frames() -> None:
    data = (
        frame(RST, payload=bytes(4), stream_id=1)
        + frame(DATA, payload=b"xyz", stream_id=3)
        + frame(RST, payload=bytes(4))
    )
    assert count_frames(data, RST) == 2
    assert count_frames(data, DATA) == 1
    assert count_frames(b"", RST) == 0
