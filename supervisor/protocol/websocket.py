"""ASGI `websocket.*` messages <-> the websockets library's sans-I/O `ServerProtocol`: bytes in, bytes out.

The HTTP front has already parsed the upgrade request, so the `ServerProtocol` never sees
it: the handshake is checked with `ServerProtocol.accept` on a `Request` built from our
parsed head, the protocol starts in the OPEN state, and the 101 (or the refusal) is
encoded here with the server's default headers and the app's own. A `WebSocketSession`
holds the ASGI side's phase, the app's inbox of received messages, and says when the
TCP connection must close; the I/O shell (`server/ws_connection.py`) writes what it
returns and runs the timers.

Nearly every message is one whole, uncompressed data frame. Those skip the protocol's
generator-based parser and its Frame objects both ways (`_plain_frames`, `_send_data`):
measured, that parser is most of the server's CPU per message. Everything else (control
frames, fragments, extensions, errors, closing) goes through the `ServerProtocol`, and the
fast paths only ever act where it would change no state (see `_plain_frames`).

Over HTTP/2 (RFC 8441, an extended CONNECT on a stream) the same session runs with a
`StreamAnswer`: the handshake is checked by the same `accept` (the HTTP/1.1-only fields it
wants, Upgrade, Connection and a key, are supplied, since the stream itself is the upgrade),
and the HTTP answers (200 instead of 101, a denial, 403, 500, a refusal) go to the answer
callback as status, fields and body, which the carrier sends as HEADERS and DATA; the
WebSocket frames that follow are the same bytes either way.
"""

from __future__ import annotations

import logging
import struct
from collections import deque
from typing import Any, Final, Protocol

from websockets.datastructures import Headers as WsHeaders
from websockets.exceptions import ProtocolError
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

from supervisor._types import Message, Scope
from supervisor.protocol.response import encode_head, header_line, simple_response
from supervisor.protocol.upgrade import WebSocketSettings

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets built without its C extension
    from websockets.utils import apply_mask

# Phases of the ASGI side of one connection, in order (DENIAL only on the way to CLOSED).
HANDSHAKE: Final = 0  # the app has websocket.connect and has not answered yet
DENIAL: Final = 1  # the app began a websocket.http.response; its body is being collected
OPEN: Final = 2  # accepted: messages flow both ways
CLOSED: Final = 3  # a close frame went either way, the connection failed, or an HTTP answer was sent

# RFC 6455 §7.4.1: 1006 is never sent in a frame; it tells the app the TCP connection
# ended without a closing handshake.
ABNORMAL_CLOSURE: Final = 1006
INTERNAL_ERROR: Final = 1011

_TEXT = Opcode.TEXT
_BINARY = Opcode.BINARY
_CONT = Opcode.CONT
_CLOSE = Opcode.CLOSE
_PONG = Opcode.PONG
_TEXT_FIN = 0x81  # first header byte of a whole text frame: FIN, no RSV bits, opcode 1
_BINARY_FIN = 0x82
_HEAD_16 = struct.Struct("!BBH")
_HEAD_64 = struct.Struct("!BBQ")
_SWITCHING = b"HTTP/1.1 101 Switching Protocols\r\n"
_DEFAULT_LINES_DROPPED_BY_APP = (b"date", b"server")

logger = logging.getLogger("serve.error")

# RFC 8441 §5: an extended CONNECT carries no Upgrade, Connection or key; the handshake check
# is given these so everything else (version, extensions, subprotocols) is checked as for HTTP/1.1.
_H2_UPGRADE_FIELDS = (
    ("Connection", "Upgrade"),
    ("Upgrade", "websocket"),
    ("Sec-WebSocket-Key", "c2VydmU6IGgyIHN0cmVhbQ=="),
)
_H2_SKIPPED = frozenset(("sec-websocket-key", "connection", "upgrade"))
_H2_ANSWER_KEEPS = frozenset(("sec-websocket-extensions",))  # of the handshake's 101 fields: no Accept over HTTP/2
_TEXT_PLAIN = [(b"content-type", b"text/plain; charset=utf-8")]


class StreamAnswer(Protocol):
    """Sends an HTTP answer on the HTTP/2 stream that carries the WebSocket (RFC 8441)."""

    def __call__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes, end: bool) -> None:
        """Status and fields (the carrier adds its defaults), then `body`; `end`: the stream ends with it."""


