from __future__ import annotations

import pathlib
from collections.abc import Mapping
from typing import Any

import pytest

from supervisor.config.convert import FdBind, TcpBind, UnixBind
from supervisor.config.kinds import (
    Address,
    Boolean,
    Choice,
    Environment,
    FilePath,
    Header,
    Host,
    Integer,
    ItemError,
    Kind,
    ListOf,
    LogConfig,
    LogLevel,
    Maybe,
    Mode,
    Networks,
    Seconds,
    Size,
    Target,
    Text,
)


def app(scope: object, receive: object, send: object) -> None:
    """A callable standing in for an ASGI app object."""


# (kind, raw value, converted value): convert must also accept what it returns.
ACCEPTED: list[tuple[Kind, Any, Any]] = [
    (Integer(1), 4, 4),
    (Integer(0, 65535), 0, 0),
    (Integer(), -3, -3),
    (Integer(-1), -1, -1),
    (Seconds(), 0, 0.0),
    (Seconds(positive=True), 2.5, 2.5),
    (Boolean(), False, False),
    (Text(), "", ""),
    (FilePath(), pathlib.Path("/tmp/x"), "/tmp/x"),
    (FilePath(allow_empty=True), "", ""),
    (Choice("auto", "uvloop", aliases={"none": "auto"}), "UVLOOP", "uvloop"),
    (Choice("auto", "uvloop", aliases={"none": "auto"}), "none", "auto"),
    (LogLevel(), "DEBUG", "debug"),
    (LogLevel(), 5, "trace"),
    (LogLevel(), 40, "error"),
    (Size(minimum=1), "1KiB", 1024),
    (Mode(), "0o600", 0o600),
    (Maybe(Integer(1)), None, None),
    (Maybe(Seconds(), off=False), False, None),
    (Maybe(Seconds(), off=False), 0, 0.0),
    (Maybe(Address(), off=""), "", None),
    (ListOf(Text(), expected="texts", single_ok=True), "one", ("one",)),
    (ListOf(Text(), expected="texts"), ["a", "b"], ("a", "b")),
    (Address(), "unix:/x", UnixBind("/x")),
    (Address(), FdBind(3), FdBind(3)),
    (Host(), "[::1]", "::1"),
    (Header(), "X-A:b", ("X-A", "b")),
    (Header(), ["X-A", "b"], ("X-A", "b")),
    (Networks(), "127.0.0.1, 10.0.0.0/8,*", ("127.0.0.1", "10.0.0.0/8", "*")),
    (Networks(), ["::1", "unix:"], ("::1", "unix:")),
    (Target(), "pkg.mod:make.app", "pkg.mod:make.app"),
    (Target(), app, app),
    (Environment(), {"A": "1"}, {"A": "1"}),
    (LogConfig(), "logging.yaml", "logging.yaml"),
    (LogConfig(), pathlib.Path("log.ini"), "log.ini"),
    (LogConfig(), {"version": 1}, {"version": 1}),
]


@pytest.mark.parametrize(("kind", "raw", "value"), ACCEPTED)
def test_convert_accepts_and_is_idempotent(kind: Kind, raw: Any, value: Any) -> None:
    assert kind.convert(raw) == value
    assert kind.convert(kind.convert(raw)) == value


