"""TrustedHosts and apply_proxy_headers: who is believed, and what their headers change."""

from __future__ import annotations

from typing import Any

import pytest

from supervisor._types import Headers, Scope
from supervisor.asgi import proxy_headers
from supervisor.asgi.proxy_headers import TrustedHosts, apply_proxy_headers, split_hop


def make_scope(headers: Headers, *, kind: str = "http", server: Any = ("10.0.0.2", 8000)) -> Scope:
    return {
        "type": kind,
        "scheme": "ws" if kind == "websocket" else "http",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": server,
    }


# -- TrustedHosts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "host", "trusted"),
    [
        (["127.0.0.1"], "127.0.0.1", True),
        (["127.0.0.1"], "127.0.0.2", False),
        (["::1"], "::1", True),
        (["::1"], "0:0:0:0:0:0:0:1", True),  # compared as addresses, not text
        (["[::1]"], "::1", True),
        (["10.0.0.0/8"], "10.200.3.4", True),
        (["10.0.0.0/8"], "11.0.0.1", False),
        (["10.1.2.3/8"], "10.9.9.9", True),  # host bits ignored
        (["fd00::/8"], "fd12::1", True),
        (["fd00::/8"], "10.0.0.1", False),
        (["10.0.0.0/8"], "::ffff:10.1.1.1", True),  # IPv4-mapped peer
        (["10.1.1.1"], "::ffff:10.1.1.1", True),
        (["10.1.1.1"], "::ffff:10.1.1.2", False),
        (["/run/nginx.sock"], "/run/nginx.sock", True),  # a literal with a slash
        (["proxy.internal"], "proxy.internal", True),
        (["proxy.internal"], "other.internal", False),
        (["127.0.0.1"], "not-an-ip", False),
        (["127.0.0.1"], "", False),
        (["*"], "203.0.113.9", True),
        (["*"], "anything at all", True),
        ([], "127.0.0.1", False),
        (["", "  127.0.0.1  "], "127.0.0.1", True),
    ],
)
def test_trusted_hosts_membership(entries: list[str], host: str, trusted: bool) -> None:
    assert (host in TrustedHosts(entries)) is trusted


def test_a_single_string_is_split_on_commas() -> None:
    hosts = TrustedHosts("127.0.0.1, 10.0.0.0/8")
    assert "10.1.1.1" in hosts
    assert "127.0.0.1" in hosts
    assert "127.0.0.2" not in hosts


@pytest.mark.parametrize(
    ("entries", "trusted"),
    [(["127.0.0.1"], False), (["unix:"], True), (["*"], True), (["/tmp/serve.sock"], False)],
)
def test_unix_socket_peer_is_trusted_only_with_unix_or_star(entries: list[str], trusted: bool) -> None:
    assert (None in TrustedHosts(entries)) is trusted


def test_verdicts_are_memoised_and_the_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(proxy_headers, "_MEMO_MAX_ENTRIES", 3)
    hosts = TrustedHosts(["10.0.0.0/8"])
    assert "10.0.0.1" in hosts
    assert hosts._memo == {"10.0.0.1": True}
    # The memo answers before any parsing: a planted verdict is returned as is.
    hosts._memo["10.0.0.1"] = False
    assert "10.0.0.1" not in hosts
    for host in ("10.0.0.2", "10.0.0.3", "10.0.0.4"):
        assert host in hosts
    assert len(hosts._memo) <= 3
    assert "10.0.0.4" in hosts._memo
    long_host = "x" * 300
    assert long_host not in hosts
    assert long_host not in hosts._memo


# -- split_hop --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hop", "expected"),
    [
        ("1.2.3.4", ("1.2.3.4", 0)),
        ("1.2.3.4:5678", ("1.2.3.4", 5678)),
        ("1.2.3.4:abc", ("1.2.3.4:abc", 0)),
        ("1.2.3.4:70000", ("1.2.3.4:70000", 0)),
        ("1.2.3.4:\u00b2", ("1.2.3.4:\u00b2", 0)),  # a non-ASCII digit
        ("1.2.3.4:" + "9" * 5000, ("1.2.3.4:" + "9" * 5000, 0)),
        ("::1", ("::1", 0)),
        ("[::1]", ("::1", 0)),
        ("[::1]:443", ("::1", 443)),
        ("[::1]:x", ("[::1]:x", 0)),
        ("[::1]443", ("[::1]443", 0)),
        ("[::1", ("[::1", 0)),
        ("unknown", ("unknown", 0)),
    ],
)
def test_split_hop(hop: str, expected: tuple[str, int]) -> None:
    assert split_hop(hop) == expected


# -- apply_proxy_headers ----------------------------------------------------------------------


LOCAL = TrustedHosts(["127.0.0.1", "10.0.0.0/8"])


def test_no_forwarded_headers_changes_nothing() -> None:
    scope = make_scope([(b"host", b"example.com"), (b"x-request-id", b"abc")])
    before = dict(scope)
    apply_proxy_headers(scope, LOCAL)
    assert scope == before


