"""The log pane's lines: where each comes from, its level, and which of them the viewer asked to see.

Pure functions of their arguments.

The master hands the dashboard its latest output lines: a worker's as `app[pid] text`, its
own as `serve[pid] text`. A line's level is the first level word near the start of its text
(`ERROR:`, `[WARNING]`, `level=error`: uvicorn's, gunicorn's and most formats put it there).
A line without one (a traceback's lines, a print) takes the level of the line before it
from the same process, so that filtering on errors keeps a traceback with its error line.

The master's own lines about an app (`api[4312] retiring ...`, `api: starting generation 2`)
follow that app: the pane of an app shows what happened to it between its workers' lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum

MASTER = "serve"
LEVEL_SEARCH_CHARS = 48  # a level word further into the text is part of the message
_SOURCE = re.compile(r"(?P<name>[^\s\[\]]+)\[(?P<pid>\d+)\] ?")
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
_NAMES = "critical|fatal|error|warning|warn|info|debug|trace"
# An upper-case level word (`ERROR:`, `[WARNING]`), or any case after `level=` (logfmt, JSON): a
# lower-case "error" or "info" alone is more often part of a message than its level.
_LEVEL = re.compile(rf"(?<![A-Za-z])({_NAMES.upper()})(?![A-Za-z])|(?i:\blevel\W{{0,4}}({_NAMES})\b)")


class Level(IntEnum):
    """How serious a line is; a filter shows a level and those above it."""

    UNKNOWN = 0  # no level word, and no line before it from the same process
    DEBUG = 10
    INFO = 20
    WARNING = 30
    ERROR = 40


_WORDS = {
    "trace": Level.DEBUG,
    "debug": Level.DEBUG,
    "info": Level.INFO,
    "warn": Level.WARNING,
    "warning": Level.WARNING,
    "error": Level.ERROR,
    "critical": Level.ERROR,
    "fatal": Level.ERROR,
}
# The filters the l key cycles through, in order: everything, then warnings and errors, then errors.
FILTERS: tuple[Level, ...] = (Level.UNKNOWN, Level.WARNING, Level.ERROR)
FILTER_NAMES = {Level.UNKNOWN: "all levels", Level.WARNING: "warnings and errors", Level.ERROR: "errors"}


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line of output with what the pane needs to know about it."""

    text: str  # the whole line, as the master gave it
    name: str | None  # the app (or "serve") it came from; None when it has no `name[pid]` prefix
    pid: int | None
    level: Level


@dataclass(frozen=True, slots=True)
class Scope:
    """Which lines the viewer asked for: of one app (None: every app), of one worker of it, from a level up."""

    app: str | None = None
    pid: int | None = None
    level: Level = Level.UNKNOWN


def parse(texts: Iterable[str]) -> list[LogLine]:
    """Each line with its source and level (see the module docstring), in order.

    A text of several lines (a master record with its traceback) gives a line each, all
    from its source.
    """
    parsed: list[LogLine] = []
    last: dict[tuple[str | None, int | None], Level] = {}
    for text in texts:
        match = _SOURCE.match(text)
        name, pid = (match["name"], int(match["pid"])) if match else (None, None)
        for i, line in enumerate(text.rstrip("\r\n").split("\n")):
            level = level_of(line[match.end() :] if match and i == 0 else line)
            if level is Level.UNKNOWN:
                level = last.get((name, pid), Level.UNKNOWN)
            last[(name, pid)] = level
            parsed.append(LogLine(line, name, pid, level))
    return parsed


def level_of(text: str) -> Level:
    """The level a line's text names near its start, or UNKNOWN."""
    match = _LEVEL.search(_ESCAPES.sub("", text[: LEVEL_SEARCH_CHARS * 2])[:LEVEL_SEARCH_CHARS])
    return _WORDS[(match[1] or match[2]).lower()] if match else Level.UNKNOWN


def select(lines: Sequence[LogLine], scope: Scope) -> list[LogLine]:
    """The lines `scope` shows, in order."""
    return [line for line in lines if line.level >= scope.level and _belongs(line, scope)]


def _belongs(line: LogLine, scope: Scope) -> bool:
    if scope.app is None:
        return True
    if line.name == MASTER:
        return _mentions(line.text, scope.app, scope.pid)
    return line.name == scope.app and (scope.pid is None or line.pid == scope.pid)


def _mentions(text: str, app: str, pid: int | None) -> bool:
    """A master line about the app (or about that worker of it)."""
    if pid is not None:
        return f"{app}[{pid}]" in text
    return re.search(rf"(?<![\w.-]){re.escape(app)}(\[\d+\]|:)", text) is not None
