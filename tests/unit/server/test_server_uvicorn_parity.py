"""What a user moving from uvicorn expects of one server process: its Server header, trace lines, ASGI 2's version.

In process: a real event loop, the connection over a fake transport (fake_transport.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fake_transport import FakeTransport

from supervisor._types import Receive, Scope, Send
from supervisor.asgi import adapters
from supervisor.logs import TRACE
from supervisor.server.connection import HttpConnection
from supervisor.server.state import ConnectionLimits, ServerState

STEP_TIMEOUT_S = 5.0


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello"})


def new_state(loop: asyncio.AbstractEventLoop, app: Any = hello, **fields: Any) -> ServerState:
    return ServerState(app=app, loop=loop, limits=ConnectionLimits(access_log=False), http="httptools", **fields)


async def one_request(state: ServerState, request: bytes) -> bytes:
    """Serve `request` on one connection that closes after it; what went out on the wire."""
    transport = FakeTransport(state.loop)
    connection = HttpConnection(state, ("127.0.0.1", 8000))
    transport.connect(connection)
    transport.protocol.data_received(request)  # type: ignore[union-attr]
    for _ in range(1000):
        if transport.closed and connection.closing and not state.connections:
            break
        await asyncio.sleep(0)
    return b"".join(transport.chunks)


CLOSE = b"GET /x HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"


# Server header ---------------------------------------------------------------------------------


def server_lines(head: bytes) -> list[bytes]:
    return [line for line in head.split(b"\r\n") if line.lower().startswith(b"server:")]


def test_a_users_own_server_header_replaces_serves(loop: asyncio.AbstractEventLoop) -> None:
    state = new_state(loop, extra_headers=b"x-frame-options: DENY\r\nserver: custom\r\n")
    assert server_lines(state.default_headers) == [b"server: custom"]
    wire = loop.run_until_complete(asyncio.wait_for(one_request(state, CLOSE), STEP_TIMEOUT_S))
    assert server_lines(wire.partition(b"\r\n\r\n")[0]) == [b"server: custom"]


def test_serves_server_header_stays_beside_other_headers_of_the_user(loop: asyncio.AbstractEventLoop) -> None:
    state = new_state(loop, extra_headers=b"x-server: other\r\n")
    assert server_lines(state.default_headers) == [b"server: serve"]
    state.tick_date(1.0)
    assert server_lines(state.default_headers) == [b"server: serve"]


# log_level trace -------------------------------------------------------------------------------


@pytest.fixture
def trace_on() -> Iterator[None]:
    logger = logging.getLogger("serve.error")
    level = logger.level
    logger.setLevel(TRACE)
    yield
    logger.setLevel(level)


def test_trace_logs_the_connection_and_every_asgi_message(
    loop: asyncio.AbstractEventLoop, trace_on: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(TRACE, logger="serve.error")
    state = new_state(loop)
    assert state.trace
    wire = loop.run_until_complete(asyncio.wait_for(one_request(state, CLOSE), STEP_TIMEOUT_S))
    assert wire.startswith(b"HTTP/1.1 200 ")
    lines = [record.getMessage() for record in caplog.records if record.levelno == TRACE]
    assert lines[0] == "127.0.0.1:50000 - HTTP connection made"
    assert lines[1].startswith("127.0.0.1:50000 - ASGI [1] started, scope {'type': 'http'")
    assert lines[2] == (
        "127.0.0.1:50000 - ASGI [1] received {'type': 'http.request', 'body': '<0 bytes>', 'more_body': False}"
    )
    assert lines[3].startswith("127.0.0.1:50000 - ASGI [1] sent {'type': 'http.response.start', 'status': 200")
    assert lines[4] == "127.0.0.1:50000 - ASGI [1] sent {'type': 'http.response.body', 'body': '<5 bytes>'}"
    assert lines[5:] == ["127.0.0.1:50000 - ASGI [1] completed", "127.0.0.1:50000 - HTTP connection done"]


def test_trace_logs_an_app_that_raises_then_lets_the_error_through(
    loop: asyncio.AbstractEventLoop, trace_on: None, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise ValueError("boom")

    caplog.set_level(TRACE, logger="serve.error")
    traced = adapters.TracedApp(broken)
    with pytest.raises(ValueError, match="boom"):
        loop.run_until_complete(traced({"type": "http", "client": None}, hello, hello))  # type: ignore[arg-type]
    lines = [record.getMessage() for record in caplog.records if record.levelno == TRACE]
    assert lines == ["- - ASGI [1] started, scope {'type': 'http', 'client': None}", "- - ASGI [1] raised ValueError"]


def test_trace_shows_websocket_text_as_its_length(
    loop: asyncio.AbstractEventLoop, trace_on: None, caplog: pytest.LogCaptureFixture
) -> None:
    async def echo(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "websocket.send", "text": "héllo"})

    async def sent(message: Any) -> None:
        pass

    caplog.set_level(TRACE, logger="serve.error")
    scope = {"type": "websocket", "client": ["::1", 5]}
    loop.run_until_complete(adapters.TracedApp(echo)(scope, hello, sent))  # type: ignore[arg-type]
    lines = [record.getMessage() for record in caplog.records if record.levelno == TRACE]
    assert lines[1] == "::1:5 - ASGI [1] sent {'type': 'websocket.send', 'text': '<5 chars>'}"


def test_without_trace_the_app_is_called_as_it_is(loop: asyncio.AbstractEventLoop) -> None:
    assert not logging.getLogger("serve.error").isEnabledFor(TRACE)
    state = new_state(loop)
    assert state.app is hello
    assert not state.trace


# ASGI 2 ----------------------------------------------------------------------------------------


def test_an_asgi2_app_is_told_version_2_0(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[dict[str, str]] = []

    class Asgi2:
        def __init__(self, scope: Scope) -> None:
            seen.append(scope["asgi"])

        async def __call__(self, receive: Receive, send: Send) -> None:
            await hello({}, receive, send)

    state = new_state(loop, app=adapters.ASGI2Adapter(Asgi2))
    wire = loop.run_until_complete(asyncio.wait_for(one_request(state, CLOSE), STEP_TIMEOUT_S))
    assert wire.startswith(b"HTTP/1.1 200 ")
    assert seen == [{"version": "2.0", "spec_version": "2.3"}]


# Malformed requests ----------------------------------------------------------------------------

SMUGGLED = b"GET /bad HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"


def test_a_malformed_request_is_warned_about_with_its_reason_at_most_once_a_second(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="serve.error")
    state = new_state(loop)

    def refused() -> list[str]:
        wire = loop.run_until_complete(asyncio.wait_for(one_request(state, SMUGGLED), STEP_TIMEOUT_S))
        assert wire.startswith(b"HTTP/1.1 400 ")
        return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]

    first = refused()
    assert len(first) == 1
    assert first[0].startswith("Invalid HTTP request received from 127.0.0.1:50000: 400 ")
    assert "Content-Length" in first[0]
    assert refused() == first  # within the second: counted, not written
    state.invalid_quiet_until = -1.0  # the second has passed
    third = refused()
    assert len(third) == 2
    assert third[1].endswith(" (1 more since the last warning)")


def test_a_well_formed_request_is_not_warned_about(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="serve.error")
    loop.run_until_complete(asyncio.wait_for(one_request(new_state(loop), CLOSE), STEP_TIMEOUT_S))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_trace_names_each_kind_of_connection_as_it_joins_and_leaves(
    loop: asyncio.AbstractEventLoop, trace_on: None, caplog: pytest.LogCaptureFixture
) -> None:
    class WebSocketConnection:  # as server/ws_connection.py's: its client is in its scope
        def __init__(self) -> None:
            self.scope = {"client": ("10.0.0.1", 4)}

    class Http2Connection:
        client = None  # a unix socket's peer

    caplog.set_level(TRACE, logger="serve.error")
    connections = new_state(loop).connections
    websocket, http2 = WebSocketConnection(), Http2Connection()
    connections.add(websocket)  # type: ignore[arg-type]
    connections.add(http2)  # type: ignore[arg-type]
    connections.discard(websocket)
    connections.discard(websocket)  # gone already: said once
    assert len(connections) == 1
    assert [record.getMessage() for record in caplog.records] == [
        "10.0.0.1:4 - WebSocket connection made",
        "- - HTTP/2 connection made",
        "10.0.0.1:4 - WebSocket connection done",
    ]
