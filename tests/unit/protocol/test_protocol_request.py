"""request.py: the framing rules every head passes, and request targets into ASGI paths."""

from __future__ import annotations

import pytest

from supervisor.errors import ParseError
from supervisor.protocol import request
from supervisor.protocol.request import UPGRADE_NONE, check_target_form, inspect_head, method_refusal, split_target

HOST = (b"host", b"example.com")


def refusal(http_version: str, *headers: tuple[bytes, bytes]) -> tuple[int, str]:
    with pytest.raises(ParseError) as refused:
        inspect_head(http_version, list(headers))
    return refused.value.status, refused.value.reason


# -- inspect_head -------------------------------------------------------------------------------


def test_plain_requests() -> None:
    assert inspect_head("1.1", [HOST, (b"accept", b"*/*")]) == (True, False, UPGRADE_NONE, False, False)
    assert inspect_head("1.0", []) == (False, False, UPGRADE_NONE, False, False)


@pytest.mark.parametrize("name", [b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-port"])
def test_forwarded_headers_are_noted(name: bytes) -> None:
    # The connection reads X-Forwarded-* (asgi/proxy_headers.py) only when one is there.
    assert inspect_head("1.1", [HOST, (b"accept", b"*/*"), (name, b"x")])[4] is True
    assert inspect_head("1.1", [HOST, (b"x-forwarded-host", b"x"), (b"forwarded", b"for=1.2.3.4")])[4] is False


@pytest.mark.parametrize("version", ["2.0", "0.9", "1.2", "3"])
def test_other_versions_are_505(version: str) -> None:
    assert refusal(version, HOST)[0] == 505


@pytest.mark.parametrize(
    ("version", "connection", "keep_alive"),
    [
        ("1.1", b"close", False),
        ("1.1", b"Close", False),
        ("1.1", b"keep-alive", True),
        ("1.1", b"keep-alive, close", False),
        ("1.1", b"close ", False),
        ("1.1", b"close, upgrade", False),
        ("1.1", b"TE, Upgrade", True),
        ("1.0", b"keep-alive", True),
        ("1.0", b" Keep-Alive ", True),
        ("1.0", b"foo, keep-alive", True),
        ("1.0", b"foo", False),
    ],
)
def test_connection_decides_keep_alive(version: str, connection: bytes, keep_alive: bool) -> None:
    assert inspect_head(version, [HOST, (b"connection", connection)])[0] is keep_alive


@pytest.mark.parametrize(
    ("version", "fields", "keep_alive"),
    [
        ("1.1", [b"close", b"keep-alive"], False),
        ("1.1", [b"keep-alive", b"close"], False),
        ("1.0", [b"close", b"keep-alive"], False),
        ("1.0", [b"foo", b"Keep-Alive"], True),
        ("1.1", [b"upgrade", b"close"], False),
    ],
)
def test_every_connection_field_counts_and_close_wins(version: str, fields: list[bytes], keep_alive: bool) -> None:
    # RFC 9112 §9.6: a close in any of them ends the connection after this response.
    assert inspect_head(version, [HOST, *((b"connection", field) for field in fields)])[0] is keep_alive


def test_upgrade_may_come_in_another_connection_field() -> None:
    headers = [HOST, (b"connection", b"keep-alive"), (b"connection", b"Upgrade"), (b"upgrade", b"websocket")]
    assert inspect_head("1.1", headers)[2] == b"websocket"


@pytest.mark.parametrize(
    ("version", "expect", "wanted"),
    [
        ("1.1", b"100-continue", True),
        ("1.1", b"100-Continue", True),
        ("1.1", b"something", False),
        ("1.0", b"100-continue", False),
    ],
)
def test_expect_continue_only_for_http_11(version: str, expect: bytes, wanted: bool) -> None:
    assert inspect_head(version, [HOST, (b"expect", expect)])[1] is wanted


def test_upgrade_needs_connection_upgrade() -> None:
    upgrade = (b"upgrade", b" WebSocket ")
    assert inspect_head("1.1", [HOST, (b"connection", b"keep-alive, Upgrade"), upgrade])[2] == b"websocket"
    assert inspect_head("1.1", [HOST, upgrade])[2] == UPGRADE_NONE
    assert inspect_head("1.1", [HOST, (b"connection", b"upgrade")])[2] == UPGRADE_NONE


@pytest.mark.parametrize(
    ("version", "te_values", "wanted"),
    [
        ("1.1", [b"trailers"], True),
        ("1.1", [b"gzip;q=0.5, Trailers"], True),
        ("1.1", [b"gzip"], False),
        ("1.1", [b"trailers", b"gzip"], True),
        ("1.1", [b"gzip", b"trailers"], True),
        ("1.1", [], False),
        ("1.0", [b"trailers"], False),
    ],
)
def test_te_says_whether_trailers_are_taken(version: str, te_values: list[bytes], wanted: bool) -> None:
    headers = [HOST, *((b"te", value) for value in te_values)]
    assert inspect_head(version, headers)[3] is wanted


def test_framing_headers_that_are_fine() -> None:
    assert inspect_head("1.1", [HOST, (b"content-length", b"0")])[0]
    assert inspect_head("1.1", [HOST, (b"content-length", b"9" * 18)])[0]
    assert inspect_head("1.1", [HOST, (b"transfer-encoding", b" Chunked")])[0]


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        (
            [HOST, (b"content-length", b"5"), (b"transfer-encoding", b"chunked")],
            "both Content-Length and Transfer-Encoding",
        ),
        (
            [HOST, (b"transfer-encoding", b"chunked"), (b"content-length", b"5")],
            "both Content-Length and Transfer-Encoding",
        ),
        ([HOST, (b"content-length", b"5"), (b"content-length", b"5")], "more than one Content-Length"),
        (
            [HOST, (b"transfer-encoding", b"chunked"), (b"transfer-encoding", b"chunked")],
            "more than one Transfer-Encoding",
        ),
        ([HOST, HOST], "more than one Host"),
        ([HOST, (b"content-length", b"-1")], "invalid Content-Length"),
        ([HOST, (b"content-length", b"+1")], "invalid Content-Length"),
        ([HOST, (b"content-length", b"1 ")], "invalid Content-Length"),
        ([HOST, (b"content-length", b"")], "invalid Content-Length"),
        ([HOST, (b"content-length", b"9" * 19)], "invalid Content-Length"),
        ([HOST, (b"transfer-encoding", b"gzip")], "unsupported Transfer-Encoding"),
        ([HOST, (b"transfer-encoding", b"gzip, chunked")], "unsupported Transfer-Encoding"),
        ([(b"accept", b"*/*")], "missing Host"),
    ],
)
def test_ambiguous_framing_is_400(headers: list[tuple[bytes, bytes]], reason: str) -> None:
    assert refusal("1.1", *headers) == (400, reason)


