"""The demo apps, called directly as ASGI callables: no server, no sockets."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from supervisor._types import ASGIApp, Message, Scope
from supervisor.demo import echo, hello, stream


class Peer:
    """The server's side of one ASGI call: scripted messages in, every sent message recorded."""

    def __init__(self, *incoming: Message) -> None:
        self.incoming = list(incoming)
        self.sent: list[Message] = []
        self.gone = asyncio.Event()  # set to make receive() report the client gone
        self.on_send: asyncio.Event = asyncio.Event()

    async def receive(self) -> Message:
        if self.incoming:
            return self.incoming.pop(0)
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)
        self.on_send.set()

    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")

    def head(self) -> tuple[int, dict[bytes, bytes]]:
        start = self.sent[0]
        assert start["type"] == "http.response.start"
        return start["status"], dict(start["headers"])


def http_scope(path: str = "/", method: str = "GET") -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"demo")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


def ws_scope(path: str) -> Scope:
    return {**http_scope(path), "type": "websocket", "scheme": "ws", "subprotocols": []}


def call(app: ASGIApp, scope: Scope, *incoming: Message) -> Peer:
    async def main() -> Peer:
        peer = Peer(*incoming)
        await asyncio.wait_for(app(scope, peer.receive, peer.send), timeout=5)
        return peer

    return asyncio.run(main())


def get(app: ASGIApp, path: str = "/", method: str = "GET") -> Peer:
    return call(app, http_scope(path, method), {"type": "http.request", "body": b"", "more_body": False})


@pytest.mark.parametrize("app", [hello.app, stream.app, echo.app])
def test_every_demo_acknowledges_lifespan_startup_and_shutdown(app: ASGIApp) -> None:
    peer = call(app, {"type": "lifespan"}, {"type": "lifespan.startup"}, {"type": "lifespan.shutdown"})
    assert [m["type"] for m in peer.sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_hello_says_hello_with_a_content_length() -> None:
    peer = get(hello.app)
    status, headers = peer.head()
    assert status == 200
    assert headers[b"content-type"].startswith(b"text/plain")
    assert headers[b"content-length"] == b"13"
    assert peer.body() == b"Hello, world!"


def test_hello_json_is_a_small_json_document_naming_the_server() -> None:
    peer = get(hello.app, "/json")
    status, headers = peer.head()
    document: dict[str, Any] = json.loads(peer.body())
    assert (status, headers[b"content-type"]) == (200, b"application/json")
    assert int(headers[b"content-length"]) == len(peer.body())
    assert document["message"] == "Hello, world!"
    assert document["server"] == ["127.0.0.1", 8000]
    assert document["path"] == "/json"


@pytest.mark.parametrize("app", [hello.app, stream.app, echo.app])
def test_unknown_paths_are_not_found(app: ASGIApp) -> None:
    peer = get(app, "/nowhere")
    assert peer.head()[0] == 404


@pytest.mark.parametrize(("app", "allow"), [(hello.app, b"GET, HEAD"), (stream.app, b"GET"), (echo.app, b"GET, HEAD")])
def test_writes_are_refused_with_the_allowed_methods(app: ASGIApp, allow: bytes) -> None:
    peer = get(app, "/", "POST")
    status, headers = peer.head()
    assert (status, headers[b"allow"]) == (405, allow)


@pytest.mark.parametrize("app", [hello.app, stream.app, echo.app])
def test_websocket_where_none_is_served_is_closed_before_accepting(app: ASGIApp) -> None:
    peer = call(app, ws_scope("/elsewhere"), {"type": "websocket.connect"})
    assert [m["type"] for m in peer.sent] == ["websocket.close"]


def test_stream_sends_every_tick_then_done_without_a_content_length() -> None:
    peer = get(stream.make_app(ticks=3, interval=0))
    status, headers = peer.head()
    assert status == 200
    assert headers[b"content-type"].startswith(b"text/event-stream")
    assert b"content-length" not in headers
    bodies = [m for m in peer.sent if m["type"] == "http.response.body"]
    assert [m.get("more_body", False) for m in bodies] == [True, True, True, False]
    events = peer.body().decode().split("\n\n")
    assert events[:4] == [
        'event: tick\ndata: {"n":1,"of":3}',
        'event: tick\ndata: {"n":2,"of":3}',
        'event: tick\ndata: {"n":3,"of":3}',
        'event: done\ndata: {"ticks":3}',
    ]


def test_stream_stops_ticking_when_the_client_goes_away() -> None:
    async def main() -> Peer:
        peer = Peer({"type": "http.request", "body": b"", "more_body": False})
        app = stream.make_app(ticks=3, interval=60)
        running = asyncio.ensure_future(app(http_scope(), peer.receive, peer.send))
        while len(peer.sent) < 2:  # the head and the first tick
            peer.on_send.clear()
            await asyncio.wait_for(peer.on_send.wait(), timeout=5)
        peer.gone.set()
        await asyncio.wait_for(running, timeout=5)
        return peer

    peer = asyncio.run(main())
    assert peer.body() == b'event: tick\ndata: {"n":1,"of":3}\n\n'


def test_stream_does_not_start_for_a_client_gone_before_its_body_arrived() -> None:
    peer = call(stream.app, http_scope(), {"type": "http.disconnect"})
    assert peer.sent == []


def test_echo_page_connects_to_the_websocket_endpoint() -> None:
    peer = get(echo.app)
    status, headers = peer.head()
    assert (status, headers[b"content-type"]) == (200, b"text/html; charset=utf-8")
    assert int(headers[b"content-length"]) == len(peer.body())
    assert b'location.host + "/ws"' in peer.body()


def test_echo_sends_text_and_bytes_back_as_they_came() -> None:
    peer = call(
        echo.app,
        ws_scope("/ws"),
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": "hi there"},
        {"type": "websocket.receive", "bytes": b"\x00\xff"},
        {"type": "websocket.receive", "text": ""},
        {"type": "websocket.disconnect", "code": 1000},
    )
    assert peer.sent == [
        {"type": "websocket.accept"},
        {"type": "websocket.send", "text": "hi there"},
        {"type": "websocket.send", "bytes": b"\x00\xff"},
        {"type": "websocket.send", "text": ""},
    ]


def test_stream_reads_a_request_body_sent_in_parts_before_ticking() -> None:
    peer = call(
        stream.make_app(ticks=1, interval=0),
        http_scope(),
        {"type": "http.request", "body": b"ignored ", "more_body": True},
        {"type": "http.request", "body": b"body", "more_body": False},
    )
    assert peer.body() == b'event: tick\ndata: {"n":1,"of":1}\n\nevent: done\ndata: {"ticks":1}\n\n'
