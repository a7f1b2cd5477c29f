"""gunicorn's `access_log_format`, compiled once into a %-template and the atoms it uses.

Pure: the time (`%(t)s`), the pid (`%(p)s`) and the environment (`%({NAME}e)s`) come in as
arguments. A worker compiles its format at start; then each request costs one `%` over a
tuple of only the atoms the format names. `serve check` and `serve up` compile it too, with
sample values, so an unknown atom or a conversion that cannot take its value is a
configuration error at load, never a line lost at run time.

Atoms (gunicorn's): h remote address, l "-", u user (HTTP Basic), t time [10/Oct/2000:13:55:36
+0000], r request line, m method, U path, q query string, H protocol, s status, B response
body bytes, b the same or "-" when none, f referer, a user agent, T seconds, D microseconds,
M milliseconds, L seconds with decimals, p <pid>, {NAME}i request header, {NAME}o response
header, {NAME}e environment variable of the worker. A missing header or variable is "-".
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from supervisor.config.kinds import Kind

Headers = Sequence[tuple[bytes, bytes]]


@dataclass(slots=True)
class AccessRecord:
    """One finished request, as the atoms read it (built only when a format is set)."""

    scope: Mapping[str, Any]
    status: int
    response_headers: Headers
    sent: int  # response body bytes
    duration_s: float
    time_text: str = ""  # "[07/Dec/2026:15:31:24 +0000]", filled only when the format uses %(t)s


Atom = Callable[[AccessRecord], object]


def _client(record: AccessRecord) -> str:
    client = record.scope.get("client")
    return client[0] if client else "-"


def _target(record: AccessRecord) -> str:
    scope = record.scope
    path: bytes = scope.get("raw_path") or scope["path"].encode("latin-1", "replace")
    query: bytes = scope.get("query_string", b"")
    return (path + b"?" + query if query else path).decode("latin-1")


def _request_line(record: AccessRecord) -> str:
    scope = record.scope
    return f"{scope['method']} {_target(record)} HTTP/{scope['http_version']}"


def _header(headers: Headers, name: bytes) -> str:
    """The header's value (several joined with ", ", as RFC 9110 §5.3 allows), or "-"."""
    values = [value.decode("latin-1") for key, value in headers if key.lower() == name]
    return ", ".join(values) if values else "-"


def _user(record: AccessRecord) -> str:
    value = _header(record.scope.get("headers", ()), b"authorization")
    scheme, _, credentials = value.partition(" ")
    if scheme.lower() != "basic":
        return "-"
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "-"
    return decoded.partition(":")[0] or "-"


def _micros(record: AccessRecord) -> int:
    return int(record.duration_s * 1_000_000)


ATOMS: Mapping[str, Atom] = {
    "h": _client,
    "l": lambda record: "-",
    "u": _user,
    "t": lambda record: record.time_text,
    "r": _request_line,
    "m": lambda record: record.scope["method"],
    "U": lambda record: record.scope["path"],
    "q": lambda record: record.scope.get("query_string", b"").decode("latin-1"),
    "H": lambda record: f"HTTP/{record.scope['http_version']}",
    "s": lambda record: record.status,
    "B": lambda record: record.sent,
    "b": lambda record: str(record.sent) if record.sent else "-",
    "f": lambda record: _header(record.scope.get("headers", ()), b"referer"),
    "a": lambda record: _header(record.scope.get("headers", ()), b"user-agent"),
    "T": lambda record: int(record.duration_s),
    "D": _micros,
    "M": lambda record: _micros(record) // 1000,
    "L": lambda record: f"{record.duration_s:.6f}",
}

# %(atom)<conversion>: Python's %-conversion after the name, without `*` widths.
_PLACEHOLDER = re.compile(r"\((?P<atom>\{[^}]*\}[ioe]|[^)]*)\)(?P<spec>[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa])")
_SAMPLE = AccessRecord(
    scope={
        "method": "GET",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "http_version": "1.1",
        "client": ("127.0.0.1", 5000),
        "headers": [],
    },
    status=200,
    response_headers=[],
    sent=0,
    duration_s=0.0,
)


