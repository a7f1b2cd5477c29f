"""WebSocket through a `Server` in the test process, both fronts: handshake, messages, limits,
closes, refusals, keepalive.

The app is tests/apps/ws_apps.py, imported afresh for each server; what it heard (disconnect
codes, errors from a late send) is read back over HTTP from the same server at `/seen`. The
client is websockets' own, except where a test needs a client that misbehaves: then it is a
raw socket. A stop by SIGTERM, with the exit code, is tests/system/test_run_websocket_shutdown.py.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import socket
import ssl
import struct
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from inprocess import InProcessServer, serve_inprocess
from support import read_response, split_responses, wait_closed
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus
from websockets.sync.client import ClientConnection, connect

FRONTS = ("httptools", "h11")
MiB = 1024 * 1024
TIMEOUT_S = 10.0


@pytest.fixture(scope="module", params=FRONTS)
def server(request: pytest.FixtureRequest) -> Iterator[InProcessServer]:
    options = {"http": request.param, "ws_max_size": 2 * MiB, "ws_max_queue": 4, "timeout_graceful_shutdown": 2}
    with serve_inprocess("ws_apps:app", **options) as running:
        yield running


@pytest.fixture(scope="module", params=FRONTS)
def pinging(request: pytest.FixtureRequest) -> Iterator[InProcessServer]:
    """Pings every half second, a pong due within half a second, and no compression."""
    options = {"ws_ping_interval": 0.5, "ws_ping_timeout": 0.5, "ws_per_message_deflate": False}
    with serve_inprocess("ws_apps:app", http=request.param, **options) as running:
        yield running


def open_ws(server: InProcessServer, path: str = "/echo", **options: Any) -> ClientConnection:
    options.setdefault("max_size", None)
    ws: ClientConnection = connect(
        f"ws://{server.host}:{server.port}{path}", proxy=None, open_timeout=TIMEOUT_S, **options
    )
    return ws


def handshake_headers(ws: ClientConnection) -> Headers:
    """The headers of the server's 101 answer (an open connection has one)."""
    assert ws.response is not None
    return ws.response.headers


def seen(server: InProcessServer) -> dict[str, list[Any]]:
    with urllib.request.urlopen(f"http://{server.host}:{server.port}/seen", timeout=TIMEOUT_S) as response:
        result: dict[str, list[Any]] = json.load(response)
        return result


def wait_seen(server: InProcessServer, reason: str) -> tuple[dict[str, Any], str | None]:
    """The disconnect with `reason` the /hold route recorded, and what its late send did (bounded wait)."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        report = seen(server)
        for index, disconnect in enumerate(report["disconnects"]):
            if disconnect.get("reason") == reason:
                late = report["late_sends"][index] if index < len(report["late_sends"]) else None
                return disconnect, late
        assert time.monotonic() < deadline, f"no disconnect with reason {reason!r} in {report}"
        time.sleep(0.05)  # polling the app's record, not waiting for readiness


# -- A raw client, for what websockets' client will not do -------------------------------------


def raw_upgrade(server: InProcessServer, path: str, *, extra: bytes = b"") -> tuple[socket.socket, bytes, bytes]:
    """Send an upgrade request by hand; return the socket, the response head and the bytes after it."""
    sock = socket.create_connection((server.host, server.port), timeout=TIMEOUT_S)
    key = base64.b64encode(os.urandom(16))
    sock.sendall(
        b"GET %s HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n" % (path.encode(), key, extra)
    )
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        assert chunk, f"closed during the handshake: {received!r}"
        received += chunk
    head, _, rest = received.partition(b"\r\n\r\n")
    return sock, head, rest


def masked(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes((0x80 | opcode, 0x80 | len(payload))) + mask + body


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, payload) of every complete unmasked frame in `data` (payloads under 126 bytes here)."""
    frames = []
    while len(data) >= 2 and len(data) >= 2 + (data[1] & 0x7F):
        length = data[1] & 0x7F
        frames.append((data[0] & 0x0F, data[2 : 2 + length]))
        data = data[2 + length :]
    return frames


# -- Handshake and messages ---------------------------------------------------------------------