def test_forwarded_for_takes_the_first_untrusted_hop_from_the_right() -> None:
    scope = make_scope([(b"x-forwarded-for", b"198.51.100.7, 203.0.113.5, 10.0.0.9")])
    apply_proxy_headers(scope, LOCAL)
    assert scope["client"] == ("203.0.113.5", 0)


def test_forwarded_for_keeps_a_forwarded_port() -> None:
    scope = make_scope([(b"x-forwarded-for", b"203.0.113.5:61000")])
    apply_proxy_headers(scope, LOCAL)
    assert scope["client"] == ("203.0.113.5", 61000)


def test_forwarded_for_when_every_hop_is_trusted_takes_the_left_most() -> None:
    scope = make_scope([(b"x-forwarded-for", b"10.0.0.5, 10.0.0.9")])
    apply_proxy_headers(scope, LOCAL)
    assert scope["client"] == ("10.0.0.5", 0)


def test_forwarded_for_with_trust_all_takes_the_left_most() -> None:
    scope = make_scope([(b"x-forwarded-for", b"198.51.100.7, 203.0.113.5")])
    apply_proxy_headers(scope, TrustedHosts(["*"]))
    assert scope["client"] == ("198.51.100.7", 0)


def test_several_forwarded_for_headers_are_joined_in_order() -> None:
    scope = make_scope(
        [
            (b"x-forwarded-for", b"198.51.100.7"),
            (b"host", b"example.com"),
            (b"x-forwarded-for", b"203.0.113.5, 10.0.0.1"),
        ]
    )
    apply_proxy_headers(scope, LOCAL)
    assert scope["client"] == ("203.0.113.5", 0)


@pytest.mark.parametrize("value", [b"", b" , ,", b","])
def test_empty_forwarded_for_leaves_the_client_alone(value: bytes) -> None:
    scope = make_scope([(b"x-forwarded-for", value)])
    apply_proxy_headers(scope, LOCAL)
    assert scope["client"] == ("127.0.0.1", 40000)


def test_empty_entries_between_hops_are_skipped() -> None:
    scope = make_scope([(b"x-forwarded-for", b"203.0.113.5, , 10.0.0.1,")])
    apply_proxy_headers(scope, LOCAL)
    assert scope["client"] == ("203.0.113.5", 0)


def test_forwarded_for_ipv6_hops() -> None:
    scope = make_scope([(b"x-forwarded-for", b"[2001:db8::7]:4711, 10.0.0.1")])
    apply_proxy_headers(scope, LOCAL)
    assert scope["client"] == ("2001:db8::7", 4711)


@pytest.mark.parametrize(
    ("kind", "value", "scheme"),
    [
        ("http", b"https", "https"),
        ("http", b"HTTPS", "https"),
        ("http", b" http ", "http"),
        ("http", b"wss", "https"),
        ("http", b"ws", "http"),
        ("websocket", b"https", "wss"),
        ("websocket", b"http", "ws"),
        ("websocket", b"wss", "wss"),
        ("http", b"gopher", "http"),
        ("http", b"", "http"),
        ("http", b"https, http", "http"),  # the right-most value: what our own proxy saw
        ("http", b"http, https", "https"),
    ],
)
def test_forwarded_proto_sets_the_scheme(kind: str, value: bytes, scheme: str) -> None:
    scope = make_scope([(b"x-forwarded-proto", value)], kind=kind)
    apply_proxy_headers(scope, LOCAL)
    assert scope["scheme"] == scheme


def test_the_last_forwarded_proto_header_wins() -> None:
    scope = make_scope([(b"x-forwarded-proto", b"http"), (b"x-forwarded-proto", b"https")])
    apply_proxy_headers(scope, LOCAL)
    assert scope["scheme"] == "https"


@pytest.mark.parametrize(
    ("value", "server"),
    [
        (b"443", ("10.0.0.2", 443)),
        (b" 8443 ", ("10.0.0.2", 8443)),
        (b"80, 443", ("10.0.0.2", 443)),
        (b"0", ("10.0.0.2", 8000)),
        (b"65536", ("10.0.0.2", 8000)),
        (b"https", ("10.0.0.2", 8000)),
        (b"", ("10.0.0.2", 8000)),
    ],
)
def test_forwarded_port_sets_the_server_port(value: bytes, server: tuple[str, int]) -> None:
    scope = make_scope([(b"x-forwarded-port", value)])
    apply_proxy_headers(scope, LOCAL)
    assert scope["server"] == server


def test_forwarded_port_leaves_a_unix_socket_server_alone() -> None:
    scope = make_scope([(b"x-forwarded-port", b"443")], server=None)
    apply_proxy_headers(scope, LOCAL)
    assert scope["server"] is None


def test_all_three_headers_together() -> None:
    scope = make_scope(
        [
            (b"x-forwarded-proto", b"https"),
            (b"x-forwarded-for", b"203.0.113.5"),
            (b"x-forwarded-port", b"443"),
            (b"x-forwarded-host", b"example.com"),  # not one we act on
        ]
    )
    apply_proxy_headers(scope, LOCAL)
    assert (scope["scheme"], scope["client"], scope["server"]) == ("https", ("203.0.113.5", 0), ("10.0.0.2", 443))
