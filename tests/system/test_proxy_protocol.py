"""`proxy_protocol`: a real `serve run --proxy-protocol` fed hand-built PROXY v1 and v2 headers over raw sockets.

The app answers with the client and server of its scope and how many requests reached it,
so each refused connection is also shown not to have reached the app.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import struct
import time
from pathlib import Path
from typing import Any

import pytest
from support import read_until_closed, serve_run, split_responses

from supervisor.protocol.proxy_protocol import V2_SIGNATURE

pytestmark = pytest.mark.system

REQUEST = b"GET / HTTP/1.1\r\nhost: example.test\r\nconnection: close\r\n\r\n"
TRUSTING_LOOPBACK = ("--proxy-protocol", "--forwarded-allow-ips", "127.0.0.1")


def v1(protocol: str, source: str, destination: str, ports: tuple[int, int]) -> bytes:
    return f"PROXY {protocol} {source} {destination} {ports[0]} {ports[1]}\r\n".encode()


def v2(command: int, family: int, block: bytes) -> bytes:
    return V2_SIGNATURE + bytes((command, family)) + struct.pack("!H", len(block)) + block


def inet(source: str, destination: str, ports: tuple[int, int]) -> bytes:
    return ipaddress.ip_address(source).packed + ipaddress.ip_address(destination).packed + struct.pack("!HH", *ports)


def send(address: tuple[str, int] | str, data: bytes, *, end: bool = False) -> bytes:
    """Send `data` (then our end of the stream, if `end`) and read until the server closes."""
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(address)
        sock.sendall(data)
        if end:
            sock.shutdown(socket.SHUT_WR)
        return read_until_closed(sock)


def answer(data: bytes) -> dict[str, Any]:
    [(status, _, body)] = split_responses(data)
    assert status == 200, data
    result: dict[str, Any] = json.loads(body)
    return result


def test_v1_and_v2_headers_give_the_scope_client_and_server() -> None:
    with serve_run("proxy_protocol_app:app", *TRUSTING_LOOPBACK) as server:
        address = (server.host, server.port)
        tcp4 = answer(send(address, v1("TCP4", "203.0.113.7", "198.51.100.2", (56324, 443)) + REQUEST))
        tcp6 = answer(send(address, v1("TCP6", "2001:db8::7", "2001:db8::1", (1, 8443)) + REQUEST))
        proxy4 = answer(send(address, v2(0x21, 0x11, inet("192.0.2.9", "198.51.100.3", (40000, 80))) + REQUEST))
        tlvs = b"\x05\x00\x04abcd"  # a unique-id TLV, skipped
        proxy6 = answer(send(address, v2(0x21, 0x21, inet("2001:db8::9", "2001:db8::3", (2, 443)) + tlvs) + REQUEST))
        local = answer(send(address, v2(0x20, 0x00, b"") + REQUEST))  # the proxy's own health check
        unknown = answer(send(address, b"PROXY UNKNOWN\r\n" + REQUEST))
    assert (tcp4["client"], tcp4["server"]) == (["203.0.113.7", 56324], ["198.51.100.2", 443])
    assert (tcp6["client"], tcp6["server"]) == (["2001:db8::7", 1], ["2001:db8::1", 8443])
    assert (proxy4["client"], proxy4["server"]) == (["192.0.2.9", 40000], ["198.51.100.3", 80])
    assert (proxy6["client"], proxy6["server"]) == (["2001:db8::9", 2], ["2001:db8::3", 443])
    for real in (local, unknown):  # no addresses in the header: the connection's own stand
        assert real["client"][0] == "127.0.0.1"
        assert real["server"] == [server.host, server.port]
    assert unknown["calls"] == 6


def test_header_arriving_in_pieces_with_the_request_is_read() -> None:
    header = v2(0x21, 0x11, inet("192.0.2.9", "198.51.100.3", (40000, 80)))
    with (
        serve_run("proxy_protocol_app:app", *TRUSTING_LOOPBACK) as server,
        socket.create_connection((server.host, server.port), timeout=10) as sock,
    ):
        for piece in (header[:5], header[5:14], header[14:] + REQUEST[:10], REQUEST[10:]):
            sock.sendall(piece)
            time.sleep(0.05)  # not readiness: each piece must arrive in its own read
        result = answer(read_until_closed(sock))
    assert result["client"] == ["192.0.2.9", 40000]


@pytest.mark.parametrize(
    ("data", "end"),
    [
        (REQUEST, False),  # no header at all
        (b"PROXY TCP4 203.0.113.7 198.51.100.2 56324\r\n" + REQUEST, False),  # a field missing
        (b"PROXY TCP4 203.0.113.7 198.51.100.2 56324 443\n" + REQUEST, False),  # no CR
        (b"PROXY TCP4 203.0.113.7 198.51.100.2 56324 44", True),  # truncated, then the peer's end
        (V2_SIGNATURE + b"\x21\x12\x00\x0c" + inet("192.0.2.9", "198.51.100.3", (1, 2)) + REQUEST, False),  # UDP
        (v2(0x21, 0x11, inet("192.0.2.9", "198.51.100.3", (1, 2)) + b"\x05\x00\x09ab") + REQUEST, False),  # TLV
        (v2(0x21, 0x11, inet("192.0.2.9", "198.51.100.3", (1, 2)))[:20], True),  # truncated v2
    ],
    ids=["missing", "v1-field-missing", "v1-no-cr", "v1-truncated", "v2-udp", "v2-bad-tlv", "v2-truncated"],
)
def test_missing_truncated_or_malformed_header_closes_without_reaching_the_app(data: bytes, end: bool) -> None:
    with serve_run("proxy_protocol_app:app", *TRUSTING_LOOPBACK) as server:
        address = (server.host, server.port)
        refused = send(address, data, end=end)
        after = answer(send(address, v1("TCP4", "203.0.113.7", "198.51.100.2", (1, 2)) + REQUEST))
    assert refused == b""
    assert after["calls"] == 1  # only the valid request reached the app


def test_header_that_never_comes_is_cut_at_the_request_header_timeout() -> None:
    with serve_run("proxy_protocol_app:app", *TRUSTING_LOOPBACK, "--timeout-request-header", "1") as server:
        address = (server.host, server.port)
        started = time.monotonic()
        cut = send(address, b"PROXY TCP4 203.0.113.7")
        waited = time.monotonic() - started
        after = answer(send(address, v1("TCP4", "203.0.113.7", "198.51.100.2", (1, 2)) + REQUEST))
    assert cut == b"" or cut.startswith(b"HTTP/1.1 408 ")
    assert 0.9 <= waited < 8.0
    assert after["calls"] == 1


def test_an_untrusted_peer_is_closed_even_with_a_valid_header() -> None:
    options = ("--proxy-protocol", "--forwarded-allow-ips", "192.0.2.1,10.0.0.0/8")
    with serve_run("proxy_protocol_app:app", *options) as server:
        refused = send((server.host, server.port), v1("TCP4", "203.0.113.7", "198.51.100.2", (1, 2)) + REQUEST)
        assert "not in forwarded_allow_ips" in server.wait_for_line("Closing a connection from").string
    assert refused == b""


def test_forwarded_headers_are_not_believed_from_the_client_behind_the_proxy() -> None:
    spoofed = REQUEST.replace(b"\r\n\r\n", b"\r\nx-forwarded-for: 1.1.1.1\r\n\r\n")
    with serve_run("proxy_protocol_app:app", *TRUSTING_LOOPBACK) as server:
        result = answer(send((server.host, server.port), v1("TCP4", "203.0.113.7", "198.51.100.2", (1, 2)) + spoofed))
    assert result["client"] == ["203.0.113.7", 1]


def test_a_unix_socket_peer_is_trusted_when_allowed(uds_path: Path) -> None:
    options = ("--uds", str(uds_path), "--proxy-protocol", "--forwarded-allow-ips", "unix:")
    with serve_run("proxy_protocol_app:app", *options):
        result = answer(send(str(uds_path), v1("TCP4", "203.0.113.7", "198.51.100.2", (56324, 443)) + REQUEST))
    assert (result["client"], result["server"]) == (["203.0.113.7", 56324], ["198.51.100.2", 443])
