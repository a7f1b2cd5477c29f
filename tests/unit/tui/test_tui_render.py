"""tui/render.py: what the dashboard shows for a snapshot, and how it gives way on a small terminal."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from rich.cells import cell_len
from tui_samples import CHAT, EVENTS, LOGS, NOW, SNAPSHOT, app, console, draw, segments, worker

from supervisor.status.snapshot import AppState, Event, EventKind, Snapshot, WorkerState
from supervisor.tui.render import render
from supervisor.tui.view import ViewState

GOLDEN = Path(__file__).parent / "golden"


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
    end = next((i for i, line in enumerate(lines) if last and line.startswith(last)), len(lines))
    return lines[start + 1 : end]


def test_the_dashboard_at_100_by_30_matches_the_golden_capture() -> None:
    expected = (GOLDEN / "dashboard-100x30.txt").read_text().splitlines()
    assert draw(width=100, height=30) == expected


def test_every_app_and_every_worker_has_a_row_with_its_figures() -> None:
    rows = _rows(draw(width=160, height=45))
    assert rows["api"] == [
        "api", "running", "4/4", "2", "1,204", "182,733", "37", "3", "1.8ms", "41ms", "230M", "36.4%", "1",
        "127.0.0.1:8000,", "unix:/run/api.sock",
    ]  # fmt: skip
    assert rows["web"][:6] == ["web", "reloading", "1/2", "5", "48.2", "9,312"]
    assert rows["chat"][:4] == ["chat", "crashloop", "0/2", "1"]
    assert rows["4312"] == ["4312", "ready", "2", "45,120", "57.5M", "12.5%", "13m32s"]
    assert rows["4320"] == ["4320", "ready", "2", "46,612", "50.0M", "0.4%", "3s"]
    assert rows["4401"] == ["4401", "retiring", "4", "9,000", "57.5M", "12.5%", "1h00m"]
    assert rows["4416"] == ["4416", "starting", "5", "0", "57.5M", "87.0%", "0s"]


def test_workers_are_drawn_beneath_their_app() -> None:
    lines = draw(width=160, height=45)
    assert [line[2:].split()[:2] for line in lines[2:12]] == [
        ["api", "running"], ["├", "4312"], ["├", "4313"], ["├", "4318"], ["└", "4320"],
        ["web", "reloading"], ["├", "4401"], ["├", "4415"], ["└", "4416"],
        ["chat", "crashloop"],
    ]  # fmt: skip


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


def _colours(snapshot: Snapshot = SNAPSHOT) -> dict[str, set[str | None]]:
    """The colours each piece of text is drawn in, anywhere on the screen."""
    found: dict[str, set[str | None]] = {}
    for segment in segments(snapshot, width=160, height=45):
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


def test_the_selected_app_is_marked_and_drawn_in_reverse() -> None:
    for selected, name in enumerate(["api", "web", "chat"]):
        lines = draw(width=100, height=30, selected=selected)
        marked = [line for line in lines if line.startswith("▸")]
        assert len(marked) == 1
        assert marked[0].split()[1] == name
        reversed_text = "".join(s.text for s in segments(selected=selected) if s.style and s.style.reverse)
        assert reversed_text.startswith(f"▸ {name}")


def test_a_vanished_selection_moves_to_the_app_now_in_its_row() -> None:
    lines = draw(view=ViewState(5, "gone"), width=100, height=30)
    assert [line.split()[1] for line in lines if line.startswith("▸")] == ["chat"]


def test_events_are_listed_oldest_first_with_their_age_and_a_multi_line_error_keeps_its_lines() -> None:
    events = _between(draw(width=160, height=45), "── events ", "── logs ")
    assert events[0].split()[:4] == ["1h00m", "ago", "api", "reload"]
    assert events[3].split()[:5] == ["40s", "ago", "chat", "crash", "worker"]
    assert events[4].split()[:5] == ["20s", "ago", "master", "config", "error"]
    assert events[5].strip() == "serve.toml:14: apps.web.bind: unknown key, did you mean 'binds'?"
    assert events[5].index("serve.toml") == events[4].index("serve.toml")
    assert events[-1].split()[:4] == ["5s", "ago", "web", "reload"]


def test_an_event_from_the_future_reads_as_now_and_an_empty_message_is_drawn() -> None:
    snapshot = dataclasses.replace(SNAPSHOT, events=(Event(NOW + 3, "api", EventKind.SCALE, ""),))
    events = _between(draw(snapshot, width=100, height=30), "── events ", "── logs ")
    assert events == ["    0s ago  api  scale"]


def test_the_log_pane_shows_the_latest_lines_without_escape_codes() -> None:
    logs = _between(draw(width=100, height=30), "── logs ", "q quit")
    assert logs[-1] == LOGS[-1]
    assert logs[-2] == "web[4415] INFO: Application startup complete."
    assert logs[-3] == LOGS[-3]
    assert len(logs) == 8


def test_log_lines_with_line_breaks_are_split_and_their_colours_kept() -> None:
    logs = ["first\nsecond\n", "\x1b[31mred\x1b[0m", "10%\r50%\r100%\r\n"]
    lines = draw(width=80, height=30, logs=logs)
    assert [line for line in _between(lines, "── logs ", "q quit") if line] == ["first", "second", "red", "100%"]
    snapshot = dataclasses.replace(SNAPSHOT, events=())
    red = [s for s in segments(snapshot) if s.text == "api[4312] INFO: 127.0.0.1:50039"]
    assert red == []  # plain lines stay plain


def test_the_help_line_is_the_last_line() -> None:
    for height in (12, 30, 45):
        lines = draw(width=100, height=height)
        assert lines[-1] == "q quit · r reload · R reload app · ↑/↓ select · +/- scale"


@pytest.mark.parametrize("width", [1, 5, 20, 33, 60, 100, 160, 240])
@pytest.mark.parametrize("height", [0, 1, 2, 3, 5, 6, 8, 13, 21, 30, 80])
def test_the_picture_is_exactly_the_terminal_size(width: int, height: int) -> None:
    for selected in (0, 2):
        lines = draw(width=width, height=height, selected=selected)
        assert len(lines) == height
        assert all(cell_len(line) <= width for line in lines)


def _panes(lines: list[str]) -> set[str]:
    found = {"events" for line in lines if line.startswith("── events ")}
    found |= {"logs" for line in lines if line.startswith("── logs ")}
    found |= {"workers" for line in lines if "├" in line or "└" in line}
    found |= {"help" for line in lines if line.startswith("q quit")}
    return found


def test_a_shorter_terminal_drops_the_logs_then_the_events_then_the_workers() -> None:
    shown = {height: _panes(draw(width=100, height=height)) for height in range(1, 46)}

    def gone_below(pane: str) -> int:
        """The height from which on down `pane` is never shown."""
        return max(height for height in shown if all(pane not in shown[lower] for lower in range(1, height + 1)))

    assert shown[45] == {"workers", "events", "logs", "help"}
    assert gone_below("logs") > gone_below("events") > gone_below("workers") > 1
    assert shown[gone_below("workers")] == {"help"}  # the app rows and the help line are the last to go


def test_the_selected_apps_workers_stay_longest_and_are_cut_with_a_count() -> None:
    # 1 header + 1 column header + 3 apps + 1 help = 6 lines: 2 more for the selected app's rows.
    lines = draw(width=100, height=8, selected=0)
    assert [line.split()[0] for line in lines[2:7]] == ["▸", "├", "└", "web", "chat"]
    assert lines[4].strip() == "└ … 3 more"
    lines = draw(width=100, height=9, selected=1)
    assert [line.split()[:2] for line in lines[2:8]] == [
        ["api", "running"], ["▸", "web"], ["├", "4401"], ["├", "4415"], ["└", "4416"], ["chat", "crashloop"],
    ]  # fmt: skip
    assert draw(width=100, height=6)[-1].startswith("q quit")
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

    assert columns(160) == [
        "APP", "STATE", "READY", "GEN", "REQ/S", "REQUESTS", "CONN", "WS", "P50", "P99", "RSS", "CPU", "AGE", "↺", "BINDS"
    ]  # fmt: skip
    assert columns(60) == ["APP", "STATE", "READY", "GEN", "REQ/S", "REQUESTS", "CONN", "P99", "RSS"]
    assert columns(40) == ["APP", "STATE", "READY", "REQ/S", "REQUESTS"]
    assert columns(12) == ["APP"]


def test_the_binds_column_is_cut_to_the_room_left_or_dropped_below_its_minimum() -> None:
    assert draw(width=100, height=30)[2].endswith(" 127.0.0.1:8000…")
    assert draw(width=160, height=45)[2].rstrip().endswith("127.0.0.1:8000, unix:/run/api.sock")
    assert "BINDS" not in draw(width=90, height=30)[1]


def test_columns_are_two_cells_apart_when_that_costs_no_column() -> None:
    assert "  APP     STATE      READY  GEN" in draw(width=160, height=45)[1]
    assert "  APP    STATE     READY GEN" in draw(width=100, height=30)[1]


def test_a_master_without_apps_shows_its_header_events_and_help() -> None:
    empty = Snapshot(master_pid=1, config_path="serve.toml", started_at=NOW, uptime_s=0.4, events=EVENTS[:1])
    figures = "master 1  ·  up 0s  ·  0/0 workers  ·  0 req/s"
    assert draw(empty, width=72, height=6, logs=[]) == [
        "serve serve.toml".ljust(72 - len(figures)) + figures,
        "── events " + "─" * 62,
        " 1h00m ago  api  reload        generation 2 serving",
        "",
        "",
        "q quit · r reload · R reload app · ↑/↓ select · +/- scale",
    ]


def test_without_logs_the_events_take_the_room_left() -> None:
    lines = draw(width=160, height=45, logs=[])
    assert not any(line.startswith("── logs ") for line in lines)
    assert len(_between(lines, "── events ", "q quit")) > len(EVENTS)


def test_with_logs_the_events_are_capped_so_that_the_logs_get_room() -> None:
    many = dataclasses.replace(
        SNAPSHOT, events=tuple(Event(NOW - i, "api", EventKind.READY, f"#{i}") for i in range(40))
    )
    lines = draw(many, width=100, height=30)
    assert len(_between(lines, "── events ", "── logs ")) == 6
    assert len(_between(lines, "── logs ", "q quit")) >= 6
    lines = draw(many, width=100, height=60)
    assert len(_between(lines, "── events ", "── logs ")) == (60 - 1 - 12 - 1) // 3  # a third of what the table leaves


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
    lines = draw(snapshot, width=100, height=10, logs=[])
    assert lines[3] == "  └ Traceback: ⏎ boom ⏎ ValueError: x"
    assert lines[5] == "    0s ago  chat  crash         first"
    assert lines[6].strip() == "second"
    assert lines[6].index("second") == lines[5].index("first")
    assert not any("\x1b" in line or "\x07" in line for line in lines)
