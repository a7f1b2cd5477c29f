"""HTTP/2 defences that the `h2` library leaves to its host: frame budgets read off the raw bytes.

`FrameScanner` walks the 9-byte frame headers of what a client sends *before* `h2` parses
it (skipping payloads, so it costs a few operations per frame) and of what `h2` answers,
and holds each connection to the budgets of `H2Limits`. Breaking one raises `PeerAbuseError`,
which the front turns into GOAWAY ENHANCE_YOUR_CALM (RFC 9113 §5.4.1, §10.5). Time comes in as an argument: the scanner
has no clock, so every budget is unit-tested with a fake one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from supervisor.protocol.h2c import PREFACE

# RFC 9113 §4.1: length (24 bits), type, flags, reserved bit and stream identifier.
FRAME_HEADER: Final = 9

_DATA, _HEADERS, _RST_STREAM, _SETTINGS, _CONTINUATION = 0, 1, 3, 4, 9
_END_STREAM, _END_HEADERS = 0x1, 0x4
# nghttp2's rule (CVE-2020-11080): a SETTINGS frame needs no more entries than there are settings.
MAX_SETTINGS_ENTRIES: Final = 32
# A DATA frame the server sends earns the client control-frame credit (for the WINDOW_UPDATEs it
# legitimately causes) only when it is at least this large or ends its stream: one-byte frames
# provoked by one-byte WINDOW_UPDATEs (a dribble spread over many streams) must not pay for them.
EARNING_FRAME_MIN: Final = 1024
RESET_WINDOW_S: Final = 60.0  # the reset budget is per minute: rare legitimate cancels never add up to it


@dataclass(frozen=True, slots=True)
class H2Limits:
    """The limits of one server's HTTP/2 connections: no defaults here, config/schema.py declares them."""

    max_concurrent_streams: int
    initial_window_size: int
    max_header_list_size: int
    max_header_fields: int
    max_streams_per_connection: int
    reset_budget: int  # per minute
    control_frame_budget: int  # per second
    max_continuation_frames: int
    stall_timeout: float


class PeerAbuseError(Exception):
    """The client broke a budget: the connection ends with GOAWAY ENHANCE_YOUR_CALM."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TokenBucket:
    """`capacity` tokens, refilled at `rate` per second; each counted event takes one."""

    __slots__ = ("capacity", "last", "rate", "tokens")

    def __init__(self, capacity: float, rate: float, now: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self.tokens = capacity
        self.last = now

    def take(self, count: int, now: float) -> bool:
        """Spend `count` tokens; False (and nothing spent) when there are not enough."""
        tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if tokens < count:
            self.tokens = tokens
            return False
        self.tokens = tokens - count
        return True

    def give(self, count: int) -> None:
        """Return tokens earned by useful work, never beyond the capacity."""
        self.tokens = min(self.capacity, self.tokens + count)


class FrameScanner:
    """Counts one connection's frames against its budgets; raises `PeerAbuseError` when one runs out."""

    __slots__ = ("_block_bytes", "_block_frames", "_control", "_limits", "_partial", "_resets", "_skip")

    def __init__(self, limits: H2Limits, now: float, *, preface: bool = True) -> None:
        self._limits = limits
        self._skip = len(PREFACE) if preface else 0  # payload bytes still to pass over
        self._partial = b""  # the start of a frame header cut by the end of a read
        self._block_frames = -1  # CONTINUATION frames in the open header block; -1: none open
        self._block_bytes = 0
        budget = limits.control_frame_budget
        self._control = TokenBucket(budget, budget, now)
        self._resets = TokenBucket(limits.reset_budget, limits.reset_budget / RESET_WINDOW_S, now)

    def scan_inbound(self, data: bytes, now: float) -> None:
        """Account for the client's frames in `data` (any split); raise on a broken budget."""
        buffer = self._partial + data if self._partial else data
        end = len(buffer)
        position = self._skip
        while position + FRAME_HEADER <= end:
            length = int.from_bytes(buffer[position : position + 3], "big")
            self._frame(buffer[position + 3], buffer[position + 4], length, now)
            position += FRAME_HEADER + length
        if position >= end:
            self._skip, self._partial = position - end, b""
        else:
            self._skip, self._partial = 0, buffer[position:]

    def _frame(self, kind: int, flags: int, length: int, now: float) -> None:
        if self._block_frames >= 0:
            self._continuation(kind, flags, length)
        elif kind == _HEADERS:
            if not flags & _END_HEADERS:
                self._block_frames, self._block_bytes = 0, length
        elif kind == _DATA:
            if length == 0 and not flags & _END_STREAM:
                self._spend_control(now)
        elif kind == _RST_STREAM:
            self.count_resets(1, now)
        else:
            if kind == _SETTINGS and length // 6 > MAX_SETTINGS_ENTRIES:
                raise PeerAbuseError(f"SETTINGS frame with {length // 6} entries")
            # Everything else brings the app nothing and costs h2 a parse: SETTINGS, PING (their
            # ACKs too: one is due per frame the server sends), PRIORITY, WINDOW_UPDATE, GOAWAY,
            # and frame types h2 skips (RFC 9113 §4.1 lets a client send any number of them).
            self._spend_control(now)

    def _continuation(self, kind: int, flags: int, length: int) -> None:
        if kind != _CONTINUATION:
            self._block_frames = -1  # h2 refuses the interleaved frame itself (RFC 9113 §6.10)
            return
        self._block_frames += 1
        self._block_bytes += length
        if self._block_frames > self._limits.max_continuation_frames:
            raise PeerAbuseError(
                f"more than {self._limits.max_continuation_frames} CONTINUATION frames in a header block"
            )
        if self._block_bytes > self._limits.max_header_list_size:
            raise PeerAbuseError(f"header block over {self._limits.max_header_list_size} bytes")
        if flags & _END_HEADERS:
            self._block_frames = -1

    def _spend_control(self, now: float) -> None:
        if not self._control.take(1, now):
            raise PeerAbuseError(f"more than {self._limits.control_frame_budget} control frames a second")

    def count_resets(self, count: int, now: float) -> None:
        """Spend the reset budget: the client's RST_STREAM frames, and resets it made the server send."""
        if not self._resets.take(count, now):
            raise PeerAbuseError(f"more than {self._limits.reset_budget} stream resets a minute")

    def earn(self, data_frames: int) -> None:
        """Each DATA frame sent lets the client answer with a WINDOW_UPDATE per stream and connection.

        The caller counts only frames of `EARNING_FRAME_MIN` bytes or more, or ending a stream.
        """
        self._control.give(2 * data_frames)


def count_frames(data: bytes, kind: int) -> int:
    """How many frames of `kind` whole, serialised frames `data` holds (what h2 wrote in one go)."""
    count = position = 0
    end = len(data)
    while position + FRAME_HEADER <= end:
        if data[position + 3] == kind:
            count += 1
        position += FRAME_HEADER + int.from_bytes(data[position : position + 3], "big")
    return count


RST_STREAM: Final = _RST_STREAM