def test_text_binary_and_a_1_mib_message_echo(server: InProcessServer) -> None:
    with open_ws(server) as ws:
        ws.send("hello")
        assert ws.recv(TIMEOUT_S) == "hello"
        ws.send(b"\x00\x01\xff")
        assert ws.recv(TIMEOUT_S) == b"\x00\x01\xff"
        big = os.urandom(MiB)
        ws.send(big)
        assert ws.recv(TIMEOUT_S) == big
        headers = handshake_headers(ws)
        assert headers["server"] == "serve"
        assert "date" in headers


def test_the_scope_the_subprotocol_and_the_accept_headers(server: InProcessServer) -> None:
    with open_ws(server, "/scope?room=1", subprotocols=["one", "two"]) as ws:
        assert ws.subprotocol == "two"
        assert handshake_headers(ws)["x-accepted-by"] == "ws_apps"
        scope = json.loads(ws.recv(TIMEOUT_S))
    assert scope["type"] == "websocket"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["scheme"] == "ws"
    assert (scope["path"], scope["raw_path"], scope["query_string"]) == ("/scope", "/scope", "room=1")
    assert scope["root_path"] == ""
    assert scope["subprotocols"] == ["one", "two"]
    assert scope["extensions"] == {"websocket.http.response": {}}
    assert scope["server"] == [server.host, server.port]
    assert scope["client"][0] == "127.0.0.1"
    assert scope["state_is_dict"]
    names = [name for name, _ in scope["headers"]]
    assert "sec-websocket-key" in names
    assert "upgrade" in names


def test_per_message_deflate_is_negotiated(server: InProcessServer) -> None:
    message = "compressible " * 1000
    with open_ws(server) as ws:
        assert handshake_headers(ws)["sec-websocket-extensions"].startswith("permessage-deflate")
        ws.send(message)
        assert ws.recv(TIMEOUT_S) == message


def test_per_message_deflate_can_be_turned_off(pinging: InProcessServer) -> None:
    message = "compressible " * 1000
    with open_ws(pinging) as ws:  # started with --ws-per-message-deflate false
        assert "sec-websocket-extensions" not in handshake_headers(ws)
        ws.send(message)
        assert ws.recv(TIMEOUT_S) == message


def test_a_message_over_ws_max_size_closes_with_1009(server: InProcessServer) -> None:
    with open_ws(server) as ws:
        ws.send(b"x" * (2 * MiB + 1))
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv(TIMEOUT_S)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009


def test_http_then_websocket_on_one_connection(server: InProcessServer) -> None:
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT_S) as sock:
        sock.sendall(b"GET /plain HTTP/1.1\r\nHost: t\r\n\r\n")
        status, _, body = read_response(sock)
        assert (status, json.loads(body)["type"]) == (200, "http")
        key = base64.b64encode(os.urandom(16))
        sock.sendall(
            b"GET /echo HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key + masked(0x1, b"same socket")
        )
        received = b""
        while b"same socket" not in received:
            chunk = sock.recv(65536)
            assert chunk, received
            received += chunk
        assert received.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
        assert server_frames(received.partition(b"\r\n\r\n")[2]) == [(0x1, b"same socket")]


def test_an_upgrade_pipelined_behind_another_request_is_served_as_http(server: InProcessServer) -> None:
    upgrade = (
        b"GET /echo HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT_S) as sock:
        sock.sendall(b"GET /first HTTP/1.1\r\nHost: t\r\n\r\n" + upgrade)
        first = read_response(sock)
        second = read_response(sock)
    assert [(status, json.loads(body)) for status, _, body in (first, second)] == [
        (200, {"type": "http", "path": "/first"}),
        (200, {"type": "http", "path": "/echo"}),
    ]


def test_an_invalid_handshake_is_answered_400(server: InProcessServer) -> None:
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT_S) as sock:
        sock.sendall(b"GET /echo HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        [(status, _, body)] = split_responses(wait_closed(sock, TIMEOUT_S))
    assert status == 400
    assert b"Sec-WebSocket-Key" in body


# -- Closing, both ways -------------------------------------------------------------------------


def test_the_client_closes_with_a_code_and_reason_the_app_hears(server: InProcessServer) -> None:
    with open_ws(server, "/hold") as ws:
        ws.close(4002, "client bye")
    disconnect, late = wait_seen(server, "client bye")
    assert disconnect == {"type": "websocket.disconnect", "code": 4002, "reason": "client bye"}
    assert late == "ClientDisconnected"  # an OSError subclass, as ASGI 2.4 asks


def test_the_app_closes_with_a_code_and_reason(server: InProcessServer) -> None:
    with open_ws(server) as ws:
        ws.send("close 4003 not today")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(TIMEOUT_S)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4003, "not today")