REJECTED: list[tuple[Kind, Any, str]] = [
    (Integer(1), "four", 'expected a positive integer, got "four"'),
    (Integer(1), 0, "expected a positive integer, got 0"),
    (Integer(1), True, "expected a positive integer, got true"),
    (Integer(1), 1.0, "expected a positive integer, got 1.0"),
    (Integer(0), -1, "expected an integer, 0 or more, got -1"),
    (Integer(0, 2), 3, "expected an integer from 0 to 2, got 3"),
    (Integer(), "1", 'expected an integer, got "1"'),
    (Integer(5), 4, "expected an integer, 5 or more, got 4"),
    (Seconds(), -1, "expected a number of seconds, 0 or more, got -1"),
    (Seconds(), float("inf"), "expected a number of seconds, 0 or more, got inf"),
    (Seconds(), "5", 'expected a number of seconds, 0 or more, got "5"'),
    (Seconds(), True, "expected a number of seconds, 0 or more, got true"),
    (Seconds(positive=True), 0, "expected a positive number of seconds, got 0"),
    (Boolean(), "yes", 'expected true or false, got "yes"'),
    (Boolean(), 1, "expected true or false, got 1"),
    (Text(), 3, "expected a string, got 3"),
    (Text(nonempty=True, expected="a name"), "", 'expected a name, got ""'),
    (FilePath(), "", 'expected a path, got ""'),
    (FilePath(), "a\0b", "expected a path"),
    (FilePath(), b"/tmp", "expected a path, got b'/tmp'"),
    (Choice("auto", "on"), "of", 'expected one of "auto", "on", got "of"'),
    (Choice("auto", "on"), 1, 'expected one of "auto", "on", got 1'),
    (LogLevel(), 25, 'expected one of "critical", "error", "warning", "info", "debug", "trace", got 25'),
    (LogLevel(), True, "got true"),
    (Size(), "lots", 'expected a size in bytes, such as 65536 or "64KiB", got "lots"'),
    (Size(minimum=1), 0, 'expected a positive size in bytes, such as 65536 or "64KiB", got 0'),
    (Size(), 1.5, "got 1.5"),
    (Mode(), 1.5, "expected a file mode such as 0o660, got 1.5"),
    (Mode(), 660, "write 0o660"),
    (Maybe(Integer(1)), 0, "expected a positive integer, got 0"),
    (Maybe(Seconds(positive=True), off=False), True, "expected a positive number of seconds, or false to turn it off"),
    (Maybe(Address(), off=""), "127.0.0.1:99999", "expected a port from 0 to 65535 after the host"),
    (ListOf(Text(), expected="a list of names"), "one", 'expected a list of names, got "one"'),
    (ListOf(Text(), expected="a list of names", nonempty=True), [], "expected a list of names, got []"),
    (ListOf(Text(), expected="a list of names"), {"a": 1}, "expected a list of names"),
    (Address(), 8000, "expected an address: HOST:PORT, [V6]:PORT, unix:PATH or fd://N, got 8000"),
    (Address(), "nowhere", 'got "nowhere"'),
    (Host(), 1, "expected a host name or IP address, got 1"),
    (Host(), "a b", 'expected a host name or IP address, got "a b"'),
    (Header(), ("X-A",), 'expected a header "Name: Value", got ["X-A"]'),
    (Header(), ("X-A", 1), 'expected a header "Name: Value"'),
    (Header(), "X-A", 'expected a header "Name: Value", got "X-A"'),
    (Networks(), 127, 'expected a list of IP addresses, CIDR networks, "unix:" (unix socket peers) or'),
    (Networks(), ["a", 1], "expected a list of IP addresses"),
    (Target(), "module", 'expected an import string "MODULE:ATTRIBUTE", got "module"'),
    (Target(), "mod:", "got"),
    (Target(), "my-mod:app", "got"),
    (Target(), 3, "got 3"),
    (Environment(), ["A=1"], "expected a table of environment variables"),
    (LogConfig(), "", "expected a logging config file"),
    (LogConfig(), 3, "got 3"),
]


@pytest.mark.parametrize(("kind", "raw", "message"), REJECTED)
def test_convert_rejects_with_expected_and_got(kind: Kind, raw: Any, message: str) -> None:
    with pytest.raises(ValueError, match="expected") as caught:
        kind.convert(raw)
    assert message in str(caught.value)


def test_list_reports_every_bad_element_with_its_index() -> None:
    kind = ListOf(Address(), expected="addresses")
    with pytest.raises(ItemError) as caught:
        kind.convert(["127.0.0.1:8000", "nope", "fd://x"])
    assert [index for index, _ in caught.value.items] == [1, 2]
    assert 'got "nope"' in caught.value.items[0][1]
    assert "fd://" in str(caught.value)


def test_maybe_passes_element_errors_through() -> None:
    with pytest.raises(ItemError) as caught:
        Maybe(ListOf(Integer(), expected="integers")).convert([1, "2"])
    assert caught.value.items == [(1, 'expected an integer, got "2"')]


