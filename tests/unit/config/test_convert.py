from __future__ import annotations

import datetime

import pytest

from supervisor.config.convert import (
    FdBind,
    TcpBind,
    UnixBind,
    check_header,
    check_host,
    overlaps,
    parse_bind,
    parse_header,
    parse_mode,
    parse_seconds,
    parse_size,
    show,
)


@pytest.mark.parametrize(
    ("text", "bind", "canonical"),
    [
        ("127.0.0.1:8000", TcpBind("127.0.0.1", 8000), "127.0.0.1:8000"),
        ("0.0.0.0:0", TcpBind("0.0.0.0", 0), "0.0.0.0:0"),
        ("localhost:65535", TcpBind("localhost", 65535), "localhost:65535"),
        ("[::1]:8000", TcpBind("::1", 8000), "[::1]:8000"),
        ("[0:0:0:0:0:0:0:1]:8000", TcpBind("::1", 8000), "[::1]:8000"),
        ("[::]:80", TcpBind("::", 80), "[::]:80"),
        ("unix:/tmp/api.sock", UnixBind("/tmp/api.sock"), "unix:/tmp/api.sock"),
        ("unix:///tmp/api.sock", UnixBind("/tmp/api.sock"), "unix:/tmp/api.sock"),
        ("unix:relative.sock", UnixBind("relative.sock"), "unix:relative.sock"),
        ("fd://3", FdBind(3), "fd://3"),
        ("fd://0", FdBind(0), "fd://0"),
    ],
)
def test_parse_bind_accepts_every_form_and_prints_it_canonically(text: str, bind: object, canonical: str) -> None:
    parsed = parse_bind(text)
    assert parsed == bind
    assert str(parsed) == canonical
    assert parse_bind(str(parsed)) == parsed


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("8000", "expected an address (HOST:PORT, [V6]:PORT, unix:PATH or fd://N)"),
        (":8000", "expected a host before the port"),
        ("::1:8000", "an IPv6 address needs brackets, as in [::1]:8000"),
        ("[::1]", "expected [V6]:PORT"),
        ("[nope]:80", "expected an IPv6 address inside the brackets"),
        ("127.0.0.1:70000", "expected a port from 0 to 65535"),
        ("127.0.0.1:http", "expected a port from 0 to 65535"),
        ("127.0.0.1:", "expected a port from 0 to 65535"),
        ("bad host:80", "expected a host name or IP address before the port"),
        ("unix:", "expected a socket path after unix:"),
        ("unix:a\0b", "expected a socket path after unix:"),
        ("fd://x", "expected a file descriptor number after fd://"),
        ("fd://-1", "expected a file descriptor number after fd://"),
        ("fd://٣", "expected a file descriptor number after fd://"),
    ],
)
def test_parse_bind_says_what_is_wrong(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match="got") as caught:
        parse_bind(text)
    assert fragment in str(caught.value)


def test_check_host_normalizes_addresses_and_keeps_names() -> None:
    assert check_host("[::1]") == "::1"
    assert check_host("0:0::1") == "::1"
    assert check_host("example.com") == "example.com"
    assert check_host("10.0.0.1") == "10.0.0.1"
    for bad in ("", "-x", "a b", "[example.com]", "x" * 254):
        with pytest.raises(ValueError, match="expected a host name or IP address"):
            check_host(bad)


@pytest.mark.parametrize(
    ("one", "other", "clash"),
    [
        ("127.0.0.1:8000", "127.0.0.1:8000", True),
        ("127.0.0.1:8000", "127.0.0.1:8001", False),
        ("0.0.0.0:8000", "127.0.0.1:8000", True),
        ("127.0.0.1:8000", "0.0.0.0:8000", True),
        ("[::]:8000", "[::1]:8000", True),
        ("[::]:8000", "127.0.0.1:8000", False),
        ("0.0.0.0:8000", "[::1]:8000", False),
        ("0.0.0.0:8000", "localhost:8000", False),
        ("localhost:8000", "localhost:8000", True),
        ("127.0.0.1:0", "127.0.0.1:0", False),
        ("unix:/tmp/a.sock", "unix:/tmp//a.sock", True),
        ("unix:/tmp/a.sock", "unix:/tmp/b.sock", False),
        ("fd://3", "fd://3", True),
        ("fd://3", "fd://4", False),
        ("fd://3", "unix:/tmp/a.sock", False),
    ],
)
def test_overlaps(one: str, other: str, clash: bool) -> None:
    assert overlaps(parse_bind(one), parse_bind(other)) is clash


