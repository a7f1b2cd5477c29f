"""What a control command needs of a serve TOML file, read even while the file is invalid.

`serve status|top|reload|scale|stop` need only the control socket (and, to tell an operator
whether a master still runs the file, its pid file and addresses). An operator halfway
through an edit must still be able to reach the master, so nothing here validates the
whole file: each key is converted on its own, and a file that does not parse is read line
by line, each line parsed alone by tomllib so that quoting follows TOML exactly. The reload
itself is judged by the master, which re-reads the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from supervisor._compat import TOMLDecodeError, parse_toml
from supervisor.config.convert import Bind
from supervisor.config.schema import APP_SETTINGS, SERVER_SETTINGS, Setting
from supervisor.config.validate import convert
from supervisor.errors import ConfigError, Problem

_SERVER = {setting.name: setting for setting in SERVER_SETTINGS}
_BIND = next(setting for setting in APP_SETTINGS if setting.name == "bind")
_SERVER_PATHS = ("control_socket", "pid_file")  # relative to the TOML file's directory
_MASTER_BINDS = ("health_bind", "metrics_bind")


def anchor_server_paths(values: dict[str, Any], base_dir: str) -> dict[str, Any]:
    """Resolve [server] paths as the master uses them: relative to the file's directory, and the
    control socket defaulting to the schema's default there. The loader calls this too."""
    for name in _SERVER_PATHS:
        if values.get(name):
            values[name] = os.path.join(base_dir, values[name])
    values.setdefault("control_socket", os.path.join(base_dir, _SERVER["control_socket"].default))
    return values


@dataclass(frozen=True, slots=True)
class ControlTarget:
    """Where the master of one TOML file listens, as far as the file on disk says right now."""

    config_path: str  # as the operator wrote it: names the file in messages
    control_socket: str  # absolute
    pid_file: str | None  # absolute
    binds: tuple[Bind, ...]  # the master's own addresses first, then every app's
    doubt: str | None = None  # why control_socket may not be the master's: the file is mid-edit


def control_target(path: str | os.PathLike[str]) -> ControlTarget:
    """Find the control socket, pid file and addresses of the serve TOML file at `path`, valid or not.

    Raises:
        ConfigError: the file cannot be read at all.
    """
    shown = os.fspath(path)
    try:
        with open(shown, "rb") as file:
            text = file.read().decode("utf-8", errors="replace")  # a stray byte elsewhere must not hide the key
    except OSError as err:
        raise ConfigError([Problem(shown, None, "", f"cannot read the file: {err.strerror}")]) from None
    doubt = None
    try:
        document = parse_toml(text)
    except TOMLDecodeError:
        document = scan_lines(text)
        doubt = f"{shown} is not valid TOML right now, so control_socket was read line by line"
    server = _table(document, "server")
    values: dict[str, Any] = {}
    for name in _SERVER_PATHS:
        if name in server:
            ok, value = convert(_SERVER[name].key.kind, server[name], (name,), [])
            if ok:
                values[name] = value
            elif name == "control_socket":
                doubt = f"control_socket in {shown} is not valid right now, so its default was used"
    anchor_server_paths(values, os.path.dirname(os.path.abspath(shown)))
    return ControlTarget(shown, values["control_socket"], values.get("pid_file"), _binds(document, server), doubt)


def _table(parent: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    table = parent.get(name)
    return table if isinstance(table, dict) else {}


def _binds(document: Mapping[str, Any], server: Mapping[str, Any]) -> tuple[Bind, ...]:
    """The master's own addresses, then each app's (its bind, [defaults] bind, or the default), each once."""
    found: dict[Bind, None] = {}
    for name in _MASTER_BINDS:
        _add(found, _SERVER[name], server.get(name))
    fallback = _table(document, "defaults").get("bind", _BIND.default)
    for app in _table(document, "apps").values():
        if isinstance(app, dict):
            _add(found, _BIND, app.get("bind", fallback))
    return tuple(found)


def _add(found: dict[Bind, None], setting: Setting, raw: object) -> None:
    if raw is None:
        return
    ok, value = convert(setting.key.kind, raw, (setting.name,), [])
    if ok and value is not None:
        found.update(dict.fromkeys(value if isinstance(value, tuple) else (value,)))


def scan_lines(text: str) -> dict[str, Any]:
    """The keys of a TOML text that does not parse, as far as single lines tell: every table header
    and `key = value` line that parses on its own, placed under its table; the first of duplicates wins.
    Values spread over several lines (multi-line arrays and strings) are missed."""
    document: dict[str, Any] = {}
    table: dict[str, Any] | None = document
    for line in text.splitlines():
        try:
            parsed = parse_toml(line)
        except TOMLDecodeError:
            continue
        if line.lstrip().startswith("["):
            table = _header_table(document, parsed)
        elif table is not None:
            _merge(table, parsed)
    return document


def _header_table(document: dict[str, Any], parsed: Mapping[str, Any]) -> dict[str, Any] | None:
    """The table a `[a.b]` header opens, created in `document`; None for `[[a]]` (keys under it are skipped)."""
    table = document
    while parsed:
        ((name, value),) = parsed.items()
        if not isinstance(value, dict):
            return None
        existing = table.setdefault(name, {})
        if not isinstance(existing, dict):
            return None
        table, parsed = existing, value
    return table


def _merge(into: dict[str, Any], parsed: Mapping[str, Any]) -> None:
    for name, value in parsed.items():
        existing = into.get(name)
        if isinstance(existing, dict) and isinstance(value, dict):
            _merge(existing, value)  # `server.pid_file = ...` after `server.control_socket = ...`
        else:
            into.setdefault(name, value)
