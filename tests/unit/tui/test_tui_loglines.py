"""tui/loglines.py: a line's source and level, and the lines a scope shows."""

from __future__ import annotations

import pytest

from supervisor.tui.loglines import Level, LogLine, Scope, level_of, parse, select


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("INFO:     Application startup complete.", Level.INFO),
        ("ERROR:    Exception in ASGI application", Level.ERROR),
        ("CRITICAL: out of cheese", Level.ERROR),
        ("WARNING:  Invalid HTTP request received.", Level.WARNING),
        ("DEBUG:    < TEXT 'ping'", Level.DEBUG),
        ("[2026-01-01 12:00:00 +0000] [42] [WARN] slow", Level.WARNING),  # gunicorn's format
        ("2026-01-01 12:00:00,123 - app - ERROR - boom", Level.ERROR),
        ("\x1b[31mERROR\x1b[0m:    coloured", Level.ERROR),
        ("time=12:00 level=error msg=boom", Level.ERROR),  # logfmt
        ('{"level": "warning", "msg": "x"}', Level.WARNING),
        ("Traceback (most recent call last):", Level.UNKNOWN),
        ("ValueError: boom", Level.UNKNOWN),  # an exception's name is no level word
        ("loading the error pages and info boxes", Level.UNKNOWN),  # lower-case words are a message's
        ("x" * 50 + " ERROR late", Level.UNKNOWN),
        ("", Level.UNKNOWN),
    ],
)
def test_a_lines_level_is_the_level_word_near_its_start(text: str, level: Level) -> None:
    assert level_of(text) is level


def test_lines_are_split_by_source_and_a_line_without_a_level_takes_its_sources_last() -> None:
    lines = parse(
        [
            "api[12] ERROR: Exception in ASGI application",
            "web[20] INFO: started",
            "api[12] Traceback (most recent call last):",
            "api[13] a print() before any log line",
            "serve[1] WARNING: api[12] retiring\nTraceback in the master's own record",
            "no prefix at all",
        ]
    )
    assert [(line.name, line.pid, line.level) for line in lines] == [
        ("api", 12, Level.ERROR),
        ("web", 20, Level.INFO),
        ("api", 12, Level.ERROR),
        ("api", 13, Level.UNKNOWN),
        ("serve", 1, Level.WARNING),
        ("serve", 1, Level.WARNING),  # a record of several lines: all from its source
        (None, None, Level.UNKNOWN),
    ]
    assert lines[5].text == "Traceback in the master's own record"


LINES = parse(
    [
        "api[12] INFO: GET /",
        "api[13] ERROR: boom",
        "apiv2[30] ERROR: another app whose name starts the same",
        "serve[1] INFO: api: starting generation 2 (2 workers)",
        "serve[1] WARNING: api[13] event loop silent for 31 s",
        "serve[1] INFO: apiv2: 1 worker of generation 1 ready",
        "serve[1] INFO: Master 1 stopped.",
    ]
)


def texts(lines: list[LogLine]) -> list[str]:
    return [line.text for line in lines]


def test_an_apps_scope_has_its_workers_lines_and_the_masters_lines_about_it() -> None:
    assert texts(select(LINES, Scope("api"))) == [
        "api[12] INFO: GET /",
        "api[13] ERROR: boom",
        "serve[1] INFO: api: starting generation 2 (2 workers)",
        "serve[1] WARNING: api[13] event loop silent for 31 s",
    ]


def test_a_workers_scope_has_its_lines_and_the_masters_lines_about_that_worker() -> None:
    assert texts(select(LINES, Scope("api", 13))) == [
        "api[13] ERROR: boom",
        "serve[1] WARNING: api[13] event loop silent for 31 s",
    ]


def test_every_app_and_a_level_filter() -> None:
    assert select(LINES, Scope()) == LINES
    assert texts(select(LINES, Scope(level=Level.WARNING))) == [
        "api[13] ERROR: boom",
        "apiv2[30] ERROR: another app whose name starts the same",
        "serve[1] WARNING: api[13] event loop silent for 31 s",
    ]
    assert texts(select(LINES, Scope("apiv2", level=Level.ERROR))) == [
        "apiv2[30] ERROR: another app whose name starts the same"
    ]