@dataclass(frozen=True, slots=True)
class AccessFormat:
    """A compiled format: `render(record)` is the access line."""

    source: str
    template: str  # the format with each atom's name taken out (constants are already in)
    atoms: tuple[Atom, ...]
    needs_time: bool  # the caller fills `time_text` only then

    def render(self, record: AccessRecord) -> str:
        return self.template % tuple(atom(record) for atom in self.atoms)


def compile_format(source: str, *, pid: int = 0, environ: Mapping[str, str] | None = None) -> AccessFormat:
    """Compile an access_log_format once, for a worker whose pid and environment are given.

    Raises:
        ValueError: an unknown atom, a lone "%", or a conversion its atom's value cannot take.
    """
    pieces: list[str] = []
    atoms: list[Atom] = []
    needs_time = False
    literal_from = 0
    for percent in _percents(source):
        pieces.append(source[literal_from:percent].replace("%", "%%"))
        if source.startswith("%%", percent):
            pieces.append("%%")
            literal_from = percent + 2
            continue
        match = _PLACEHOLDER.match(source, percent + 1)
        if match is None:
            raise ValueError(f'"%" at character {percent + 1} starts no %(atom)s; write a literal "%" as "%%"')
        name, spec = match["atom"], match["spec"]
        atom = _atom(name, pid, environ or {})
        if isinstance(atom, str):
            pieces.append(_constant(atom, spec, name))
        else:
            pieces.append("%" + spec)
            atoms.append(atom)
            needs_time = needs_time or name == "t"
        literal_from = match.end()
    pieces.append(source[literal_from:].replace("%", "%%"))
    compiled = AccessFormat(source, "".join(pieces), tuple(atoms), needs_time)
    _check(compiled)
    return compiled


def _percents(source: str) -> list[int]:
    """Where each directive starts: every "%" that is not the second of a "%%"."""
    found: list[int] = []
    index = source.find("%")
    while index != -1:
        found.append(index)
        index = source.find("%", index + (2 if source.startswith("%%", index) else 1))
    return found


def _atom(name: str, pid: int, environ: Mapping[str, str]) -> Atom | str:
    """The atom's reader, or its value when it is the same for every request (pid, environment)."""
    if name == "p":
        return f"<{pid}>"
    if name.startswith("{") and name.endswith(("}i", "}o", "}e")):
        inner, where = name[1:-2], name[-1]
        if where == "e":
            return environ.get(inner, "-")
        header = inner.lower().encode("latin-1", "replace")
        if where == "i":
            return lambda record: _header(record.scope.get("headers", ()), header)
        return lambda record: _header(record.response_headers, header)
    atom = ATOMS.get(name)
    if atom is None:
        known = " ".join(ATOMS)
        raise ValueError(f"unknown atom %({name})s; known: {known} p {{NAME}}i {{NAME}}o {{NAME}}e")
    return atom


def _constant(value: str, spec: str, name: str) -> str:
    try:
        text = ("%" + spec) % value
    except (TypeError, ValueError) as error:
        raise ValueError(f"%({name}){spec}: {error}") from None
    return text.replace("%", "%%")


def _check(compiled: AccessFormat) -> None:
    """Render once with sample values: a conversion such as %(h)d fails here, not on a request."""
    try:
        compiled.render(_SAMPLE)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{compiled.source!r} cannot be rendered: {error}") from None


class AccessLogFormat(Kind):
    """A gunicorn-style access_log_format (kept as text; workers compile it)."""

    metavar = "FORMAT"
    expected = 'a gunicorn access log format, such as "%(h)s %(r)s %(s)s %(M)sms"'

    def convert(self, raw: object) -> str:
        if not isinstance(raw, str) or not raw:
            self.reject(raw)
        compile_format(raw)
        return raw