# -- Host ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        b"example.com",
        b"example.com:8080",
        b"example.com:",  # RFC 3986 §3.2.3: the port may be empty
        b"127.0.0.1:80",
        b"[::1]:8000",
        b"[v1.fe]",
        b"xn--caf-dma.example",
        b"a%41-b_~!$&'()*+,;=",
        b"",  # RFC 9112 §3.2: what a client sends when the target has no authority
    ],
)
def test_valid_hosts_are_served(host: bytes) -> None:
    assert inspect_head("1.1", [(b"host", host)])[0]
    assert inspect_head("1.1", [(b"host", host)])[0]  # the second time from the cache


@pytest.mark.parametrize(
    "host",
    [
        b"a b/../[x",
        b"exa mple.com",
        b"a/b",
        b"user@example.com",
        b"example.com:8o",
        b":80",
        b"[::1",
        b"[::g]",
        b"[1.2.3.4]",
        b"ex%4",
        b"a\x00b",
    ],
)
def test_invalid_hosts_are_400(host: bytes) -> None:
    # RFC 9112 §3.2: a Host with an invalid field value is answered 400.
    assert refusal("1.1", (b"host", host)) == (400, "invalid Host")
    assert host not in request._HOSTS
    assert refusal("1.0", (b"host", host)) == (400, "invalid Host")


def test_the_host_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(request, "_HOSTS", set())
    monkeypatch.setattr(request, "_HOSTS_MAX", 4)
    for index in range(4):
        inspect_head("1.1", [(b"host", b"h%d" % index)])
    assert len(request._HOSTS) == 4
    inspect_head("1.1", [(b"host", b"full")])
    assert {b"full"} == request._HOSTS
    long_host = b"x" * (request._HOST_CACHE_LEN + 1)
    assert inspect_head("1.1", [(b"host", long_host)])[0]
    assert long_host not in request._HOSTS


