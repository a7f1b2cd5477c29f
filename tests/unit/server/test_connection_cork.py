"""A response that ends its connection at the client's wish leaves corked, with the FIN, while others are open.

The cork (TCP_CORK) holds the response until the close one loop turn later, so that data and
FIN cross loopback in one segment (docs/benchmarks.md). It must never hold back a response
the client may not get otherwise: not when the server decides to close (the client may
still be sending), not for a streamed response, not over TLS, not for a lone connection
(which would wait a loop turn for its answer).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from fake_transport import FakeTransport

from supervisor._types import Receive, Scope, Send
from supervisor.server.connection import HttpConnection
from supervisor.server.state import ConnectionLimits, ServerState

TURNS = 1000
CORK = (socket.IPPROTO_TCP, getattr(socket, "TCP_CORK", -1), 1)
CLOSE = b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
KEEP = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"

pytestmark = pytest.mark.skipif(not hasattr(socket, "TCP_CORK"), reason="TCP_CORK is Linux's")


class RecordingSocket:
    """What get_extra_info("socket") returns: here it only records its options."""

    def __init__(self, refuse: bool = False) -> None:
        self.options: list[tuple[int, int, int]] = []
        self.refuse = refuse

    def setsockopt(self, level: int, option: int, value: int) -> None:
        if self.refuse:
            raise OSError("Operation not supported")
        self.options.append((level, option, value))


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    headers = [(b"content-type", b"text/plain")]
    if scope["path"] == "/server-closes":
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    if scope["path"] == "/stream":
        await send({"type": "http.response.body", "body": b"hello, ", "more_body": True})
    await send({"type": "http.response.body", "body": b"world"})


async def _serve(request: bytes, *, others: int = 1, sslcontext: object = None, refuse: bool = False) -> Any:
    loop = asyncio.get_running_loop()
    state = ServerState(app=hello, loop=loop, limits=ConnectionLimits(access_log=False), http="httptools")
    for _ in range(others):  # other connections, idle
        FakeTransport(loop).connect(HttpConnection(state, ("127.0.0.1", 8000)))
    transport = FakeTransport(loop)
    sock = transport.extra["socket"] = RecordingSocket(refuse)
    if sslcontext is not None:
        transport.extra["sslcontext"] = sslcontext
    transport.connect(HttpConnection(state, ("127.0.0.1", 8000)))
    transport.protocol.data_received(request)  # type: ignore[union-attr]
    for _ in range(TURNS):
        if state.total_requests:
            break
        await asyncio.sleep(0)
    wire = b"".join(transport.chunks)
    assert b"world" in wire, wire
    return sock.options, transport.closed


def serve(request: bytes, **options: Any) -> tuple[list[tuple[int, int, int]], bool]:
    loop = asyncio.new_event_loop()
    try:
        result: tuple[list[tuple[int, int, int]], bool] = loop.run_until_complete(_serve(request, **options))
        return result
    finally:
        loop.close()


def test_a_client_that_asks_to_close_gets_its_response_corked_until_the_close() -> None:
    assert serve(CLOSE) == ([CORK], True)
    assert serve(b"GET / HTTP/1.0\r\n\r\n") == ([CORK], True)


@pytest.mark.parametrize(
    ("request_bytes", "options", "closed"),
    [
        (KEEP, {}, False),  # keep-alive: nothing ends
        (KEEP.replace(b"/ ", b"/server-closes "), {}, True),  # the server closes: the client may still send
        (CLOSE.replace(b"/ ", b"/stream "), {}, True),  # more than one message: the first must go now
        (CLOSE, {"others": 0}, True),  # a lone connection would wait a loop turn for its answer
        (CLOSE, {"sslcontext": object()}, True),  # TLS: the close_notify would be held as well
    ],
)
def test_no_cork_where_it_could_hold_a_response_back(request_bytes: bytes, options: Any, closed: bool) -> None:
    assert serve(request_bytes, **options) == ([], closed)


def test_a_socket_that_refuses_the_cork_still_gets_the_response() -> None:
    assert serve(CLOSE, refuse=True) == ([], True)
