"""The shapes a setting's value can take: how each is checked, read from the command line and written as TOML."""

from __future__ import annotations

import difflib
import ipaddress
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, NoReturn

from supervisor.config.convert import (
    ADDRESS_FORMS,
    FdBind,
    TcpBind,
    UnixBind,
    check_header,
    check_host,
    parse_bind,
    parse_header,
    parse_mode,
    parse_seconds,
    parse_size,
    show,
)


class ItemError(ValueError):
    """Problems with elements of a list or table value, each as (index or name, message)."""

    def __init__(self, items: list[tuple[str | int, str]]) -> None:
        super().__init__("; ".join(message for _, message in items))
        self.items = items


class Kind(ABC):
    """One value shape. `convert` is idempotent: it accepts what it returns."""

    expected = "a value"  # completes "expected ..., got ..." and the reference's type column
    metavar = "TEXT"
    must_exist = False  # `serve run` checks the path exists, as uvicorn's flag does

    @abstractmethod
    def convert(self, raw: object) -> Any:
        """Return the typed value for a TOML or Python value, or raise ValueError saying what was expected."""

    def from_text(self, text: str) -> Any:
        """Return the typed value for command-line or environment text."""
        return self.convert(text)

    def to_toml(self, value: Any) -> Any:
        """Return `value` as TOML can hold it (None: it cannot be written, leave the key out)."""
        return value

    def reject(self, raw: object) -> NoReturn:
        raise ValueError(f"expected {self.expected}, got {show(raw)}")


def _within(value: int, minimum: int | None, maximum: int | None) -> bool:
    return (minimum is None or value >= minimum) and (maximum is None or value <= maximum)


