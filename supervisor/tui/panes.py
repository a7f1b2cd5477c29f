"""The dashboard's panes besides the table: header, trend, events, logs, the key list and the bottom line.

Pure: each function draws lines of at most `width` cells; `render.py` decides how many each gets.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from supervisor.status.figures import STATUS_CLASSES
from supervisor.status.snapshot import HISTORY_SAMPLES, AppStatus, Event, EventKind, Snapshot
from supervisor.tui import formats
from supervisor.tui.keys import HELP, SHORT_HELP
from supervisor.tui.loglines import FILTER_NAMES, Level, LogLine, Scope
from supervisor.tui.view import ViewState

HEADER_TITLE = "serve "
MIN_HEADER_PATH = 16  # the header's figures make way for the config file down to this many cells
TREND_LABEL = 6  # "req/s "
TREND_FIGURE = 9  # "1,204/s", "41ms": the figure after a sparkline, right-aligned in this many cells
MIN_SPARK = 8  # narrower, a sparkline says nothing: the trend pane is left out

EVENT_STYLES: dict[EventKind, str] = {
    EventKind.CRASH: "red",
    EventKind.RELOAD_FAILED: "red",
    EventKind.CONFIG_ERROR: "red",
    EventKind.HEALTH_KILL: "red",
    EventKind.MASTER_ERROR: "red",
    EventKind.MEMORY_RETIRE: "yellow",
    EventKind.RETIRE: "yellow",
    EventKind.EXIT: "yellow",
    EventKind.SCALE: "cyan",
    EventKind.RELOAD: "green",
    EventKind.READY: "green",
    EventKind.START: "blue",
    EventKind.STOP: "magenta",
}
LEVEL_STYLES: dict[Level, str] = {Level.ERROR: "red", Level.WARNING: "yellow"}


def header(snapshot: Snapshot, width: int) -> Text:
    """The config file on the left, the master's figures on the right; figures make way for the file name."""
    workers_ready = sum(app.workers_ready for app in snapshot.apps)
    workers_desired = sum(app.workers_desired for app in snapshot.apps)
    # In display order, each with the rank it is dropped in (highest first) when space runs out.
    figures = [
        (3, f"master {snapshot.master_pid}"),
        (1, f"up {formats.duration(snapshot.uptime_s)}"),
        (2, f"{workers_ready}/{workers_desired} workers"),
        (0, f"{formats.rate(snapshot.requests_per_s)} req/s"),
    ]
    config_path = formats.terminal_text(snapshot.config_path)  # a file name may hold any character but "/"
    path_room = min(len(config_path), MIN_HEADER_PATH)
    while figures and len(HEADER_TITLE) + path_room + 2 + len(_joined(figures)) > width:
        figures.remove(max(figures))
    right = _joined(figures)
    path = formats.shorten_path(config_path, width - len(HEADER_TITLE) - (len(right) + 2 if right else 0))
    gap = " " * (width - len(HEADER_TITLE) - len(path) - len(right))
    line = Text.assemble((HEADER_TITLE, "bold cyan"), (path, "bold"), gap, (right, "dim"))
    line.truncate(width, overflow="ellipsis")
    return line


def _joined(figures: Sequence[tuple[int, str]]) -> str:
    return "  ·  ".join(text for _, text in figures)


def rule(title: str, width: int, note: str = "") -> Text:
    """A pane's first line: its title, a note, and a line across the width."""
    line = Text.assemble(
        ("── ", "dim"), (title, "bold"), (f" · {note}" if note else "", "dim"), (" " + "─" * width, "dim")
    )
    line.truncate(width)
    return line


def trend(app: AppStatus, width: int) -> list[Text]:
    """The selected app's last minute: a sparkline of its requests per second and one of its p99.

    The newest sample is on the right and the figures after the sparklines keep their
    place, also while the first minute fills up. Empty when the terminal is too narrow.
    """
    spark = min(HISTORY_SAMPLES, width - TREND_LABEL - 1 - TREND_FIGURE)
    if spark < MIN_SPARK:
        return []
    rates = app.history_requests_per_s[-spark:]
    p99s = app.history_p99_ms[-spark:]
    rate_peak = max(rates, default=0.0)
    p99_peak = max((p99 for p99 in p99s if p99 is not None), default=None)
    requests = _trend_line(
        "req/s",
        Text(formats.sparkline(rates).rjust(spark), style="cyan"),
        formats.rate(app.requests_per_s) + "/s",
        [Text(f"  peak {formats.rate(rate_peak)}/s", style="dim"), _status_rates(app)],
        width,
    )
    latency = _trend_line(
        "p99",
        Text(formats.sparkline(p99s).rjust(spark), style="magenta"),
        formats.latency(p99s[-1] if p99s else None),
        [Text(f"  peak {formats.latency(p99_peak)}", style="dim")],
        width,
    )
    return [rule(app.name, width, "the last minute, a sample a second"), requests, latency]


