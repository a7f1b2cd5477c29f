"""Cleartext HTTP/2: recognising the preface and the h2c upgrade offers that may be taken."""

from __future__ import annotations

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


def test_the_upgraded_scope_is_http2_without_the_upgrade_fields() -> None:
    upgraded = upgraded_scope(scope((b"http2-settings", SETTINGS), (b"accept", b"*/*")))
    assert upgraded["http_version"] == "2"
    assert upgraded["headers"] == [(b"host", b"x"), (b"accept", b"*/*")]
    assert upgraded["path"] == "/"
