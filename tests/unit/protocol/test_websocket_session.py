"""protocol/websocket.py: the ASGI side of a WebSocket, against the websockets library's own client protocol.

Every exchange is checked end to end without sockets: websockets' sans-I/O `ClientProtocol`
makes the handshake request and the masked frames, and reads back what the session writes.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, MutableMapping
from typing import Any, cast

import pytest
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri
from websockets.utils import accept_key

from supervisor.config.schema import APP_DEFAULTS
from supervisor.protocol.upgrade import WS_ASGI_VERSION, WebSocketSettings, is_websocket_upgrade, websocket_scope
from supervisor.protocol.websocket import (
    CLOSED,
    DENIAL,
    HANDSHAKE,
    OPEN,
    ClientDisconnected,
    WebSocketSession,
)

# The ws_* settings' defaults, as a server built from a default config would pass them.
SETTINGS = WebSocketSettings(
    max_size=APP_DEFAULTS["ws_max_size"],
    max_queue=APP_DEFAULTS["ws_max_queue"],
    ping_interval=APP_DEFAULTS["ws_ping_interval"],
    ping_timeout=APP_DEFAULTS["ws_ping_timeout"],
    per_message_deflate=APP_DEFAULTS["ws_per_message_deflate"],
)
DEFAULTS = b"date: Thu, 01 Jan 2026 00:00:00 GMT\r\nserver: serve\r\n"
KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3's example key


def http_scope(headers: list[tuple[bytes, bytes]], **changes: Any) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "http_version": "1.1",
        "scheme": "http",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 5000),
        "root_path": "",
        "path": "/chat",
        "raw_path": b"/chat",
        "query_string": b"room=1",
        "headers": headers,
        "state": {"shared": True},
    }
    scope.update(changes)
    return scope


def upgrade_headers(*extra: tuple[bytes, bytes]) -> list[tuple[bytes, bytes]]:
    return [
        (b"host", b"example"),
        (b"upgrade", b"websocket"),
        (b"connection", b"Upgrade"),
        (b"sec-websocket-key", KEY.encode()),
        (b"sec-websocket-version", b"13"),
        *extra,
    ]


class Peer:
    """A client made of websockets' ClientProtocol, connected to a session by hand."""

    def __init__(
        self,
        *,
        deflate: bool = False,
        settings: WebSocketSettings | None = None,
        subprotocols: list[str] | None = None,
        accept: dict[str, Any] | None = None,
    ) -> None:
        self.client = ClientProtocol(
            parse_uri("ws://example/chat?room=1"),
            extensions=[ClientPerMessageDeflateFactory()] if deflate else None,
            subprotocols=cast("list[Subprotocol] | None", subprotocols),
            max_size=None,
        )
        request = self.client.connect()
        self.client.send_request(request)
        self.client.data_to_send()
        headers = [(name.lower().encode(), value.encode()) for name, value in request.headers.raw_items()]
        self.scope = websocket_scope(http_scope(headers))
        self.session = WebSocketSession(self.scope, settings or SETTINGS, DEFAULTS)
        assert self.session.valid
        assert self.session.inbox.popleft() == {"type": "websocket.connect"}
        self.head = self.session.send({"type": "websocket.accept", **(accept or {})})
        self.client.receive_data(self.head)
        [response] = self.client.events_received()
        assert isinstance(response, Response)
        self.response = response

    def send(self, frame: Frame) -> bytes:
        """Serialize a frame as this client would, without sending it through the session."""
        self.client.send_frame(frame)
        return b"".join(self.client.data_to_send())

    def deliver(self, data: bytes) -> bytes:
        """Feed the session; return what it wrote."""
        return self.session.receive(data)

    def read(self, data: bytes) -> list[Frame]:
        """Frames the client parses out of what the session wrote."""
        self.client.receive_data(data)
        return [event for event in self.client.events_received() if isinstance(event, Frame)]

    def messages(self) -> list[MutableMapping[str, Any]]:
        inbox = self.session.inbox
        taken = list(inbox)
        inbox.clear()
        return taken


def text(payload: str, fin: bool = True) -> Frame:
    return Frame(Opcode.TEXT, payload.encode(), fin)


def binary(payload: bytes, fin: bool = True) -> Frame:
    return Frame(Opcode.BINARY, payload, fin)