def test_a_server_initiated_close_after_a_message(server: InProcessServer) -> None:
    with open_ws(server, "/server-close") as ws:
        assert ws.recv(TIMEOUT_S) == "bye"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(TIMEOUT_S)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "done here")
    disconnect, _ = wait_seen(server, "done here")
    assert disconnect["code"] == 4001


def test_a_client_that_vanishes_is_a_1006_disconnect(server: InProcessServer) -> None:
    sock, head, _ = raw_upgrade(server, "/hold")
    assert head.startswith(b"HTTP/1.1 101")
    sock.sendall(masked(0x1, b"then gone"))
    sock.close()  # no close frame
    deadline = time.monotonic() + TIMEOUT_S
    while not [d for d in seen(server)["disconnects"] if d["code"] == 1006]:
        assert time.monotonic() < deadline, seen(server)
        time.sleep(0.05)  # polling the app's record


# -- Refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/reject", "/no-accept"])
def test_closing_or_returning_before_accepting_is_a_403(server: InProcessServer, path: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        open_ws(server, path)
    assert refused.value.response.status_code == 403


def test_a_denial_response_has_the_apps_status_headers_and_body(server: InProcessServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        open_ws(server, "/deny")
    response = refused.value.response
    assert response.status_code == 401
    assert response.headers["x-denied"] == "yes"
    assert response.headers["content-type"] == "text/plain"
    assert bytes(response.body) == b"no entry without a token"


def test_an_app_failing_before_accepting_is_a_500(server: InProcessServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        open_ws(server, "/fail-before-accept")
    assert refused.value.response.status_code == 500
    server.wait_for_line("Exception in ASGI application")


def test_an_app_failing_after_accepting_closes_with_1011(server: InProcessServer) -> None:
    with open_ws(server, "/fail-after-accept") as ws:
        ws.send("boom")
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv(TIMEOUT_S)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1011


# -- Keepalive and flow control -----------------------------------------------------------------


def test_a_peer_that_stops_answering_pings_is_closed_with_1011(pinging: InProcessServer) -> None:
    sock, head, rest = raw_upgrade(pinging, "/hold")
    with sock:
        assert head.startswith(b"HTTP/1.1 101")
        frames = server_frames(rest + wait_closed(sock, TIMEOUT_S))  # never reads a ping's due pong
    opcodes = [opcode for opcode, _ in frames]
    assert opcodes[0] == 0x9, frames  # pinged first
    assert opcodes[-1] == 0x8, frames  # then closed
    assert struct.unpack("!H", frames[-1][1][:2])[0] == 1011
    disconnect, late = wait_seen(pinging, "keepalive ping timeout")
    assert disconnect["code"] == 1011
    assert late == "ClientDisconnected"


def test_a_peer_that_answers_pings_stays_connected(pinging: InProcessServer) -> None:
    with open_ws(pinging, ping_interval=None) as ws:  # websockets' client answers our pings itself
        with pytest.raises(TimeoutError):
            ws.recv(1.6)  # three ping rounds, deliberately waited out
        ws.send("still here")
        assert ws.recv(TIMEOUT_S) == "still here"


def test_reading_pauses_while_the_app_does_not_receive(server: InProcessServer) -> None:
    """`--ws-max-queue 4`: a sender of 32 MiB blocks until the app reads, then everything arrives."""
    count, size = 512, 64 * 1024
    payload = b"q" * size
    with open_ws(server, "/stall", compression=None) as ws:
        done = threading.Event()

        def flood() -> None:
            for _ in range(count):
                ws.send(payload)
            done.set()

        sender = threading.Thread(target=flood, daemon=True)
        sender.start()
        # Without backpressure the server would read all 32 MiB into memory at once.
        assert not done.wait(1.5), "the whole flood was read while the app was not receiving"
        with urllib.request.urlopen(f"http://{server.host}:{server.port}/release", timeout=TIMEOUT_S):
            pass
        assert done.wait(TIMEOUT_S * 2)
        ws.send("done")
        assert ws.recv(TIMEOUT_S) == str(count * size)


# -- Configuration and shutdown -----------------------------------------------------------------


def test_with_ws_none_an_upgrade_reaches_the_app_as_http(http: str) -> None:
    with (
        serve_inprocess("ws_apps:app", http=http, ws="none") as running,
        socket.create_connection((running.host, running.port), timeout=TIMEOUT_S) as sock,
    ):
        sock.sendall(
            b"GET /echo HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        status, _, body = read_response(sock)
    assert status == 200
    assert json.loads(body) == {"type": "http", "path": "/echo"}


def test_websockets_count_toward_limit_concurrency(http: str) -> None:
    with serve_inprocess("ws_apps:app", http=http, limit_concurrency=1) as running, open_ws(running) as ws:
        with pytest.raises(InvalidStatus) as refused:
            open_ws(running)
        assert refused.value.response.status_code == 503
        ws.send("first still works")
        assert ws.recv(TIMEOUT_S) == "first still works"


def test_a_stop_closes_websockets_with_1012(http: str) -> None:
    with serve_inprocess("ws_apps:app", http=http) as running:
        with open_ws(running, "/hold") as ws:
            ws.send("ping")
            running.server.should_exit = True  # what SIGTERM sets (system test: test_run_websocket_shutdown)
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(TIMEOUT_S)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1012
        running.wait_for_line("Finished server process")


def test_over_tls_the_scheme_is_wss(http: str, tmp_path: Path) -> None:
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    with serve_inprocess("ws_apps:app", http=http, ssl_certfile=str(cert), ssl_keyfile=str(key)) as running:
        assert running.url.startswith("https://")
        url = f"wss://127.0.0.1:{running.port}/scope"
        with connect(url, ssl=client_context, proxy=None, open_timeout=TIMEOUT_S) as ws:
            assert json.loads(ws.recv(TIMEOUT_S))["scheme"] == "wss"
        with connect(url.replace("/scope", "/echo"), ssl=client_context, proxy=None) as ws:
            ws.send("over tls")
            assert ws.recv(TIMEOUT_S) == "over tls"


# -- Frameworks ---------------------------------------------------------------------------------


@pytest.mark.skipif(importlib.util.find_spec("starlette") is None, reason="starlette is not installed")
def test_a_starlette_websocket_route(http: str, tmp_path: Path) -> None:
    (tmp_path / "starlette_ws.py").write_text(STARLETTE_APP)
    with (
        serve_inprocess("starlette_ws:app", http=http, app_dir=str(tmp_path)) as running,
        open_ws(running, "/ws") as ws,
    ):
        ws.send("hi")
        assert ws.recv(TIMEOUT_S) == "starlette: hi"


@pytest.mark.skipif(importlib.util.find_spec("fastapi") is None, reason="fastapi is not installed")
def test_a_fastapi_websocket_route(http: str, tmp_path: Path) -> None:
    (tmp_path / "fastapi_ws.py").write_text(FASTAPI_APP)
    with (
        serve_inprocess("fastapi_ws:app", http=http, app_dir=str(tmp_path)) as running,
        open_ws(running, "/ws") as ws,
    ):
        ws.send("hi")
        assert ws.recv(TIMEOUT_S) == "fastapi: hi"


STARLETTE_APP = """
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute


async def echo(websocket):
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text("starlette: " + text)


app = Starlette(routes=[WebSocketRoute("/ws", echo)])
"""

FASTAPI_APP = """
from fastapi import FastAPI, WebSocket

app = FastAPI()


@app.websocket("/ws")
async def echo(websocket: WebSocket):
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text("fastapi: " + text)
"""
