"""tui/view.py: the cursor stays on the same app or worker while apps and workers come and go."""

from __future__ import annotations

from supervisor.tui.loglines import Level, Scope
from supervisor.tui.view import ViewState, tree_of

TREE = [("api", (11, 12, 13)), ("web", (21,)), ("chat", ())]


def names(*apps: str) -> list[tuple[str, tuple[int, ...]]]:
    return [(app, ()) for app in apps]


def test_a_fresh_view_selects_the_first_app() -> None:
    assert ViewState().follow(TREE) == ViewState(0, "api")
    assert ViewState().selected(TREE) == "api"
    assert ViewState().selected_worker(TREE) is None


def test_the_selection_follows_its_app_when_apps_are_added_or_removed_above_it() -> None:
    view = ViewState(1, "web")
    assert view.follow(names("admin", "api", "web", "chat")) == ViewState(2, "web")
    assert view.follow(names("web", "chat")) == ViewState(0, "web")


def test_a_vanished_app_hands_the_selection_to_the_app_now_in_its_row() -> None:
    assert ViewState(1, "web").follow(names("api", "chat")) == ViewState(1, "chat")
    assert ViewState(2, "chat").follow(names("api", "web")) == ViewState(1, "web")
    assert ViewState(-3, None).follow(TREE) == ViewState(0, "api")
    assert ViewState(1, "web", worker=21).follow(names("api", "chat")) == ViewState(1, "chat")  # on the app's row


def test_no_apps_means_no_selection() -> None:
    assert ViewState(2, "chat").follow([]) == ViewState()
    assert ViewState(2, "chat").selected([]) is None
    assert ViewState(2, "chat").move(1, []) == ViewState()
    assert ViewState(2, "chat").jump(1, []) == ViewState()


def test_the_cursor_moves_row_by_row_over_apps_and_their_workers() -> None:
    view = ViewState()
    rows = []
    for _ in range(7):
        view = view.move(+1, TREE)
        rows.append((view.app, view.worker))
    assert rows == [("api", 11), ("api", 12), ("api", 13), ("web", None), ("web", 21), ("chat", None), ("chat", None)]
    assert view.move(-1, TREE).selected_worker(TREE) == 21
    assert view.move(-99, TREE) == ViewState(0, "api")


def test_tab_jumps_from_app_to_app() -> None:
    view = ViewState(0, "api", worker=12, worker_index=1)
    assert view.jump(+1, TREE) == ViewState(1, "web")
    assert view.jump(+5, TREE) == ViewState(2, "chat")
    assert view.jump(-1, TREE) == ViewState(0, "api")


def test_a_selected_worker_is_followed_and_a_vanished_one_hands_over_to_its_neighbour() -> None:
    view = ViewState(0, "api").move(+2, TREE)
    assert view == ViewState(0, "api", worker=12, worker_index=1)
    assert view.follow([("api", (10, 11, 12, 13))]) == ViewState(0, "api", worker=12, worker_index=2)
    assert view.follow([("api", (11, 13, 14))]) == ViewState(0, "api", worker=13, worker_index=1)  # 12 restarted
    assert view.follow([("api", (11,))]) == ViewState(0, "api", worker=11, worker_index=0)
    assert view.follow([("api", ())]) == ViewState(0, "api")


def test_the_log_scope_follows_the_selection_unless_every_app_is_asked_for() -> None:
    assert ViewState(0, "api", worker=12).log_scope() == Scope("api", 12)
    assert ViewState(0, "api", log_level=Level.ERROR).log_scope() == Scope("api", None, Level.ERROR)
    assert ViewState(0, "api", worker=12, log_every_app=True).log_scope() == Scope()


def test_the_tree_of_a_snapshot_lists_apps_and_workers_in_order() -> None:
    from tui_samples import SNAPSHOT

    assert tree_of(SNAPSHOT) == [("api", [4312, 4313, 4318, 4320]), ("web", [4401, 4415, 4416]), ("chat", [])]
