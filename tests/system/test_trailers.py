"""Response trailers on real `serve run` processes: HTTP/1.1 chunked to `TE: trailers` requests, and HTTP/2."""

from __future__ import annotations

import json
from collections.abc import Iterator

import h2.events
import pytest
from support import ServeProcess, exchange, serve_run
from test_http2 import upgraded
from test_http2_client import H2Client

pytestmark = pytest.mark.system

APP = "h2_extras_app:app"


@pytest.fixture(scope="module")
def server() -> Iterator[ServeProcess]:
    with serve_run(APP, "--http2") as process:
        yield process


def get(server: ServeProcess, path: str, *extra: str) -> bytes:
    head = f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" + "".join(f"{h}\r\n" for h in extra) + "\r\n"
    return exchange(server.host, server.port, head.encode())


def test_http11_te_trailers_gets_them_after_the_last_chunk(server: ServeProcess) -> None:
    response = get(server, "/trailers", "TE: trailers")
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"transfer-encoding: chunked" in head.lower()
    assert b"content-length" not in head.lower()
    assert body == b"5\r\nhello\r\n5\r\nworld\r\n0\r\nx-checksum: abc123\r\ngrpc-status: 0\r\n\r\n"


def test_http11_without_te_trailers_drops_them(server: ServeProcess) -> None:
    body = get(server, "/trailers").partition(b"\r\n\r\n")[2]
    assert body == b"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n"


def test_http11_with_content_length_drops_them(server: ServeProcess) -> None:
    response = get(server, "/trailers-length", "TE: trailers")
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"content-length: 10" in head.lower()
    assert body == b"helloworld"


def test_http11_extension_is_advertised_only_to_te_trailers(server: ServeProcess) -> None:
    with_te = json.loads(get(server, "/extensions", "TE: trailers").partition(b"\r\n\r\n")[2])
    without = json.loads(get(server, "/extensions").partition(b"\r\n\r\n")[2])
    assert with_te["extensions"] == ["http.response.trailers"]
    assert without["extensions"] == []


def test_http11_invalid_trailer_cuts_the_response(server: ServeProcess) -> None:
    response = get(server, "/trailers-bad", "TE: trailers")
    assert response.endswith(b"5\r\nworld\r\n")  # no last chunk: the client cannot take it as whole
    server.wait_for_line("may not be sent as a trailer", timeout=5)


def test_http2_trailers_end_the_stream(server: ServeProcess) -> None:
    with H2Client.connect(server.host, server.port) as client:
        scope = client.request("GET", "/extensions")
        stream = client.request("GET", "/trailers")
        status, _, body = client.response(stream)
        assert (status, body) == (200, b"helloworld")
        trailers = [e for e in client.events if isinstance(e, h2.events.TrailersReceived)]
        assert [(e.stream_id, e.headers) for e in trailers] == [
            (stream, [(b"x-checksum", b"abc123"), (b"grpc-status", b"0")])
        ]
        ended = next(e for e in client.events if isinstance(e, h2.events.StreamEnded) and e.stream_id == stream)
        assert client.events.index(ended) > client.events.index(trailers[0])
        assert json.loads(client.response(scope)[2])["extensions"] == ["http.response.trailers"]


def test_http2_invalid_trailer_resets_the_stream(server: ServeProcess) -> None:
    with H2Client.connect(server.host, server.port) as client:
        stream = client.request("GET", "/trailers-bad")
        client.read_until(lambda: client.ended(stream))
        assert any(isinstance(e, h2.events.StreamReset) and e.stream_id == stream for e in client.events)


def test_h2c_upgraded_stream_1_gets_trailers_too(server: ServeProcess) -> None:
    with upgraded(server, "/trailers") as client:
        assert client.response(1)[::2] == (200, b"helloworld")
        [trailers] = [e for e in client.events if isinstance(e, h2.events.TrailersReceived)]
        assert trailers.stream_id == 1
