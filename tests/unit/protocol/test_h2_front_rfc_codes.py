"""The RFC 9113 codes the front puts where h2 falls short: the preface's SETTINGS, HPACK errors, a SETTINGS ACK with payload."""

from __future__ import annotations

from typing import Any

import pytest
from h2.errors import ErrorCodes
from h2_defaults import default_limits

from supervisor.protocol.h2_front import ConnectionEndedError, H2Front

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS = bytes(3) + b"\x04\x00" + bytes(4)


def frame(kind: int, flags: int, payload: bytes, stream_id: int = 0) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes((kind, flags)) + stream_id.to_bytes(4, "big") + payload


class Sink:
    """Takes the front's calls and forgets them: these connections end before any request."""

    def on_stream_request(self, stream_id: int, method: bytes, target: bytes, scheme: bytes, headers: Any) -> None:
        pass

    def on_stream_body(self, stream_id: int, chunk: bytes, flow_length: int) -> None:
        pass

    def on_stream_end(self, stream_id: int) -> None:
        pass

    def on_stream_reset(self, stream_id: int) -> None:
        pass


def goaway_code(data: bytes) -> int:
    """The error code of the last frame, a GOAWAY."""
    assert data[-17 + 3] == 7
    return int.from_bytes(data[-4:], "big")


def ended(chunks: list[bytes]) -> tuple[H2Front, ConnectionEndedError]:
    front = H2Front(Sink(), default_limits(), 0.0)
    front.output()
    for chunk in chunks[:-1]:
        front.feed(chunk, 0.0)  # not enough yet to end the connection
    with pytest.raises(ConnectionEndedError) as ended:
        front.feed(chunks[-1], 0.0)
    return front, ended.value


def test_a_preface_followed_by_another_frame_than_settings_is_a_protocol_error() -> None:
    front, error = ended([PREFACE[:10], PREFACE[10:] + frame(6, 0, bytes(8))])  # split: the check waits for the type
    assert error.error
    assert "not followed by SETTINGS" in error.reason
    assert goaway_code(front.output()) == ErrorCodes.PROTOCOL_ERROR


def test_a_header_block_that_does_not_decode_is_a_compression_error() -> None:
    front, error = ended([PREFACE + SETTINGS + frame(1, 0x5, b"\x80", 1)])  # index 0 (RFC 7541 §6.1)
    assert error.error
    assert goaway_code(front.output()) == ErrorCodes.COMPRESSION_ERROR


def test_a_settings_ack_with_a_payload_is_a_frame_size_error() -> None:
    front, _ = ended([PREFACE + SETTINGS + frame(4, 0x1, bytes(6))])
    assert goaway_code(front.output()) == ErrorCodes.FRAME_SIZE_ERROR


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        (frame(0, 0, b"x", 1), ErrorCodes.PROTOCOL_ERROR),  # h2's own code is right: DATA on an idle stream
        (frame(8, 0, bytes(4)), ErrorCodes.PROTOCOL_ERROR),  # a cause that is not HPACK's nor a SETTINGS ACK
        (frame(8, 0, b"\x7f\xff\xff\xff") * 2, ErrorCodes.FLOW_CONTROL_ERROR),  # a ProtocolError subclass
    ],
)
def test_other_errors_keep_the_code_h2_gave(frames: bytes, code: int) -> None:
    front, _ = ended([PREFACE + SETTINGS + frames])
    assert goaway_code(front.output()) == code
