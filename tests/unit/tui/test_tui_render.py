"""tui/render.py: what the dashboard shows for a snapshot, and how it gives way on a small terminal."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from rich.cells import cell_len
from tui_samples import API, CHAT, EVENTS, LOGS, NOW, SNAPSHOT, WEB, app, console, draw, segments, worker

from supervisor.control import Stop
from supervisor.status.snapshot import AppState, Event, EventKind, Snapshot, WorkerState
from supervisor.tui import panes, table
from supervisor.tui.keys import HELP
from supervisor.tui.loglines import Level, Scope
from supervisor.tui.render import picture, render
from supervisor.tui.view import Question, ViewState

GOLDEN = Path(__file__).parent / "golden"
BOTTOM = "q quit  r reload  x restart  ↑↓ select  +/- scale  l level  p pause  ? help"


def _rows(lines: list[str]) -> dict[str, list[str]]:
    """Table rows by their first word (app name or worker pid), each split into cells."""
    found = {}
    for line in lines:
        cells = line.replace("▸", " ").replace("├", " ").replace("└", " ").split()
        if cells:
            found[cells[0]] = cells
    return found


def _between(lines: list[str], first: str, last: str | None) -> list[str]:
    start = next(i for i, line in enumerate(lines) if line.startswith(first))
    end = next(
        (i for i, line in enumerate(lines[start + 1 :], start + 1) if last and line.startswith(last)), len(lines)
    )
    return lines[start + 1 : end]


def _logs(lines: list[str]) -> list[str]:
    return [line for line in _between(lines, "── logs", BOTTOM[:6]) if line]


@pytest.mark.parametrize(("width", "height"), [(100, 30), (80, 24), (200, 60)])
def test_the_dashboard_matches_its_golden_capture(width: int, height: int) -> None:
    expected = (GOLDEN / f"dashboard-{width}x{height}.txt").read_text().splitlines()
    assert draw(width=width, height=height) == expected


def test_every_app_and_every_worker_has_a_row_with_its_figures() -> None:
    rows = _rows(draw(width=160, height=45))
    assert rows["api"] == [
        "api", "running", "4/4", "2", "1,204", "1,180", "6.6", "0.5", "182,733", "37", "3", "1.8ms", "41ms", "230M",
        "36.4%", "1", "127.0.0.1:8000,", "unix:/run/api…",
    ]  # fmt: skip
    assert rows["web"][:9] == ["web", "reloading", "1/2", "5", "48.2", "48.0", "0", "0", "9,312"]
    assert rows["chat"][:8] == ["chat", "crashloop", "0/2", "1", "0", "-", "-", "-"]  # no rates from an older master
    # pid, state, index, generation, requests/s, requests, connections, p50, p99, RSS, CPU, age
    assert rows["4312"] == [
        "4312", "ready", "#0", "2", "301", "45,120", "9", "1.7ms", "40ms", "57.5M", "12.5%", "13m32s"
    ]  # fmt: skip
    assert rows["4318"][2] == "#2"
    assert rows["4318"][8] == "120ms"
    assert rows["4416"] == ["4416", "starting", "#0", "5", "0", "0", "0", "-", "-", "57.5M", "87.0%", "0s"]


def test_workers_are_drawn_beneath_their_app() -> None:
    lines = draw(width=160, height=45)
    assert [line[2:].split()[:2] for line in lines[2:12]] == [
        ["api", "running"], ["├", "4312"], ["├", "4313"], ["├", "4318"], ["└", "4320"],
        ["web", "reloading"], ["├", "4401"], ["├", "4415"], ["└", "4416"],
        ["chat", "crashloop"],
    ]  # fmt: skip


def test_columns_keep_their_place_when_values_appear_or_grow() -> None:
    """An idle app just started and the same app busy: every column header stays where it was."""
    idle = dataclasses.replace(
        SNAPSHOT,
        apps=(app("api", workers=(worker(4312, requests=0, p50_ms=None, p99_ms=None, requests_per_s=0.0),)),),
    )
    busy = dataclasses.replace(
        SNAPSHOT,
        apps=(
            app(
                "api",
                requests_total=1_234_567,
                requests_per_s=12345.0,
                p50_ms=0.42,
                p99_ms=125.0,
                rss_bytes=241172480,
                status_rates=(0.0, 12000.0, 0.0, 345.0, 0.5),
                workers=(worker(4194303, requests=1_234_567, requests_per_s=12345.0, p50_ms=0.42, p99_ms=125.0),),
            ),
        ),
    )
    for width in (80, 120, 200):
        assert draw(idle, width=width, height=20)[1] == draw(busy, width=width, height=20)[1]
        idle_row, busy_row = draw(idle, width=width, height=20)[2:4], draw(busy, width=width, height=20)[2:4]
        assert [line.index("ready") for line in idle_row[1:]] == [line.index("ready") for line in busy_row[1:]]


def test_the_header_names_the_file_and_the_master() -> None:
    header = draw(width=160, height=45)[0]
    assert header.startswith("serve /srv/deploy/serve.toml ")
    assert header.endswith("master 4301  ·  up 2h03m  ·  5/8 workers  ·  1,253 req/s")
    assert len(header) == 160


def test_the_header_figures_make_way_for_the_file_name() -> None:
    assert draw(width=60, height=1) == ["serve /srv/deploy/serve.toml        up 2h03m  ·  1,253 req/s"]
    assert draw(width=40, height=1) == ["serve …rv/deploy/serve.toml  1,253 req/s"]
    assert draw(width=20, height=1) == ["serve …oy/serve.toml"]
    assert draw(width=4, height=1) == ["ser…"]


def test_a_failing_app_shows_its_error_beneath_it_and_a_running_app_does_not() -> None:
    lines = draw(width=160, height=45)
    error = lines.index("  └ worker 4502 exited with code 3 during startup (ModuleNotFoundError: examples.chatt)")
    assert lines[error - 1].split()[0] == "chat"
    assert not any("SIGKILL" in line for line in lines)  # api's last error is history; api runs


def _colours(snapshot: Snapshot = SNAPSHOT, view: ViewState | None = None) -> dict[str, set[str | None]]:
    """The colours each piece of text is drawn in, anywhere on the screen."""
    found: dict[str, set[str | None]] = {}
    for segment in segments(snapshot, width=160, height=45, view=view):
        if segment.text.strip() and segment.style:
            found.setdefault(segment.text.strip(), set()).add(segment.style.color and segment.style.color.name)
    return found


def test_a_crash_looping_app_is_red_and_reloading_or_starting_ones_are_yellow() -> None:
    colours = _colours()
    assert colours["crashloop"] == {"red"}
    assert "red" in colours["chat"]  # its name in the table; the events pane has it in bold
    assert colours["running"] == {"green"}
    assert colours["reloading"] == {"yellow"}
    assert colours["retiring"] == {"yellow"}
    assert colours["starting"] == {"yellow"}
    assert colours["ready"] == {"green"}
    starting = dataclasses.replace(SNAPSHOT, apps=(dataclasses.replace(CHAT, state=AppState.STARTING),))
    assert _colours(starting)["starting"] == {"yellow"}
    assert "red" not in _colours(starting)["chat"]


def _drawn_in(colour: str, snapshot: Snapshot = SNAPSHOT) -> list[str]:
    return [text for text, colours in _colours(snapshot).items() if colour in colours]


def test_server_errors_are_red_in_the_table_and_the_trend() -> None:
    red = _drawn_in("red")
    assert "0.5" in red  # api's 5XX/S cell
    assert "5xx 0.5/s" in red
    assert not any("6.6" in text for text in red)  # 4xx are the clients' errors
    calm = dataclasses.replace(API, status_rates=(0.0, 1180.3, 0.0, 6.6, 0.0))
    assert not any(
        "5xx" in text or text == "0" for text in _drawn_in("red", dataclasses.replace(SNAPSHOT, apps=(calm,)))
    )


def test_error_lines_are_red_with_their_traceback_and_warnings_yellow() -> None:
    colours = _colours()
    assert colours["api[4313] ERROR: Exception in ASGI application"] == {"red"}
    assert colours["api[4313] KeyError: 'id'"] == {"red"}
    assert colours["serve[4301] WARNING: api[4318] retiring: 1020 MiB resident, near 1024 MiB"] == {"yellow"}
    assert not any("GET /items/39" in text for text in [*_drawn_in("red"), *_drawn_in("yellow")])


def test_the_selected_app_is_marked_and_drawn_in_reverse() -> None:
    for selected, name in enumerate(["api", "web", "chat"]):
        lines = draw(width=100, height=30, selected=selected)
        marked = [line for line in lines if line.startswith("▸")]
        assert len(marked) == 1
        assert marked[0].split()[1] == name
        reversed_text = "".join(s.text for s in segments(selected=selected) if s.style and s.style.reverse)
        assert reversed_text.startswith(f"▸ {name}")


def test_a_selected_worker_is_drawn_in_reverse_and_its_app_keeps_the_mark() -> None:
    view = ViewState(1, "web", worker=4415)
    lines = draw(view=view, width=100, height=30)
    assert [line.split()[1] for line in lines if line.startswith("▸")] == ["web"]
    reversed_text = "".join(s.text for s in segments(view=view) if s.style and s.style.reverse)
    assert reversed_text.lstrip().startswith("├ 4415")
    assert "web" not in reversed_text


def test_a_vanished_selection_moves_to_the_app_now_in_its_row() -> None:
    lines = draw(view=ViewState(5, "gone"), width=100, height=30)
    assert [line.split()[1] for line in lines if line.startswith("▸")] == ["chat"]


def test_the_trend_shows_the_selected_apps_last_minute() -> None:
    lines = draw(width=160, height=45)
    trend = _between(lines, "── api · the last minute", "── events")
    assert trend[0].startswith("req/s ▅▅▆")
    assert "1,204/s  peak 1,600/s  ·  2xx 1,180/s  4xx 6.6/s  5xx 0.5/s (10 s)" in trend[0]
    assert trend[1].startswith("p99      ▃▃")  # the first seconds had no response: gaps
    assert trend[1].count("█") == 1  # the one slow second
    assert trend[1].endswith("34ms  peak 120ms")
    assert _between(draw(width=160, height=45, selected=1), "── web · the last minute", "── events") == [
        f"{'req/s':<6}{'':60} {'48.2/s':>9}  peak 0/s  ·  2xx 48.0/s  4xx 0/s  5xx 0/s (10 s)",
        f"{'p99':<6}{'':60} {'-':>9}  peak -",
    ]  # nothing yet: the sparklines fill from the right as the seconds pass


def test_the_trend_figures_keep_their_place_as_the_minute_fills_and_extras_go_first() -> None:
    young = dataclasses.replace(API, history_requests_per_s=(5.0,), history_p99_ms=(2.0,))

    def trend(snapshot: Snapshot) -> list[str]:
        return [line for line in draw(snapshot, width=160, height=45) if line.startswith(("req/s", "p99"))]

    assert [line.index("/s ") for line in trend(dataclasses.replace(SNAPSHOT, apps=(young,)))[:1]] == [
        line.index("/s ") for line in trend(SNAPSHOT)[:1]
    ]
    assert trend(dataclasses.replace(SNAPSHOT, apps=(young,)))[1].endswith("█ " + "2.0ms".rjust(9) + "  peak 2.0ms")
    narrow = draw(width=80, height=24)
    req = next(line for line in narrow if line.startswith("req/s"))
    assert req.endswith("1,204/s")  # the peak and the rates do not fit whole: left out, not cut
    assert not any(line.startswith("req/s") for line in draw(width=20, height=24))


def test_events_are_listed_oldest_first_with_their_age_and_a_multi_line_error_keeps_its_lines() -> None:
    events = _between(draw(width=160, height=45), "── events", "── logs")
    assert events[0].split()[:4] == ["1h00m", "ago", "api", "reload"]
    assert events[3].split()[:5] == ["40s", "ago", "chat", "crash", "worker"]
    assert events[4].split()[:5] == ["20s", "ago", "master", "config", "error"]
    assert events[5].strip() == "serve.toml:14: apps.web.bind: unknown key, did you mean 'binds'?"
    assert events[5].index("serve.toml") == events[4].index("serve.toml")
    assert events[-1].split()[:4] == ["5s", "ago", "web", "reload"]


def test_an_event_from_the_future_reads_as_now_and_an_empty_message_is_drawn() -> None:
    snapshot = dataclasses.replace(SNAPSHOT, events=(Event(NOW + 3, "api", EventKind.SCALE, ""),))
    events = _between(draw(snapshot, width=100, height=30), "── events", "── logs")
    assert events == ["    0s ago  api  scale"]


def test_the_log_pane_follows_the_selected_app_with_the_masters_lines_about_it() -> None:
    assert _logs(draw(width=100, height=30))[-3:] == [
        "api[4313] KeyError: 'id'",
        'api[4313] INFO: 127.0.0.1:50100 - "GET /items/x HTTP/1.1" 500 Internal Server Error',
        "serve[4301] WARNING: api[4318] retiring: 1020 MiB resident, near 1024 MiB",
    ]
    assert _logs(draw(width=100, height=30, selected=1)) == ["web[4415] INFO: Application startup complete."]
    assert draw(width=100, height=30, selected=1)[-10].startswith("── logs · web · all levels ──")


def test_a_selected_worker_shows_its_own_lines() -> None:
    lines = draw(view=ViewState(0, "api", worker=4318, worker_index=2), width=100, height=40)
    assert _logs(lines) == ["serve[4301] WARNING: api[4318] retiring: 1020 MiB resident, near 1024 MiB"]
    assert next(line for line in lines if line.startswith("── logs")).startswith("── logs · api[4318] · all levels")


def test_every_apps_lines_on_request() -> None:
    logs = _logs(draw(view=ViewState(log_every_app=True), width=100, height=30))
    assert logs[-1] == "chat[4502] ModuleNotFoundError: No module named 'examples.chatt'"
    assert "web[4415] INFO: Application startup complete." in logs


def test_the_log_pane_filters_by_level_and_keeps_a_traceback_with_its_error() -> None:
    errors = draw(view=ViewState(log_level=Level.ERROR), width=100, height=30)
    assert _logs(errors) == [
        "api[4313] ERROR: Exception in ASGI application",
        "api[4313] Traceback (most recent call last):",
        'api[4313]   File "/srv/api/routes.py", line 12, in item',
        "api[4313] KeyError: 'id'",
    ]
    assert next(line for line in errors if line.startswith("── logs")).startswith("── logs · api · errors ──")
    warnings = _logs(draw(view=ViewState(log_level=Level.WARNING), width=100, height=30))
    assert warnings[-1].startswith("serve[4301] WARNING: api[4318] retiring")
    assert len(warnings) == 5
    nothing = _logs(draw(view=ViewState(2, "chat", log_level=Level.ERROR), width=100, height=30))
    assert nothing == ["no errors from chat in the latest lines (l: every level)"]
    assert _logs(draw(view=ViewState(1, "web"), width=100, height=30, logs=[])) == ["no output from web yet"]


def test_a_scrolled_log_pane_shows_older_lines_and_says_it_is_paused() -> None:
    view = ViewState(paused=True, scroll=7)
    lines = draw(view=view, width=100, height=30)
    assert _logs(lines)[-1] == 'api[4312] INFO: 127.0.0.1:50038 - "GET /items/38 HTTP/1.1" 200 OK'
    assert next(line for line in lines if line.startswith("── logs")).startswith(
        "── logs · api · all levels · paused, 7 newer below ──"
    )
    paused = draw(view=ViewState(paused=True), width=100, height=30)
    assert next(line for line in paused if line.startswith("── logs")).startswith(
        "── logs · api · all levels · paused ──"
    )
    furthest = picture(SNAPSHOT, ViewState(paused=True, scroll=10**6), width=100, height=30, logs=LOGS)
    assert furthest.scroll_most == 46 - 8  # api's 46 lines, 8 in the pane
    capture = console(100, 30)
    capture.print(furthest.renderable, end="")
    oldest = _logs([line.rstrip() for line in capture.export_text().splitlines()])
    assert oldest[0] == 'api[4312] INFO: 127.0.0.1:50000 - "GET /items/0 HTTP/1.1" 200 OK'


def test_log_lines_with_line_breaks_are_split_and_their_colours_kept() -> None:
    logs = ["first\nsecond\n", "\x1b[31mred\x1b[0m", "10%\r50%\r100%\r\n"]
    lines = draw(view=ViewState(log_every_app=True), width=80, height=30, logs=logs)
    assert _logs(lines) == ["first", "second", "red", "10%\\x0d50%\\x0d100%"]  # a \r is shown: the prefix stays
    snapshot = dataclasses.replace(SNAPSHOT, events=())
    red = [s for s in segments(snapshot) if s.text == "api[4312] INFO: 127.0.0.1:50039"]
    assert red == []  # plain lines stay plain


def test_the_bottom_line_shows_the_keys_a_question_or_a_notice() -> None:
    for height in (12, 30, 45):
        assert draw(width=100, height=height)[-1] == BOTTOM
    asked = ViewState(question=Question("Stop the master and every app (each drains first)?", Stop()))
    assert draw(view=asked, width=100, height=30)[-1] == (
        "Stop the master and every app (each drains first)?  y yes · any other key: no"
    )
    assert draw(view=ViewState(notice="cancelled"), width=100, height=30)[-1] == "cancelled"


def test_question_mark_shows_every_key_in_place_of_the_panes() -> None:
    lines = draw(view=ViewState(help=True), width=100, height=30)
    assert lines[1].startswith("── keys · any key closes this ──")
    assert lines[2] == "  " + "↑ ↓  k j".ljust(max(len(keys) for keys, _ in HELP) + 2) + "move over apps and workers"
    assert any(line.startswith("  x ") and "restart the selected worker" in line for line in lines)
    assert not any(line.startswith("▸") for line in lines)
    assert lines[-1] == BOTTOM
    assert len(draw(view=ViewState(help=True), width=100, height=5)) == 5


VIEWS = (
    ViewState(),
    ViewState(2, "chat"),
    ViewState(0, "api", worker=4320, worker_index=3),
    ViewState(help=True),
    ViewState(question=Question("Reload every app?", Stop())),
)


@pytest.mark.parametrize("width", [1, 5, 20, 33, 60, 100, 160, 240])
@pytest.mark.parametrize("height", [0, 1, 2, 3, 5, 6, 8, 13, 21, 30, 80])
def test_the_picture_is_exactly_the_terminal_size(width: int, height: int) -> None:
    for view in VIEWS:
        lines = draw(view=view, width=width, height=height)
        assert len(lines) == height
        assert all(cell_len(line) <= width for line in lines)


def _panes(lines: list[str]) -> set[str]:
    found = {"events" for line in lines if line.startswith("── events")}
    found |= {"logs" for line in lines if line.startswith("── logs")}
    found |= {"trend" for line in lines if line.startswith("── api · the last minute")}
    found |= {"workers" for line in lines if "├" in line or "└" in line}
    found |= {"bottom" for line in lines if line == BOTTOM[: len(line)] and line.startswith("q quit")}
    return found


def test_a_shorter_terminal_drops_the_logs_and_events_then_the_trend_then_the_workers() -> None:
    shown = {height: _panes(draw(width=100, height=height)) for height in range(1, 46)}

    def gone_below(pane: str) -> int:
        """The height from which on down `pane` is never shown."""
        return max(height for height in shown if all(pane not in shown[lower] for lower in range(1, height + 1)))

    assert shown[45] == {"workers", "trend", "events", "logs", "bottom"}
    assert gone_below("logs") > gone_below("trend") > gone_below("workers") > 1
    assert gone_below("logs") > gone_below("events") > gone_below("workers")
    assert shown[gone_below("workers")] == {"bottom"}  # the app rows and the bottom line are the last to go


def test_the_selected_apps_workers_stay_longest_and_are_cut_around_the_cursor() -> None:
    # 1 header + 1 column header + 3 apps + 1 bottom line = 6 lines: 2 more for the selected app's rows.
    lines = draw(width=100, height=8, selected=0)
    assert [line.split()[0] for line in lines[2:7]] == ["▸", "├", "└", "web", "chat"]
    assert lines[4].strip() == "└ … 3 more"
    lines = draw(view=ViewState(0, "api", worker=4320, worker_index=3), width=100, height=8)
    assert [line.split()[:2] for line in lines[3:5]] == [["├", "4320"], ["└", "…"]]  # the branch goes on
    lines = draw(width=100, height=9, selected=1)
    assert [line.split()[:2] for line in lines[2:8]] == [
        ["api", "running"], ["▸", "web"], ["├", "4401"], ["├", "4415"], ["└", "4416"], ["chat", "crashloop"],
    ]  # fmt: skip
    assert draw(width=100, height=6)[-1] == BOTTOM
    assert not any("└" in line for line in draw(width=100, height=6))


def test_when_apps_do_not_fit_a_window_around_the_selected_one_is_shown() -> None:
    many = dataclasses.replace(SNAPSHOT, apps=tuple(app(f"app{i:02d}") for i in range(20)), events=())
    lines = draw(many, width=60, height=7, selected=15)
    names = [line[2:].split()[0] for line in lines[2:]]
    assert names == ["app13", "app14", "app15", "app16", "app17"]
    assert lines[4].startswith("▸ app15")
    assert [line[2:].split()[0] for line in draw(many, width=60, height=7, selected=19)[2:]] == [
        "app15", "app16", "app17", "app18", "app19",
    ]  # fmt: skip
    assert [line[2:].split()[0] for line in draw(many, width=60, height=7, selected=0)[2:]] == [
        "app00", "app01", "app02", "app03", "app04",
    ]  # fmt: skip


def test_narrow_terminals_drop_the_least_important_columns_first() -> None:
    def columns(width: int) -> list[str]:
        return draw(width=width, height=30)[1].split()

    assert columns(200) == [
        "APP", "STATE", "READY", "GEN", "REQ/S", "2XX/S", "4XX/S", "5XX/S", "REQUESTS", "CONN", "WS", "P50", "P99",
        "RSS", "CPU", "AGE", "↺", "BINDS",
    ]  # fmt: skip
    assert columns(80) == ["APP", "STATE", "READY", "GEN", "REQ/S", "4XX/S", "5XX/S", "REQUESTS", "CONN", "P99", "RSS"]
    assert columns(60) == ["APP", "STATE", "READY", "REQ/S", "5XX/S", "REQUESTS", "P99"]
    assert columns(40) == ["APP", "STATE", "READY", "REQ/S", "5XX/S"]
    assert columns(12) == ["APP"]


def test_the_binds_column_is_cut_to_the_room_left_or_dropped_below_its_minimum() -> None:
    assert draw(width=160, height=45)[2].endswith(" 127.0.0.1:8000, unix:/run/api…")
    assert draw(width=200, height=45)[2].rstrip().endswith("127.0.0.1:8000, unix:/run/api.sock")
    assert "BINDS" in draw(width=127, height=30)[1]
    assert "BINDS" not in draw(width=126, height=30)[1]


def test_columns_are_two_cells_apart_when_that_costs_no_column() -> None:
    assert "  APP        STATE      READY  GEN" in draw(width=200, height=45)[1]
    assert "  APP       STATE     READY GEN" in draw(width=100, height=30)[1]


def test_a_master_without_apps_shows_its_header_events_and_keys() -> None:
    empty = Snapshot(master_pid=1, config_path="serve.toml", started_at=NOW, uptime_s=0.4, events=EVENTS[:1])
    figures = "master 1  ·  up 0s  ·  0/0 workers  ·  0 req/s"
    assert draw(empty, width=90, height=8, logs=[]) == [
        "serve serve.toml".ljust(90 - len(figures)) + figures,
        "── events " + "─" * 80,
        " 1h00m ago  api  reload        generation 2 serving",
        "── logs · every app · all levels " + "─" * 57,
        "no output from the master yet",
        "",
        "",
        BOTTOM,
    ]


def test_with_few_lines_left_or_no_log_lines_the_events_take_them_all() -> None:
    lines = draw(width=160, height=21)
    assert not any(line.startswith("── logs") for line in lines)
    assert len(_between(lines, "── events", "q quit")) == 3
    lines = draw(width=160, height=30, logs=[])
    assert len(_between(lines, "── events", "── logs")) == 7  # every event
    assert _logs(lines) == ["no output from api yet"]


def test_with_logs_the_events_are_capped_so_that_the_logs_get_room() -> None:
    many = dataclasses.replace(
        SNAPSHOT, events=tuple(Event(NOW - i, "api", EventKind.READY, f"#{i}") for i in range(40))
    )
    lines = draw(many, width=100, height=30)
    assert len(_between(lines, "── events", "── logs")) == 3  # a third of the 13 lines the table and trend leave
    assert len(_between(lines, "── logs", "q quit")) == 8
    lines = draw(many, width=100, height=60)
    assert len(_between(lines, "── events", "── logs")) == 8  # at most MAX_EVENT_LINES


def test_a_worker_list_ending_in_an_error_keeps_its_branch_open() -> None:
    failing = dataclasses.replace(CHAT, workers=(worker(4502, state=WorkerState.STARTING),))
    snapshot = dataclasses.replace(SNAPSHOT, apps=(failing,))
    lines = draw(snapshot, width=100, height=30)
    assert lines[3].lstrip().startswith("├ 4502")
    assert lines[4].lstrip().startswith("└ worker 4502 exited")


@pytest.mark.parametrize(("width", "height", "lines"), [(0, 0, 0), (-5, 3, 3), (10, -3, 0)])
def test_render_accepts_nonsense_sizes(width: int, height: int, lines: int) -> None:
    capture = console(1, 10)
    capture.print(render(SNAPSHOT, ViewState(), width=width, height=height, logs=LOGS), end="")
    assert len(capture.export_text().splitlines()) == lines


def test_events_that_do_not_fit_are_left_out_whole_and_the_newest_is_cut_only_when_alone() -> None:
    events = (
        Event(NOW - 9, "api", EventKind.READY, "older"),
        Event(NOW - 1, None, EventKind.CONFIG_ERROR, "problem 1\nproblem 2\nproblem 3"),
    )
    empty = Snapshot(master_pid=1, config_path="serve.toml", started_at=NOW, uptime_s=0.0, events=events)

    def shown(height: int) -> list[str]:
        return [
            line.split()[-1]
            for line in _between(draw(empty, width=60, height=height, logs=[]), "── events", "q quit")
            if line
        ]

    assert shown(7) == ["older", "1", "2", "3"]
    assert shown(6) == ["1", "2", "3"]  # "older" does not fit; no blank where it was
    assert shown(5) == ["1", "2"]


def test_text_from_outside_cannot_add_lines_or_move_the_cursor() -> None:
    failing = dataclasses.replace(CHAT, last_error="Traceback:\n  \x1b[31mboom\x1b[0m\nValueError: x")
    events = (Event(NOW, "chat", EventKind.CRASH, "first\x1b[2J\nsecond\x07"),)
    snapshot = dataclasses.replace(SNAPSHOT, apps=(failing,), events=events)
    lines = draw(snapshot, width=100, height=24, logs=["chat[1] \x1b[2Jcleared\x07"])
    assert lines[3] == "  └ Traceback: ⏎ boom ⏎ ValueError: x"
    first = lines.index("    0s ago  chat  crash         first")
    assert lines[first + 1].strip() == "second"
    assert lines[first + 1].index("second") == lines[first].index("first")
    assert "chat[1] cleared\\x07" in lines
    assert not any("\x1b" in line or "\x07" in line for line in lines)


def test_the_web_sample_has_no_trend_yet() -> None:
    assert WEB.history_requests_per_s == ()  # the samples the tests above rely on


def test_a_log_pane_without_room_draws_nothing() -> None:
    assert panes.logs([], Scope(), ViewState(), 0, 80) == []


def _http2_snapshot(**changes: object) -> Snapshot:
    """The sample with api offering HTTP/2: worker i holds i connections and 2i streams, and broke i % 2 limits."""
    fields: dict[str, object] = {
        "http2": True,
        "h2_connections": 6,
        "h2_streams": 12,
        "h2_limits_exceeded": 3,
        "workers": tuple(
            dataclasses.replace(w, h2_connections=i, h2_streams=2 * i, h2_limits_exceeded=i % 2)
            for i, w in enumerate(API.workers)
        ),
    }
    api = dataclasses.replace(API, **{**fields, **changes})  # type: ignore[arg-type]
    return dataclasses.replace(SNAPSHOT, apps=(api, WEB, CHAT))


def test_http2_columns_show_only_when_an_app_offers_http2() -> None:
    assert "H2" not in draw(width=200, height=30)[1].split()  # HTTP/1.1 only: the table as it always was
    lines = draw(_http2_snapshot(), width=200, height=30)
    assert lines[1].split() == [
        "APP", "STATE", "READY", "GEN", "REQ/S", "2XX/S", "4XX/S", "5XX/S", "REQUESTS", "CONN", "WS", "H2", "STRM",
        "H2LIM", "P50", "P99", "RSS", "CPU", "AGE", "↺", "BINDS",
    ]  # fmt: skip
    rows = _rows(lines)
    # connections, websockets, HTTP/2 connections, streams and limits broken
    assert rows["api"][9:14] == ["37", "3", "6", "12", "3"]
    assert [rows[str(pid)][7:10] for pid in (4312, 4313, 4318, 4320)] == [
        ["0", "0", "0"],
        ["1", "2", "1"],
        ["2", "4", "0"],
        ["3", "6", "1"],
    ]
    # An app without HTTP/2 leaves the cells empty: its row reads on with P50.
    h2_at = lines[1].index(" H2 ")
    assert lines[7].startswith("  web")
    assert lines[7][h2_at : h2_at + 10].strip() == ""
    # Idle (0 and 0) but offering HTTP/2: the columns stay, as every figure of a quiet app does.
    idle = _http2_snapshot(h2_connections=0, h2_streams=0, workers=())
    assert draw(idle, width=200, height=30)[1] == lines[1]


def test_http2_figures_show_without_the_flag_from_a_snapshot_that_lacks_it() -> None:
    lines = draw(_http2_snapshot(http2=False), width=200, height=30)
    assert "STRM" in lines[1]


def test_http2_columns_go_right_after_the_binds_and_leave_the_drop_order_of_the_rest_as_it_was() -> None:
    def columns(snapshot: Snapshot, width: int) -> list[str]:
        blocks = [table.block(app, cursor=None) for app in snapshot.apps]
        return table.table(blocks, width)[0].plain.split()

    def drop_order(snapshot: Snapshot) -> list[str]:
        dropped: list[str] = []
        widest = columns(snapshot, 200)
        for width in range(200, 10, -1):
            shown = columns(snapshot, width)
            dropped += [c for c in widest if c not in shown and c not in dropped]
        return dropped

    with_h2 = drop_order(_http2_snapshot())
    assert with_h2[:5] == ["H2LIM", "BINDS", "STRM", "H2", "WS"]
    assert [c for c in with_h2 if c not in ("H2", "STRM", "H2LIM")] == drop_order(SNAPSHOT)
    assert columns(_http2_snapshot(), 100) == columns(SNAPSHOT, 100)


def test_http2_columns_keep_their_place_when_figures_grow() -> None:
    busy = _http2_snapshot(h2_connections=120, h2_streams=9999)
    for width in (160, 200):
        assert draw(_http2_snapshot(), width=width, height=20)[1] == draw(busy, width=width, height=20)[1]


def test_a_file_name_with_a_line_break_keeps_the_header_on_one_row() -> None:
    snapshot = dataclasses.replace(SNAPSHOT, config_path="/srv/a\nb\x1b]0;t\x07/serve.toml")
    header = console(100, 5).render_lines(panes.header(snapshot, 100), pad=False)
    assert len(header) == 1
    assert "".join(segment.text for segment in header[0]).startswith("serve /srv/a\\x0ab/serve.toml ")
