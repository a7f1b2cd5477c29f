"""The dashboard's table: a row per app, its workers beneath it, in columns that keep their place.

Pure. Every column has a width of its own, wide enough for the values it usually holds ("1,204",
"0.42ms", "crashloop"), so a column does not move sideways when a value appears or grows
(a first request, a latency measured); only a value wider than that widens it. Columns that
do not fit are dropped, least important first: which ones depends on the terminal's width
alone, not on the figures.

The HTTP/2 columns (open connections and streams, and limits broken: connections closed, or
stalled streams reset, because a client exceeded an HTTP/2 limit) are optional: drawn only when an app on
screen offers HTTP/2 (its workers say so in their slots) or has HTTP/2 figures, so that an
HTTP/1.1-only master shows exactly the table it always did. They follow the configuration,
not the traffic: an app with http2 on keeps them at 0 rather than having them come and go.

A row that is selected is drawn in reverse; the selected app also carries the ▸ mark on its
own row when the cursor is on one of its workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text

from supervisor.status.figures import STATUS_CLASSES
from supervisor.status.snapshot import AppState, AppStatus, WorkerState, WorkerStatus
from supervisor.tui import formats

SELECTED_MARK = "▸ "
PID_CELLS = 11  # "  ├ " and seven digits: Linux's largest pid_max

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
SERVER_ERRORS_STYLE = "bold red"


@dataclass(frozen=True, slots=True)
class Column:
    """A table column: `rank` orders them by importance (0 is dropped last), `cells` is its own width."""

    key: str
    header: str
    rank: int
    cells: int = 0
    right: bool = True
    flexible: bool = False  # takes the width left over
    optional: bool = False  # drawn only when some row has a cell for it (the HTTP/2 figures)


# In display order. Worker rows fill the columns that mean something for one worker.
COLUMNS: tuple[Column, ...] = (
    Column("name", "APP", 0, PID_CELLS, right=False),
    Column("state", "STATE", 1, 9, right=False),
    Column("ready", "READY", 2, 5),
    Column("gen", "GEN", 9, 3),
    Column("rate", "REQ/S", 3, 6),
    Column("2xx", "2XX/S", 14, 6),
    Column("4xx", "4XX/S", 10, 5),
    Column("5xx", "5XX/S", 4, 5),
    Column("requests", "REQUESTS", 6, 9),
    Column("conn", "CONN", 7, 4),
    Column("ws", "WS", 16, 3),
    Column("h2", "H2", 17, 3, optional=True),  # HTTP/2 connections open
    Column("streams", "STRM", 18, 4, optional=True),  # HTTP/2 streams open
    Column("h2_limits", "H2LIM", 20, 5, optional=True),  # HTTP/2 limits broken by clients, since the start
    Column("p50", "P50", 13, 6),
    Column("p99", "P99", 5, 6),
    Column("rss", "RSS", 8, 5),
    Column("cpu", "CPU", 12, 5),
    Column("age", "AGE", 15, 6),
    Column("restarts", "↺", 11, 2),
    Column("binds", "BINDS", 19, right=False, flexible=True),
)
MIN_FLEXIBLE_WIDTH = 14  # "127.0.0.1:8000": narrower, a bind is unreadable and the column is dropped

Row = dict[str, Text]


@dataclass(frozen=True, slots=True)
class Block:
    """One app's rows: its own, then the rows beneath it (workers, then its error); `cursor` is the
    position of the selected row among them (0: the app's own, i: its i-th detail), None when not selected."""

    app: Row
    details: tuple[Row, ...]
    cursor: int | None = None

    @property
    def selected(self) -> bool:
        return self.cursor is not None


def block(app: AppStatus, *, cursor: int | None) -> Block:
    """The rows of `app`; `cursor` as in `Block`."""
    shows_error = _shows_error(app)
    http2 = app.serves_http2
    rows: list[Row] = [
        _worker_row(worker, last=i == len(app.workers) - 1 and not shows_error, http2=http2)
        for i, worker in enumerate(app.workers)
    ]
    if shows_error:
        rows.append({"span": Text(f"  └ {formats.one_line(app.last_error or '')}", style="red")})
    name_style = "bold red" if app.state is AppState.CRASHLOOP else "bold"
    mark = SELECTED_MARK if cursor is not None else " " * len(SELECTED_MARK)
    rates = app.status_rates if len(app.status_rates) == STATUS_CLASSES else None
    row = {
        "name": Text.assemble(mark, (app.name, name_style)),
        "state": Text(app.state.value, style=APP_STATE_STYLES[app.state]),
        "ready": Text(
            f"{app.workers_ready}/{app.workers_desired}",
            style="" if app.workers_ready >= app.workers_desired else "yellow",
        ),
        "gen": Text(str(app.generation)),
        "rate": Text(formats.rate(app.requests_per_s)),
        "2xx": _class_rate(rates, 1),
        "4xx": _class_rate(rates, 3),
        "5xx": _class_rate(rates, 4, alarm=SERVER_ERRORS_STYLE),
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
    }
    if http2:
        row |= _h2_cells(app)
    return Block(app=row, details=tuple(rows), cursor=cursor)


def _worker_row(worker: WorkerStatus, *, last: bool, http2: bool) -> Row:
    row = {
        "name": Text(f"  {'└' if last else '├'} {worker.pid}", style="dim"),
        "state": Text(worker.state.value, style=WORKER_STATE_STYLES[worker.state]),
        "ready": Text(f"#{worker.index}", style="dim"),  # its index (SERVE_WORKER_ID), under the app's ready count
        "gen": Text(str(worker.generation)),
        "rate": Text(formats.rate(worker.requests_per_s)),
        "requests": Text(formats.count(worker.requests)),
        "conn": Text(str(worker.active_connections)),
        "p50": Text(formats.latency(worker.p50_ms)),
        "p99": Text(formats.latency(worker.p99_ms)),
        "rss": Text(formats.size(worker.rss_bytes)),
        "cpu": Text(formats.percent(worker.cpu_percent)),
        "age": Text(formats.duration(worker.age_s)),
    }
    if http2:
        row |= _h2_cells(worker)
    return row


def _h2_cells(figures: AppStatus | WorkerStatus) -> Row:
    return {
        "h2": Text(str(figures.h2_connections)),
        "streams": Text(str(figures.h2_streams)),
        "h2_limits": Text(
            formats.count(figures.h2_limits_exceeded), style="yellow" if figures.h2_limits_exceeded else "dim"
        ),
    }


def _class_rate(rates: Sequence[float] | None, index: int, *, alarm: str = "") -> Text:
    if rates is None:
        return Text(formats.NO_VALUE)
    return Text(formats.rate(rates[index]), style=alarm if rates[index] > 0 else "")


def _shows_error(app: AppStatus) -> bool:
    """A running app's last error is history (the events pane has it); a failing app's is its news."""
    return app.last_error is not None and app.state is not AppState.RUNNING


def fit_blocks(blocks: list[Block], room: int) -> tuple[list[Block], int]:
    """The app blocks that fit in `room` lines (with the table's header line), and the room left.

    Details go first from every app but the selected one, then the selected one's are cut
    to what fits around its cursor; when not even every app row fits, a window of apps
    around the selected one.
    """
    if not blocks or room < 2:
        return [], room
    room -= 1
    selected = next((i for i, b in enumerate(blocks) if b.selected), 0)
    if len(blocks) > room:
        start = min(max(selected - room // 2, 0), len(blocks) - room)
        return [Block(b.app, (), None if b.cursor is None else 0) for b in blocks[start : start + room]], 0
    details = sum(len(b.details) for b in blocks)
    if details <= room - len(blocks):
        return blocks, room - len(blocks) - details
    trimmed = [b if b.selected else Block(b.app, ()) for b in blocks]
    chosen = blocks[selected]
    cut, cursor = _cut(chosen.details, max(room - len(blocks), 0), chosen.cursor or 0)
    trimmed[selected] = Block(chosen.app, cut, cursor)
    return trimmed, room - len(blocks) - len(cut)


def _cut(details: tuple[Row, ...], room: int, cursor: int) -> tuple[tuple[Row, ...], int]:
    """At most `room` detail rows, the cursor's among them; the last says how many are left out.

    `cursor` is 0 for the app's own row, i for its i-th detail; returns the rows and the
    cursor's place among them, counted the same way.
    """
    if len(details) <= room:
        return details, cursor
    if room == 0:
        return (), 0
    shown = room - 1
    start = max(0, cursor - shown)  # the cursor's row the last one shown, when it is further down
    more = {"span": Text(f"  └ … {len(details) - shown} more", style="dim")}
    rows = [_branch(row) for row in details[start : start + shown]]  # the "more" row closes the branch
    return (*rows, more), cursor - start if cursor else 0


def _branch(row: Row) -> Row:
    """A worker's row drawn with the branch going on (the error row, always last, is never cut to)."""
    opened = row["name"].copy()
    opened.plain = opened.plain.replace("└", "├")
    return {**row, "name": opened}


def table(blocks: Sequence[Block], width: int) -> list[Text]:
    """The table as lines: a header, then each app's row and its details beneath."""
    cells = [b.app for b in blocks] + [row for b in blocks for row in b.details if "span" not in row]
    columns = [c for c in COLUMNS if not c.optional or any(c.key in row for row in cells)]
    header = {column.key: Text(column.header) for column in columns}
    header["name"] = Text(" " * len(SELECTED_MARK) + COLUMNS[0].header)
    widths, gap = column_widths([header, *cells], width, columns)
    lines = [_line(header, widths, gap, width, style="bold dim")]
    for b in blocks:
        lines.append(_line(b.app, widths, gap, width, style="reverse" if b.cursor == 0 else ""))
        lines += [
            _line(row, widths, gap, width, style="reverse" if b.cursor == i + 1 and "span" not in row else "")
            for i, row in enumerate(b.details)
        ]
    return lines


def _line(row: Row, widths: dict[Column, int], gap: int, width: int, *, style: str = "") -> Text:
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


def column_widths(
    rows: Sequence[Row], width: int, columns: Sequence[Column] = COLUMNS
) -> tuple[dict[Column, int], int]:
    """Those of `columns` that fit in `width`, in display order, with their widths, and the gap between them.

    Each column is as wide as its own width, its header, or its widest cell, whichever is
    widest. Columns are two cells apart when that costs no column, else one.
    """
    natural = {
        column: max([column.cells, *(row[column.key].cell_len for row in rows if column.key in row)])
        for column in columns
    }
    airy = _fit(natural, width, gap=2)
    tight = _fit(natural, width, gap=1)
    return (airy, 2) if len(airy) == len(tight) else (tight, 1)


def _fit(natural: dict[Column, int], width: int, *, gap: int) -> dict[Column, int]:
    """The columns that fit, the least important dropped first, and their widths.

    The flexible column takes the width left over, down to `MIN_FLEXIBLE_WIDTH` (narrower, it
    is dropped as well). The first column alone is cut to `width` when nothing else fits.
    """
    kept = list(natural)
    while len(kept) > 1 and _total(kept, natural, gap) > width:
        kept.remove(max(kept, key=lambda column: column.rank))
    left = width - _total(kept, natural, gap)
    widths = {
        column: min(natural[column], MIN_FLEXIBLE_WIDTH + left) if column.flexible else natural[column]
        for column in kept
    }
    widths[kept[0]] = min(widths[kept[0]], width)
    return widths


def _total(columns: Sequence[Column], natural: dict[Column, int], gap: int) -> int:
    """The width `columns` need, counting the flexible one at its minimum."""
    cells = sum(min(natural[column], MIN_FLEXIBLE_WIDTH) if column.flexible else natural[column] for column in columns)
    return cells + gap * (len(columns) - 1)
