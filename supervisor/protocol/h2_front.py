"""The HTTP/2 front: frames in, the same request calls the HTTP/1.1 fronts make, per stream; frames out.

`h2` is the state machine (RFC 9113 framing, HPACK, stream states, flow-control
arithmetic); this front adds what `h2` leaves to its host:
the budgets of `h2_limits` (read off the raw bytes before `h2` parses them), a cap on
header fields, a cap on streams per connection, per-stream response buffers that send only
what the client's windows allow (so a stalled stream holds only its own buffer), a time
limit for streams stalled on a zero window, and a graceful GOAWAY that lets in-flight
streams finish (h2's own GOAWAY closes its state machine to every further frame).

Request heads reach the sink like HTTP/1.1 ones: pseudo-headers removed, `:authority` as
`host` (RFC 9113 §8.3.1), `:path` as the target and `:scheme` passed along. The inbound
window of a stream is given back only when the connection says so (`acknowledge`), as
the app reads; the connection window is made large enough for every stream's window at
once, so a stream whose app does not read never blocks the others.

Speed (docs/http2.md, Performance): the request checks of RFC 9113 §8.2-§8.3 are the front's
own (h2's cost more than the rest of a stream), HPACK blocks are reused while the dynamic
table is unchanged, and the two commonest frames skip h2's frame layer: a request's lone
HEADERS frame in (`_receive`) and a whole response out (`send_response`), both through the
same state machines and buffers h2 uses.
"""

from __future__ import annotations

import contextlib
import re
import struct
from typing import Any, Final, Protocol

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from h2.connection import ConnectionInputs
from h2.errors import ErrorCodes
from h2.stream import StreamInputs
from hpack import Decoder, Encoder
from hpack.exceptions import HPACKError
from hpack.table import HeaderTable
from hyperframe.exceptions import InvalidDataError
from hyperframe.frame import GoAwayFrame

from supervisor._types import Headers
from supervisor.protocol.h2_limits import (
    EARNING_FRAME_MIN,
    RST_STREAM,
    FrameScanner,
    H2Limits,
    PeerAbuseError,
    count_frames,
)
from supervisor.protocol.h2c import PREFACE
from supervisor.protocol.response import header_line

