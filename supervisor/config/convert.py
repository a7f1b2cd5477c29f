"""Parsers for the value formats settings are written in: addresses, sizes, file modes, headers."""

from __future__ import annotations

import datetime
import ipaddress
import json
import math
import os.path
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias

ADDRESS_FORMS = "HOST:PORT, [V6]:PORT, unix:PATH or fd://N"


@dataclass(frozen=True, slots=True)
class TcpBind:
    """A TCP address; `host` is a name or an IP address (IPv6 without brackets)."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class UnixBind:
    """A Unix domain socket path."""

    path: str

    def __str__(self) -> str:
        return f"unix:{self.path}"


@dataclass(frozen=True, slots=True)
class FdBind:
    """A listening socket inherited as an open file descriptor."""

    fd: int

    def __str__(self) -> str:
        return f"fd://{self.fd}"


Bind: TypeAlias = TcpBind | UnixBind | FdBind

# Letters, digits, "_", "-" and "." cover DNS names and the names /etc/hosts can hold.
_HOST_NAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_.])?")


def show(value: object) -> str:
    """Write a value as the user wrote it (TOML spelling) for "expected X, got Y" messages."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(show(item) for item in value) + "]"
    elif isinstance(value, Mapping):
        text = "{ " + ", ".join(f"{key} = {show(item)}" for key, item in value.items()) + " }"
    elif isinstance(value, (datetime.date, datetime.time)):
        text = value.isoformat()
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_host(host: str) -> str:
    """Return `host` as a bind host: an IP address in canonical form, or a host name.

    Raises:
        ValueError: not an IP address (IPv6 may be in brackets) nor a plausible host name.
    """
    bracketed = host.startswith("[") and host.endswith("]")
    try:
        return str(ipaddress.ip_address(host[1:-1] if bracketed else host))
    except ValueError:
        pass
    if not bracketed and _HOST_NAME.fullmatch(host) and len(host) <= 253:
        return host
    raise ValueError(f"expected a host name or IP address, got {show(host)}")


def parse_bind(text: str) -> Bind:
    """Parse one address: `HOST:PORT`, `[V6]:PORT`, `unix:PATH` (or `unix://PATH`) or `fd://N`.

    Raises:
        ValueError: the text is none of these; the message says which part is wrong.
    """
    if text.startswith("unix:"):
        path = text.removeprefix("unix://") if text.startswith("unix://") else text.removeprefix("unix:")
        if not path or "\0" in path:
            raise ValueError(f"expected a socket path after unix:, got {show(text)}")
        return UnixBind(path)
    if text.startswith("fd://"):
        number = text.removeprefix("fd://")
        if not (number.isascii() and number.isdigit()):
            raise ValueError(f"expected a file descriptor number after fd://, got {show(text)}")
        return FdBind(int(number))
    host, port = _split_host_port(text)
    return TcpBind(host, port)


def _split_host_port(text: str) -> tuple[str, int]:
    if text.startswith("["):
        inside, separator, port = text[1:].partition("]:")
        if not separator:
            raise ValueError(f"expected [V6]:PORT, got {show(text)}")
        try:
            host = str(ipaddress.IPv6Address(inside))
        except ValueError:
            raise ValueError(f"expected an IPv6 address inside the brackets, got {show(text)}") from None
        return host, _parse_port(port, text)
    host, separator, port = text.rpartition(":")
    if not separator:
        raise ValueError(f"expected an address ({ADDRESS_FORMS}), got {show(text)}")
    if ":" in host:
        raise ValueError(f"an IPv6 address needs brackets, as in [{host}]:{port}; got {show(text)}")
    if not host:
        raise ValueError(f"expected a host before the port (0.0.0.0 listens on every IPv4 interface), got {show(text)}")
    try:
        host = check_host(host)
    except ValueError:
        raise ValueError(f"expected a host name or IP address before the port, got {show(text)}") from None
    return host, _parse_port(port, text)


def _parse_port(port: str, text: str) -> int:
    if port.isascii() and port.isdigit() and int(port) <= 65535:
        return int(port)
    raise ValueError(f"expected a port from 0 to 65535 after the host, got {show(text)}")


