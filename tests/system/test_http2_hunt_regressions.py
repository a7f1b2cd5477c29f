"""Two HTTP/2 faults found by a fault hunt (stop 19), over a real server.

- The HPACK block memo (`protocol/h2_front.py`) kept blocks made before an encode that added a
  table entry: a response head repeated after that went out with stale indices, and the client
  read fields the app never sent (the unit tests in tests/unit/protocol/test_h2_front.py pin
  both directions).
- A stream whose app failed was marked complete without telling a `receive()` waiting beside
  the app: that task waited for ever (HTTP/1.1 tells it when the connection closes).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from support import ServeProcess, serve_run
from test_http2_client import H2Client, request_headers

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def server() -> Iterator[ServeProcess]:
    with serve_run("protocol_apps:app", "--http2") as process:
        yield process


def test_a_streamed_head_repeated_after_a_table_change_keeps_its_own_fields(server: ServeProcess) -> None:
    with H2Client.connect(server.host, server.port) as client:
        seen = []
        # /chunks: no content-length (fully indexed after the first); /echo adds content-length: 3.
        for method, path, body in [
            ("GET", "/fixed", b""),
            ("GET", "/chunks", b""),
            ("GET", "/chunks", b""),
            ("POST", "/echo", b"abc"),
            ("GET", "/chunks", b""),
        ]:
            status, headers, _ = client.response(client.request(method, path, body), timeout=10)
            seen.append((path, status, headers))
    for path, status, headers in seen:
        assert status == 200
        if path == "/chunks":
            assert b"content-length" not in headers, seen
            assert headers.get(b"content-type") == b"text/plain", seen


SIDE_APP = """
import asyncio, json
PENDING = set()

async def side(receive):
    PENDING.add(asyncio.current_task())
    try:
        while (await receive())["type"] != "http.disconnect":
            pass
    finally:
        PENDING.discard(asyncio.current_task())

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["path"] == "/pending":
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": str(len(PENDING)).encode()})
        return
    asyncio.ensure_future(side(receive))  # waits beside the app: for the body still coming, then the disconnect
    await asyncio.sleep(0)
    if scope["path"] != "/unstarted":
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
    if scope["path"] in ("/raise", "/unstarted"):
        raise RuntimeError("hunt")
"""


def test_a_receive_waiting_beside_a_failed_h2_stream_hears_the_disconnect(tmp_path: Path) -> None:
    # HTTP/1.1 wakes it (the connection closes); on HTTP/2, _app_returned marked the cycle complete
    # and reset the stream (or answered 500) without telling the cycle: the side task waited for
    # ever, also when it waited for a request body that could no longer come (a review found that).
    (tmp_path / "side_app.py").write_text(SIDE_APP, encoding="utf-8")
    with (
        serve_run("side_app:app", "--http2", "--app-dir", str(tmp_path)) as server,
        H2Client.connect(server.host, server.port) as client,
    ):
        for path in ("/raise", "/return"):
            sid = client.request("GET", path)
            client.read_until(partial(client.ended, sid))
        for path in ("/raise", "/unstarted"):  # a POST whose body is still to come
            sid = client.conn.get_next_available_stream_id()
            client.conn.send_headers(sid, request_headers("POST", path), end_stream=False)
            client.flush()
            client.read_until(partial(client.ended, sid))
        deadline = time.monotonic() + 5
        pending = b""
        while time.monotonic() < deadline:
            pending = client.response(client.request("GET", "/pending"))[2]
            if pending == b"0":
                break
        assert pending == b"0", "side tasks still waiting in receive()"