_MAX_WINDOW: Final = 2**31 - 1
# RFC 9113 §8.2.2: connection-specific fields never appear in HTTP/2; an app's are dropped.
_CONNECTION_SPECIFIC = frozenset((b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"))
_DEFAULT_NAMES = (b"date", b"server")
_DRAIN_PING = b"serve-gw"  # the PING that times the second, final GOAWAY of a drain
# RFC 9113 §8.2.1: a field name is visible ASCII without uppercase letters or a colon (pseudo-headers
# are checked by name); a value has no NUL, CR or LF, and no space or tab at either end.
_FIELD_NAME = re.compile(rb"[\x21-\x39\x3b-\x40\x5b-\x7e]+")
_BAD_VALUE = re.compile(rb"[\x00\n\r]|\A[ \t]|[ \t]\Z")
_REQUEST_PSEUDO = frozenset((b":method", b":scheme", b":path", b":authority", b":protocol"))  # RFC 8441 §4
# RFC 9110 §9.1: a method is a token. A target has no space or control character (RFC 9112 §3.2;
# HTTP/1.1's parsers refuse them, and an app must not see over HTTP/2 what it never sees over HTTP/1.1).
_METHOD = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_PATH = re.compile(rb"[\x00-\x20\x7f]")
# RFC 9113 §4.1: a frame header is length (24 bits) and type, then flags, then the stream id.
_FRAME_HEAD = struct.Struct(">IBI")
_DATA, _HEADERS, _CONTINUATION, _END_STREAM, _END_HEADERS = 0x0, 0x1, 0x9, 0x1, 0x4
_FRAME_HEADER_SIZE = 9
_STREAM_ID_MASK = 0x7FFFFFFF  # the reserved bit is ignored (RFC 9113 §4.1)
_PLAIN_HEADERS_FLAGS = frozenset((_END_HEADERS, _END_HEADERS | _END_STREAM))  # no padding, no priority
_VALID_FIELDS_KEPT = 256  # distinct request fields remembered as well-formed, per connection
_BLOCKS_KEPT = 64  # HPACK blocks remembered per connection and direction
# Longer request blocks are decoded every time, longer response blocks encoded every time, and
# longer fields checked every time: what a connection remembers stays small (64 blocks of 16 KB
# and 256 fields of 16 KB were 5 MB a connection).
_BLOCK_KEY_MAX = 1024
_FIRST_TYPE_AT: Final = len(PREFACE) + 3  # the type byte of the frame after the preface
_SETTINGS_TYPE: Final = 4
# h2's errors for a limit broken rather than the protocol: more streams than advertised, a header list too large.
_H2_LIMIT_ERRORS = (h2.exceptions.TooManyStreamsError, h2.exceptions.DenialOfServiceError)
# The server's HPACK encoder table, whatever SETTINGS_HEADER_TABLE_SIZE the client announces: the
# setting is an upper bound the encoder may stay below (RFC 7541 §4.2), and a client's 1 GiB would
# keep every distinct response field for the connection's life. 4096 is the RFC's default (nghttp2, Go).
ENCODER_TABLE_MAX: Final = 4096
# Response fields longer than this (name and value) are sent without Huffman coding: hpack's
# pure-Python coder costs ~1.2 µs a byte (20 ms for a 16 KB Location, every other client waiting),
# and saves a fifth of the bytes at best. Usual fields (dates, types, cookies, short URLs) stay coded.
HUFFMAN_MAX: Final = 512


class StreamSink(Protocol):
    """Receives the requests of one HTTP/2 connection, each by its stream id."""

    def on_stream_request(self, stream_id: int, method: bytes, target: bytes, scheme: bytes, headers: Headers) -> None:
        """A request head is complete (HEADERS with END_HEADERS); the app may start."""

    def on_stream_body(self, stream_id: int, chunk: bytes, flow_length: int) -> None:
        """A piece of a stream's body; `flow_length` (padding included) is owed back through `acknowledge`."""

    def on_stream_end(self, stream_id: int) -> None:
        """The client ended the stream's request (END_STREAM)."""

    def on_stream_reset(self, stream_id: int) -> None:
        """The stream is gone (the client reset it): its app sees a disconnect.

        Body, end and reset calls may name a stream whose request never reached the sink
        (refused after GOAWAY, or already answered): the sink ignores them.
        """


class ConnectSink(Protocol):
    """Receives the extended CONNECTs (RFC 8441) of a connection that offers them."""

    def on_stream_connect(
        self, stream_id: int, protocol: bytes, target: bytes, scheme: bytes, headers: Headers
    ) -> None:
        """An extended CONNECT for `protocol` (such as b"websocket"); the stream carries it both ways.

        Its DATA, end and reset go to the `StreamSink` as a request's would.
        """


class ConnectionEndedError(Exception):
    """The connection is over: send what `output()` holds, then close.

    `abuse`: the client broke a budget or limit; `error`: it broke the protocol (both for h2's
    own limits, ended with the RFC's code); neither: it said GOAWAY.
    """

    def __init__(self, reason: str, *, abuse: bool = False, error: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.abuse = abuse
        self.error = error


class _Outbox:
    """A stream's response bytes the client's windows do not admit yet."""

    __slots__ = ("blocked_since", "data", "end", "offset", "trailers")

    def __init__(self) -> None:
        self.data = b""
        self.offset = 0  # bytes of `data` already sent: slicing once per frame, never the whole rest
        self.end = False
        self.trailers: list[tuple[bytes, bytes]] | None = None  # sent with END_STREAM once `data` is
        self.blocked_since = -1.0  # when the sweep first saw it blocked on a zero window; -1: not blocked


class H2Front:
    """One server-side HTTP/2 connection: `feed` bytes in, `output` bytes out."""

    def __init__(
        self,
        sink: StreamSink,
        limits: H2Limits,
        now: float,
        *,
        upgrade_settings: bytes | None = None,
        connect_sink: ConnectSink | None = None,
    ) -> None:
        """Args:
        sink: told about each stream's request, body, end and reset.
        limits: the connection's budgets and settings.
        now: the time (monotonic seconds), for the budgets.
        upgrade_settings: the `HTTP2-Settings` value of an `Upgrade: h2c` request, whose
            response is then stream 1 (RFC 7540 §3.2); None for prior knowledge and ALPN.
        connect_sink: where extended CONNECTs go (RFC 8441, WebSockets over HTTP/2); given,
            SETTINGS_ENABLE_CONNECT_PROTOCOL is advertised. None: CONNECTs are plain requests.

        Raises:
            ValueError: `upgrade_settings` is not a valid SETTINGS payload in base64url.
        """
        self._sink = sink
        self._limits = limits
        config = h2.config.H2Configuration(
            client_side=False,
            header_encoding=None,
            # Our own checks are cheaper: header_line and lowercase names out, `_request_fields` in
            # (h2's generator chains were a fifth of the time per stream).
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
            validate_inbound_headers=False,
            normalize_inbound_headers=False,
        )
        conn = self._conn = h2.connection.H2Connection(config)
        conn.encoder, conn.decoder = _ReusingEncoder(), _ReusingDecoder()  # before their first use
        settings = {
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: limits.max_concurrent_streams,
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: limits.initial_window_size,
            h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: limits.max_header_list_size,
            h2.settings.SettingCodes.ENABLE_PUSH: 0,
        }
        if connect_sink is not None:
            settings[h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL] = 1
        conn.local_settings = h2.settings.Settings(client=False, initial_values=settings)
        self._connect_sink = connect_sink
        # h2 applies the advertised limit to its decoder only once the client acknowledges it.
        conn.decoder.max_header_list_size = limits.max_header_list_size
        if upgrade_settings is None:
            conn.initiate_connection()
        else:
            try:
                conn.initiate_upgrade_connection(upgrade_settings)
            except Exception as error:  # binascii.Error, hyperframe's errors: all mean a bad header
                raise ValueError(f"invalid HTTP2-Settings: {error}") from None
        # Room for every stream's full window at once: the connection window never blocks a stream.
        extra = min(limits.max_concurrent_streams * limits.initial_window_size, _MAX_WINDOW) - 65535
        if extra > 0:
            conn.increment_flow_control_window(extra)
        self._scanner = FrameScanner(limits, now)
        self._out: list[bytes] = [conn.data_to_send()]
        self._outboxes: dict[int, _Outbox] = {}
        self.streams_opened = 1 if upgrade_settings is not None else 0
        self.last_stream_id = -1  # set by `goaway`: streams above it are refused
        self.draining = False  # `begin_drain` announced the shutdown
        self.closed = False
        self._valid_fields: set[tuple[bytes, bytes]] = set()  # request fields already found well-formed
        self._opening: bytes | None = b""  # the first bytes, until the SETTINGS check of RFC 9113 §3.4

    # Bytes in ------------------------------------------------------------------------------

    def feed(self, data: bytes, now: float) -> None:
        """Take the client's bytes and call the sink for every request event they complete.

        Raises:
            ConnectionEndedError: a protocol error or a broken budget; GOAWAY is in `output()`.
        """
        if self.closed:
            return
        if self._opening is not None:
            self._check_opening(data)
        conn = self._conn
        try:
            self._scanner.scan_inbound(data, now)
            events = self._receive(data)
            for event in events:
                self._dispatch(event)
            sent = conn.data_to_send()
            if sent:
                self._out.append(sent)
                # Resets h2 sent on its own are ones the client provoked (MadeYouReset).
                resets = count_frames(sent, RST_STREAM)
                if resets:
                    self._scanner.count_resets(resets, now)
        except PeerAbuseError as abuse:
            self._end(ErrorCodes.ENHANCE_YOUR_CALM, abuse.reason)
            raise ConnectionEndedError(abuse.reason, abuse=True) from None
        except h2.exceptions.ProtocolError as error:
            if conn.state_machine.state is not h2.connection.ConnectionState.CLOSED:
                self._end(ErrorCodes.PROTOCOL_ERROR, "")  # raised before h2 could answer (a bad preface)
            else:  # h2 has queued GOAWAY with the error's code
                code = _rfc_code(error)
                if code is not None:  # h2's GOAWAY has no debug data: its last 4 bytes are the code
                    self._out.append(conn.data_to_send()[:-4] + code.to_bytes(4, "big"))
            self.closed = True
            # h2's own limits (concurrent streams, the header list size) end it as a broken limit too.
            limit = isinstance(error, _H2_LIMIT_ERRORS)
            raise ConnectionEndedError(f"HTTP/2 protocol error: {error}", abuse=limit, error=True) from None

    def _receive(self, data: bytes) -> list[h2.events.Event]:
        """h2's `receive_data`, but a request's lone HEADERS frame skips h2's frame layer.

        The frame buffer, frame objects and dispatch cost as much as the stream work itself;
        a HEADERS frame on a new stream with END_HEADERS, no padding and no priority, met while
        h2 holds no partial frame, is handed to the same stream code h2 would call. Every other
        frame, and the bytes between, go through `receive_data`, in order.
        """
        conn = self._conn
        if type(data) is not bytes:
            data = bytes(data)  # a slice of it may key the decoder's reuse: hashable
        buffer = conn.incoming_buffer
        if buffer._data or buffer._preamble_len or buffer._headers_buffer:
            return conn.receive_data(data)  # the preface, a partial frame or a header block pending
        events: list[h2.events.Event] = []
        start = position = 0
        end = len(data)
        while position + _FRAME_HEADER_SIZE <= end:
            length = int.from_bytes(data[position : position + 3], "big")
            after = position + _FRAME_HEADER_SIZE + length
            if after > end:
                break
            if data[position + 3] == _HEADERS and data[position + 4] in _PLAIN_HEADERS_FLAGS:
                if start < position:  # what comes before, first: it may change what this frame means
                    events += conn.receive_data(data[start:position])
                    start = position
                stream_id = int.from_bytes(data[position + 5 : position + 9], "big") & _STREAM_ID_MASK
                if not (buffer._data or buffer._headers_buffer) and self._opens_plainly(stream_id, length):
                    events += self._new_stream(
                        stream_id, data[position + _FRAME_HEADER_SIZE : after], data[position + 4]
                    )
                    start = after
            position = after
        if start < end:
            events += conn.receive_data(data[start:] if start else data)
        return events

    def _opens_plainly(self, stream_id: int, length: int) -> bool:
        conn = self._conn
        return (
            stream_id % 2 == 1
            and stream_id > conn.highest_inbound_stream_id
            and length <= conn.max_inbound_frame_size
            and conn.state_machine.state is not h2.connection.ConnectionState.CLOSED
            and conn.open_inbound_streams < conn.local_settings.max_concurrent_streams
        )

    def _new_stream(self, stream_id: int, block: bytes, flags: int) -> list[h2.events.Event]:
        """What h2's `_receive_headers_frame` does for a new stream, errors answered as `receive_data` does."""
        conn = self._conn
        try:
            headers = h2.connection._decode_headers(conn.decoder, block)  # h2's error translation
            events = conn.state_machine.process_input(ConnectionInputs.RECV_HEADERS)
            stream = conn._begin_new_stream(stream_id, h2.connection.AllowedStreamIDs.ODD)
            frames, stream_events = stream.receive_headers(headers, bool(flags & _END_STREAM), None)
        except h2.exceptions.ProtocolError as error:
            conn._terminate_connection(error.error_code)  # GOAWAY, as receive_data would
            raise
        conn._prepare_for_sending(frames)
        return events + stream_events

    def _check_opening(self, data: bytes) -> None:
        # RFC 9113 §3.4: the preface MUST be followed by SETTINGS, which h2 does not check.
        opening = self._opening + data if self._opening else data
        if len(opening) <= _FIRST_TYPE_AT:
            self._opening = opening
            return
        self._opening = None
        if opening[_FIRST_TYPE_AT] != _SETTINGS_TYPE and opening.startswith(PREFACE):
            self._end(ErrorCodes.PROTOCOL_ERROR, "")
            raise ConnectionEndedError("HTTP/2 protocol error: the preface is not followed by SETTINGS", error=True)

    def _dispatch(self, event: h2.events.Event) -> None:
        kind = type(event)
        if kind is h2.events.DataReceived:
            self._sink.on_stream_body(event.stream_id, event.data, event.flow_controlled_length)  # type: ignore[attr-defined]
        elif kind is h2.events.RequestReceived:
            self._request(event)  # type: ignore[arg-type]
        elif kind is h2.events.StreamEnded:
            self._sink.on_stream_end(event.stream_id)  # type: ignore[attr-defined]
        elif kind is h2.events.StreamReset:
            self._outboxes.pop(event.stream_id, None)  # type: ignore[attr-defined]
            self._sink.on_stream_reset(event.stream_id)  # type: ignore[attr-defined]
        elif kind is h2.events.WindowUpdated or kind is h2.events.RemoteSettingsChanged:
            for stream_id in list(self._outboxes):
                self._flush(stream_id)
        elif kind is h2.events.PingAckReceived:
            if event.ping_data == _DRAIN_PING:  # type: ignore[attr-defined]
                self.goaway()  # the client has seen the first GOAWAY: what it sent before is here
        elif kind is h2.events.TrailersReceived:
            _check_trailers(event.headers)  # type: ignore[attr-defined]
        elif kind is h2.events.ConnectionTerminated:
            # After the client's GOAWAY h2 takes no further frame, ours included: nothing can finish.
            self.closed = True
            raise ConnectionEndedError("the client sent GOAWAY")
        # Pings, settings acknowledgements, priorities: h2 has answered what needs an answer.

    def _request(self, event: h2.events.RequestReceived) -> None:
        stream_id = event.stream_id
        if 0 <= self.last_stream_id < stream_id:
            # Opened after our GOAWAY: refused unprocessed, so the client may retry it (RFC 9113 §6.8).
            self._conn.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
            return
        self.streams_opened += 1
        if self.streams_opened >= self._limits.max_streams_per_connection:
            self.goaway(stream_id)
        pseudo, headers, host = self._request_fields(event.headers)
        authority = pseudo.get(b":authority", b"")
        if authority and host is None:
            headers.insert(0, (b"host", authority))
        target = pseudo.get(b":path") or authority  # CONNECT has only :authority (RFC 9113 §8.5)
        if b":protocol" in pseudo:
            if self._connect_sink is None:  # RFC 8441 §3: not offered, so a malformed request
                raise h2.exceptions.ProtocolError(":protocol without SETTINGS_ENABLE_CONNECT_PROTOCOL")
            if event.stream_ended is not None:
                # A tunnel closed before it opens: no WebSocket can run on it, and its answer
                # would be DATA before any HEADERS. Reset (a provoked reset: the budget counts it).
                self._conn.reset_stream(stream_id, ErrorCodes.PROTOCOL_ERROR)
                return
            self._connect_sink.on_stream_connect(stream_id, pseudo[b":protocol"], target, pseudo[b":scheme"], headers)
            return
        self._sink.on_stream_request(stream_id, pseudo[b":method"], target, pseudo.get(b":scheme", b""), headers)

    def _request_fields(self, fields: list[tuple[bytes, bytes]]) -> tuple[dict[bytes, bytes], Headers, bytes | None]:
        """Split a request head into pseudo-headers, fields and the `host` value, checking RFC 9113 §8.2-§8.3.

        h2's own inbound checks are off (they cost more than the rest of a stream): each distinct
        field is checked once per connection (`_check_field`), the block's structure here.
        Cookies are joined into one field for the app (RFC 9113 §8.2.3).

        Raises:
            h2.exceptions.ProtocolError: a malformed request (answered as h2 answers its own).
            PeerAbuseError: more than `max_header_fields` fields.
        """
        valid = self._valid_fields
        pseudo: dict[bytes, bytes] = {}
        headers: Headers = []
        cookies: list[bytes] = []
        host = None
        for field in fields:
            if field not in valid:
                _check_field(field)
                if len(field[1]) <= _BLOCK_KEY_MAX:
                    if len(valid) >= _VALID_FIELDS_KEPT:
                        valid.clear()
                    valid.add(field)
            name = field[0]
            if name[:1] == b":":
                if headers or cookies or name in pseudo:
                    raise h2.exceptions.ProtocolError(f"pseudo-header {name!r} repeated or after a regular field")
                pseudo[name] = field[1]
            elif name == b"cookie":
                cookies.append(field[1])
            else:
                if name == b"host":
                    if host is not None:
                        raise h2.exceptions.ProtocolError("more than one host field")
                    host = field[1]
                headers.append(field)
        if len(headers) + len(cookies) > self._limits.max_header_fields:
            raise PeerAbuseError(f"more than {self._limits.max_header_fields} header fields in a request")
        _check_pseudo(pseudo, host)
        if cookies:
            headers.append((b"cookie", b"; ".join(cookies)))
        return pseudo, headers, host

    def acknowledge(self, stream_id: int, size: int) -> None:
        """Give `size` bytes of a stream's window back: the app has taken them (h2 skips a closed stream's)."""
        self._conn.acknowledge_received_data(size, stream_id)

    # Bytes out -----------------------------------------------------------------------------

    def send_head(self, stream_id: int, headers: list[tuple[bytes, bytes]], *, end_stream: bool) -> None:
        """Send a response head (from `response_headers`); `end_stream`: it has no body."""
        self._conn.send_headers(stream_id, headers, end_stream=end_stream)

    def send_response(self, stream_id: int, headers: list[tuple[bytes, bytes]], body: bytes) -> bool:
        """Send a whole final response (head, and `body` if any) at once; False: it cannot go this way.

        The common case, a body within the windows and one frame, skips h2's per-frame machinery
        (frame objects, validation flags, debug calls: a third of a stream's time) but does what
        h2's `send_headers` and `send_data` do: the same encoder, state transitions, window
        arithmetic and output buffer. Anything else returns False before changing anything, and
        the caller uses `send_head` and `send_data`.
        """
        conn = self._conn
        stream = conn.streams.get(stream_id)
        size = len(body)
        if (
            stream is None
            or stream.closed
            or stream_id in self._outboxes
            or size
            > min(conn.max_outbound_frame_size, conn.outbound_flow_control_window, stream.outbound_flow_control_window)
        ):
            return False
        conn.state_machine.process_input(ConnectionInputs.SEND_HEADERS)
        stream.state_machine.process_input(StreamInputs.SEND_HEADERS)
        block = conn.encoder.encode(headers)
        stream.request_method = None  # what h2 records from a response head
        if size:
            conn.state_machine.process_input(ConnectionInputs.SEND_DATA)
            stream.state_machine.process_input(StreamInputs.SEND_DATA)
        stream.state_machine.process_input(StreamInputs.SEND_END_STREAM)
        out = conn._data_to_send  # h2's output buffer (a bytearray), where its own frames go
        _head_frames(out, stream_id, block, conn.max_outbound_frame_size, end_stream=not size)
        if size:
            stream.outbound_flow_control_window -= size
            conn.outbound_flow_control_window -= size
            out += _FRAME_HEAD.pack(size << 8 | _DATA, _END_STREAM, stream_id)
            out += body
            self._scanner.earn(1)  # it ends the stream
        return True

    def send_data(self, stream_id: int, data: bytes, *, end_stream: bool) -> int:
        """Send `data` as far as the windows allow and keep the rest; return the bytes kept for the stream."""
        box = self._outboxes.get(stream_id)
        if box is None:
            conn = self._conn
            if len(data) <= min(conn.local_flow_control_window(stream_id), conn.max_outbound_frame_size):
                conn.send_data(stream_id, data, end_stream=end_stream)
                if end_stream or len(data) >= EARNING_FRAME_MIN:
                    self._scanner.earn(1)
                return 0
            box = self._outboxes[stream_id] = _Outbox()
        box.data = box.data[box.offset :] + data if box.offset else box.data + data
        box.offset = 0
        box.end = end_stream
        return self._flush(stream_id)

    def _flush(self, stream_id: int) -> int:
        box = self._outboxes[stream_id]
        conn = self._conn
        end = len(box.data)
        frames = earning = 0
        while box.offset < end:
            size = min(conn.local_flow_control_window(stream_id), conn.max_outbound_frame_size, end - box.offset)
            if size <= 0:
                break
            start, box.offset = box.offset, box.offset + size
            last = box.end and box.offset == end
            conn.send_data(stream_id, box.data[start : box.offset], end_stream=last)
            frames += 1
            earning += last or size >= EARNING_FRAME_MIN
        if frames:
            self._scanner.earn(earning)
            box.blocked_since = -1.0  # moving: the stall clock starts again
        if box.offset < end:
            return end - box.offset
        del self._outboxes[stream_id]  # the last frame carried END_STREAM if the app was done
        if box.trailers is not None:
            conn.send_headers(stream_id, box.trailers, end_stream=True)
        return 0

    def send_trailers(self, stream_id: int, fields: list[tuple[bytes, bytes]]) -> None:
        """End a stream with trailers (HEADERS with END_STREAM) once its buffered body has left."""
        box = self._outboxes.get(stream_id)
        if box is None:
            self._conn.send_headers(stream_id, fields, end_stream=True)
        else:
            box.trailers = fields

    def buffered(self, stream_id: int) -> int:
        """Response bytes of the stream waiting for the client's window."""
        box = self._outboxes.get(stream_id)
        return 0 if box is None else len(box.data) - box.offset

    def unsent(self) -> int:
        """Bytes of frames made but not yet taken by `output()`: what the windows admitted, still in memory."""
        return len(self._conn._data_to_send) + sum(map(len, self._out))  # asked on every send(): kept cheap

    def reset(self, stream_id: int) -> None:
        """Abandon a stream of ours (its app failed mid-response): RST_STREAM INTERNAL_ERROR."""
        self._outboxes.pop(stream_id, None)
        with contextlib.suppress(h2.exceptions.StreamClosedError):  # the client reset it first
            self._conn.reset_stream(stream_id, ErrorCodes.INTERNAL_ERROR)

    def expire_stalled(self, now: float) -> list[int]:
        """Reset the streams whose client window stayed at zero for `stall_timeout`; return their ids.

        Called by the server clock: a stream counts as blocked from the first sweep that sees it so.
        """
        expired = []
        for stream_id, box in list(self._outboxes.items()):  # each holds bytes its window does not admit
            if box.blocked_since < 0:
                box.blocked_since = now
            elif now - box.blocked_since >= self._limits.stall_timeout:
                del self._outboxes[stream_id]
                self._conn.reset_stream(stream_id, ErrorCodes.CANCEL)
                expired.append(stream_id)
        return expired

    def begin_drain(self) -> None:
        """Announce a shutdown without refusing anything yet (RFC 9113 §6.8): GOAWAY naming the highest
        possible stream, and a PING; its answer (or the caller's timer) brings the final `goaway`,
        so streams the client sent before it saw the first are served rather than refused.
        """
        if self.draining or self.closed or self.last_stream_id >= 0:
            return
        self.draining = True
        self._conn.ping(_DRAIN_PING)  # first: a client library that stops at GOAWAY still answers it
        self._out.append(self._conn.data_to_send())
        self._out.append(_goaway_frame(_MAX_WINDOW))

    def goaway(self, last_stream_id: int | None = None) -> None:
        """Graceful GOAWAY: no stream above `last_stream_id` (default: the highest seen) will be served.

        Written by hand, not by h2's `close_connection`, which would refuse the in-flight
        streams' remaining frames; a second call changes nothing.
        """
        if self.last_stream_id >= 0 or self.closed:
            return
        self.last_stream_id = self._conn.highest_inbound_stream_id if last_stream_id is None else last_stream_id
        self._out.append(self._conn.data_to_send())
        self._out.append(_goaway_frame(self.last_stream_id))

    def close(self) -> None:
        """End the connection cleanly (nothing in flight any more): the final GOAWAY."""
        self._end(ErrorCodes.NO_ERROR, "")

    def _end(self, code: ErrorCodes, reason: str) -> None:
        if not self.closed:
            self.closed = True
            last = self.last_stream_id if self.last_stream_id >= 0 else None
            self._conn.close_connection(code, reason.encode("utf-8") or None, last_stream_id=last)

    def output(self) -> bytes:
        """The bytes to write now (empty when there are none)."""
        sent = self._conn.data_to_send()
        if len(self._out) == 1 and not self._out[0]:
            return sent
        self._out.append(sent)
        data = b"".join(self._out)
        self._out = [b""]
        return data


def _rfc_code(error: h2.exceptions.ProtocolError) -> ErrorCodes | None:
    """The code RFC 9113 asks for where h2 answers PROTOCOL_ERROR; None where h2's is right."""
    if type(error) is not h2.exceptions.ProtocolError:
        return None  # h2's subclasses carry their own codes
    cause = error.__cause__
    if isinstance(cause, HPACKError):
        return ErrorCodes.COMPRESSION_ERROR  # §4.3: a field block that does not decode
    if isinstance(cause, InvalidDataError) and str(cause).startswith("SETTINGS ack"):
        return ErrorCodes.FRAME_SIZE_ERROR  # §6.5: a SETTINGS ACK with a payload
    return None


def _check_field(field: tuple[bytes, bytes]) -> None:
    """Refuse a request field malformed on its own: RFC 9113 §8.2.1 characters, §8.2.2, §8.3 names."""
    name, value = field
    if name[:1] == b":":
        if name not in _REQUEST_PSEUDO:
            raise h2.exceptions.ProtocolError(f"unknown pseudo-header {name!r}")
        if name == b":path" and (not value or _BAD_PATH.search(value) is not None):
            raise h2.exceptions.ProtocolError("an empty :path, or one with a space or control character")
        if name == b":method" and _METHOD.fullmatch(value) is None:
            raise h2.exceptions.ProtocolError(f"a :method that is not a token: {value!r}")
    elif _FIELD_NAME.fullmatch(name) is None:
        raise h2.exceptions.ProtocolError(f"invalid field name {name!r}")
    elif name in _CONNECTION_SPECIFIC or (name == b"te" and value.lower() != b"trailers"):
        raise h2.exceptions.ProtocolError(f"connection-specific field {name!r}")
    if _BAD_VALUE.search(value) is not None:
        raise h2.exceptions.ProtocolError(f"invalid value of the field {name!r}")


def _check_trailers(fields: list[tuple[bytes, bytes]]) -> None:
    """Refuse malformed trailers (RFC 9113 §8.1): the app never sees them, but they follow the rules."""
    for field in fields:
        if field[0][:1] == b":":
            raise h2.exceptions.ProtocolError("a pseudo-header in trailers")
        _check_field(field)


def _check_pseudo(pseudo: dict[bytes, bytes], host: bytes | None) -> None:
    """Refuse a request whose pseudo-headers RFC 9113 §8.3.1 and §8.5 (and RFC 8441 §4) do not allow."""
    method = pseudo.get(b":method")
    if method is None:
        raise h2.exceptions.ProtocolError("no :method")
    has_path_and_scheme = b":path" in pseudo and b":scheme" in pseudo
    if method == b"CONNECT" and b":protocol" not in pseudo:
        if b":path" in pseudo or b":scheme" in pseudo:
            raise h2.exceptions.ProtocolError("CONNECT with :path or :scheme")
    elif not has_path_and_scheme or (b":protocol" in pseudo and method != b"CONNECT"):
        raise h2.exceptions.ProtocolError("missing :path or :scheme, or :protocol without CONNECT")
    authority = pseudo.get(b":authority")
    if authority is None and host is None:
        raise h2.exceptions.ProtocolError("neither :authority nor host")
    if authority is not None and host is not None and authority != host:
        raise h2.exceptions.ProtocolError(":authority and host differ")


def _table_mark(table: HeaderTable) -> tuple[int, int, int]:
    """What identifies an HPACK dynamic table's contents: entries are only ever added at the
    front (a new tuple) or evicted from the back, so its length, size limit and the identity of
    its newest entry (kept alive by the caller, so the id is not reused) change with any change."""
    entries = table.dynamic_entries
    return len(entries), table.maxsize, id(entries[0]) if entries else 0


class _ReusingEncoder(Encoder):
    """hpack's encoder, reusing a header block while the dynamic table is as it was when it was made.

    A server's response heads repeat (its default fields change once a second, an app's rarely).
    Once every field of a list is in the dynamic table, encoding it changes nothing and gives the
    same bytes; hpack would still spend a table search and a log call per field.
    """

    def __init__(self) -> None:
        super().__init__()
        self._blocks: dict[tuple[Any, ...], bytes] = {}
        self._mark = _table_mark(self.header_table)
        self._newest: object = None  # the table's newest entry when `_mark` was taken

    @property
    def header_table_size(self) -> int:
        return self.header_table.maxsize

    @header_table_size.setter
    def header_table_size(self, value: int) -> None:
        # h2 sets it from the client's SETTINGS_HEADER_TABLE_SIZE: capped (`ENCODER_TABLE_MAX`); a
        # smaller size is still taken, and hpack signals a change in the next block (RFC 7541 §6.3).
        self.header_table.maxsize = min(value, ENCODER_TABLE_MAX)
        if self.header_table.resized:
            self.table_size_changes.append(self.header_table.maxsize)

    def add(self, to_add: tuple[bytes, bytes], sensitive: bool, huffman: bool = False) -> bytes:
        return super().add(to_add, sensitive, huffman and len(to_add[0]) + len(to_add[1]) <= HUFFMAN_MAX)

    def encode(self, headers: Any, huffman: bool = True) -> bytes:
        table = self.header_table
        mark = _table_mark(table)
        key = tuple(headers)
        if mark != self._mark:
            self._blocks.clear()
        elif not table.resized:
            block = self._blocks.get(key)
            if block is not None:
                return block
        resized = table.resized
        block = super().encode(key, huffman)
        after = _table_mark(table)
        if after != mark:
            self._blocks.clear()  # made under the table as it was: their indices are stale now
        elif not resized and len(block) <= _BLOCK_KEY_MAX:
            if len(self._blocks) >= _BLOCKS_KEPT:
                self._blocks.clear()
            self._blocks[key] = block
        self._mark, self._newest = after, table.dynamic_entries[0] if table.dynamic_entries else None
        return block


class _ReusingDecoder(Decoder):
    """hpack's decoder, reusing the header list of a block seen while the dynamic table is unchanged.

    A client repeats its request heads (h2load, browsers, proxies: same fields, indexed), and a
    block that only refers to the table decodes the same way until the table changes.
    """

    def __init__(self) -> None:
        super().__init__()
        self._lists: dict[tuple[bool, bytes], Any] = {}
        self._mark = self._state()
        self._newest: object = None

    def _state(self) -> tuple[int, ...]:
        return (*_table_mark(self.header_table), self.max_header_list_size, self.max_allowed_table_size)

    def decode(self, data: bytes, raw: bool = False) -> Any:
        mark = self._state()
        if mark != self._mark:
            self._lists.clear()
        else:
            headers = self._lists.get((raw, data))
            if headers is not None:
                return headers
        headers = super().decode(data, raw)
        after = self._state()
        if after != mark:
            self._lists.clear()  # read against the table as it was: their indices mean other fields now
        elif len(data) <= _BLOCK_KEY_MAX:
            if len(self._lists) >= _BLOCKS_KEPT:
                self._lists.clear()
            self._lists[raw, bytes(data)] = headers
        entries = self.header_table.dynamic_entries
        self._mark, self._newest = after, entries[0] if entries else None
        return headers


def _head_frames(out: bytearray, stream_id: int, block: bytes, limit: int, *, end_stream: bool) -> None:
    """Append a header block as HEADERS and, past `limit` bytes, CONTINUATION frames (RFC 9113 §6.2, §6.10)."""
    pieces = [block[start : start + limit] for start in range(0, len(block), limit)] if len(block) > limit else [block]
    last = len(pieces) - 1
    for index, piece in enumerate(pieces):
        kind, flags = (_HEADERS, _END_STREAM if end_stream else 0) if index == 0 else (_CONTINUATION, 0)
        out += _FRAME_HEAD.pack(len(piece) << 8 | kind, flags | (_END_HEADERS if index == last else 0), stream_id)
        out += piece


def _goaway_frame(last_stream_id: int) -> bytes:
    frame = GoAwayFrame(0)
    frame.last_stream_id = last_stream_id
    frame.error_code = ErrorCodes.NO_ERROR
    return bytes(frame.serialize())


def default_fields(default_headers: bytes) -> list[tuple[bytes, bytes]]:
    """The server's default header lines (`name: value` CRLF each) as HTTP/2 fields."""
    fields = []
    for line in default_headers.split(b"\r\n"):
        name, _, value = line.partition(b": ")
        if name:
            fields.append((name, value))
    return fields


def response_headers(
    status: int, headers: Headers, defaults: list[tuple[bytes, bytes]], body_length: int
) -> list[tuple[bytes, bytes]]:
    """The HTTP/2 fields of a response: `:status`, the defaults the app did not override, the app's own.

    `body_length` is the whole body's length when it is known from the first body message
    (-1 otherwise): it becomes `content-length` unless the app set one.

    Raises:
        RuntimeError: an invalid status or header from the app; nothing was sent.
    """
    if not 100 <= status <= 999:
        raise RuntimeError(f"invalid HTTP status {status!r}")
    fields = [(b":status", b"%d" % status)]
    own: list[tuple[bytes, bytes]] = []
    overridden: set[bytes] = set()
    has_length = False
    for name, value in headers:
        header_line(name, value)  # the same checks as HTTP/1.1 (bytes, token, no CR/LF)
        lname = name.lower()
        if lname in _CONNECTION_SPECIFIC:
            continue
        if lname in _DEFAULT_NAMES:
            overridden.add(lname)
        has_length = has_length or lname == b"content-length"
        own.append((lname, value))
    fields += [field for field in defaults if field[0] not in overridden] if overridden else defaults
    fields += own
    if body_length >= 0 and not has_length and status >= 200 and status not in (204, 304):
        fields.append((b"content-length", b"%d" % body_length))
    return fields
