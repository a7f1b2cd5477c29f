"""WebSocket over HTTP/2 in-process: the session's HTTP answers to a stream, and the front's extended CONNECT."""

from __future__ import annotations

from typing import Any

import h2.config
import h2.connection
import h2.events
import pytest
from h2_defaults import default_limits
from websockets.frames import Frame, Opcode

from supervisor._types import Scope
from supervisor.protocol.h2_front import H2Front
from supervisor.protocol.upgrade import WebSocketSettings, websocket_scope
from supervisor.protocol.websocket import ABNORMAL_CLOSURE, OPEN, WebSocketSession

SETTINGS = WebSocketSettings(
    max_size=2**20, max_queue=32, ping_interval=None, ping_timeout=None, per_message_deflate=True
)
DEFAULTS = b"date: Thu, 01 Jan 2026 00:00:00 GMT\r\nserver: serve\r\n"
Answer = tuple[int, list[tuple[bytes, bytes]], bytes, bool]


def h2_scope(*extra: tuple[bytes, bytes]) -> Scope:
    """The websocket scope of an extended CONNECT, as the HTTP/2 connection builds it."""
    http = {
        "type": "http",
        "method": "CONNECT",
        "http_version": "2",
        "scheme": "https",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 5000),
        "root_path": "",
        "path": "/chat",
        "raw_path": b"/chat",
        "query_string": b"",
        "headers": [(b"host", b"example"), (b"sec-websocket-version", b"13"), *extra],
        "state": {},
    }
    return websocket_scope(http)


def session_on(*extra: tuple[bytes, bytes]) -> tuple[WebSocketSession, list[Answer]]:
    answers: list[Answer] = []

    def answer(status: int, headers: list[tuple[bytes, bytes]], body: bytes, end: bool) -> None:
        answers.append((status, headers, body, end))

    session = WebSocketSession(h2_scope(*extra), SETTINGS, DEFAULTS, answer)
    assert session.inbox.popleft() == {"type": "websocket.connect"}
    return session, answers


def test_the_scope_says_http2_and_wss() -> None:
    scope = h2_scope()
    assert (scope["type"], scope["http_version"], scope["scheme"]) == ("websocket", "2", "wss")


def test_accept_answers_200_without_an_accept_key_and_frames_are_the_same_bytes() -> None:
    # A client key sent anyway is ignored: RFC 8441 has none, and ours stands in for it.
    session, answers = session_on((b"sec-websocket-key", b"x"), (b"sec-websocket-extensions", b"permessage-deflate"))
    assert session.valid
    early = Frame(Opcode.TEXT, b"early").serialize(mask=True, extensions=[])
    assert session.receive(early) == b""  # before the answer: it waits
    out = session.send({"type": "websocket.accept", "subprotocol": "chat", "headers": [(b"x-a", b"1")]})
    assert out == b""
    [(status, fields, body, end)] = answers
    assert (status, body, end) == (200, b"", False)
    names = [name for name, _ in fields]
    assert names == [b"sec-websocket-extensions", b"sec-websocket-protocol", b"x-a"]
    assert session.phase == OPEN
    assert session.inbox.popleft() == {"type": "websocket.receive", "text": "early"}
    assert fields[0][1].startswith(b"permessage-deflate")
    assert session.protocol.extensions  # negotiated as over HTTP/1.1: frames are compressed the same way


def test_plain_frames_and_early_bytes_need_no_answer_bytes() -> None:
    session, answers = session_on()
    early = Frame(Opcode.PING, b"p").serialize(mask=True, extensions=[])
    session.receive(early)
    out = session.send({"type": "websocket.accept"})
    assert out[:2] == b"\x8a\x01"  # only the pong to the early ping: the 200 went to the stream
    assert [a[0] for a in answers] == [200]


def test_invalid_app_headers_are_refused_before_anything_is_answered() -> None:
    session, answers = session_on()
    with pytest.raises(RuntimeError, match="invalid response header"):
        session.send({"type": "websocket.accept", "headers": [(b"x-a", b"1\r\n")]})
    assert answers == []


