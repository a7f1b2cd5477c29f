"""Where `serve run` listens: unix sockets, inherited descriptors, IPv6 loopback, and TLS."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import httpx
import pytest
import trustme
from support import APPS_DIR, InheritingServeProcess, certificate_files, serve_run

pytestmark = pytest.mark.system


def ipv6_loopback_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def test_uds_serves_over_a_unix_socket_and_removes_it_at_exit(uds_path: Path) -> None:
    with serve_run("system_apps:app", "--uds", str(uds_path)) as server:
        assert server.url == f"unix:{uds_path}"
        assert uds_path.is_socket()
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(uds_path)), timeout=10) as client:
            scope = client.get("http://system-test/scope").json()
        assert server.stop() == 0
    assert scope["client"] is None  # a unix-socket peer has no address
    assert scope["path"] == "/scope"
    assert not uds_path.exists()


def test_fd_serves_on_an_inherited_listening_socket() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        fd = listener.fileno()
        process = InheritingServeProcess(
            ["run", "system_apps:app", "--app-dir", str(APPS_DIR), "--fd", str(fd)], pass_fds=[fd]
        )
    # Only the child holds the socket now: anything answering on this port is serve.
    try:
        assert process.wait_ready() == f"http://127.0.0.1:{port}"
        response = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert (response.status_code, response.text) == (200, "hello")
    finally:
        assert process.stop() == 0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


@pytest.mark.skipif(not ipv6_loopback_available(), reason="no IPv6 loopback on this machine")
def test_host_ipv6_loopback() -> None:
    with serve_run("system_apps:app", "--host", "::1", "--port", "0") as server:
        assert server.url.startswith("http://[::1]:")
        scope = httpx.get(f"http://[::1]:{server.port}/scope", timeout=10).json()
    assert scope["client"][0] == "::1"
    assert scope["server"] == ["::1", server.port]


@pytest.fixture(scope="module")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


def test_tls_with_a_certificate_the_client_verifies(tmp_path: Path, certificate_authority: trustme.CA) -> None:
    keyfile, certfile = certificate_files(certificate_authority, tmp_path)
    trusting = ssl.create_default_context()
    certificate_authority.configure_trust(trusting)
    with (
        serve_run("system_apps:app", "--ssl-keyfile", str(keyfile), "--ssl-certfile", str(certfile)) as server,
        httpx.Client(verify=trusting, timeout=10) as client,
    ):
        assert server.url.startswith("https://127.0.0.1:")
        scope = client.get(f"{server.url}/scope").json()
        # A client that does not trust the CA is turned away by the handshake.
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{server.url}/scope", timeout=10)
    assert scope["scheme"] == "https"