class ClientDisconnected(OSError):  # noqa: N818 - the name uvicorn and Starlette users expect
    """`send()` on a WebSocket that is closed (ASGI 2.4: a server-specific subclass of OSError)."""


def _handshake_request(scope: Scope, over_h2: bool) -> Request:
    target = scope["raw_path"] + (b"?" + scope["query_string"] if scope["query_string"] else b"")
    headers = WsHeaders((name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"])
    if over_h2:
        headers = WsHeaders((name, value) for name, value in headers.raw_items() if name.lower() not in _H2_SKIPPED)
        headers.update(_H2_UPGRADE_FIELDS)
    return Request(target.decode("latin-1"), headers)


class WebSocketSession:
    """One WebSocket connection, from the app's first answer to the close: the sans-I/O half.

    Every method that produces output returns the bytes to write; `close_transport` turns
    True when the TCP connection must be closed once they are written. Messages for the
    app are appended to `inbox`; the disconnect is always the last one, and `closed_message`
    holds it so a `receive()` after it returns it again rather than hanging.
    """

    __slots__ = (
        "close_transport",
        "closed_message",
        "default_headers",
        "early",
        "fragment_text",
        "fragments",
        "handshake",
        "inbox",
        "max_size",
        "phase",
        "plain",
        "pong_due",
        "protocol",
        "response_body",
        "response_head",
        "status",
        "stream_answer",
        "upgraded",
    )

    def __init__(
        self,
        scope: Scope,
        settings: WebSocketSettings,
        default_headers: bytes,
        stream_answer: StreamAnswer | None = None,
    ) -> None:
        """`stream_answer`: over HTTP/2, where the HTTP answers go (see the module docstring); None over HTTP/1.1."""
        extensions = []
        if settings.per_message_deflate:
            # websockets' own defaults for servers: 4 KiB windows and memLevel 5 keep the
            # memory per connection small at a small cost in compression ratio.
            extensions.append(
                ServerPerMessageDeflateFactory(
                    server_max_window_bits=12, client_max_window_bits=12, compress_settings={"memLevel": 5}
                )
            )
        self.protocol = ServerProtocol(
            extensions=extensions, state=State.OPEN, max_size=settings.max_size, logger=logger
        )
        self.stream_answer = stream_answer
        self.handshake = self.protocol.accept(_handshake_request(scope, stream_answer is not None))
        # Without extensions (or frame-by-frame debug logs), whole data frames take the fast
        # paths below; `_plain_frames` relies on two attributes of the protocol it reads.
        self.plain = (
            not self.protocol.extensions
            and not self.protocol.debug
            and hasattr(self.protocol, "current_size")
            and hasattr(self.protocol.reader, "buffer")
        )
        self.max_size = settings.max_size
        self.default_headers = default_headers
        self.phase = HANDSHAKE
        self.upgraded = False  # the 101 is written: bytes from the peer are WebSocket frames
        self.inbox: deque[Message] = deque(({"type": "websocket.connect"},))
        self.closed_message: Message | None = None
        self.close_transport = False
        self.early = bytearray()  # frames sent before the 101 was written
        # The fragmented message so far, in one buffer: what it holds is its payload, however
        # many frames (even empty ones) brought it. The protocol holds its size to max_size.
        self.fragments = bytearray()
        self.fragment_text = False
        self.response_head: tuple[int, Any] | None = None
        self.response_body: list[bytes] = []
        self.pong_due: bytes | None = None  # payload of the ping still waiting for its pong
        self.status = 0  # of the HTTP answer written instead of the upgrade, if any

    @property
    def valid(self) -> bool:
        """Whether the upgrade request is a valid WebSocket handshake (else answer `refusal()`)."""
        return self.handshake.status_code == 101

    def refusal(self) -> bytes:
        """The HTTP answer to an invalid handshake (400 or 426, from websockets); the connection closes."""
        self.phase = CLOSED
        self.status = self.handshake.status_code
        self.close_transport = True
        self.closed_message = {"type": "websocket.disconnect", "code": ABNORMAL_CLOSURE, "reason": ""}
        if self.stream_answer is None:
            return self.handshake.serialize()
        fields = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in self.handshake.headers.raw_items()
            if name not in ("Date", "Content-Length")
        ]
        self.stream_answer(self.handshake.status_code, fields, bytes(self.handshake.body), True)
        return b""

    # The app's messages --------------------------------------------------------------------

    def send(self, message: Message) -> bytes:
        """Take one message from the app; return the bytes to write.

        Raises:
            ClientDisconnected: the WebSocket is closed (by either side, or the connection is gone).
            RuntimeError: a message the app may not send now, or an invalid one.
        """
        kind = message["type"]
        phase = self.phase
        if phase == OPEN:
            if kind == "websocket.send":
                return self._send_data(message)
            if kind == "websocket.close":
                return self.close(message.get("code") or 1000, message.get("reason") or "")
            raise RuntimeError(f"expected 'websocket.send' or 'websocket.close', got {kind!r}")
        if phase == HANDSHAKE:
            return self._answer(message)
        if phase == DENIAL:
            if kind == "websocket.http.response.body":
                return self._deny_body(message)
            raise RuntimeError(f"expected 'websocket.http.response.body', got {kind!r}")
        raise ClientDisconnected(f"{kind!r} sent after the WebSocket closed")

    def _send_data(self, message: Message) -> bytes:
        data: bytes | None = message.get("bytes")
        if data is not None:
            opcode = _BINARY_FIN
        else:
            text = message.get("text")
            if text is None:
                raise RuntimeError("'websocket.send' needs 'bytes' or 'text'")
            data = text.encode()
            opcode = _TEXT_FIN
        if self.plain:
            # A whole, unmasked server frame (RFC 6455 §5.2) needs only its 2 to 10 byte
            # header: what `send_text` would build through a Frame, a BytesIO and its checks.
            length = len(data)
            if length < 126:
                return bytes((opcode, length)) + data
            if length < 65536:
                return _HEAD_16.pack(opcode, 126, length) + data
            return _HEAD_64.pack(opcode, 127, length) + data
        protocol = self.protocol
        if opcode == _TEXT_FIN:
            protocol.send_text(data)
        else:
            protocol.send_binary(data)
        writes = protocol.data_to_send()
        return writes[0] if len(writes) == 1 else b"".join(writes)

    def _answer(self, message: Message) -> bytes:
        kind = message["type"]
        if kind == "websocket.accept":
            return self._accept(message)
        if kind == "websocket.close":
            # ASGI: closing before accepting refuses the handshake with 403.
            return self._plain_answer(403, b"")
        if kind == "websocket.http.response.start":
            self.response_head = (message["status"], message.get("headers", ()))
            self.phase = DENIAL
            return b""
        raise RuntimeError(
            f"expected 'websocket.accept', 'websocket.close' or 'websocket.http.response.start', got {kind!r}"
        )

    def _accept(self, message: Message) -> bytes:
        head = self._accept_h2(message) if self.stream_answer is not None else self._switching(message)
        self.phase = OPEN
        self.upgraded = True
        if not self.early:
            return head
        early, self.early = bytes(self.early), bytearray()
        return head + self.receive(early)

    def _switching(self, message: Message) -> bytes:
        """The 101 that accepts an HTTP/1.1 upgrade."""
        lines = [_SWITCHING]
        # Upgrade, Connection, Sec-WebSocket-Accept and -Extensions as websockets negotiated
        # them; its Date is left out for ours.
        lines.extend(
            header_line(name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in self.handshake.headers.raw_items()
            if name != "Date"
        )
        subprotocol = message.get("subprotocol")
        if subprotocol is not None:
            lines.append(header_line(b"sec-websocket-protocol", subprotocol.encode("latin-1")))
        app_lines = [header_line(name, value) for name, value in message.get("headers", ())]
        lines.append(_defaults_without(self.default_headers, app_lines))
        lines.extend(app_lines)
        lines.append(b"\r\n")
        return b"".join(lines)

    def _accept_h2(self, message: Message) -> bytes:
        """RFC 8441 §5: a 200 accepts an extended CONNECT, with what was negotiated and the app's fields."""
        fields = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in self.handshake.headers.raw_items()
            if name.lower() in _H2_ANSWER_KEEPS
        ]
        subprotocol = message.get("subprotocol")
        if subprotocol is not None:
            fields.append((b"sec-websocket-protocol", subprotocol.encode("latin-1")))
        for name, value in message.get("headers", ()):
            header_line(name, value)  # refused here, before anything is sent
            fields.append((name, value))
        self.stream_answer(200, fields, b"", False)  # type: ignore[misc]  # set: the caller checked
        return b""

    def _deny_body(self, message: Message) -> bytes:
        self.response_body.append(message.get("body", b""))
        if message.get("more_body", False):
            return b""
        status, headers = self.response_head  # type: ignore[misc]  # set with phase DENIAL
        body = b"".join(self.response_body)
        head, _framing, length, _keep_alive = encode_head(status, headers, self.default_headers, False, 0, len(body))
        if length < 0:  # 1xx, 204, 304: no body
            body = b""
        elif length != len(body):
            raise RuntimeError("response body does not match its Content-Length")
        if self.stream_answer is not None:
            self.stream_answer(status, list(headers), body, True)
            return self._respond(status, b"")
        return self._respond(status, head + body)

    def _plain_answer(self, status: int, body: bytes) -> bytes:
        """An answer of ours instead of the upgrade: 403 (the app refused) or 500 (it failed)."""
        if self.stream_answer is not None:
            self.stream_answer(status, _TEXT_PLAIN, body, True)
            return self._respond(status, b"")
        return self._respond(status, simple_response(status, body, self.default_headers))

    def _respond(self, status: int, response: bytes) -> bytes:
        """An HTTP answer instead of the upgrade: the app hears a disconnect, the connection closes."""
        self.status = status
        self._closed(ABNORMAL_CLOSURE, "")
        self.close_transport = True
        return response

    def close(self, code: int = 1000, reason: str = "") -> bytes:
        """Start the closing handshake (the app's websocket.close, a server shutdown, the app's return)."""
        try:
            self.protocol.send_close(code, reason)
        except ProtocolError as error:
            raise RuntimeError(f"invalid WebSocket close: {error}") from None
        self._closed(code, reason)
        return b"".join(self.protocol.data_to_send())

    def fail(self, code: int, reason: str = "") -> bytes:
        """Close at once without waiting for the peer's close frame (dead peer, broken app)."""
        self.protocol.fail(code, reason)
        self._closed(code, reason)
        return self._output()

    def app_finished(self, *, failed: bool) -> bytes:
        """The app returned (or raised): finish what it left open.

        Before accepting: 403 if it returned (ASGI), 500 if it raised or left a denial
        response unfinished. After accepting: close with 1000, or fail with 1011 if it raised.
        """
        phase = self.phase
        if phase == HANDSHAKE and not failed:
            return self._plain_answer(403, b"")
        if phase in (HANDSHAKE, DENIAL):
            return self._plain_answer(500, b"Internal Server Error")
        if phase == OPEN:
            return self.fail(INTERNAL_ERROR) if failed else self.close(1000)
        return b""

    # The peer's bytes ----------------------------------------------------------------------

    def receive(self, data: bytes) -> bytes:
        """Feed bytes from the peer; queue messages for the app; return what must be written back (pongs, close)."""
        if not self.upgraded:
            if self.phase == HANDSHAKE:
                self.early += data
            return b""
        protocol = self.protocol
        if self.plain and self.phase == OPEN and not protocol.reader.buffer and protocol.current_size is None:
            taken = self._plain_frames(data)
            if taken == len(data):
                return b""
            data = data[taken:]
        self._parse(data)
        return self._output()

    def _parse(self, data: bytes) -> None:
        """Let the protocol parse `data`; hand what it found to the app."""
        protocol = self.protocol
        protocol.receive_data(data)
        # Started OPEN, the protocol never parses a handshake: every event is a Frame.
        frames: list[Frame] = protocol.events_received()  # type: ignore[assignment]
        for frame in frames:
            opcode = frame.opcode
            if opcode is _TEXT or opcode is _BINARY or opcode is _CONT:
                if self.phase == OPEN:
                    self._on_data_frame(opcode, frame.data, frame.fin)
            elif opcode is _CLOSE:
                if self.phase == OPEN:
                    received: Close = protocol.close_rcvd  # type: ignore[assignment]  # set by this frame
                    self._closed(received.code, received.reason)
            elif opcode is _PONG and bytes(frame.data) == self.pong_due:
                self.pong_due = None
        if protocol.parser_exc is not None and self.phase == OPEN:
            # websockets failed the connection (1002, 1009, 1011) and queued its close frame:
            # only an EOF, which it is never fed, fails without one.
            sent: Close = protocol.close_sent  # type: ignore[assignment]
            self._closed(sent.code, sent.reason)

    def _plain_frames(self, data: bytes) -> int:
        """Deliver the whole, unfragmented data frames at the start of `data`; return how many bytes they took.

        The fast path for nearly every message. It stops at the first frame it does not take
        whole: control frames, fragments, reserved bits, unmasked or oversized frames, 64 KiB
        and more, an incomplete frame, text that is not UTF-8. The protocol parses from there
        exactly as it would have from the start, because it holds no buffered bytes and no
        open fragmented message (checked by the caller), and a whole FIN data frame changes
        none of its state.
        """
        inbox = self.inbox
        max_size = self.max_size
        end = len(data)
        pos = 0
        while end - pos >= 6:
            first = data[pos]
            second = data[pos + 1]
            if (first != _TEXT_FIN and first != _BINARY_FIN) or second < 0x80:
                break
            length = second & 0x7F
            start = pos + 2
            if length == 126:
                if end - pos < 8:
                    break
                length = (data[start] << 8) | data[start + 1]
                start += 2
            elif length == 127:
                break
            stop = start + 4 + length
            if stop > end or length > max_size:
                break
            payload = apply_mask(data[start + 4 : stop], data[start : start + 4])
            if first == _TEXT_FIN:
                try:
                    inbox.append({"type": "websocket.receive", "text": payload.decode()})
                except UnicodeDecodeError:
                    break
            else:
                inbox.append({"type": "websocket.receive", "bytes": payload})
            pos = stop
        return pos

    def _on_data_frame(self, opcode: Opcode, data: Any, fin: bool) -> None:
        if opcode is not _CONT:
            if fin:
                self._deliver(opcode is _TEXT, data)
                return
            self.fragment_text = opcode is _TEXT
        self.fragments += data
        if fin:
            whole, self.fragments = self.fragments, bytearray()
            self._deliver(self.fragment_text, whole)

    def _deliver(self, text: bool, data: Any) -> None:
        if not text:
            self.inbox.append({"type": "websocket.receive", "bytes": data if type(data) is bytes else bytes(data)})
            return
        try:
            decoded = data.decode()
        except UnicodeDecodeError as error:
            # RFC 6455 §8.1: a text message that is not UTF-8 fails the connection with 1007;
            # `receive` writes the close frame with the rest of its output.
            reason = f"invalid UTF-8 at position {error.start}"
            self.protocol.fail(1007, reason)
            self._closed(1007, reason)
            return
        self.inbox.append({"type": "websocket.receive", "text": decoded})

    def ping(self, payload: bytes) -> bytes:
        """A keepalive ping; `pong_due` holds its payload until the matching pong arrives.

        The caller picks `payload` unpredictable (random): a peer must have read the ping to
        answer it, so a peer that reads nothing cannot keep the connection with guessed pongs.
        """
        self.pong_due = payload
        self.protocol.send_ping(payload)
        return self._output()

    def connection_lost(self) -> None:
        """The TCP connection is gone: the app hears 1006 unless it has already heard a close."""
        self._closed(ABNORMAL_CLOSURE, "")

    # Internals -----------------------------------------------------------------------------

    def _closed(self, code: int, reason: str) -> None:
        if self.closed_message is None:
            self.closed_message = {"type": "websocket.disconnect", "code": code, "reason": reason}
            self.inbox.append(self.closed_message)
        self.phase = CLOSED
        self.fragments = bytearray()

    def _output(self) -> bytes:
        writes = self.protocol.data_to_send()
        if not writes:
            return b""
        if b"" in writes:  # websockets' SEND_EOF: a server closes the TCP connection now
            self.close_transport = True
        return b"".join(writes)


def _defaults_without(default_headers: bytes, app_lines: list[bytes]) -> bytes:
    """The server's default lines, less the Date or Server the app sets itself."""
    dropped = [
        name
        for name in _DEFAULT_LINES_DROPPED_BY_APP
        if any(line.lower().startswith(name + b":") for line in app_lines)
    ]
    if not dropped:
        return default_headers
    kept = [line for line in default_headers.split(b"\r\n") if line and line.split(b":", 1)[0].lower() not in dropped]
    return b"".join(line + b"\r\n" for line in kept)