# -- Recognising an upgrade and building the scope ----------------------------------------------


def test_a_websocket_upgrade_is_a_get_over_http11_with_both_headers() -> None:
    assert is_websocket_upgrade(http_scope(upgrade_headers()))
    assert is_websocket_upgrade(http_scope([(b"upgrade", b"WebSocket"), (b"connection", b"keep-alive, upgrade")]))


@pytest.mark.parametrize(
    ("changes", "headers"),
    [
        ({"method": "POST"}, upgrade_headers()),
        ({"http_version": "1.0"}, upgrade_headers()),
        ({}, [(b"upgrade", b"h2c"), (b"connection", b"upgrade")]),
        ({}, [(b"upgrade", b"websocket"), (b"connection", b"keep-alive")]),
    ],
    ids=["post", "http10", "h2c", "no-connection-upgrade"],
)
def test_anything_else_is_plain_http(changes: dict[str, Any], headers: list[tuple[bytes, bytes]]) -> None:
    assert not is_websocket_upgrade(http_scope(headers, **changes))


def test_the_websocket_scope_carries_the_request() -> None:
    headers = upgrade_headers((b"sec-websocket-protocol", b"chat, Superchat"), (b"sec-websocket-protocol", b"v2"))
    scope = websocket_scope(http_scope(headers, scheme="https", root_path="/api"))
    assert scope == {
        "type": "websocket",
        "asgi": WS_ASGI_VERSION,
        "http_version": "1.1",
        "scheme": "wss",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 5000),
        "root_path": "/api",
        "path": "/chat",
        "raw_path": b"/chat",
        "query_string": b"room=1",
        "headers": headers,
        "subprotocols": ["chat", "Superchat", "v2"],
        "state": {"shared": True},
        "extensions": {"websocket.http.response": {}},
    }
    assert WS_ASGI_VERSION["spec_version"] == "2.4"
    assert websocket_scope(http_scope(upgrade_headers()))["scheme"] == "ws"


# -- Handshake ----------------------------------------------------------------------------------


def test_accept_writes_the_101_with_our_default_and_the_apps_headers() -> None:
    session = WebSocketSession(websocket_scope(http_scope(upgrade_headers())), SETTINGS, DEFAULTS)
    assert session.inbox.popleft() == {"type": "websocket.connect"}
    head = session.send({"type": "websocket.accept", "subprotocol": "chat", "headers": [(b"x-app", b"1")]})
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 101 Switching Protocols"
    assert b"sec-websocket-accept: " + accept_key(KEY).encode() in lines
    assert b"sec-websocket-protocol: chat" in lines
    assert b"upgrade: websocket" in lines
    assert b"server: serve" in lines
    assert b"x-app: 1" in lines
    assert head.endswith(b"x-app: 1\r\n\r\n")
    assert head.count(b"date: ") == 1
    assert session.phase == OPEN


def test_an_app_server_header_replaces_ours() -> None:
    session = WebSocketSession(websocket_scope(http_scope(upgrade_headers())), SETTINGS, DEFAULTS)
    head = session.send({"type": "websocket.accept", "headers": [(b"Server", b"mine")]})
    assert b"server: serve" not in head
    assert b"Server: mine\r\n" in head
    assert b"date: Thu" in head


def test_invalid_app_headers_are_refused() -> None:
    session = WebSocketSession(websocket_scope(http_scope(upgrade_headers())), SETTINGS, DEFAULTS)
    with pytest.raises(RuntimeError, match="invalid response header"):
        session.send({"type": "websocket.accept", "headers": [(b"x", b"a\r\nb: c")]})


def test_the_client_sees_the_handshake_complete_with_the_subprotocol() -> None:
    peer = Peer(subprotocols=["one", "two"], accept={"subprotocol": "two"})
    assert isinstance(peer.response, Response)
    assert peer.response.status_code == 101
    assert peer.client.state is State.OPEN
    assert peer.client.subprotocol == "two"
    assert peer.scope["subprotocols"] == ["one", "two"]


def test_an_invalid_handshake_is_refused_before_the_app_runs() -> None:
    headers = [h for h in upgrade_headers() if h[0] != b"sec-websocket-key"]
    session = WebSocketSession(websocket_scope(http_scope(headers)), SETTINGS, DEFAULTS)
    assert not session.valid
    refusal = session.refusal()
    assert refusal.startswith(b"HTTP/1.1 400 ")
    assert b"Sec-WebSocket-Key" in refusal
    assert session.close_transport
    assert session.status == 400
    assert session.phase == CLOSED