def overlaps(one: Bind, other: Bind) -> bool:
    """Whether two addresses cannot both be bound: equal, or one is the wildcard of the other's family."""
    if isinstance(one, TcpBind) and isinstance(other, TcpBind):
        if one.port != other.port or one.port == 0:
            return False
        return one.host == other.host or _covers(one.host, other.host) or _covers(other.host, one.host)
    if isinstance(one, UnixBind) and isinstance(other, UnixBind):
        return os.path.normpath(one.path) == os.path.normpath(other.path)
    return one == other


def _covers(wildcard: str, host: str) -> bool:
    try:
        version = ipaddress.ip_address(host).version
    except ValueError:
        return False
    return (wildcard == "0.0.0.0" and version == 4) or (wildcard == "::" and version == 6)


# Binary multiples for the bare letters, as systemd's MemoryMax= and docker's --memory read them;
# SI multiples only for the explicit "kB"/"MB"/... spellings.
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1 << 10,
    "kib": 1 << 10,
    "kb": 10**3,
    "m": 1 << 20,
    "mib": 1 << 20,
    "mb": 10**6,
    "g": 1 << 30,
    "gib": 1 << 30,
    "gb": 10**9,
    "t": 1 << 40,
    "tib": 1 << 40,
    "tb": 10**12,
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*")


def parse_size(value: int | str) -> int:
    """Bytes from an integer or a text such as "512MiB", "1G", "1.5 GB", "65536".

    Raises:
        ValueError: negative, or not a number with one of the units B, K, KiB, KB, M, MiB, MB, G, GiB, GB, T, TiB, TB.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = _SIZE.fullmatch(value) if isinstance(value, str) else None
    unit = _SIZE_UNITS.get(match.group(2).lower()) if match else None
    if match is None or unit is None:
        raise ValueError(f'expected a size such as 65536, "512MiB" or "1G", got {show(value)}')
    return math.floor(float(match.group(1)) * unit)


def parse_mode(value: int | str) -> int:
    """A file mode from an integer (TOML 0o660) or octal text ("0o660", "660", "0660").

    Raises:
        ValueError: not a mode from 0 to 0o777; a decimal integer that reads as octal gets a hint.
    """
    if isinstance(value, str):
        digits = value.strip().lower().removeprefix("0o")
        if digits and set(digits) <= set("01234567") and int(digits, 8) <= 0o777:
            return int(digits, 8)
    elif not isinstance(value, bool) and 0 <= value <= 0o777:
        return value
    message = f"expected a file mode such as 0o660, got {show(value)}"
    if isinstance(value, int) and set(str(value)) <= set("01234567") and int(str(value), 8) <= 0o777:
        # TOML reads `uds_mode = 660` as decimal 660, which is 0o1224: almost surely meant 0o660.
        message += f" (a TOML integer is decimal: write 0o{value})"
    raise ValueError(message)


def parse_seconds(value: float | str) -> float:
    """A duration in seconds from a number or numeric text ("2.5"); fractions allowed.

    Raises:
        ValueError: not a finite number, or negative.
    """
    number: object = value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = math.nan
    if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number) or number < 0:
        raise ValueError(f"expected a number of seconds, 0 or more, got {show(value)}")
    return float(number)


# RFC 9110 §5.6.2: a field name is a token of these characters.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def check_header(name: str, value: str) -> tuple[str, str]:
    """Validate one default response header and return it with surrounding blanks removed.

    Raises:
        ValueError: the name is not an RFC 9110 token, or the value holds CR, LF or NUL (response splitting).
    """
    name, value = name.strip(), value.strip()
    if not _TOKEN.fullmatch(name):
        raise ValueError(f'expected a header name (letters, digits and !#$%&\'*+.^_`|~-) before ":", got {show(name)}')
    if any(char in value for char in "\r\n\0"):
        raise ValueError(f"header {name} has a line break or NUL in its value, got {show(value)}")
    return name, value


def parse_header(text: str) -> tuple[str, str]:
    """Split "Name: Value" (or uvicorn's "Name:Value") into a checked (name, value) pair.

    Raises:
        ValueError: no colon, or the name or value fails `check_header`.
    """
    name, colon, value = text.partition(":")
    if not colon:
        raise ValueError(f'expected a header "Name: Value", got {show(text)}')
    return check_header(name, value)
