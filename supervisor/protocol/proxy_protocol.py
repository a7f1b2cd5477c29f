"""PROXY protocol headers, v1 (text) and v2 (binary): bytes in, the addresses the proxy saw out.

A load balancer that works at the TCP level (HAProxy's `send-proxy`, an AWS Network Load
Balancer) cannot add X-Forwarded-For: instead it opens each connection with one header
naming the client it accepted and the address that client connected to (HAProxy's
proxy-protocol.txt). `read_header` is handed every byte received so far and says whether
the header is whole (`Parsed`, with the bytes that followed it), needs more bytes
(`NEED_MORE`), or is not a valid PROXY header (`Invalid`). A connection that was promised a
header and gets anything else is closed: a proxy configured to send one never omits it, so
a request without one comes from somebody else, who must not pick the client address.

Everything is bounded: a v1 header is at most 107 bytes, a v2 header at most 16 + 65535,
and a first byte that starts neither signature is refused at once.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

Address = tuple[str, int]

V1_PREFIX = b"PROXY "
V1_MAX_BYTES = 107  # the spec's bound for the longest line, "PROXY UNKNOWN" with two IPv6 addresses, CRLF included
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V2_FIXED_BYTES = 16  # signature, version and command, family and transport, length

_LOCAL, _PROXY = 0x0, 0x1
_UNSPEC, _INET, _INET6, _UNIX = 0x0, 0x1, 0x2, 0x3
_STREAM = 0x1
# The address block each family needs: two addresses, then (for IP) two ports.
_ADDRESS_BYTES = {_UNSPEC: 0, _INET: 4 + 4 + 2 + 2, _INET6: 16 + 16 + 2 + 2, _UNIX: 108 + 108}
_TLV_HEAD_BYTES = 3  # type, then a two-byte length


@dataclass(frozen=True, slots=True)
class NeedMore:
    """The bytes so far are the start of a header that may still be valid: wait for more."""


NEED_MORE = NeedMore()


@dataclass(frozen=True, slots=True)
class Parsed:
    """A whole, valid header.

    Attributes:
        source: the client as the proxy saw it; None for a client on a unix socket, which has no address.
        destination: the address that client connected to; None likewise.
        rest: the bytes received after the header: the start of the proxied stream.
        relayed: False when the header names no addresses (v1 UNKNOWN, v2 LOCAL such as a
            health check of the proxy itself, or v2 with an unspecified family): the
            connection's own addresses stand, and `source` and `destination` are None.
    """

    source: Address | None
    destination: Address | None
    rest: bytes
    relayed: bool = True


@dataclass(frozen=True, slots=True)
class Invalid:
    """Not a valid PROXY header; `reason` says what is wrong, for the log."""

    reason: str


Result = NeedMore | Parsed | Invalid


def read_header(data: bytes | bytearray) -> Result:
    """Read a PROXY protocol header (v1 or v2) at the start of `data`, every byte received so far."""
    head = bytes(data[: len(V2_SIGNATURE)])
    if head == V2_SIGNATURE:
        return _read_v2(data)
    if head.startswith(V1_PREFIX):
        return _read_v1(data)
    if V2_SIGNATURE.startswith(head) or V1_PREFIX.startswith(head):
        return NEED_MORE
    return Invalid("the connection does not start with a PROXY protocol header")


# --- v1: "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n" --------------------------------------


def _read_v1(data: bytes | bytearray) -> Result:
    newline = data.find(b"\n", 0, V1_MAX_BYTES)
    if newline < 0:
        if len(data) < V1_MAX_BYTES:
            return NEED_MORE
        return Invalid(f"a v1 PROXY header longer than {V1_MAX_BYTES} bytes")
    if data[newline - 1] != ord("\r"):  # newline > 0: the prefix holds no newline
        return Invalid("a v1 PROXY header must end with CRLF")
    rest = bytes(data[newline + 1 :])
    try:
        fields = bytes(data[: newline - 1]).decode("ascii").split(" ")
    except UnicodeDecodeError:
        return Invalid("a v1 PROXY header must be ASCII")
    protocol = fields[1]
    if protocol == "UNKNOWN":  # the spec: whatever follows is ignored, the real addresses stand
        return Parsed(None, None, rest, relayed=False)
    if protocol not in ("TCP4", "TCP6"):
        return Invalid(f"a v1 PROXY header with protocol {protocol[:16]!r} (expected TCP4, TCP6 or UNKNOWN)")
    if len(fields) != 6:
        return Invalid(f"a v1 {protocol} header needs 4 fields separated by single spaces, got {len(fields) - 2}")
    source, destination = _v1_address(fields[2], protocol), _v1_address(fields[3], protocol)
    source_port, destination_port = _v1_port(fields[4]), _v1_port(fields[5])
    if source is None or destination is None:
        return Invalid(f"a v1 {protocol} header with an invalid address")
    if source_port is None or destination_port is None:
        return Invalid(f"a v1 {protocol} header with an invalid port")
    return Parsed((source, source_port), (destination, destination_port), rest)


def _v1_address(text: str, protocol: str) -> str | None:
    try:
        address = ipaddress.IPv4Address(text) if protocol == "TCP4" else ipaddress.IPv6Address(text)
    except ValueError:
        return None
    return str(address)


def _v1_port(text: str) -> int | None:
    # Decimal 0..65535 without leading zeros; isascii(): "²" is a digit to isdigit(), not to int().
    if not (text.isascii() and text.isdigit()) or len(text) > 5 or (text[0] == "0" and text != "0"):
        return None
    port = int(text)
    return port if port <= 65535 else None


# --- v2: signature, version/command, family/transport, length, addresses, TLVs ------------------


def _read_v2(data: bytes | bytearray) -> Result:
    if len(data) < V2_FIXED_BYTES:
        return NEED_MORE
    version, command = data[12] >> 4, data[12] & 0x0F
    family, transport = data[13] >> 4, data[13] & 0x0F
    length = int.from_bytes(data[14:16], "big")
    if version != 2:
        return Invalid(f"a PROXY header of version {version} after the v2 signature")
    if command not in (_LOCAL, _PROXY):
        return Invalid(f"a v2 PROXY header with unknown command {command:#x}")
    if command == _PROXY:
        problem = _v2_family_problem(family, transport, length)
        if problem is not None:
            return Invalid(problem)
    end = V2_FIXED_BYTES + length
    if len(data) < end:
        return NEED_MORE
    rest = bytes(data[end:])
    if command == _LOCAL or family == _UNSPEC:
        # LOCAL (the proxy's own connection, a health check) and an unspecified family: the
        # spec has the receiver ignore the address block and keep the real endpoints.
        return Parsed(None, None, rest, relayed=False)
    block = bytes(data[V2_FIXED_BYTES:end])
    size = _ADDRESS_BYTES[family]
    if not _tlvs_framed(block[size:]):
        return Invalid("a v2 PROXY header whose TLVs overrun its length")
    if family == _UNIX:
        return Parsed(None, None, rest)
    half = (size - 4) // 2
    source = str(ipaddress.ip_address(block[:half]))
    destination = str(ipaddress.ip_address(block[half : 2 * half]))
    ports = block[2 * half : size]
    return Parsed((source, int.from_bytes(ports[:2], "big")), (destination, int.from_bytes(ports[2:], "big")), rest)


def _v2_family_problem(family: int, transport: int, length: int) -> str | None:
    """Why a v2 PROXY command's family, transport or length cannot be served; None when they can."""
    if family not in _ADDRESS_BYTES:
        return f"a v2 PROXY header with unknown address family {family:#x}"
    if family == _UNSPEC:
        return None
    if transport != _STREAM:
        return f"a v2 PROXY header for transport {transport:#x}, not a stream"
    if length < _ADDRESS_BYTES[family]:
        return f"a v2 PROXY header of {length} bytes, too short for its addresses ({_ADDRESS_BYTES[family]})"
    return None


def _tlvs_framed(tlvs: bytes) -> bool:
    """Whether the TLVs after the addresses fill their space exactly; their contents are not needed here."""
    position = 0
    while position < len(tlvs):
        if len(tlvs) - position < _TLV_HEAD_BYTES:
            return False
        position += _TLV_HEAD_BYTES + int.from_bytes(tlvs[position + 1 : position + 3], "big")
    return position == len(tlvs)
