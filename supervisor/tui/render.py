"""The dashboard's picture: one status snapshot, the viewer's selection and the latest log lines, drawn with rich.

May import: supervisor.status.snapshot, supervisor.tui.view, supervisor.tui.formats and rich.
No I/O and no clock: the same snapshot, view and size always give the same picture, so
`serve up` and `serve top` share it and the tests compare text.

Layout, top to bottom (SPEC §5):

    header      config file, master pid, uptime, requests/s over every app
    table       a row per app, its workers (and its error, when it is failing) beneath
    events      the latest reloads, retirements, crashes and configuration errors
    logs        the latest lines of worker output
    help        the keys

The picture is exactly `height` lines, never more, and each line fits `width`. Space is
granted in order of importance: header, app rows, help line, worker rows, events, logs. A
small terminal therefore loses the log pane first, then the events, then the worker rows
(those of the selected app last), then the help line, and finally app rows, always keeping
the selected app in sight. Columns of the table are dropped the same way when the terminal is narrow, least
important first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.text import Text

from supervisor.status.snapshot import AppState, AppStatus, Event, EventKind, Snapshot, WorkerState
from supervisor.tui import formats
from supervisor.tui.view import ViewState

HELP_KEYS: tuple[tuple[str, str], ...] = (
    ("q", "quit"),
    ("r", "reload"),
    ("R", "reload app"),
    ("↑/↓", "select"),
    ("+/-", "scale"),
)
MAX_EVENT_LINES = 6  # or a third of the room left, when there are logs to show as well; alone, events take it all
SELECTED_MARK = "▸ "
HEADER_TITLE = "serve "
MIN_HEADER_PATH = 16  # the header's figures make way for the config file down to this many cells

APP_STATE_STYLES: dict[AppState, str] = {
    AppState.RUNNING: "green",
    AppState.STARTING: "yellow",
    AppState.RELOADING: "yellow",
    AppState.CRASHLOOP: "bold red",
    AppState.STOPPING: "magenta",
}
WORKER_STATE_STYLES: dict[WorkerState, str] = {
    WorkerState.STARTING: "yellow",
    WorkerState.READY: "green",
    WorkerState.RETIRING: "yellow",
    WorkerState.EXITED: "dim",
}
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


@dataclass(frozen=True, slots=True)
class _Column:
    """A table column; `rank` orders them by importance (0 is dropped last), `flexible` ones take what is left."""

    key: str
    header: str
    rank: int
    right: bool = True
    flexible: bool = False


# In display order. Worker rows fill the columns that mean something for one worker.
COLUMNS: tuple[_Column, ...] = (
    _Column("name", "APP", 0, right=False),
    _Column("state", "STATE", 1, right=False),
    _Column("ready", "READY", 2),
    _Column("gen", "GEN", 5),
    _Column("rate", "REQ/S", 3),
    _Column("requests", "REQUESTS", 4),
    _Column("conn", "CONN", 8),
    _Column("ws", "WS", 14),
    _Column("p50", "P50", 10),
    _Column("p99", "P99", 6),
    _Column("rss", "RSS", 7),
    _Column("cpu", "CPU", 11),
    _Column("age", "AGE", 12),
    _Column("restarts", "↺", 9),
    _Column("binds", "BINDS", 13, right=False, flexible=True),
)
MIN_FLEXIBLE_WIDTH = 14  # "127.0.0.1:8000": narrower, a bind is unreadable and the column is dropped

_Row = dict[str, Text]


@dataclass(frozen=True, slots=True)
class _Block:
    """One app's rows: its own, then the rows beneath it (workers, error)."""

    app: _Row
    details: tuple[_Row, ...]
    selected: bool


