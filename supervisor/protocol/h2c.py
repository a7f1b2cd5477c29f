"""Cleartext HTTP/2 on an HTTP/1.1 port: the connection preface (prior knowledge) and `Upgrade: h2c`.

Imports nothing of the `h2` library: the HTTP/1.1 connection imports this module, and a
server with `http2` off must never load `h2` (with it on, server/server.py loads it at start).
"""

from __future__ import annotations

import binascii
from base64 import b64decode
from typing import Final

from supervisor._types import Headers, Scope

PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"  # RFC 9113 §3.4
SWITCHING: Final = b"HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: h2c\r\n\r\n"

NOT_PREFACE: Final = 0
PREFACE_SEEN: Final = 1
MAYBE_PREFACE: Final = 2  # too few bytes yet to tell

# RFC 7540 §3.2.1 (the upgrade's own fields) and RFC 9113 §8.2.2: none goes on to stream 1.
_HOP_BY_HOP = frozenset((b"connection", b"upgrade", b"http2-settings", b"keep-alive", b"proxy-connection"))


def preface_verdict(seen: bytes) -> int:
    """Whether the first bytes of a cleartext connection are the HTTP/2 preface."""
    if len(seen) >= len(PREFACE):
        return PREFACE_SEEN if seen.startswith(PREFACE) else NOT_PREFACE
    return MAYBE_PREFACE if PREFACE.startswith(seen) else NOT_PREFACE


def _tokens(headers: Headers, name: bytes) -> set[bytes]:
    return {token.strip().lower() for key, value in headers if key == name for token in value.split(b",")}


def h2c_settings(scope: Scope) -> bytes | None:
    """The `HTTP2-Settings` value of a request that asks for h2c and can have it, else None.

    RFC 7540 §3.2: `Upgrade: h2c`, `Connection: Upgrade, HTTP2-Settings` and exactly one
    valid `HTTP2-Settings`. A request with a body is answered over HTTP/1.1 instead: its body
    was read as HTTP/1.1 and is the app's, whole (uvicorn #2722 loses it).
    """
    headers = scope["headers"]
    if scope["http_version"] != "1.1" or b"h2c" not in _tokens(headers, b"upgrade"):
        return None
    if not {b"upgrade", b"http2-settings"} <= _tokens(headers, b"connection"):
        return None
    settings = [value for name, value in headers if name == b"http2-settings"]
    has_body = any(
        name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0") for name, value in headers
    )
    if len(settings) != 1 or has_body:
        return None
    value: bytes = settings[0].strip()
    value += b"=" * (-len(value) % 4)  # RFC 7540 §3.2.1 leaves the padding out; the decoder wants it
    try:
        payload = b64decode(value, altchars=b"-_", validate=True)  # base64url, nothing but its alphabet
    except (binascii.Error, ValueError):
        return None
    if len(payload) % 6:
        return None  # SETTINGS entries are 6 bytes (RFC 9113 §6.5.1)
    entries = (payload[i : i + 6] for i in range(0, len(payload), 6))
    if not all(_valid_setting(int.from_bytes(e[:2], "big"), int.from_bytes(e[2:], "big")) for e in entries):
        return None  # checked before the 101: a value HTTP/2 would refuse keeps the request on HTTP/1.1
    return value


# RFC 9113 §6.5.2: the settings whose values are bounded; any value of the others is valid.
_BOOLEAN_SETTINGS = frozenset((0x2, 0x8))  # ENABLE_PUSH, ENABLE_CONNECT_PROTOCOL (RFC 8441 §3)
_INITIAL_WINDOW_SIZE, _MAX_FRAME_SIZE = 0x4, 0x5


def _valid_setting(code: int, value: int) -> bool:
    if code in _BOOLEAN_SETTINGS:
        return value <= 1
    if code == _INITIAL_WINDOW_SIZE:
        return value <= 2**31 - 1
    if code == _MAX_FRAME_SIZE:
        return 2**14 <= value <= 2**24 - 1
    return True


def upgraded_scope(scope: Scope) -> Scope:
    """The scope of stream 1 after an h2c upgrade: HTTP/2, without the upgrade's own fields."""
    headers = [(name, value) for name, value in scope["headers"] if name not in _HOP_BY_HOP]
    return {**scope, "http_version": "2", "headers": headers}