@pytest.mark.parametrize("enabled", [True, False])
def test_per_message_deflate_is_negotiated_only_when_enabled(enabled: bool) -> None:
    peer = Peer(deflate=True, settings=dataclasses.replace(SETTINGS, per_message_deflate=enabled))
    header = peer.response.headers.get("Sec-WebSocket-Extensions")
    if enabled:
        assert header is not None
        assert header.startswith("permessage-deflate")
        assert not peer.session.plain
    else:
        assert header is None
        assert peer.session.plain


def test_compressed_messages_flow_both_ways() -> None:
    peer = Peer(deflate=True)
    message = "compress me " * 100
    data = peer.send(text(message))
    assert len(data) < len(message)
    peer.deliver(data)
    assert peer.messages() == [{"type": "websocket.receive", "text": message}]
    out = peer.session.send({"type": "websocket.send", "text": message})
    assert len(out) < len(message)
    assert [bytes(f.data).decode() for f in peer.read(out)] == [message]
    out = peer.session.send({"type": "websocket.send", "bytes": b"\x00" * 1000})
    assert [f.data for f in peer.read(out)] == [b"\x00" * 1000]


# -- Messages from the peer ---------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 5, 125, 126, 65535, 65536, 300_000])
def test_text_and_binary_messages_of_every_length_class(size: int) -> None:
    peer = Peer()
    payload = random.Random(size).randbytes(size)
    out = peer.deliver(peer.send(text("é" * (size // 2))) + peer.send(binary(payload)))
    assert out == b""
    assert peer.messages() == [
        {"type": "websocket.receive", "text": "é" * (size // 2)},
        {"type": "websocket.receive", "bytes": payload},
    ]


def test_a_fragmented_message_is_delivered_whole() -> None:
    peer = Peer()
    data = (
        peer.send(text("frag", fin=False))
        + peer.send(Frame(Opcode.PING, b"mid"))
        + peer.send(Frame(Opcode.CONT, "mént".encode()[:3], fin=False))
        + peer.send(Frame(Opcode.CONT, "mént".encode()[3:]))
        + peer.send(binary(b"b1", fin=False))
        + peer.send(Frame(Opcode.CONT, b"b2"))
        + peer.send(text("after"))
    )
    out = peer.deliver(data)
    assert [f.opcode for f in peer.read(out)] == [Opcode.PONG]
    assert peer.messages() == [
        {"type": "websocket.receive", "text": "fragmént"},
        {"type": "websocket.receive", "bytes": b"b1b2"},
        {"type": "websocket.receive", "text": "after"},
    ]


def random_frames(rng: random.Random, peer: Peer) -> tuple[bytes, list[dict[str, Any]]]:
    data: list[bytes] = []
    expected: list[dict[str, Any]] = []
    for _ in range(60):
        kind = rng.choice(["text", "binary", "fragmented", "ping", "large"])
        if kind == "text":
            value = "".join(rng.choice("aé€😀") for _ in range(rng.randrange(0, 200)))
            data.append(peer.send(text(value)))
            expected.append({"type": "websocket.receive", "text": value})
        elif kind == "binary":
            payload = rng.randbytes(rng.randrange(0, 300))
            data.append(peer.send(binary(payload)))
            expected.append({"type": "websocket.receive", "bytes": payload})
        elif kind == "large":
            payload = rng.randbytes(rng.randrange(65530, 70000))
            data.append(peer.send(binary(payload)))
            expected.append({"type": "websocket.receive", "bytes": payload})
        elif kind == "fragmented":
            payload = rng.randbytes(rng.randrange(2, 100))
            cut = rng.randrange(1, len(payload))
            data.append(peer.send(binary(payload[:cut], fin=False)))
            data.append(peer.send(Frame(Opcode.CONT, payload[cut:])))
            expected.append({"type": "websocket.receive", "bytes": payload})
        else:
            data.append(peer.send(Frame(Opcode.PING, rng.randbytes(4))))
    return b"".join(data), expected


@pytest.mark.parametrize("seed", range(8))
def test_any_split_of_any_frames_gives_the_same_messages_on_both_paths(seed: int) -> None:
    rng = random.Random(seed)
    peer = Peer()
    data, expected = random_frames(rng, peer)
    for plain in (True, False):
        session = Peer().session
        session.plain = plain
        position = 0
        while position < len(data):
            step = rng.choice([1, 2, 3, 7, 100, 5000, 70000])
            session.receive(data[position : position + step])
            position += step
        assert list(session.inbox) == expected, f"plain={plain}"


def test_text_that_is_not_utf8_fails_with_1007_on_both_paths() -> None:
    for fragmented in (False, True):
        peer = Peer()
        bad = b"ok \xff"
        if fragmented:
            data = peer.send(Frame(Opcode.TEXT, bad[:2], fin=False)) + peer.send(Frame(Opcode.CONT, bad[2:]))
        else:
            data = peer.send(Frame(Opcode.TEXT, bad))
        data += peer.send(text("never delivered"))
        frames = peer.read(peer.deliver(data))
        assert [f.opcode for f in frames] == [Opcode.CLOSE]
        assert Close.parse(frames[0].data).code == 1007
        [disconnect] = peer.messages()
        assert disconnect["code"] == 1007
        assert peer.session.close_transport
        assert peer.session.phase == CLOSED


@pytest.mark.parametrize("size", [101, 70_000], ids=["short-header", "long-header"])
def test_a_message_over_max_size_closes_with_1009(size: int) -> None:
    peer = Peer(settings=dataclasses.replace(SETTINGS, max_size=100))
    peer.deliver(peer.send(binary(b"x" * 100)))
    out = peer.deliver(peer.send(binary(b"x" * size)))
    [close] = peer.read(out)
    assert Close.parse(close.data).code == 1009
    assert peer.messages() == [
        {"type": "websocket.receive", "bytes": b"x" * 100},
        {"type": "websocket.disconnect", "code": 1009, "reason": bytes(close.data[2:]).decode()},
    ]
    assert peer.session.close_transport


def test_an_unmasked_frame_is_a_protocol_error() -> None:
    peer = Peer()
    out = peer.deliver(Frame(Opcode.TEXT, b"hi").serialize(mask=False))
    [close] = peer.read(out)
    assert Close.parse(close.data).code == 1002
    assert peer.messages()[-1]["code"] == 1002


def test_pings_are_answered_and_our_pings_wait_for_their_pong() -> None:
    peer = Peer()
    [pong] = peer.read(peer.deliver(peer.send(Frame(Opcode.PING, b"are you there"))))
    assert pong.opcode is Opcode.PONG
    assert pong.data == b"are you there"
    [ping] = peer.read(peer.session.ping(b"\x8f\x01\xc2\x7e"))
    assert ping.opcode is Opcode.PING
    assert peer.session.pong_due == ping.data == b"\x8f\x01\xc2\x7e"
    answer = b"".join(peer.client.data_to_send())  # websockets' client answered the ping itself
    peer.deliver(peer.send(Frame(Opcode.PONG, b"stale")))
    assert peer.session.pong_due == ping.data
    peer.deliver(answer)
    assert peer.session.pong_due is None
    [second] = peer.read(peer.session.ping(b"\x05\xe3\x9a\x10"))
    assert peer.session.pong_due == second.data != ping.data


@pytest.mark.parametrize(("code", "reason"), [(1000, ""), (4321, "see you"), (None, "")])
def test_a_close_from_the_peer_is_echoed_and_reaches_the_app(code: int | None, reason: str) -> None:
    peer = Peer()
    peer.client.send_close(code, reason)
    out = peer.deliver(b"".join(peer.client.data_to_send()) + peer.send(text("ignored")))
    [echo] = peer.read(out)
    assert echo.opcode is Opcode.CLOSE
    expected_code = 1005 if code is None else code
    assert peer.messages() == [{"type": "websocket.disconnect", "code": expected_code, "reason": reason}]
    assert peer.session.close_transport
    with pytest.raises(ClientDisconnected):
        peer.session.send({"type": "websocket.send", "text": "late"})


# -- Messages from the app ----------------------------------------------------------------------


def test_the_app_sends_text_and_binary_on_both_paths() -> None:
    for plain in (True, False):
        peer = Peer()
        peer.session.plain = plain
        for size in (0, 125, 126, 65535, 65536, 1 << 20):
            out = peer.session.send({"type": "websocket.send", "bytes": b"b" * size})
            [frame] = peer.read(out)
            assert (frame.opcode, len(frame.data)) == (Opcode.BINARY, size)
        out = peer.session.send({"type": "websocket.send", "text": "héllo", "bytes": None})
        assert [(f.opcode, f.data) for f in peer.read(out)] == [(Opcode.TEXT, "héllo".encode())]


def test_a_send_without_data_is_an_app_error() -> None:
    peer = Peer()
    with pytest.raises(RuntimeError, match="'bytes' or 'text'"):
        peer.session.send({"type": "websocket.send"})


def test_the_app_closes_then_waits_for_the_peers_close() -> None:
    peer = Peer()
    in_flight = peer.send(text("in flight"))  # sent before the peer sees our close
    out = peer.session.send({"type": "websocket.close", "code": 4000, "reason": "bye"})
    assert peer.messages() == [{"type": "websocket.disconnect", "code": 4000, "reason": "bye"}]
    assert not peer.session.close_transport
    assert peer.deliver(in_flight) == b""
    assert peer.messages() == []  # dropped: the app has closed
    [close] = peer.read(out)
    assert Close.parse(close.data) == Close(4000, "bye")
    echo = b"".join(peer.client.data_to_send())
    assert echo  # the client answered our close
    assert peer.deliver(echo) == b""
    assert peer.session.close_transport
    assert peer.messages() == []
    with pytest.raises(ClientDisconnected):
        peer.session.send({"type": "websocket.close"})


def test_a_close_with_a_default_code() -> None:
    peer = Peer()
    [close] = peer.read(peer.session.send({"type": "websocket.close", "reason": None}))
    assert Close.parse(close.data) == Close(1000, "")


@pytest.mark.parametrize("message", [{"code": 1006}, {"code": 1000, "reason": "x" * 124}])
def test_an_invalid_close_is_an_app_error(message: dict[str, Any]) -> None:
    peer = Peer()
    with pytest.raises(RuntimeError, match="invalid WebSocket close"):
        peer.session.send({"type": "websocket.close", **message})
    assert peer.session.phase == OPEN


@pytest.mark.parametrize(
    ("phase_setup", "message", "error"),
    [
        (None, {"type": "websocket.send", "text": "x"}, "expected 'websocket.accept'"),
        ("open", {"type": "websocket.accept"}, "expected 'websocket.send' or 'websocket.close'"),
        ("denial", {"type": "websocket.close"}, "expected 'websocket.http.response.body'"),
    ],
)
def test_messages_out_of_order_are_app_errors(phase_setup: str | None, message: dict[str, Any], error: str) -> None:
    session = WebSocketSession(websocket_scope(http_scope(upgrade_headers())), SETTINGS, DEFAULTS)
    if phase_setup == "open":
        session.send({"type": "websocket.accept"})
    elif phase_setup == "denial":
        session.send({"type": "websocket.http.response.start", "status": 401})
    with pytest.raises(RuntimeError, match=error):
        session.send(message)


def new_session() -> WebSocketSession:
    session = WebSocketSession(websocket_scope(http_scope(upgrade_headers())), SETTINGS, DEFAULTS)
    session.inbox.clear()
    return session


def test_closing_before_accepting_answers_403() -> None:
    session = new_session()
    response = session.send({"type": "websocket.close", "code": 1008})
    assert response.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert b"content-length: 0\r\n" in response
    assert session.close_transport
    assert session.status == 403
    assert list(session.inbox) == [{"type": "websocket.disconnect", "code": 1006, "reason": ""}]


def test_a_denial_response_has_the_apps_status_headers_and_body() -> None:
    session = new_session()
    start = {"type": "websocket.http.response.start", "status": 401, "headers": [(b"x-why", b"token")]}
    assert session.send(start) == b""
    assert session.phase == DENIAL
    assert session.send({"type": "websocket.http.response.body", "body": b"no ", "more_body": True}) == b""
    response = session.send({"type": "websocket.http.response.body", "body": b"entry"})
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 401 Unauthorized\r\n")
    assert b"\r\nx-why: token" in head
    assert b"\r\ncontent-length: 8" in head
    assert b"\r\nconnection: close" in head
    assert body == b"no entry"
    assert session.status == 401
    assert session.close_transport


def test_a_denial_without_a_body_status() -> None:
    session = new_session()
    session.send({"type": "websocket.http.response.start", "status": 204})
    response = session.send({"type": "websocket.http.response.body", "body": b"dropped"})
    assert response.endswith(b"\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 204")


def test_a_denial_whose_body_contradicts_its_length_is_an_app_error() -> None:
    session = new_session()
    session.send({"type": "websocket.http.response.start", "status": 403, "headers": [(b"content-length", b"3")]})
    with pytest.raises(RuntimeError, match="Content-Length"):
        session.send({"type": "websocket.http.response.body", "body": b"four"})


AppEnd = Callable[[WebSocketSession], None]


@pytest.mark.parametrize(
    ("setup", "failed", "expected"),
    [
        (None, False, b"HTTP/1.1 403 "),
        (None, True, b"HTTP/1.1 500 "),
        ("denial", False, b"HTTP/1.1 500 "),
    ],
)
def test_an_app_that_ends_before_accepting_gets_an_http_answer(
    setup: str | None, failed: bool, expected: bytes
) -> None:
    session = new_session()
    if setup == "denial":
        session.send({"type": "websocket.http.response.start", "status": 401})
    assert session.app_finished(failed=failed).startswith(expected)
    assert session.close_transport
    assert session.phase == CLOSED


def test_an_app_that_returns_after_accepting_closes_with_1000() -> None:
    peer = Peer()
    [close] = peer.read(peer.session.app_finished(failed=False))
    assert Close.parse(close.data).code == 1000
    assert not peer.session.close_transport  # the peer's answer is awaited
    assert peer.session.app_finished(failed=False) == b""


def test_an_app_that_fails_after_accepting_closes_with_1011_at_once() -> None:
    peer = Peer()
    [close] = peer.read(peer.session.app_finished(failed=True))
    assert Close.parse(close.data).code == 1011
    assert peer.session.close_transport
    assert peer.messages() == [{"type": "websocket.disconnect", "code": 1011, "reason": ""}]


def test_fail_closes_at_once_with_the_code() -> None:
    peer = Peer()
    [close] = peer.read(peer.session.fail(1011, "keepalive ping timeout"))
    assert Close.parse(close.data) == Close(1011, "keepalive ping timeout")
    assert peer.session.close_transport
    assert peer.messages() == [{"type": "websocket.disconnect", "code": 1011, "reason": "keepalive ping timeout"}]


def test_frames_before_the_101_wait_for_it() -> None:
    client = ClientProtocol(parse_uri("ws://example/"), state=State.OPEN)
    client.send_text(b"early")
    client.send_frame(Frame(Opcode.PING, b"p"))
    early = b"".join(client.data_to_send())
    session = new_session()
    assert session.receive(early[:3]) == b""
    assert session.receive(early[3:]) == b""
    assert list(session.inbox) == []
    head = session.send({"type": "websocket.accept"})
    http_head, _, frames = head.partition(b"\r\n\r\n")
    assert http_head.startswith(b"HTTP/1.1 101")
    client.receive_data(frames)
    assert [f.opcode for f in client.events_received()] == [Opcode.PONG]  # type: ignore[union-attr]
    assert list(session.inbox) == [{"type": "websocket.receive", "text": "early"}]


def test_bytes_after_an_http_answer_are_ignored() -> None:
    session = new_session()
    session.send({"type": "websocket.http.response.start", "status": 401})
    assert session.receive(b"\x81\x85whatever") == b""
    session.send({"type": "websocket.http.response.body"})
    assert session.receive(b"\x81\x85whatever") == b""
    assert session.early == bytearray()


def test_a_lost_connection_is_a_1006_disconnect_heard_once() -> None:
    peer = Peer()
    peer.session.connection_lost()
    peer.session.connection_lost()
    assert peer.messages() == [{"type": "websocket.disconnect", "code": 1006, "reason": ""}]
    assert peer.session.closed_message == {"type": "websocket.disconnect", "code": 1006, "reason": ""}
    with pytest.raises(ClientDisconnected) as raised:
        peer.session.send({"type": "websocket.send", "text": "x"})
    assert isinstance(raised.value, OSError)


def test_the_phases_are_ordered() -> None:
    assert HANDSHAKE < DENIAL < OPEN < CLOSED