def render(snapshot: Snapshot, view: ViewState, *, width: int, height: int, logs: Sequence[str]) -> RenderableType:
    """The dashboard for one snapshot, sized for a terminal of `width` x `height` cells.

    Args:
        snapshot: the master's status.
        view: the viewer's selection (followed to the snapshot's apps: a vanished app
            selects its neighbour).
        width: terminal columns; any size is accepted, down to 1.
        height: terminal lines; the picture never has more.
        logs: the latest lines of worker output, oldest first (only the last ones that fit
            are shown); ANSI colours are kept, other control characters removed.

    Returns:
        A rich renderable of exactly `height` lines (none when `height` < 1).
    """
    width, height = max(width, 1), max(height, 0)
    names = [app.name for app in snapshot.apps]
    selected = view.follow(names).index
    blocks = [_block(app, selected=i == selected) for i, app in enumerate(snapshot.apps)]
    events = _event_lines(snapshot)
    # Only a newline starts a line: after a carriage return, log_text keeps what overwrote the line.
    log_lines = [formats.log_text(line) for text in logs for line in text.rstrip("\r\n").split("\n")]

    parts: list[RenderableType] = []
    room = height
    if room >= 1:
        parts.append(_header(snapshot, width))
        room -= 1
    shown, room = _fit_blocks(blocks, selected, room)
    if shown:
        parts += _table(shown, width)
    show_help = room >= 1
    room -= 1 if show_help else 0
    if events and room >= 2:
        limit = max(MAX_EVENT_LINES, room // 3) if log_lines and room > MAX_EVENT_LINES + 2 else room - 1
        latest = _latest(events, limit)
        parts += _pane("events", latest, width)
        room -= 1 + len(latest)
    if log_lines and room >= 2:
        latest = log_lines[-(room - 1) :]
        parts += _pane("logs", latest, width)
        room -= 1 + len(latest)
    if show_help:
        if room > 0:
            parts.append(Text("\n" * (room - 1)))
        parts.append(_help())
    return Group(*parts)


def _fit_blocks(blocks: list[_Block], selected: int, room: int) -> tuple[list[_Block], int]:
    """The app blocks that fit in `room` lines (with the table's header line), and the room left.

    Details go first from every app but the selected one, then the selected one's are cut
    to what fits; when not even every app row fits, a window of apps around the selected one.
    """
    if not blocks or room < 2:
        return [], room
    room -= 1
    if len(blocks) > room:
        start = min(max(selected - room // 2, 0), len(blocks) - room)
        return [_Block(block.app, (), block.selected) for block in blocks[start : start + room]], 0
    # The help line is worth more than any worker row: keep it when there is a line for it.
    details_room = room - len(blocks) - 1
    if sum(len(block.details) for block in blocks) <= details_room:
        return blocks, room - len(blocks) - sum(len(block.details) for block in blocks)
    trimmed = [block if block.selected else _Block(block.app, (), False) for block in blocks]
    details_room = max(details_room, 0)
    trimmed[selected] = _Block(blocks[selected].app, _cut(blocks[selected].details, details_room), True)
    return trimmed, room - len(blocks) - len(trimmed[selected].details)


def _cut(details: tuple[_Row, ...], room: int) -> tuple[_Row, ...]:
    """At most `room` detail rows; the last one says how many more there are when some are left out."""
    if len(details) <= room:
        return details
    if room == 0:
        return ()
    hidden = len(details) - room + 1
    return (*details[: room - 1], {"span": Text(f"  └ … {hidden} more", style="dim")})


def _block(app: AppStatus, *, selected: bool) -> _Block:
    rows: list[_Row] = []
    for i, worker in enumerate(app.workers):
        branch = "└" if i == len(app.workers) - 1 and not _shows_error(app) else "├"
        rows.append(
            {
                "name": Text(f"  {branch} {worker.pid}", style="dim"),
                "state": Text(worker.state.value, style=WORKER_STATE_STYLES[worker.state]),
                "gen": Text(str(worker.generation)),
                "requests": Text(formats.count(worker.requests)),
                "rss": Text(formats.size(worker.rss_bytes)),
                "cpu": Text(formats.percent(worker.cpu_percent)),
                "age": Text(formats.duration(worker.age_s)),
            }
        )
    if _shows_error(app):
        rows.append({"span": Text(f"  └ {formats.one_line(app.last_error or '')}", style="red")})
    name_style = "bold red" if app.state is AppState.CRASHLOOP else "bold"
    return _Block(
        app={
            "name": Text.assemble(SELECTED_MARK if selected else " " * len(SELECTED_MARK), (app.name, name_style)),
            "state": Text(app.state.value, style=APP_STATE_STYLES[app.state]),
            "ready": Text(
                f"{app.workers_ready}/{app.workers_desired}",
                style="" if app.workers_ready >= app.workers_desired else "yellow",
            ),
            "gen": Text(str(app.generation)),
            "rate": Text(formats.rate(app.requests_per_s)),
            "requests": Text(formats.count(app.requests_total)),
            "conn": Text(str(app.active_connections)),
            "ws": Text(str(app.websockets)),
            "p50": Text(formats.latency(app.p50_ms)),
            "p99": Text(formats.latency(app.p99_ms)),
            "rss": Text(formats.size(app.rss_bytes)),
            "cpu": Text(
                formats.percent(sum(worker.cpu_percent for worker in app.workers)) if app.workers else formats.NO_VALUE
            ),
            "restarts": Text(str(app.restarts), style="yellow" if app.restarts else "dim"),
            "binds": Text(", ".join(app.binds)),
        },
        details=tuple(rows),
        selected=selected,
    )


def _shows_error(app: AppStatus) -> bool:
    """A running app's last error is history (the events pane has it); a failing app's is its news."""
    return app.last_error is not None and app.state is not AppState.RUNNING


def _table(blocks: list[_Block], width: int) -> list[Text]:
    """The table as lines: a header, then each app's row and its details beneath."""
    header = {column.key: Text(column.header) for column in COLUMNS}
    header["name"] = Text(" " * len(SELECTED_MARK) + COLUMNS[0].header)
    rows = [header] + [block.app for block in blocks] + [row for block in blocks for row in block.details]
    widths, gap = _column_widths([row for row in rows if "span" not in row], width)
    lines = [_line(header, widths, gap, width, style="bold dim")]
    for block in blocks:
        lines.append(_line(block.app, widths, gap, width, style="reverse" if block.selected else ""))
        lines += [_line(row, widths, gap, width) for row in block.details]
    return lines


def _line(row: _Row, widths: dict[_Column, int], gap: int, width: int, *, style: str = "") -> Text:
    """One table row, each cell cut or padded to its column; a "span" cell runs across the whole row."""
    line = Text(style=style, no_wrap=True, overflow="ellipsis")
    if "span" in row:
        line.append_text(row["span"])
    else:
        for i, (column, cells) in enumerate(widths.items()):
            cell = row.get(column.key, Text("")).copy()
            cell.truncate(cells, overflow="ellipsis")
            pad = " " * (cells - cell.cell_len)
            line.append(" " * gap if i else "")
            line.append_text(Text.assemble(pad, cell) if column.right else Text.assemble(cell, pad))
    line.truncate(width, overflow="ellipsis", pad=True)
    return line


def _column_widths(rows: Sequence[_Row], width: int) -> tuple[dict[_Column, int], int]:
    """The columns that fit in `width`, in display order, with their widths, and the gap between them.

    Each column is as wide as its widest cell. Columns are two cells apart when that costs no
    column, else one.
    """
    natural = {column: max(row[column.key].cell_len for row in rows if column.key in row) for column in COLUMNS}
    airy = _fit(natural, width, gap=2)
    tight = _fit(natural, width, gap=1)
    return (airy, 2) if len(airy) == len(tight) else (tight, 1)


def _fit(natural: dict[_Column, int], width: int, *, gap: int) -> dict[_Column, int]:
    """The columns that fit, the least important dropped first, and their widths.

    The flexible column takes the width left over, down to `MIN_FLEXIBLE_WIDTH` (narrower, it
    is dropped as well). The first column alone is cut to `width` when nothing else fits.
    """
    kept = list(COLUMNS)
    while len(kept) > 1 and _total(kept, natural, gap) > width:
        kept.remove(max(kept, key=lambda column: column.rank))
    left = width - _total(kept, natural, gap)
    widths = {
        column: min(natural[column], MIN_FLEXIBLE_WIDTH + left) if column.flexible else natural[column]
        for column in kept
    }
    widths[kept[0]] = min(widths[kept[0]], width)
    return widths


def _total(columns: Sequence[_Column], natural: dict[_Column, int], gap: int) -> int:
    """The width `columns` need, counting the flexible one at its minimum."""
    cells = sum(min(natural[column], MIN_FLEXIBLE_WIDTH) if column.flexible else natural[column] for column in columns)
    return cells + gap * (len(columns) - 1)


def _header(snapshot: Snapshot, width: int) -> Text:
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
    path_room = min(len(snapshot.config_path), MIN_HEADER_PATH)
    while figures and len(HEADER_TITLE) + path_room + 2 + len(_joined(figures)) > width:
        figures.remove(max(figures))
    right = _joined(figures)
    path = formats.shorten_path(snapshot.config_path, width - len(HEADER_TITLE) - (len(right) + 2 if right else 0))
    gap = " " * (width - len(HEADER_TITLE) - len(path) - len(right))
    header = Text.assemble((HEADER_TITLE, "bold cyan"), (path, "bold"), gap, (right, "dim"))
    header.truncate(width, overflow="ellipsis")
    return header


def _joined(figures: Sequence[tuple[int, str]]) -> str:
    return "  ·  ".join(text for _, text in figures)


def _event_lines(snapshot: Snapshot) -> list[list[Text]]:
    """Each event's lines, oldest event first; ages are counted from the snapshot's moment."""
    now = snapshot.started_at + snapshot.uptime_s
    app_width = max((len(event.app or "master") for event in snapshot.events), default=0)
    return [_event_text(event, now=now, app_width=app_width) for event in snapshot.events]


def _latest(events: list[list[Text]], limit: int) -> list[Text]:
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


def _pane(title: str, lines: Sequence[Text], width: int) -> list[RenderableType]:
    """A pane: a rule with its title across the width, then its lines."""
    rule = Text.assemble(("── ", "dim"), (title, "bold"), (" " + "─" * width, "dim"))
    rule.truncate(width)
    return [rule, *lines]


def _help() -> Text:
    help_line = Text(no_wrap=True, overflow="ellipsis", style="dim")
    for i, (key, action) in enumerate(HELP_KEYS):
        if i:
            help_line.append(" · ")
        help_line.append(key, style="bold")
        help_line.append(f" {action}")
    return help_line
