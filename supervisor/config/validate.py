"""Check raw values against the declared settings, collecting every problem rather than stopping at the first."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from supervisor.config.kinds import ItemError, Kind
from supervisor.config.locate import KeyPath
from supervisor.config.schema import Setting


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem, at a key path relative to the table (or keyword set) being checked."""

    path: KeyPath
    message: str


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate `name` was most likely meant to be, if one is close enough."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return close[0] if close else None


def convert(kind: Kind, raw: object, path: KeyPath, issues: list[Issue], *, text: bool = False) -> tuple[bool, Any]:
    """Convert one value (command-line text when `text`); on failure add its issues and return (False, None)."""
    try:
        return True, kind.from_text(raw) if text and isinstance(raw, str) else kind.convert(raw)
    except ItemError as err:
        issues.extend(Issue((*path, key), message) for key, message in err.items)
    except ValueError as err:
        issues.append(Issue(path, str(err)))
    return False, None


def convert_table(
    settings: Mapping[str, Setting], raw: Mapping[str, object], *, hints: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], list[Issue]]:
    """Convert a TOML table: values by setting name, and the issues (unknown keys included).

    Args:
        settings: the keys this table accepts.
        raw: the table as tomllib parsed it.
        hints: messages for keys that are known to belong elsewhere, by key.
    """
    values: dict[str, Any] = {}
    issues: list[Issue] = []
    for name, value in raw.items():
        setting = settings.get(name)
        if setting is None:
            issues.append(Issue((name,), unknown_key_message(name, settings, hints or {})))
            continue
        ok, converted = convert(setting.key.kind, value, (name,), issues)
        if ok:
            values[setting.name] = converted
    return values, issues


def unknown_key_message(name: str, known: Iterable[str], hints: Mapping[str, str]) -> str:
    if name in hints:
        return hints[name]
    guess = suggest(name, known)
    return f'unknown key; did you mean "{guess}"?' if guess else "unknown key"


def check_app(values: Mapping[str, Any]) -> list[Issue]:
    """Rules between the settings of one app (each value on its own is already valid)."""
    issues = []
    if values.get("proxy_protocol") and values.get("ssl_certfile"):
        # The PROXY header comes before the TLS handshake; serve reads it only on cleartext connections.
        issues.append(Issue(("proxy_protocol",), "cannot be combined with ssl_certfile: terminate TLS in the proxy"))
    if values.get("ssl_keyfile") and not values.get("ssl_certfile"):
        # The key alone cannot make a TLS context; the certificate file may hold both.
        issues.append(Issue(("ssl_certfile",), "required when ssl_keyfile is set (the certificate to go with the key)"))
    return issues
