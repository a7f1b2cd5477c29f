"""Cleartext HTTP/2: recognising the preface and the h2c upgrade offers that may be taken."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from supervisor.protocol.h2c import (
    MAYBE_PREFACE,
    NOT_PREFACE,
    PREFACE,
    PREFACE_SEEN,
    h2c_settings,
    preface_verdict,
    upgraded_scope,
)


@pytest.mark.parametrize(
    ("seen", "verdict"),
    [
        (PREFACE, PREFACE_SEEN),
        (PREFACE + b"\x00\x00\x00\x04", PREFACE_SEEN),
        (PREFACE[:1], MAYBE_PREFACE),
        (PREFACE[:23], MAYBE_PREFACE),
        (b"PRI * HTTP/1.1\r\n", NOT_PREFACE),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", NOT_PREFACE),
        (b"PO", NOT_PREFACE),
    ],
)
def test_preface_verdict(seen: bytes, verdict: int) -> None:
    assert preface_verdict(seen) == verdict


SETTINGS = b"AAMAAABkAAQCAAAAAAIAAAAA"  # curl's: three entries, no padding


def scope(*extra: tuple[bytes, bytes], version: str = "1.1", connection: bytes = b"Upgrade, HTTP2-Settings") -> Any:
    headers = [(b"host", b"x"), (b"connection", connection), (b"upgrade", b"h2c"), *extra]
    return {"http_version": version, "headers": headers, "method": "GET", "path": "/"}


def test_an_offer_without_a_body_is_taken_with_its_settings_padded() -> None:
    assert h2c_settings(scope((b"http2-settings", SETTINGS))) == SETTINGS
    assert h2c_settings(scope((b"http2-settings", b"AAMAAABk"), (b"content-length", b"0"))) == b"AAMAAABk"
    assert h2c_settings(scope((b"http2-settings", b"AAMAAABkAA"))) is None  # 7 bytes: not whole entries
    assert h2c_settings(scope((b"http2-settings", b"AAMAAABkAA=="))) is None  # padded, still 7 bytes
    assert h2c_settings(scope((b"http2-settings", b""))) == b""  # no entries at all is valid


@pytest.mark.parametrize(
    "offer",
    [
        scope((b"http2-settings", SETTINGS), (b"content-length", b"5")),
        scope((b"http2-settings", SETTINGS), (b"transfer-encoding", b"chunked")),
        scope((b"http2-settings", SETTINGS), version="1.0"),
        scope((b"http2-settings", SETTINGS), connection=b"Upgrade"),
        scope(),
        scope((b"http2-settings", SETTINGS), (b"http2-settings", SETTINGS)),
        scope((b"http2-settings", b"!!!!")),
        {"http_version": "1.1", "headers": [(b"upgrade", b"websocket")]},
    ],
    ids=["body", "chunked", "http10", "no-connection-token", "no-settings", "two-settings", "bad-base64", "websocket"],
)
def test_offers_that_are_answered_over_http1(offer: Any) -> None:
    assert h2c_settings(offer) is None


def settings_value(*entries: tuple[int, int]) -> bytes:
    """HTTP2-Settings as a client writes it: base64url of the entries, padding left out."""
    payload = b"".join(code.to_bytes(2, "big") + value.to_bytes(4, "big") for code, value in entries)
    return base64.urlsafe_b64encode(payload).rstrip(b"=")


@pytest.mark.parametrize(
    ("entries", "taken"),
    [
        (((0x2, 0), (0x8, 1), (0x4, 2**31 - 1), (0x5, 2**14), (0x5, 2**24 - 1), (0x1, 2**32 - 1)), True),
        (((0x2, 2),), False),  # ENABLE_PUSH is 0 or 1
        (((0x8, 7),), False),  # ENABLE_CONNECT_PROTOCOL too
        (((0x4, 2**31),), False),  # INITIAL_WINDOW_SIZE above 2^31 - 1
        (((0x5, 0),), False),  # MAX_FRAME_SIZE below 2^14
        (((0x5, 2**24),), False),  # and above 2^24 - 1
    ],
)
def test_settings_values_http2_would_refuse_keep_the_request_on_http1(
    entries: tuple[tuple[int, int], ...], taken: bool
) -> None:
    value = settings_value(*entries)
    assert (h2c_settings(scope((b"http2-settings", value))) is not None) is taken


def test_the_upgraded_scope_is_http2_without_the_upgrade_fields() -> None:
    upgraded = upgraded_scope(scope((b"http2-settings", SETTINGS), (b"accept", b"*/*")))
    assert upgraded["http_version"] == "2"
    assert upgraded["headers"] == [(b"host", b"x"), (b"accept", b"*/*")]
    assert upgraded["path"] == "/"