def test_networks_reports_each_untrusted_entry() -> None:
    with pytest.raises(ItemError) as caught:
        Networks().convert("127.0.0.1,proxy,10.0.0.300,proxy.internal,my-proxy1,/run/nginx.sock,a..b")
    expected = 'expected an IP address, a CIDR network, "unix:" or "*", got'
    named = "host names are not looked up; give the proxy's IP address or network"
    assert caught.value.items == [
        (1, f'{expected} "proxy": {named}'),
        (2, f'{expected} "10.0.0.300"'),
        (3, f'{expected} "proxy.internal": {named}'),
        (4, f'{expected} "my-proxy1": {named}'),
        (5, f'{expected} "/run/nginx.sock": a socket path matches no peer; "unix:" trusts the peers of unix sockets'),
        (6, f'{expected} "a..b"'),
    ]


def test_environment_reports_names_and_values() -> None:
    with pytest.raises(ItemError) as caught:
        Environment().convert({"PORT": 80, "": "x", "A=B": "y", "ON": True, "OK": "fine"})
    assert caught.value.items == [
        ("PORT", 'expected a string, got 80 (environment values are text: write "80")'),
        ("", 'expected a variable name without "=", got ""'),
        ("A=B", 'expected a variable name without "=", got "A=B"'),
        ("ON", "expected a string, got true"),
    ]


def test_environment_is_read_only() -> None:
    env = Environment().convert({"A": "1"})
    assert isinstance(env, Mapping)
    with pytest.raises(TypeError):
        env["B"] = "2"  # type: ignore[index]


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        (Integer(0, 65535), "8001", 8001),
        (Seconds(), "2.5", 2.5),
        (Maybe(Seconds()), "3", 3.0),
        (Size(), "1M", 1 << 20),
        (Networks(), "10.0.0.1,10.0.0.2", ("10.0.0.1", "10.0.0.2")),
        (Host(), "::", "::"),
    ],
)
def test_from_text_reads_command_line_values(kind: Kind, text: str, value: Any) -> None:
    assert kind.from_text(text) == value


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        (Integer(1), "four", 'expected a positive integer, got "four"'),
        (Integer(1), "0", "expected a positive integer, got 0"),
        (Seconds(), "soon", 'expected a number of seconds, 0 or more, got "soon"'),
        (Seconds(), "-1", 'got "-1"'),
        (Seconds(positive=True), "0", 'expected a positive number of seconds, got "0"'),
    ],
)
def test_from_text_rejects(kind: Kind, text: str, message: str) -> None:
    with pytest.raises(ValueError, match="expected") as caught:
        kind.from_text(text)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("kind", "value", "toml"),
    [
        (Mode(), 0o660, "0o660"),
        (Maybe(Mode()), None, None),
        (Maybe(Mode()), 0o600, "0o600"),
        (Maybe(Seconds(), off=False), None, False),
        (Maybe(Address(), off=""), None, ""),
        (ListOf(Address(), expected="addresses"), (TcpBind("::1", 80), UnixBind("/s")), ["[::1]:80", "unix:/s"]),
        (ListOf(Header(), expected="headers"), (("X-A", "b"),), ["X-A: b"]),
        (Networks(), ("*",), ["*"]),
        (Environment(), Environment().convert({"A": "1"}), {"A": "1"}),
        (Integer(), 3, 3),
    ],
)
def test_to_toml_writes_what_convert_reads_back(kind: Kind, value: Any, toml: Any) -> None:
    assert kind.to_toml(value) == toml
    if toml is not None:
        assert kind.convert(toml) == value


def test_metavars_and_path_checks_follow_the_inner_kind() -> None:
    assert Choice("a", "b").metavar == "[a|b]"
    assert Maybe(FilePath(must_exist=True)).must_exist
    assert ListOf(FilePath(must_exist=True), expected="dirs").must_exist
    assert ListOf(Header(), expected="headers").metavar == "NAME:VALUE"
    assert Maybe(Integer()).metavar == "INTEGER"
