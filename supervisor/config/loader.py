"""Read a serve TOML file into a ServeFile, or raise ConfigError listing every problem with its line."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from supervisor._compat import TOMLDecodeError, parse_toml
from supervisor.config.convert import Bind, overlaps
from supervisor.config.locate import KeyPath, format_path, index_keys
from supervisor.config.peek import anchor_server_paths
from supervisor.config.schema import APP_SETTINGS, BIND_KEYWORDS, SERVER_SETTINGS, AppConfig, ServeFile, ServerSection
from supervisor.config.validate import Issue, check_app, convert_table, unknown_key_message
from supervisor.errors import ConfigError, Problem

_APP_KEYS = {setting.name: setting for setting in APP_SETTINGS if setting.key.toml}
_SERVER_KEYS = {setting.name: setting for setting in SERVER_SETTINGS}
_SECTIONS = ("server", "defaults", "apps")
_APP_NAME = re.compile(r"[A-Za-z0-9_-]+")
_RESERVED_APP_NAMES = frozenset({"master"})  # `serve logs master`: the master's own lines
_DEFAULT_BIND: tuple[Bind, ...] = _APP_KEYS["bind"].default


def _app_key_hints() -> dict[str, str]:
    """Messages for keys that uvicorn users, or settings written in the wrong table, bring into an app table."""
    hints: dict[str, str] = {}
    for setting in APP_SETTINGS:
        key = setting.key
        if key.toml_home:
            for name in filter(None, (setting.name, key.keyword)):
                hints[name] = f"not an app key: set {key.toml_home}"
        elif key.toml and key.keyword and key.keyword != setting.name:
            hints[key.keyword] = f'unknown key; did you mean "{setting.name}"? (uvicorn calls it {key.keyword})'
    for setting in BIND_KEYWORDS:
        hints[setting.name] = 'unknown key; did you mean "bind"? (bind = ["HOST:PORT", "unix:PATH", ...])'
    return hints


_APP_HINTS = _app_key_hints()


def load_file(path: str | os.PathLike[str]) -> ServeFile:
    """Read and validate a serve TOML file.

    Raises:
        ConfigError: the file cannot be read, or holds one or more problems (all of them are listed).
    """
    shown = os.fspath(path)
    try:
        with open(shown, encoding="utf-8") as file:
            text = file.read()
    except OSError as err:
        raise ConfigError([Problem(shown, None, "", f"cannot read the file: {err.strerror}")]) from None
    except UnicodeDecodeError as err:
        raise ConfigError([Problem(shown, None, "", f"not UTF-8 text ({err.reason} at byte {err.start})")]) from None
    return load_text(text, shown)


def load_text(text: str, path: str) -> ServeFile:
    """Validate TOML text; `path` names it in problems and anchors relative paths such as control_socket.

    Raises:
        ConfigError: every problem found, each located FILE:LINE: key.path: message.
    """
    try:
        document = parse_toml(text)
    except TOMLDecodeError as err:
        raise ConfigError([_syntax_problem(path, str(err), text)]) from None
    check = _FileCheck(document, os.path.dirname(os.path.abspath(path)))
    if check.issues:
        lines = index_keys(text)
        problems = [
            Problem(path, lines.line(issue.path), format_path(issue.path), issue.message) for issue in check.issues
        ]
        problems.sort(key=lambda problem: problem.line or 0)
        raise ConfigError(problems)
    return ServeFile(os.path.abspath(path), check.server, MappingProxyType(check.apps))


def _syntax_problem(path: str, message: str, text: str) -> Problem:
    at = re.search(r" \(at line (\d+), column (\d+)\)$", message)
    if at:
        return Problem(path, int(at.group(1)), "", f"invalid TOML: {message[: at.start()]} (column {at.group(2)})")
    # tomllib's other position is "(at end of document)".
    reason = message.removesuffix(" (at end of document)")
    return Problem(path, text.count("\n") + 1, "", f"invalid TOML: {reason} (at the end of the file)")


# Paths an app's keys name are relative to the TOML file, as control_socket is: the file
# means the same wherever `serve up` is started from.
_FILE_RELATIVE = ("app_dir", "env_file", "log_file", "log_config", "ssl_keyfile", "ssl_certfile", "ssl_ca_certs")


def _anchored(values: dict[str, Any], base_dir: str) -> dict[str, Any]:
    for key in _FILE_RELATIVE:
        value = values.get(key)
        if isinstance(value, str) and value:
            values[key] = os.path.join(base_dir, value)
    if values.get("reload_dirs"):
        values["reload_dirs"] = tuple(os.path.join(base_dir, d) for d in values["reload_dirs"])
    return values


def _not_a_table(path: KeyPath) -> Issue:
    return Issue(path, f"expected a table, as in [{format_path(path)}]")


class _FileCheck:
    """One pass over a parsed document: builds the sections and collects every issue with its key path."""

    def __init__(self, document: Mapping[str, Any], base_dir: str) -> None:
        self.base_dir = base_dir
        self.issues: list[Issue] = []
        self.apps: dict[str, AppConfig] = {}
        self.binds: dict[str, tuple[tuple[Bind, ...], bool]] = {}  # by app: its addresses, and whether written
        for name in document:
            if name not in _SECTIONS:
                self.issues.append(Issue((name,), unknown_key_message(name, _SECTIONS, {})))
        self.server = self._server(self._table(document, ("server",)), base_dir)
        defaults, defaults_failed = self._defaults(self._table(document, ("defaults",)))
        apps = document.get("apps")
        if apps is None:
            self.issues.append(Issue((), 'no apps: add an [apps.NAME] table with app = "MODULE:ATTRIBUTE"'))
        elif not isinstance(apps, dict):
            self.issues.append(Issue(("apps",), "expected a table of apps, one [apps.NAME] table each"))
        else:
            for name, table in apps.items():
                if isinstance(table, dict):
                    self._app(name, table, defaults, defaults_failed)
                else:
                    self.issues.append(_not_a_table(("apps", name)))
            self._check_binds()

    def _table(self, parent: Mapping[str, Any], path: KeyPath) -> Mapping[str, Any]:
        table = parent.get(str(path[-1]), {})
        if isinstance(table, dict):
            return table
        self.issues.append(_not_a_table(path))
        return {}

    def _collect(self, prefix: KeyPath, issues: list[Issue]) -> None:
        self.issues.extend(Issue((*prefix, *issue.path), issue.message) for issue in issues)

    def _server(self, raw: Mapping[str, Any], base_dir: str) -> ServerSection:
        values, issues = convert_table(_SERVER_KEYS, raw)
        self._collect(("server",), issues)
        # Paths in [server] belong to this file, wherever serve is started from; control commands
        # find the socket through the same function while the file is invalid (peek.py).
        return ServerSection(**anchor_server_paths(values, base_dir))

    def _defaults(self, raw: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
        values, issues = convert_table(_APP_KEYS, raw, hints=_APP_HINTS)
        self._collect(("defaults",), issues)
        return values, {str(issue.path[0]) for issue in issues}

    def _app(self, name: str, raw: Mapping[str, Any], defaults: Mapping[str, Any], defaults_failed: set[str]) -> None:
        path: KeyPath = ("apps", name)
        if not _APP_NAME.fullmatch(name):
            self.issues.append(
                Issue(path, 'an app name may hold only letters, digits, "-" and "_" (it labels logs and metrics)')
            )
        elif name in _RESERVED_APP_NAMES:
            self.issues.append(Issue(path, f'"{name}" names the master\'s own lines (serve logs): choose another name'))
        own, issues = convert_table(_APP_KEYS, raw, hints=_APP_HINTS)
        self._collect(path, issues)
        values = _anchored({**defaults, **own}, self.base_dir)
        self._check_paths(path, values)
        if "bind" in values:
            self.binds[name] = (values["bind"], True)
        elif "bind" not in raw and "bind" not in defaults_failed:
            self.binds[name] = (_DEFAULT_BIND, False)
        if "app" not in values:
            if "app" not in raw and "app" not in defaults_failed:
                self.issues.append(Issue(path, 'missing key "app": the "MODULE:ATTRIBUTE" to serve'))
            return
        if issues or defaults_failed:
            return
        cross = check_app(values)
        self._collect(path, cross)
        if not cross:
            # [server] graceful_timeout is each worker's drain limit too (serve run: schema.server_for_one_app).
            self.apps[name] = AppConfig(name=name, graceful_timeout=self.server.graceful_timeout, **values)

    def _check_paths(self, path: KeyPath, values: Mapping[str, Any]) -> None:
        # python-dotenv skips a missing file without a word; a typo would run the app without its settings.
        env_file = values.get("env_file")
        if env_file and not os.path.isfile(env_file):
            what = "a directory, not a file" if os.path.isdir(env_file) else "no such file"
            self.issues.append(Issue((*path, "env_file"), f"{what}: {env_file}"))
        for index, directory in enumerate(values.get("reload_dirs", ())):
            if not os.path.isdir(directory):
                self.issues.append(Issue((*path, "reload_dirs", index), f"no such directory: {directory}"))

    def _check_binds(self) -> None:
        taken: list[tuple[Bind, str, int]] = []
        for name, (binds, written) in self.binds.items():
            for index, bind in enumerate(binds):
                clash = next((entry for entry in taken if overlaps(entry[0], bind)), None)
                if clash is None:
                    taken.append((bind, name, index))
                    continue
                other, owner, owner_index = clash
                where = f"apps.{owner}" if owner != name else f"bind[{owner_index}] of this app"
                same = "is" if other == bind else f"overlaps {other}, which is"
                note = "" if written else " (the default bind: give each app its own bind)"
                self.issues.append(
                    Issue(("apps", name, "bind", index), f"{bind} {same} already bound by {where}{note}")
                )