def test_close_before_accept_and_a_failed_app_answer_on_the_stream() -> None:
    session, answers = session_on()
    assert session.send({"type": "websocket.close"}) == b""
    assert answers == [(403, [(b"content-type", b"text/plain; charset=utf-8")], b"", True)]
    assert session.close_transport
    session, answers = session_on()
    assert session.app_finished(failed=True) == b""
    assert answers[0][0] == 500
    assert answers[0][2] == b"Internal Server Error"


def test_a_denial_goes_to_the_stream_with_its_headers_and_body() -> None:
    session, answers = session_on()
    session.send({"type": "websocket.http.response.start", "status": 401, "headers": [(b"x-why", b"token")]})
    assert session.send({"type": "websocket.http.response.body", "body": b"no", "more_body": True}) == b""
    assert session.send({"type": "websocket.http.response.body", "body": b" token"}) == b""
    assert answers == [(401, [(b"x-why", b"token")], b"no token", True)]
    assert session.closed_message == {"type": "websocket.disconnect", "code": ABNORMAL_CLOSURE, "reason": ""}


def test_an_invalid_handshake_is_refused_on_the_stream() -> None:
    answers: list[Answer] = []
    scope = h2_scope()
    scope["headers"] = [(b"host", b"example")]  # no sec-websocket-version
    session = WebSocketSession(scope, SETTINGS, DEFAULTS, lambda *answer: answers.append(answer))
    assert not session.valid
    assert session.refusal() == b""
    [(status, fields, body, end)] = answers
    assert (status, end) == (400, True)
    assert b"Sec-WebSocket-Version" in body
    assert all(name not in (b"date", b"content-length") for name, _ in fields)


# The front: SETTINGS_ENABLE_CONNECT_PROTOCOL and extended CONNECT ------------------------------


class Sink:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def on_stream_request(self, stream_id: int, method: bytes, target: bytes, scheme: bytes, headers: Any) -> None:
        self.calls.append(("request", stream_id, method, target))

    def on_stream_connect(self, stream_id: int, protocol: bytes, target: bytes, scheme: bytes, headers: Any) -> None:
        self.calls.append(("connect", stream_id, protocol, target, scheme, headers))

    def on_stream_body(self, stream_id: int, chunk: bytes, flow_length: int) -> None:
        self.calls.append(("body", stream_id, chunk))

    def on_stream_end(self, stream_id: int) -> None:
        self.calls.append(("end", stream_id))

    def on_stream_reset(self, stream_id: int) -> None:
        self.calls.append(("reset", stream_id))


CONNECT = [
    (b":method", b"CONNECT"),
    (b":protocol", b"websocket"),
    (b":scheme", b"https"),
    (b":path", b"/chat"),
    (b":authority", b"example"),
    (b"sec-websocket-version", b"13"),
]


@pytest.mark.parametrize("enabled", [True, False])
def test_extended_connect_goes_to_the_sink_only_when_advertised(enabled: bool) -> None:
    sink = Sink()
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    client.initiate_connection()
    front = H2Front(sink, default_limits(), 0.0, connect_sink=sink if enabled else None)
    front.feed(client.data_to_send(), 0.0)
    client.receive_data(front.output())
    assert client.remote_settings.enable_connect_protocol == int(enabled)
    if not enabled:
        return
    client.send_headers(1, CONNECT)
    client.send_data(1, b"frames")
    front.feed(client.data_to_send(), 0.0)
    assert sink.calls == [
        ("connect", 1, b"websocket", b"/chat", b"https", [(b"host", b"example"), (b"sec-websocket-version", b"13")]),
        ("body", 1, b"frames"),
    ]
    front.send_head(1, [(b":status", b"200")], end_stream=False)
    front.send_data(1, b"back", end_stream=False)
    events = client.receive_data(front.output())
    assert [type(e) for e in events] == [h2.events.ResponseReceived, h2.events.DataReceived]
