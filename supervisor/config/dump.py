"""Write a validated ServeFile back as TOML, every default filled in: what `serve check` prints."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from supervisor.config.locate import format_path
from supervisor.config.schema import APP_SETTINGS, SERVER_SETTINGS, ServeFile, Setting


def dump_toml(serve_file: ServeFile) -> str:
    """The file as serve understood it; loading the result gives the same ServeFile."""
    lines = [f"# {serve_file.path}, as serve reads it: every setting, defaults included.", "", "[server]"]
    lines.extend(_entries(serve_file.server, SERVER_SETTINGS))
    for name, app in serve_file.apps.items():
        lines += ["", f"[{format_path(('apps', name))}]"]
        lines.extend(_entries(app, APP_SETTINGS))
    return "\n".join(lines) + "\n"


def _entries(section: object, settings: tuple[Setting, ...]) -> Iterator[str]:
    for setting in settings:
        if not setting.key.toml:
            continue
        value = setting.key.kind.to_toml(getattr(section, setting.name))
        yield f"# {setting.name}: not set" if value is None else f"{setting.name} = {toml_value(value)}"


def toml_value(value: Any) -> str:
    """A TOML literal for a value the schema's kinds produce (strings, numbers, booleans, lists, tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        entries = ", ".join(f"{format_path((str(key),))} = {toml_value(item)}" for key, item in value.items())
        return "{ " + entries + " }" if entries else "{}"
    # JSON's string escapes are all valid in a TOML basic string; DEL is the one control character
    # JSON leaves raw and TOML forbids.
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")
