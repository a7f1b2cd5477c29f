"""tui/screen.py: keys typed into a pipe steer over the last frame drawn; a paused pane holds its lines."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator

import pytest
from tui_samples import LOGS, SNAPSHOT

from supervisor.control import Restart, Stop
from supervisor.tui.keys import OLDEST
from supervisor.tui.screen import FRAME_S, Screen


@pytest.fixture
def keyboard() -> Iterator[tuple[int, int]]:
    read, write = os.pipe()
    os.set_blocking(read, False)
    yield read, write
    os.close(read)
    os.close(write)


def _screen(read: int, *, quit_asks: bool = True) -> Screen:
    return Screen(output=io.StringIO(), input_fd=read, quit_asks=quit_asks)


def test_the_cursor_moves_over_the_workers_of_the_last_frame_and_x_restarts_one(keyboard: tuple[int, int]) -> None:
    read, write = keyboard
    with _screen(read) as screen:
        screen.draw(SNAPSHOT, LOGS, now=0.0)
        os.write(write, b"jjx")
        assert screen.read_commands(["api", "web", "chat"]) == []
        assert screen.view.question is not None
        assert screen.view.question.text == "Restart api[4313]? Its replacement starts first."
        os.write(write, b"y")
        assert screen.read_commands(["api", "web", "chat"]) == [Restart("api", 4313)]


def test_a_worker_that_is_not_ready_is_not_restarted_and_the_viewer_is_told(keyboard: tuple[int, int]) -> None:
    read, write = keyboard
    with _screen(read) as screen:
        screen.draw(SNAPSHOT, LOGS, now=0.0)
        os.write(write, b"\tjjjxy")  # web's third worker: starting
        assert screen.read_commands(["api", "web", "chat"]) == []
        assert screen.view.notice == "web[4416] is starting: only a ready worker is restarted"


def test_a_paused_pane_holds_the_lines_it_had_and_scrolling_stops_at_the_oldest(keyboard: tuple[int, int]) -> None:
    read, write = keyboard
    with _screen(read) as screen:
        screen.draw(SNAPSHOT, LOGS, now=0.0)
        os.write(write, b"p")
        screen.read_commands([])
        screen.draw(SNAPSHOT, [*LOGS, "api[4312] later"], now=FRAME_S)
        assert screen.held == tuple(LOGS)
        os.write(write, b"\x1b[H")  # Home: the oldest lines
        screen.read_commands([])
        assert screen.view.scroll == OLDEST
        screen.draw(SNAPSHOT, [*LOGS, "api[4312] even later"], now=2 * FRAME_S)
        assert 0 < screen.view.scroll < len(LOGS)  # as far back as there are lines, not further
        os.write(write, b"G")
        screen.read_commands([])
        screen.draw(SNAPSHOT, [*LOGS, "api[4312] now"], now=3 * FRAME_S)
        assert screen.held is None
        assert screen.view.scroll == 0


def test_frames_come_at_most_four_times_a_second_but_a_key_is_answered_at_once(keyboard: tuple[int, int]) -> None:
    read, write = keyboard
    with _screen(read) as screen:
        screen.draw(SNAPSHOT, LOGS, now=10.0)
        assert screen.due(10.0) == 10.0 + FRAME_S
        os.write(write, b"j")
        screen.read_commands([])
        assert screen.due(10.01) <= 10.01


def test_in_serve_top_q_leaves_without_asking(keyboard: tuple[int, int]) -> None:
    read, write = keyboard
    with _screen(read, quit_asks=False) as screen:
        os.write(write, b"q")
        assert screen.read_commands(["api"]) == [Stop(now=False)]
    with _screen(read) as screen:
        os.write(write, b"q")
        assert screen.read_commands(["api"]) == []  # serve up: asked first
        assert screen.view.question is not None


def test_a_terminal_that_hung_up_ends_the_dashboard() -> None:
    read, write = os.pipe()
    os.close(write)  # nobody at the other end: a read finds the end of the input
    try:
        with _screen(read) as screen:
            with pytest.raises(EOFError):
                screen.read_commands([])
            assert screen.lost
            screen.draw(SNAPSHOT, LOGS, now=0.0)  # nothing more is drawn
            assert screen.shown == ()
    finally:
        os.close(read)


def test_the_pane_of_a_selected_app_draws_from_its_own_lines_and_every_apps_from_the_shared_ones(
    keyboard: tuple[int, int],
) -> None:
    read, write = keyboard
    asked: list[str] = []

    def app_logs(app: str) -> list[str]:
        asked.append(app)
        return [f"{app}[1] its own line"]

    with _screen(read) as screen:
        screen.draw(SNAPSHOT, LOGS, now=0.0, app_logs=app_logs)
        assert (asked, screen.shown) == (["api"], ("api[1] its own line",))
        os.write(write, b"a")  # every app's lines: the shared ones, as before
        screen.read_commands(["api", "web", "chat"])
        screen.draw(SNAPSHOT, LOGS, now=FRAME_S, app_logs=app_logs)
        assert (asked, screen.shown) == (["api"], tuple(LOGS))
        screen.draw(SNAPSHOT, LOGS, now=2 * FRAME_S)  # none given (a caller that has only the shared ones)
        assert screen.shown == tuple(LOGS)
