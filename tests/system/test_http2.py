"""HTTP/2 on real `serve run --http2` processes: prior knowledge, h2c upgrade, ALPN, real clients, flow control."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme
from support import ServeProcess, certificate_files, exchange, read_response, serve_run
from test_http2_client import H2Client

pytestmark = pytest.mark.system

APP = "protocol_apps:app"
SETTINGS = b"AAMAAABkAAQCAAAAAAIAAAAA"


@pytest.fixture(scope="module")
def server() -> Iterator[ServeProcess]:
    with serve_run(APP, "--http2") as process:
        yield process


def test_prior_knowledge_serves_streams_through_the_same_cycle(server: ServeProcess) -> None:
    with H2Client.connect(server.host, server.port) as client:
        get = client.request("GET", "/scope/a%20b?q=1")
        post = client.request("POST", "/echo", b"hello over h2")
        status, headers, body = client.response(get)
        assert status == 200
        assert headers[b"server"] == b"serve"
        scope = json.loads(body)
        assert scope["http_version"] == "2"
        assert scope["path"] == "/scope/a b"
        assert scope["query_string"] == "q=1"
        assert scope["scheme"] == "http"
        assert ["host", "h2.test"] in scope["headers"]
        assert not [name for name, _ in scope["headers"] if name.startswith(":")]
        assert client.response(post)[::2] == (200, b"hello over h2")


def test_httpx_with_http2_prior_knowledge(server: ServeProcess) -> None:
    with httpx.Client(http1=False, http2=True, timeout=10) as client:
        responses = [client.get(f"{server.url}/fixed") for _ in range(3)]
    assert {r.http_version for r in responses} == {"HTTP/2"}
    assert {r.content for r in responses} == {b"fixed body, 26 bytes long\n"}


def h2c_offer(method: str, path: str, body: bytes = b"", settings: bytes = SETTINGS) -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: h2.test\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        f"Upgrade: h2c\r\nHTTP2-Settings: {settings.decode()}\r\n"
    ).encode()
    return head + (b"content-length: %d\r\n\r\n" % len(body) + body if body else b"\r\n")


def upgraded(server: ServeProcess, path: str) -> H2Client:
    """A connection that sent an h2c offer for `path` and got its 101: an HTTP/2 client on it from there."""
    sock = socket.create_connection((server.host, server.port), timeout=10)
    sock.sendall(h2c_offer("GET", path))
    switching = b""
    while b"\r\n\r\n" not in switching:
        byte = sock.recv(1)  # byte by byte: what follows the 101 is HTTP/2's
        assert byte, f"closed before the end of the 101: {switching!r}"
        switching += byte
    assert switching.startswith(b"HTTP/1.1 101 ")
    return H2Client(sock, upgraded=SETTINGS)


def test_h2c_upgrade_without_a_body_answers_on_stream_1(server: ServeProcess) -> None:
    with upgraded(server, "/scope/up") as client:
        status, _, body = client.response(1)
        assert status == 200
        assert json.loads(body)["http_version"] == "2"
        # The connection goes on as HTTP/2.
        assert client.response(client.request("GET", "/fixed"))[0] == 200


def test_h2c_upgrade_with_a_body_is_answered_over_http1_with_the_body_intact(server: ServeProcess) -> None:
    body = b"x" * 5000 + b"end"
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(h2c_offer("POST", "/echo", body))
        status, _, answer = read_response(sock)
    assert status == 200
    assert answer == body


@pytest.mark.parametrize("settings", [b"AAUAAAAA", b"AAT_____"], ids=["max-frame-size-0", "window-2^32-1"])
def test_h2c_settings_http2_would_refuse_are_answered_over_http1(server: ServeProcess, settings: bytes) -> None:
    # Well-formed base64, whole entries, values out of RFC 9113 §6.5.2's range: no 101 is sent.
    seen = len(server.lines)
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(h2c_offer("GET", "/fixed", settings=settings) + b"GET /fixed HTTP/1.1\r\nHost: h2.test\r\n\r\n")
        assert [read_response(sock)[0] for _ in range(2)] == [200, 200]
    with H2Client.connect(server.host, server.port) as client:  # the worker still serves HTTP/2
        assert client.response(client.request("GET", "/fixed"))[0] == 200
    assert not [line for line in server.lines[seen:] if "Traceback" in line or "Fatal error" in line]


def test_http2_off_changes_nothing() -> None:
    with serve_run(APP) as process:
        reply = exchange(process.host, process.port, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 505 ")
        with socket.create_connection((process.host, process.port), timeout=10) as sock:
            sock.sendall(h2c_offer("GET", "/fixed"))
            assert read_response(sock)[0] == 200  # the offer is ignored


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path, Path]:
    authority = trustme.CA()
    keyfile, certfile = certificate_files(authority, tmp_path_factory.mktemp("tls"))
    return authority, keyfile, certfile


def client_context(authority: trustme.CA, protocols: list[str]) -> ssl.SSLContext:
    context = ssl.create_default_context()
    authority.configure_trust(context)
    context.set_alpn_protocols(protocols)
    return context


def test_alpn_offers_h2_and_http1_over_tls(tls_files: tuple[trustme.CA, Path, Path]) -> None:
    authority, keyfile, certfile = tls_files
    with serve_run(APP, "--http2", "--ssl-keyfile", str(keyfile), "--ssl-certfile", str(certfile)) as process:
        with H2Client.connect(
            process.host, process.port, context=client_context(authority, ["h2", "http/1.1"])
        ) as client:
            assert client.sock.selected_alpn_protocol() == "h2"  # type: ignore[union-attr]
            status, _, body = client.response(client.request("GET", "/scope/tls", headers=()))
            assert status == 200
            assert json.loads(body)["scheme"] == "https"
        with httpx.Client(http2=True, verify=client_context(authority, ["h2", "http/1.1"]), timeout=10) as http:
            assert http.get(f"{process.url}/fixed").http_version == "HTTP/2"
        with httpx.Client(verify=client_context(authority, ["http/1.1"]), timeout=10) as http:
            answer = http.get(f"{process.url}/fixed")
            assert (answer.http_version, answer.status_code) == ("HTTP/1.1", 200)


def test_uploads_and_downloads_larger_than_the_windows(server: ServeProcess) -> None:
    upload = bytes(range(256)) * 4096  # 1 MiB: 16 initial windows
    with H2Client.connect(server.host, server.port) as client:
        sent = client.request("POST", "/upload", upload)
        got = client.request("GET", "/stream?size=1000000&piece=30000")
        assert json.loads(client.response(sent)[2]) == {
            "length": len(upload),
            "sha256": hashlib.sha256(upload).hexdigest(),
        }
        status, headers, body = client.response(got)
        assert (status, len(body), headers[b"content-length"]) == (200, 1000000, b"1000000")


def test_a_stream_whose_app_does_not_read_blocks_no_other(server: ServeProcess) -> None:
    body = b"y" * 300000  # far more than the app's buffer and the stream's window together
    with H2Client.connect(server.host, server.port) as client:
        held = client.conn.get_next_available_stream_id()
        client.conn.send_headers(
            held,
            [(b":method", b"POST"), (b":path", b"/hold-body?tag=h2"), (b":scheme", b"http"), (b":authority", b"x")],
        )
        for start in range(0, 65535, 16384):  # the whole stream window, which the app will not read
            client.conn.send_data(held, body[start : min(start + 16384, 65535)])
        client.flush()
        server.wait_for_line("holding h2 after")
        # Other streams on the connection go on meanwhile.
        for _ in range(3):
            assert client.response(client.request("GET", "/fixed"))[0] == 200
        assert client.response(client.request("GET", "/release?tag=h2"))[0] == 200
        client.send_body(held, body[65535:])
        assert json.loads(client.response(held)[2])["length"] == len(body)


@pytest.mark.skipif(shutil.which("h2load") is None, reason="h2load (nghttp2-client) is not installed")
def test_h2load_multiplexed_requests_all_succeed(server: ServeProcess) -> None:
    run = subprocess.run(
        ["h2load", "-n", "2000", "-c", "4", "-m", "8", f"{server.url}/fixed"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2000 succeeded, 0 failed, 0 errored, 0 timeout" in run.stdout, run.stdout