@pytest.mark.parametrize(
    ("value", "size"),
    [
        (0, 0),
        (65536, 65536),
        ("65536", 65536),
        ("512MiB", 512 * 1024**2),
        ("1G", 1024**3),
        ("1g", 1024**3),
        ("1.5 GiB", 3 * 512 * 1024**2),
        ("10kB", 10_000),
        ("2MB", 2_000_000),
        ("1TB", 10**12),
        ("1T", 1024**4),
        ("64K", 65536),
        ("100b", 100),
    ],
)
def test_parse_size(value: int | str, size: int) -> None:
    assert parse_size(value) == size


@pytest.mark.parametrize("value", [-1, True, "lots", "12 parsecs", "", "-1K", "1.2.3M"])
def test_parse_size_rejects(value: int | str) -> None:
    with pytest.raises(ValueError, match=r'expected a size such as 65536, "512MiB" or "1G", got'):
        parse_size(value)


@pytest.mark.parametrize(("value", "mode"), [(0o660, 0o660), (0, 0), ("0o600", 0o600), ("660", 0o660), ("0777", 0o777)])
def test_parse_mode(value: int | str, mode: int) -> None:
    assert parse_mode(value) == mode


@pytest.mark.parametrize("value", [660, 600, 777])
def test_parse_mode_explains_decimal_toml_integers(value: int) -> None:
    with pytest.raises(ValueError, match=rf"got {value} \(a TOML integer is decimal: write 0o{value}\)"):
        parse_mode(value)


@pytest.mark.parametrize("value", [1000, -1, True, "0o8", "rw", "", "0o1777", 999])
def test_parse_mode_rejects(value: int | str) -> None:
    with pytest.raises(ValueError, match="expected a file mode such as 0o660") as caught:
        parse_mode(value)
    assert "write 0o" not in str(caught.value)


@pytest.mark.parametrize(("value", "seconds"), [(0, 0.0), (5, 5.0), (2.5, 2.5), ("0.25", 0.25), (" 3 ", 3.0)])
def test_parse_seconds(value: float | str, seconds: float) -> None:
    assert parse_seconds(value) == seconds


@pytest.mark.parametrize("value", [-1, -0.5, float("nan"), float("inf"), "soon", "", "-2", "inf", True])
def test_parse_seconds_rejects(value: float | str) -> None:
    with pytest.raises(ValueError, match="expected a number of seconds, 0 or more, got"):
        parse_seconds(value)


def test_parse_header_accepts_both_spacings() -> None:
    assert parse_header("X-Frame-Options: DENY") == ("X-Frame-Options", "DENY")
    assert parse_header("X-Thing:a:b") == ("X-Thing", "a:b")
    assert parse_header("X-Empty:") == ("X-Empty", "")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("NoColon", 'expected a header "Name: Value"'),
        (": value", "expected a header name"),
        ("Bad Name: v", "expected a header name"),
        ("X-A: one\r\nSet-Cookie: evil", "header X-A has a line break or NUL in its value"),
        ("X-A: nul\0", "line break or NUL"),
    ],
)
def test_parse_header_rejects(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match="got") as caught:
        parse_header(text)
    assert fragment in str(caught.value)


def test_check_header_strips_blanks() -> None:
    assert check_header(" X-A ", " b ") == ("X-A", "b")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("four", '"four"'),
        (True, "true"),
        (False, "false"),
        (4, "4"),
        (1.5, "1.5"),
        (None, "None"),
        (["a", 1], '["a", 1]'),
        ({"A": "1"}, '{ A = "1" }'),
        (datetime.date(2024, 1, 2), "2024-01-02"),
        ("x" * 100, '"' + "x" * 56 + "..."),
    ],
)
def test_show_writes_values_as_toml_spells_them(value: object, text: str) -> None:
    assert show(value) == text
