"""The dashboard's picture: one status snapshot, the viewer's view and the latest log lines, drawn with rich.

No I/O and no clock: the same snapshot, view, lines and size always give the same
picture, so `serve up` and `serve top` share it and the tests compare text.

Layout, top to bottom (SPEC §5):

    header      config file, master pid, uptime, requests/s over every app
    table       a row per app (requests/s, responses by class, latency...), its workers beneath
    trend       the selected app's last minute: sparklines of requests/s and p99
    events      the latest reloads, retirements, crashes and configuration errors
    logs        the selected app's (or worker's) latest lines, by level, followed or paused
    bottom      a question waiting for y, a notice, or the main keys

`?` puts the key list in place of everything between the header and the bottom line.

The picture is exactly `height` lines, never more, and each line fits `width`. Space is
granted in order of importance: header, app rows, bottom line, the selected app's worker
rows (around the cursor), the trend, the other apps' workers, then events and logs share
what is left (events at most a third, the logs the rest; events take it all when the log
pane has no line to show). A small terminal therefore loses the logs and events first, then the
other workers, the trend, the selected app's workers and the bottom line, and finally app
rows, always keeping the selected app in sight. Columns of the table are dropped the same
way when the terminal is narrow, least important first (table.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.text import Text

from supervisor.status.snapshot import Snapshot
from supervisor.tui import loglines, panes, table
from supervisor.tui.view import ViewState, tree_of

MAX_EVENT_LINES = 8  # the events pane's lines when logs share the room; alone, events take it all
TREND_LINES = 3
MIN_LOG_LINES = 3  # a rule and two lines: fewer, the room goes to events


@dataclass(frozen=True, slots=True)
class Picture:
    """A frame, and how far back its log pane can scroll (for the screen to clamp the view's scroll)."""

    renderable: RenderableType
    scroll_most: int


def render(snapshot: Snapshot, view: ViewState, *, width: int, height: int, logs: Sequence[str]) -> RenderableType:
    """The dashboard for one snapshot, sized for a terminal of `width` x `height` cells (see `picture`)."""
    return picture(snapshot, view, width=width, height=height, logs=logs).renderable


def picture(snapshot: Snapshot, view: ViewState, *, width: int, height: int, logs: Sequence[str]) -> Picture:
    """The dashboard for one snapshot, sized for a terminal of `width` x `height` cells.

    Args:
        snapshot: the master's status.
        view: the viewer's selection and log settings (followed to the snapshot's apps and
            workers: a vanished one selects its neighbour).
        width: terminal columns; any size is accepted, down to 1.
        height: terminal lines; the picture never has more.
        logs: the master's latest output lines, oldest first (`app[pid] text`, `serve[pid] text`);
            the pane shows those the view asks for; ANSI colours are kept, other control
            characters removed.

    Returns:
        A rich renderable of exactly `height` lines (none when `height` < 1), and the
        furthest back its log pane can scroll.
    """
    width, height = max(width, 1), max(height, 0)
    view = view.follow(tree_of(snapshot))
    parts: list[RenderableType] = []
    room = height
    scroll_most = 0
    if room >= 1:
        parts.append(panes.header(snapshot, width))
        room -= 1
    if view.help:
        show_bottom = room >= 2
        room -= show_bottom
        body = panes.help_pane(room, width)
        parts += body
        room -= len(body)
    else:
        blocks = [table.block(app, cursor=_cursor(view, i)) for i, app in enumerate(snapshot.apps)]
        show_bottom = room >= (1 + len(blocks) if blocks else 0) + 1
        room -= show_bottom
        drawn, room, scroll_most = _body(snapshot, view, blocks, logs, room, width)
        parts += drawn
    if room > 0:
        parts.append(Text("\n" * (room - 1)))
    if show_bottom:
        parts.append(panes.bottom(view, width))
    return Picture(Group(*parts), scroll_most)


def _cursor(view: ViewState, index: int) -> int | None:
    """Where the cursor is in app `index`'s block: 0 on its row, i on its i-th worker, None elsewhere."""
    if index != view.index:
        return None
    return 0 if view.worker is None else view.worker_index + 1


def _body(
    snapshot: Snapshot,
    view: ViewState,
    blocks: list[table.Block],
    logs: Sequence[str],
    room: int,
    width: int,
) -> tuple[list[RenderableType], int, int]:
    """Table, trend, events and logs in `room` lines; returns them, the room left and how far back
    the log pane can scroll."""
    parts: list[RenderableType] = []
    selected = snapshot.apps[view.index] if snapshot.apps else None
    trend = panes.trend(selected, width) if selected is not None else []
    if blocks:
        apps = 1 + len(blocks)
        own = len(blocks[view.index].details)
        others = sum(len(b.details) for b in blocks) - own
        after = room - apps - own  # what the selected app's workers leave
        show_trend = bool(trend) and after >= len(trend)
        extra = others if after - (len(trend) if show_trend else 0) >= others else 0
        shown, left = table.fit_blocks(blocks, min(room, apps + own + extra))
        parts += table.table(shown, width) if shown else []
        room -= min(room, apps + own + extra) - left
        if show_trend and room >= len(trend):
            parts += trend
            room -= len(trend)
    scope = view.log_scope()
    chosen = loglines.select(loglines.parse(logs), scope)
    events = panes.event_lines(snapshot)
    event_count = sum(len(event) for event in events)
    if events and room >= 2:
        # Events share the room with logs (at most a third), unless there are no lines to show.
        shares = chosen and room >= MIN_LOG_LINES + 2
        events_room = min(1 + event_count, max(2, room // 3), 1 + MAX_EVENT_LINES) if shares else room
        latest = panes.latest(events, events_room - 1)
        parts += [panes.rule("events", width), *latest]
        room -= 1 + len(latest)
    scroll_most = 0
    if room >= 2:
        pane = panes.logs(chosen, scope, view, room, width)
        parts += pane
        room -= len(pane)
        scroll_most = max(0, len(chosen) - (len(pane) - 1))
    return parts, room, scroll_most