# -- split_target -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (b"/", ("/", b"/", b"")),
        (b"/a/b?x=1&y=%20", ("/a/b", b"/a/b", b"x=1&y=%20")),
        (b"/caf%C3%A9/a%2Fb", ("/café/a/b", b"/caf%C3%A9/a%2Fb", b"")),
        (b"/bad%FF", ("/bad\ufffd", b"/bad%FF", b"")),
        (b"/caf\xc3\xa9", ("/café", b"/caf\xc3\xa9", b"")),
        (b"/?", ("/", b"/", b"")),
        (b"*", ("*", b"*", b"")),
        (b"http://example.com/p?q=1", ("/p", b"/p", b"q=1")),
        (b"https://example.com:8443", ("/", b"/", b"")),
        (b"http://example.com?q=/x", ("/", b"/", b"q=/x")),
        (b"http://user@example.com/p/", ("/p/", b"/p/", b"")),
        (b"example.com:443", ("example.com:443", b"example.com:443", b"")),
        (b"http://[::1]:8000/p", ("/p", b"/p", b"")),
        (b"http://[v1.fe]/p", ("/p", b"/p", b"")),
        (b"http://10.0.0.1:/p", ("/p", b"/p", b"")),
        (b"http://a%41-b.example_~!$&'()*+,;=/p", ("/p", b"/p", b"")),
        (b"svn+ssh://example.com/p", ("/p", b"/p", b"")),
        (b"[::1]:443", ("[::1]:443", b"[::1]:443", b"")),
        # A fragment is dropped, as uvicorn's httptools parser drops it (it stayed in path or query).
        (b"/p?a=1#frag", ("/p", b"/p", b"a=1")),
        (b"/p#frag?x=1", ("/p", b"/p", b"")),
        (b"http://example.com/p#f", ("/p", b"/p", b"")),
    ],
)
def test_targets(target: bytes, expected: tuple[str, bytes, bytes]) -> None:
    assert split_target(target, "") == expected
    assert split_target(target, "") == expected  # the second time from the cache


@pytest.mark.parametrize(
    "target",
    [
        b"abc",
        b"://x",
        b"a/b:c",
        b"",
        b"s://]ufd/:",  # RFC 9112 §3.2.2: was served as the path "/:"
        b"http:///p",  # RFC 9110 §4.2.1: an empty host
        b"http://:80/p",
        b"http://exa mple.com/p",
        b"http://exa\x00mple.com/p",
        b"http://[::1/p",
        b"http://[::g]/p",
        b"http://[1.2.3.4]/p",
        b"http://example.com:8o/p",
        b"http://a@b@example.com/p",
        b"http://ex%4/p",
        b"1http://example.com/p",
        b"]:443",
    ],
)
def test_targets_in_no_form_are_400(target: bytes) -> None:
    with pytest.raises(ParseError) as refused:
        split_target(target, "")
    assert refused.value.status == 400


@pytest.mark.parametrize(
    ("method", "target"),
    [
        (b"CONNECT", b"example.com:443"),
        (b"CONNECT", b"[::1]:443"),
        (b"GET", b"/a"),
        (b"GET", b"http://example.com"),
        (b"OPTIONS", b"*"),
    ],
)
def test_target_forms_each_method_may_use(method: bytes, target: bytes) -> None:
    check_target_form(method, target)


@pytest.mark.parametrize(
    ("method", "target"),
    [(b"GET", b"h:80"), (b"OPTIONS", b"example.com:443"), (b"POST", b"[::1]:80"), (b"GET", b"abc")],
)
def test_authority_form_is_for_connect_alone(method: bytes, target: bytes) -> None:
    # RFC 9112 §3.2.3; split_target takes the same target, not knowing the method.
    with pytest.raises(ParseError) as refused:
        check_target_form(method, target)
    assert refused.value.status == 400


def test_root_path_prefixes_both_paths() -> None:
    assert split_target(b"/x%20y?q", "/api") == ("/api/x y", b"/api/x%20y", b"q")
    assert split_target(b"/x%20y?q", "") == ("/x y", b"/x%20y", b"q")


def test_the_target_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(request, "_TARGETS", {})
    monkeypatch.setattr(request, "_TARGETS_MAX", 4)
    for index in range(4):
        split_target(b"/%d" % index, "")
    assert len(request._TARGETS) == 4
    split_target(b"/full", "")
    assert list(request._TARGETS) == [b"/full"]
    long_target = b"/" + b"x" * request._TARGET_CACHE_LEN
    assert split_target(long_target, "")[1] == long_target
    assert long_target not in request._TARGETS


# -- Methods ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "then_space", "status"),
    [
        (b"FOOBAR", True, 501),
        (b"get", True, 501),
        (b"FOOBAR", False, 400),
        (b"", True, 400),
        (b"G(T", True, 400),
        (b"PRI", True, 505),
    ],
)
def test_method_refusals(method: bytes, then_space: bool, status: int) -> None:
    assert method_refusal(method, then_space=then_space).status == status