class Integer(Kind):
    metavar = "INTEGER"

    def __init__(self, minimum: int | None = None, maximum: int | None = None) -> None:
        self.minimum, self.maximum = minimum, maximum
        if maximum is not None:
            self.expected = f"an integer from {minimum} to {maximum}"
        elif minimum == 1:
            self.expected = "a positive integer"
        elif minimum == 0:
            self.expected = "an integer, 0 or more"
        else:
            self.expected = "an integer" if minimum is None else f"an integer, {minimum} or more"

    def convert(self, raw: object) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int) or not _within(raw, self.minimum, self.maximum):
            self.reject(raw)
        return raw

    def from_text(self, text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            self.reject(text)
        return self.convert(value)


class Seconds(Kind):
    metavar = "SECONDS"

    def __init__(self, *, positive: bool = False) -> None:
        self.positive = positive
        self.expected = "a positive number of seconds" if positive else "a number of seconds, 0 or more"

    def convert(self, raw: object) -> float:
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            self.reject(raw)  # TOML and Python give numbers; text is for the command line
        return self._checked(raw)

    def from_text(self, text: str) -> float:
        return self._checked(text)

    def _checked(self, raw: float | str) -> float:
        try:
            seconds = parse_seconds(raw)
        except ValueError:
            self.reject(raw)
        if self.positive and seconds == 0:
            self.reject(raw)
        return seconds


class Boolean(Kind):
    metavar = "BOOLEAN"
    expected = "true or false"

    def convert(self, raw: object) -> bool:
        if not isinstance(raw, bool):
            self.reject(raw)
        return raw


class Text(Kind):
    def __init__(self, *, nonempty: bool = False, expected: str = "a string") -> None:
        self.nonempty = nonempty
        self.expected = expected

    def convert(self, raw: object) -> str:
        if not isinstance(raw, str) or (self.nonempty and not raw):
            self.reject(raw)
        return raw


class FilePath(Kind):
    metavar = "PATH"

    def __init__(self, *, must_exist: bool = False, allow_empty: bool = False, expected: str = "a path") -> None:
        self.must_exist = must_exist
        self.allow_empty = allow_empty
        self.expected = expected

    def convert(self, raw: object) -> str:
        path = os.fspath(raw) if isinstance(raw, os.PathLike) else raw
        if not isinstance(path, str) or "\0" in path or (not path and not self.allow_empty):
            self.reject(raw)
        return path


class Choice(Kind):
    """One of a few words, case-insensitive; `aliases` are other servers' spellings of the same choice."""

    def __init__(self, *choices: str, aliases: Mapping[str, str] | None = None) -> None:
        self.choices = choices
        self.aliases = dict(aliases or {})
        self.expected = "one of " + ", ".join(f'"{choice}"' for choice in choices)
        self.metavar = "[" + "|".join(choices) + "]"

    def convert(self, raw: object) -> str:
        if isinstance(raw, str):
            word = raw.lower()
            word = self.aliases.get(word, word)
            if word in self.choices:
                return word
        self.reject(raw)


LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
_LEVEL_NUMBERS = {50: "critical", 40: "error", 30: "warning", 20: "info", 10: "debug", 5: "trace"}


class LogLevel(Choice):
    """A level name; the Python API also takes the `logging` module's numbers, as uvicorn's does."""

    def __init__(self) -> None:
        super().__init__(*LOG_LEVELS)

    def convert(self, raw: object) -> str:
        if isinstance(raw, int) and not isinstance(raw, bool) and raw in _LEVEL_NUMBERS:
            return _LEVEL_NUMBERS[raw]
        return super().convert(raw)


class Size(Kind):
    metavar = "SIZE"

    def __init__(self, *, minimum: int = 0) -> None:
        self.minimum = minimum
        amount = "a size in bytes" if minimum == 0 else "a positive size in bytes"
        self.expected = f'{amount}, such as 65536 or "64KiB"'

    def convert(self, raw: object) -> int:
        if not isinstance(raw, (int, str)):
            self.reject(raw)
        try:
            value = parse_size(raw)
        except ValueError:
            self.reject(raw)
        if value < self.minimum:
            self.reject(raw)
        return value


class Mode(Kind):
    metavar = "MODE"
    expected = "a file mode such as 0o660"

    def convert(self, raw: object) -> int:
        if not isinstance(raw, (int, str)):
            self.reject(raw)
        return parse_mode(raw)

    def to_toml(self, value: int) -> str:
        return f"0o{value:o}"


class Maybe(Kind):
    """`inner`, or None (unset). `off` is how TOML, which has no null, spells None for this key."""

    def __init__(self, inner: Kind, *, off: object = None) -> None:
        self.inner = inner
        self.off = off
        self.metavar = inner.metavar
        self.must_exist = inner.must_exist
        self.expected = inner.expected if off is None else f"{inner.expected}, or {show(off)} to turn it off"

    def convert(self, raw: object) -> Any:
        if raw is None or (type(raw) is type(self.off) and raw == self.off):
            return None
        try:
            return self.inner.convert(raw)
        except ItemError:
            raise
        except ValueError as err:
            if str(err) == f"expected {self.inner.expected}, got {show(raw)}":
                self.reject(raw)  # the plain mismatch: name the "off" spelling too
            raise

    def from_text(self, text: str) -> Any:
        return self.inner.from_text(text)

    def to_toml(self, value: Any) -> Any:
        return self.off if value is None else self.inner.to_toml(value)


class ListOf(Kind):
    """A list whose elements are `item`; every bad element is reported, with its index."""

    def __init__(self, item: Kind, *, expected: str, nonempty: bool = False, single_ok: bool = False) -> None:
        self.item = item
        self.expected = expected
        self.nonempty = nonempty
        self.single_ok = single_ok  # uvicorn's reload_dirs and friends take one string or a list
        self.metavar = item.metavar
        self.must_exist = item.must_exist

    def convert(self, raw: object) -> tuple[Any, ...]:
        if self.single_ok and isinstance(raw, (str, os.PathLike)):
            raw = [raw]
        if isinstance(raw, (str, bytes)) or not isinstance(raw, Sequence) or (self.nonempty and not raw):
            self.reject(raw)
        values: list[Any] = []
        errors: list[tuple[str | int, str]] = []
        for index, element in enumerate(raw):
            try:
                values.append(self.item.convert(element))
            except ValueError as err:
                errors.append((index, str(err)))
        if errors:
            raise ItemError(errors)
        return tuple(values)

    def to_toml(self, value: tuple[Any, ...]) -> list[Any]:
        return [self.item.to_toml(element) for element in value]


class Address(Kind):
    metavar = "ADDRESS"
    expected = f"an address: {ADDRESS_FORMS}"

    def convert(self, raw: object) -> TcpBind | UnixBind | FdBind:
        if isinstance(raw, (TcpBind, UnixBind, FdBind)):
            return raw
        if not isinstance(raw, str):
            self.reject(raw)
        return parse_bind(raw)

    def to_toml(self, value: TcpBind | UnixBind | FdBind) -> str:
        return str(value)


class Host(Kind):
    expected = "a host name or IP address"

    def convert(self, raw: object) -> str:
        if not isinstance(raw, str):
            self.reject(raw)
        return check_host(raw)


class Header(Kind):
    metavar = "NAME:VALUE"
    expected = 'a header "Name: Value"'

    def convert(self, raw: object) -> tuple[str, str]:
        if isinstance(raw, str):
            return parse_header(raw)
        if isinstance(raw, (tuple, list)) and len(raw) == 2 and all(isinstance(part, str) for part in raw):
            return check_header(raw[0], raw[1])
        self.reject(raw)

    def to_toml(self, value: tuple[str, str]) -> str:
        return f"{value[0]}: {value[1]}"


_NETWORKS_EXPECTED = 'expected an IP address, a CIDR network, "unix:" or "*"'


def _untrusted(entry: str) -> str | None:
    """Why `entry` cannot be in forwarded_allow_ips; None when it can."""
    if entry in ("*", "unix:"):  # "unix:" trusts every peer on a unix socket (a proxy in front)
        return None
    got = f"{_NETWORKS_EXPECTED}, got {show(entry)}"
    if entry.startswith("/"):
        # uvicorn takes it as a literal, but a unix socket's peers have no address to match it.
        return f'{got}: a socket path matches no peer; "unix:" trusts the peers of unix sockets'
    try:
        ipaddress.ip_network(entry, strict=False)
    except ValueError:
        pass
    else:
        return None
    if any(c.isalpha() for c in entry) and all(part.isalnum() for part in entry.replace("-", ".").split(".")):
        # A peer is known by its address; a name looked up at start would go stale, and one
        # looked up per request would put DNS in every request's path.
        return f"{got}: host names are not looked up; give the proxy's IP address or network"
    return got


class Networks(Kind):
    """Who may send proxy headers: a list, or uvicorn's comma-separated string."""

    expected = 'a list of IP addresses, CIDR networks, "unix:" (unix socket peers) or "*"'

    def convert(self, raw: object) -> tuple[str, ...]:
        if isinstance(raw, str):
            entries = [part.strip() for part in raw.split(",") if part.strip()]
        elif isinstance(raw, (list, tuple)) and all(isinstance(part, str) for part in raw):
            entries = [part.strip() for part in raw]
        else:
            self.reject(raw)
        errors: list[tuple[str | int, str]] = [
            (index, why) for index, entry in enumerate(entries) if (why := _untrusted(entry)) is not None
        ]
        if errors:
            raise ItemError(errors)
        return tuple(entries)

    def to_toml(self, value: tuple[str, ...]) -> list[str]:
        return list(value)


class Target(Kind):
    """The app: an import string, or (Python API only) the app object itself."""

    metavar = "MODULE:APP"
    expected = 'an import string "MODULE:ATTRIBUTE"'

    def convert(self, raw: object) -> Any:
        if isinstance(raw, str):
            if _is_import_string(raw):
                return raw
        elif callable(raw):
            return raw
        self.reject(raw)


def _is_import_string(text: str) -> bool:
    """Whether `text` reads "MODULE:ATTRIBUTE", both dotted Python names (syntax only: nothing is imported)."""
    module, colon, attribute = text.partition(":")
    return bool(colon) and all(name.isidentifier() for name in (*module.split("."), *attribute.split(".")))


class Hooks(Kind):
    """A table of hooks, `names` only, each a "module:function" string; imported where the hook runs."""

    metavar = "TABLE"

    def __init__(self, *names: str) -> None:
        self.names = names
        self.expected = "a table of hooks (" + ", ".join(names) + ') whose values are "module:function"'

    def convert(self, raw: object) -> Mapping[str, str]:
        if not isinstance(raw, Mapping):
            self.reject(raw)
        errors: list[tuple[str | int, str]] = []
        for name, value in raw.items():
            if name not in self.names:
                close = difflib.get_close_matches(str(name), self.names, n=1)
                guess = f'; did you mean "{close[0]}"?' if close else ""
                errors.append((str(name), f"unknown hook{guess} (hooks here: {', '.join(self.names)})"))
            elif not isinstance(value, str) or not _is_import_string(value):
                errors.append((name, f'expected "module:function", got {show(value)}'))
        if errors:
            raise ItemError(errors)
        return MappingProxyType(dict(raw))

    def to_toml(self, value: Mapping[str, str]) -> dict[str, str]:
        return dict(value)


class Environment(Kind):
    expected = "a table of environment variables and their string values"

    def convert(self, raw: object) -> Mapping[str, str]:
        if not isinstance(raw, Mapping):
            self.reject(raw)
        errors: list[tuple[str | int, str]] = []
        for name, value in raw.items():
            if not isinstance(name, str) or not name or "=" in name or "\0" in name:
                errors.append((str(name), f'expected a variable name without "=", got {show(name)}'))
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                errors.append(
                    (
                        name,
                        f"expected a string, got {show(value)} (environment values are text: write {show(str(value))})",
                    )
                )
            elif not isinstance(value, str):
                errors.append((name, f"expected a string, got {show(value)}"))
        if errors:
            raise ItemError(errors)
        return MappingProxyType(dict(raw))

    def to_toml(self, value: Mapping[str, str]) -> dict[str, str]:
        return dict(value)


class LogConfig(Kind):
    metavar = "PATH"
    must_exist = True
    expected = "a logging config file (.ini, .json or .yaml) or a table in logging.config.dictConfig form"

    def convert(self, raw: object) -> str | dict[str, Any]:
        path = os.fspath(raw) if isinstance(raw, os.PathLike) else raw
        if isinstance(path, str) and path:
            return path
        if isinstance(raw, Mapping):
            return dict(raw)
        self.reject(raw)
