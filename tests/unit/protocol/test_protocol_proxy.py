"""PROXY protocol v1 and v2 headers, hand-built as a proxy sends them, and every way one can be wrong."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from supervisor.protocol.proxy_protocol import NEED_MORE, V2_SIGNATURE, Invalid, Parsed, read_header

REQUEST = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n"

# --- v1 -------------------------------------------------------------------------------------------


def test_v1_tcp4_gives_both_ends_and_the_bytes_after_it() -> None:
    result = read_header(b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n" + REQUEST)
    assert result == Parsed(("192.0.2.1", 56324), ("198.51.100.2", 443), REQUEST)


def test_v1_tcp6_addresses_come_out_in_canonical_form() -> None:
    result = read_header(b"PROXY TCP6 2001:DB8:0:0::1 ::FFFF:10.0.0.1 0 65535\r\n")
    assert result == Parsed(("2001:db8::1", 0), ("::ffff:a00:1", 65535), b"")


@pytest.mark.parametrize(
    "line",
    [b"PROXY UNKNOWN\r\n", b"PROXY UNKNOWN ffff:f::1 ffff:f::2 65535 65535\r\n", b"PROXY UNKNOWN anything at all\r\n"],
)
def test_v1_unknown_keeps_the_real_addresses(line: bytes) -> None:
    assert read_header(line + REQUEST) == Parsed(None, None, REQUEST, relayed=False)


def test_v1_of_the_longest_length_is_read() -> None:
    line = b"PROXY UNKNOWN " + b"x" * (107 - len(b"PROXY UNKNOWN \r\n")) + b"\r\n"
    assert len(line) == 107
    assert read_header(line) == Parsed(None, None, b"", relayed=False)


@pytest.mark.parametrize(
    "partial",
    [b"", b"P", b"PROXY", b"PROXY ", b"PROXY TCP4 192.0.2.1", b"PROXY TCP4 192.0.2.1 198.51.100.2 1 2\r"],
)
def test_v1_cut_short_waits_for_more(partial: bytes) -> None:
    assert read_header(partial) is NEED_MORE


def test_v1_fed_byte_by_byte_is_whole_only_at_its_newline() -> None:
    line = b"PROXY TCP4 192.0.2.1 198.51.100.2 1 2\r\n"
    assert all(read_header(line[:n]) is NEED_MORE for n in range(len(line)))
    assert isinstance(read_header(line), Parsed)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", "does not start with a PROXY protocol header"),
        (b"PROXX TCP4", "does not start with a PROXY protocol header"),
        (b"proxy TCP4 1.2.3.4 1.2.3.4 1 2\r\n", "does not start with a PROXY protocol header"),
        (b"PROXY TCP4 " + b"1" * 100, "longer than 107 bytes"),
        (b"PROXY UNKNOWN " + b"x" * 92 + b"\r\n", "longer than 107 bytes"),
        (b"PROXY TCP4 192.0.2.1 198.51.100.2 1 2\n", "must end with CRLF"),
        (b"PROXY \n", "must end with CRLF"),
        (b"PROXY TCP4 192.0.2.\xff 198.51.100.2 1 2\r\n", "must be ASCII"),
        (b"PROXY \r\n", "protocol ''"),
        (b"PROXY UDP4 192.0.2.1 198.51.100.2 1 2\r\n", "protocol 'UDP4'"),
        (b"PROXY tcp4 192.0.2.1 198.51.100.2 1 2\r\n", "protocol 'tcp4'"),
        (b"PROXY TCP4 192.0.2.1 198.51.100.2 1\r\n", "needs 4 fields"),
        (b"PROXY TCP4 192.0.2.1 198.51.100.2 1 2 3\r\n", "needs 4 fields"),
        (b"PROXY TCP4  192.0.2.1 198.51.100.2 1 2\r\n", "needs 4 fields"),
        (b"PROXY TCP4 192.0.2.1 198.51.100.2 1 2 \r\n", "needs 4 fields"),
        (b"PROXY TCP4 ::1 198.51.100.2 1 2\r\n", "invalid address"),
        (b"PROXY TCP4 192.0.2.1 198.51.100.256 1 2\r\n", "invalid address"),
        (b"PROXY TCP4 192.0.2.01 198.51.100.2 1 2\r\n", "invalid address"),
        (b"PROXY TCP6 192.0.2.1 ::1 1 2\r\n", "invalid address"),
        (b"PROXY TCP6 ::1 ::g 1 2\r\n", "invalid address"),
        (b"PROXY TCP4 192.0.2.1 198.51.100.2 65536 2\r\n", "invalid port"),
        (b"PROXY TCP4 192.0.2.1 198.51.100.2 1 999999\r\n", "invalid port"),
        (b"PROXY TCP4 192.0.2.1 198.51.100.2 01 2\r\n", "invalid port"),
        (b"PROXY TCP4 192.0.2.1 198.51.100.2 1 -2\r\n", "invalid port"),
        ("PROXY TCP4 192.0.2.1 198.51.100.2 1 ²\r\n".encode("latin-1"), "must be ASCII"),
        (b"PROXY TCP4 192.0.2.1 198.51.100.2 x 2\r\n", "invalid port"),
        (b"PROXY TCP4 192.0.2.1 198.51.100.2 1 \r\n", "invalid port"),
    ],
)
def test_v1_malformed_is_invalid(data: bytes, reason: str) -> None:
    result = read_header(data)
    assert isinstance(result, Invalid)
    assert reason in result.reason


# --- v2 -------------------------------------------------------------------------------------------

LOCAL, PROXY = 0x20, 0x21
UNSPEC, TCP4, UDP4, TCP6, UNIX_STREAM = 0x00, 0x11, 0x12, 0x21, 0x31


def v2(command: int, family: int, block: bytes, *, length: int | None = None) -> bytes:
    size = len(block) if length is None else length
    return V2_SIGNATURE + bytes((command, family)) + struct.pack("!H", size) + block


def inet(source: str, destination: str, source_port: int, destination_port: int) -> bytes:
    return (
        ipaddress.ip_address(source).packed
        + ipaddress.ip_address(destination).packed
        + struct.pack("!HH", source_port, destination_port)
    )


def tlv(kind: int, value: bytes) -> bytes:
    return bytes((kind,)) + struct.pack("!H", len(value)) + value


def test_v2_proxy_tcp4() -> None:
    header = v2(PROXY, TCP4, inet("192.0.2.1", "198.51.100.2", 56324, 443))
    assert read_header(header + REQUEST) == Parsed(("192.0.2.1", 56324), ("198.51.100.2", 443), REQUEST)


def test_v2_proxy_tcp6() -> None:
    header = v2(PROXY, TCP6, inet("2001:db8::1", "2001:db8::2", 1, 65535))
    assert read_header(header) == Parsed(("2001:db8::1", 1), ("2001:db8::2", 65535), b"")


def test_v2_unix_family_has_no_addresses_but_is_relayed() -> None:
    block = b"/run/client.sock".ljust(108, b"\0") + b"/run/serve.sock".ljust(108, b"\0")
    assert read_header(v2(PROXY, UNIX_STREAM, block) + REQUEST) == Parsed(None, None, REQUEST)


def test_v2_tlvs_are_skipped() -> None:
    tlvs = tlv(0x01, b"h2") + tlv(0x04, b"") + tlv(0xEA, b"vpce-0123456789abcdef0") + tlv(0x04, b"\0" * 3)
    header = v2(PROXY, TCP4, inet("192.0.2.1", "198.51.100.2", 1, 2) + tlvs)
    assert read_header(header + REQUEST) == Parsed(("192.0.2.1", 1), ("198.51.100.2", 2), REQUEST)


def test_v2_local_keeps_the_real_addresses_whatever_its_block() -> None:
    assert read_header(v2(LOCAL, UNSPEC, b"") + REQUEST) == Parsed(None, None, REQUEST, relayed=False)
    # LOCAL's family and addresses are to be ignored, even ones that would be invalid for PROXY.
    assert read_header(v2(LOCAL, 0xF2, b"\x01\x02")) == Parsed(None, None, b"", relayed=False)


def test_v2_proxy_with_unspecified_family_keeps_the_real_addresses() -> None:
    assert read_header(v2(PROXY, UNSPEC, b"\0" * 5) + REQUEST) == Parsed(None, None, REQUEST, relayed=False)


def test_v2_cut_short_anywhere_waits_for_more() -> None:
    header = v2(PROXY, TCP6, inet("2001:db8::1", "2001:db8::2", 1, 2) + tlv(0x05, b"id"))
    assert all(read_header(header[:n]) is NEED_MORE for n in range(len(header)))
    assert isinstance(read_header(header), Parsed)


def test_v2_longest_length_waits_for_all_of_it() -> None:
    header = v2(PROXY, TCP4, inet("192.0.2.1", "198.51.100.2", 1, 2), length=65535)
    assert read_header(header) is NEED_MORE
    filler = tlv(0x04, b"\0" * (65535 - 12 - 3))
    assert isinstance(read_header(v2(PROXY, TCP4, inet("192.0.2.1", "198.51.100.2", 1, 2) + filler)), Parsed)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (V2_SIGNATURE[:5] + b"x", "does not start with a PROXY protocol header"),
        (V2_SIGNATURE[:11] + b"\r" + bytes((PROXY, TCP4)), "does not start with a PROXY protocol header"),
        (V2_SIGNATURE + bytes((0x11, TCP4, 0, 12)), "version 1"),
        (V2_SIGNATURE + bytes((0x31, TCP4, 0, 12)), "version 3"),
        (V2_SIGNATURE + bytes((0x22, TCP4, 0, 12)), "unknown command 0x2"),
        (V2_SIGNATURE + bytes((PROXY, 0x41, 0, 12)), "unknown address family 0x4"),
        (V2_SIGNATURE + bytes((PROXY, UDP4, 0, 12)), "transport 0x2"),
        (V2_SIGNATURE + bytes((PROXY, 0x10, 0, 12)), "transport 0x0"),
        (V2_SIGNATURE + bytes((PROXY, 0x13, 0, 12)), "transport 0x3"),
        (V2_SIGNATURE + bytes((PROXY, TCP4, 0, 11)), "11 bytes, too short for its addresses (12)"),
        (V2_SIGNATURE + bytes((PROXY, TCP6, 0, 12)), "12 bytes, too short for its addresses (36)"),
        (V2_SIGNATURE + bytes((PROXY, UNIX_STREAM, 0, 0)), "0 bytes, too short for its addresses (216)"),
        (v2(PROXY, TCP4, inet("192.0.2.1", "198.51.100.2", 1, 2) + b"\x04\x00"), "TLVs overrun"),
        (v2(PROXY, TCP4, inet("192.0.2.1", "198.51.100.2", 1, 2) + b"\x04\x00\x02\x00"), "TLVs overrun"),
        (v2(PROXY, TCP4, inet("192.0.2.1", "198.51.100.2", 1, 2) + tlv(4, b"") + b"\x04"), "TLVs overrun"),
    ],
)
def test_v2_malformed_is_invalid(data: bytes, reason: str) -> None:
    result = read_header(data)
    assert isinstance(result, Invalid)
    assert reason in result.reason


def test_v2_malformed_fixed_part_is_refused_before_its_length_arrives() -> None:
    # A bad version or family is refused at once, not after waiting for 64 KiB that may never come.
    assert isinstance(read_header(V2_SIGNATURE + bytes((0x11, TCP4, 0xFF, 0xFF))), Invalid)
    assert isinstance(read_header(V2_SIGNATURE + bytes((PROXY, UDP4, 0xFF, 0xFF))), Invalid)


def test_a_v1_line_after_a_v2_signature_start_is_invalid() -> None:
    assert isinstance(read_header(b"\r\nPROXY TCP4 1.2.3.4 1.2.3.4 1 2\r\n"), Invalid)
