"""tui/view.py: the selected app stays the same app while apps come and go."""

from __future__ import annotations

from supervisor.tui.view import ViewState

APPS = ["api", "web", "chat"]


def test_a_fresh_view_selects_the_first_app() -> None:
    assert ViewState().follow(APPS) == ViewState(0, "api")
    assert ViewState().selected(APPS) == "api"


def test_the_selection_follows_its_app_when_apps_are_added_or_removed_above_it() -> None:
    view = ViewState(1, "web")
    assert view.follow(["admin", "api", "web", "chat"]) == ViewState(2, "web")
    assert view.follow(["web", "chat"]) == ViewState(0, "web")


def test_a_vanished_app_hands_the_selection_to_the_app_now_in_its_row() -> None:
    assert ViewState(1, "web").follow(["api", "chat"]) == ViewState(1, "chat")
    assert ViewState(2, "chat").follow(["api", "web"]) == ViewState(1, "web")
    assert ViewState(-3, None).follow(APPS) == ViewState(0, "api")


def test_no_apps_means_no_selection() -> None:
    assert ViewState(2, "chat").follow([]) == ViewState()
    assert ViewState(2, "chat").selected([]) is None
    assert ViewState(2, "chat").move(1, []) == ViewState()


def test_moving_stops_at_the_first_and_last_app() -> None:
    view = ViewState()
    view = view.move(+1, APPS)
    assert view == ViewState(1, "web")
    assert view.move(+5, APPS) == ViewState(2, "chat")
    assert view.move(-1, APPS).move(-1, APPS) == ViewState(0, "api")


def test_moving_starts_from_where_the_selected_app_is_now() -> None:
    assert ViewState(0, "web").move(+1, APPS) == ViewState(2, "chat")