def _trend_line(label: str, spark: Text, figure: str, extras: Sequence[Text], width: int) -> Text:
    """A sparkline between its label and its current figure; the extras that fit whole follow."""
    line = Text.assemble((label.ljust(TREND_LABEL), "bold"), spark, f" {figure:>{TREND_FIGURE}}", no_wrap=True)
    for extra in extras:
        if line.cell_len + extra.cell_len > width:
            break
        line.append_text(extra)
    return line


def _status_rates(app: AppStatus) -> Text:
    if len(app.status_rates) != STATUS_CLASSES:
        return Text()
    server_errors = app.status_rates[4]
    return Text.assemble(
        ("  ·  ", "dim"),
        f"2xx {formats.rate(app.status_rates[1])}/s  4xx {formats.rate(app.status_rates[3])}/s  ",
        (f"5xx {formats.rate(server_errors)}/s", "bold red" if server_errors > 0 else ""),
        (" (10 s)", "dim"),
    )


def event_lines(snapshot: Snapshot) -> list[list[Text]]:
    """Each event's lines, oldest event first; ages are counted from the snapshot's moment."""
    now = snapshot.started_at + snapshot.uptime_s
    app_width = max((len(event.app or "master") for event in snapshot.events), default=0)
    return [_event_text(event, now=now, app_width=app_width) for event in snapshot.events]


def latest(events: list[list[Text]], limit: int) -> list[Text]:
    """The lines of the newest events that fit in `limit` lines, never the tail of an event without its head."""
    lines: list[Text] = []
    for event in reversed(events):
        if len(lines) + len(event) > limit:
            return lines or event[:limit]
        lines = event + lines
    return lines


def _event_text(event: Event, *, now: float, app_width: int) -> list[Text]:
    """One event as lines (a configuration error lists a problem a line)."""
    first, *more = [formats.one_line(line) for line in event.message.splitlines()] or [""]
    ago = formats.duration(max(now - event.time, 0.0))
    kind = event.kind.value.replace("_", " ")
    lead = Text.assemble(
        (f"{ago:>6} ago  ", "dim"),
        (f"{event.app or 'master':<{app_width}}  ", "bold"),
        (f"{kind:<13} ", EVENT_STYLES[event.kind]),
    )
    indent = " " * lead.cell_len
    lines = [lead + Text(first)] + [Text(indent + line) for line in more]
    for line in lines:
        line.no_wrap, line.overflow = True, "ellipsis"
    return lines


def logs(lines: Sequence[LogLine], scope: Scope, view: ViewState, room: int, width: int) -> list[Text]:
    """The log pane in `room` lines: a title saying what it shows, then the lines of `scope` that fit.

    Its newest lines unless scrolled back (`view.scroll` lines up, clamped to the oldest).
    """
    if room < 1:
        return []
    body = room - 1
    end = max(len(lines) - view.scroll, min(body, len(lines)))
    shown = lines[max(0, end - body) : end]
    texts = [_log_text(line) for line in shown]
    if not lines and body:
        texts = [Text(_nothing_shown(scope), style="dim", no_wrap=True, overflow="ellipsis")]
    return [rule("logs", width, _log_note(scope, view, len(lines) - end)), *texts]


def _log_text(line: LogLine) -> Text:
    text = formats.log_text(line.text)
    style = LEVEL_STYLES.get(line.level)
    if style:
        text.style = style
    return text


def _log_note(scope: Scope, view: ViewState, newer: int) -> str:
    whose = "every app" if scope.app is None else scope.app if scope.pid is None else f"{scope.app}[{scope.pid}]"
    state = f"paused, {newer} newer below" if view.paused and newer else "paused" if view.paused else ""
    return " · ".join(part for part in (whose, FILTER_NAMES[scope.level], state) if part)


def _nothing_shown(scope: Scope) -> str:
    whose = "the master" if scope.app is None else scope.app if scope.pid is None else f"{scope.app}[{scope.pid}]"
    if scope.level > Level.UNKNOWN:
        return f"no {FILTER_NAMES[scope.level]} from {whose} in the latest lines (l: every level)"
    return f"no output from {whose} yet"


def help_pane(room: int, width: int) -> list[Text]:
    """The key list, in at most `room` lines."""
    if room < 1:
        return []
    key_cells = max(len(keys) for keys, _ in HELP) + 2
    lines = [rule("keys", width, "any key closes this")]
    for keys, action in HELP[: room - 1]:
        line = Text.assemble(("  " + keys.ljust(key_cells), "bold"), action, no_wrap=True, overflow="ellipsis")
        line.truncate(width, overflow="ellipsis")
        lines.append(line)
    return lines


def bottom(view: ViewState, width: int) -> Text:
    """The last line: a pending question, else a notice, else the main keys."""
    if view.question is not None:
        line = Text.assemble(
            (view.question.text, "bold yellow"), "  ", ("y", "bold reverse"), " yes · any other key: no"
        )
    elif view.notice is not None:
        line = Text(view.notice, style="yellow")
    else:
        line = Text(style="dim")
        for i, (key, action) in enumerate(SHORT_HELP):
            line.append("  " if i else "")
            line.append(key, style="bold")
            line.append(f" {action}")
    line.no_wrap, line.overflow = True, "ellipsis"
    line.truncate(width, overflow="ellipsis")
    return line
