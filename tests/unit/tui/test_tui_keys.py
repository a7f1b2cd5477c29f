"""tui/keys.py: terminal bytes to key presses (across split reads), key presses to commands."""

from __future__ import annotations

import pytest

from supervisor.control import Reload, Restart, ScaleBy, Stop
from supervisor.tui.keys import MAX_SEQUENCE_BYTES, PAGE_LINES, Key, KeyDecoder, steer
from supervisor.tui.loglines import Level
from supervisor.tui.view import ViewState

TREE = [("api", (4312, 4313)), ("web", (4401,)), ("chat", ())]
UP, DOWN = b"\x1b[A", b"\x1b[B"


def decode(*reads: bytes) -> list[Key]:
    decoder = KeyDecoder()
    keys = [key for data in reads for key in decoder.feed(data)]
    assert decoder.pending == b""
    return keys


@pytest.mark.parametrize(
    ("data", "keys"),
    [
        (b"q", [Key.QUIT]),
        (b"Q", [Key.QUIT]),
        (b"r", [Key.RELOAD_ALL]),
        (b"R", [Key.RELOAD_APP]),
        (b"x", [Key.RESTART]),
        (b"k", [Key.UP]),
        (b"j", [Key.DOWN]),
        (b"\t", [Key.NEXT_APP]),
        (b"\x1b[Z", [Key.PREVIOUS_APP]),  # shift-tab
        (b"+", [Key.MORE]),
        (b"=", [Key.MORE]),
        (b"-", [Key.FEWER]),
        (b"?", [Key.HELP]),
        (b"yY\r\n", [Key.YES] * 4),
        (b"l", [Key.LEVEL]),
        (b"a", [Key.EVERY_APP]),
        (b"p ", [Key.PAUSE, Key.PAUSE]),
        (b"gG", [Key.OLDEST, Key.NEWEST]),
        (UP, [Key.UP]),
        (DOWN, [Key.DOWN]),
        (b"\x1bOA", [Key.UP]),  # application cursor mode
        (b"\x1bOB", [Key.DOWN]),
        (b"\x1bOk", [Key.MORE]),  # keypad + and - in application mode
        (b"\x1bOm", [Key.FEWER]),
        (b"\x1b[1;2A", [Key.UP]),  # shift-up
        (b"\x1b[5~\x1b[6~", [Key.PAGE_UP, Key.PAGE_DOWN]),
        (b"\x1b[5;5~", [Key.PAGE_UP]),  # ctrl-page-up
        (b"\x1b[H\x1b[F\x1bOH\x1bOF", [Key.OLDEST, Key.NEWEST, Key.OLDEST, Key.NEWEST]),
        (b"\x1b[1~\x1b[4~\x1b[7~\x1b[8~", [Key.OLDEST, Key.NEWEST, Key.OLDEST, Key.NEWEST]),
        (b"\x1b[C\x1b[D", [Key.OTHER, Key.OTHER]),  # right, left
        (b"\x1b[15~", [Key.OTHER]),  # F5: no digit or tilde leaks out as a key
        (b"\x1bOP", [Key.OTHER]),  # F1
        (b"\x1b[<0;81;5M", [Key.OTHER]),  # a mouse report whose bytes would otherwise read as keys
        (b"\x1bq", [Key.QUIT]),  # a lone ESC before a letter is dropped, the letter is not
        (b"\x1b\x1b[A", [Key.UP]),
        (
            b"\x1b[\x01j",
            [Key.OTHER, Key.OTHER, Key.DOWN],
        ),  # a broken sequence ends at the first byte that cannot be in it
        ("é€z".encode(), [Key.OTHER, Key.OTHER, Key.OTHER]),  # a character is one key, whatever its bytes
        (b"rj+-q", [Key.RELOAD_ALL, Key.DOWN, Key.MORE, Key.FEWER, Key.QUIT]),
        (b"", []),
    ],
)
def test_bytes_decode_to_keys(data: bytes, keys: list[Key]) -> None:
    assert decode(data) == keys


@pytest.mark.parametrize("sequence", [UP, b"\x1b[1;5B", b"\x1bOA", b"j\x1b[Bq"])
def test_a_sequence_split_across_reads_at_any_byte_decodes_the_same(sequence: bytes) -> None:
    whole = decode(sequence)
    for cut in range(len(sequence) + 1):
        assert decode(sequence[:cut], sequence[cut:]) == whole
    assert decode(*[sequence[i : i + 1] for i in range(len(sequence))]) == whole


def test_an_unfinished_sequence_waits_for_the_next_read() -> None:
    decoder = KeyDecoder()
    assert decoder.feed(b"j\x1b[") == [Key.DOWN]
    assert decoder.pending == b"\x1b["
    assert decoder.feed(b"1;2") == []
    assert decoder.pending == b"\x1b[1;2"
    assert decoder.feed(b"Aq") == [Key.UP, Key.QUIT]
    assert decoder.pending == b""
    assert decoder.feed(b"\x1b") == []
    assert decoder.pending == b"\x1b"
    assert decoder.feed(b"O") == []
    assert decoder.feed(b"B") == [Key.DOWN]


def test_a_sequence_that_never_ends_is_dropped_instead_of_buffered_forever() -> None:
    decoder = KeyDecoder()
    assert decoder.feed(b"\x1b[" + b"1" * (MAX_SEQUENCE_BYTES - 3)) == []
    assert len(decoder.pending) == MAX_SEQUENCE_BYTES - 1
    assert decoder.feed(b"1") == []
    assert decoder.pending == b""
    assert decoder.feed(b"q") == [Key.QUIT]


def test_quit_asks_first_and_y_stops_the_master_gracefully_and_ends_the_read() -> None:
    commands, view = steer([Key.QUIT], ViewState(), TREE)
    assert commands == []
    assert view.question is not None
    assert view.question.text == "Stop the master and every app (each drains first)?"
    commands, view = steer([Key.YES, Key.MORE, Key.RELOAD_ALL], view, TREE)
    assert commands == [Stop(now=False)]
    assert view.question is None
    assert (view.index, view.app) == (0, "api")


def test_in_serve_top_quit_asks_nothing() -> None:
    commands, _ = steer([Key.QUIT, Key.MORE], ViewState(), TREE, quit_asks=False)
    assert commands == [Stop(now=False)]


def test_any_other_key_drops_the_question_and_does_nothing_else() -> None:
    for key in (Key.OTHER, Key.QUIT, Key.MORE, Key.DOWN, Key.RELOAD_ALL):
        commands, view = steer([Key.RELOAD_ALL, key], ViewState(), TREE)
        assert commands == []
        assert view.question is None
        assert view.notice == "cancelled"
        assert (view.app, view.worker) == ("api", None)
    _, view = steer([Key.RELOAD_ALL, Key.OTHER, Key.DOWN], ViewState(), TREE)
    assert view.notice is None  # the next key clears the notice
    assert view.worker == 4312


def test_r_reloads_every_app_and_shift_r_the_selected_one_once_confirmed() -> None:
    _, view = steer([Key.RELOAD_ALL], ViewState(), TREE)
    assert view.question is not None
    assert view.question.text.startswith("Reload all 3 apps?")
    commands, view = steer([Key.YES, Key.NEXT_APP, Key.RELOAD_APP], view, TREE)
    assert view.question is not None
    assert view.question.text.startswith("Reload web?")
    more, _ = steer([Key.YES], view, TREE)
    assert commands + more == [Reload(), Reload("web")]
    _, single = steer([Key.RELOAD_ALL], ViewState(), TREE[:1])
    assert single.question is not None
    assert single.question.text.startswith("Reload every app?")


def test_x_restarts_the_selected_worker_once_confirmed() -> None:
    commands, view = steer([Key.RESTART], ViewState(), TREE)
    assert commands == []
    assert view.notice == "x restarts a worker: select one first (↓)"
    commands, view = steer([Key.DOWN, Key.DOWN, Key.RESTART], view, TREE)
    assert commands == []
    assert view.question is not None
    assert view.question.text == "Restart api[4313]? Its replacement starts first."
    commands, view = steer([Key.YES], view, TREE)
    assert commands == [Restart("api", 4313)]


def test_plus_and_minus_scale_the_app_of_the_selected_row_at_once() -> None:
    keys = [Key.MORE, Key.NEXT_APP, Key.NEXT_APP, Key.MORE, Key.FEWER, Key.PREVIOUS_APP, Key.DOWN, Key.FEWER]
    commands, view = steer(keys, ViewState(), TREE)
    assert commands == [ScaleBy(+1, "api"), ScaleBy(+1, "chat"), ScaleBy(-1, "chat"), ScaleBy(-1, "web")]
    assert (view.app, view.worker) == ("web", 4401)


def test_the_cursor_moves_over_apps_and_workers_and_stops_at_the_ends() -> None:
    _, view = steer([Key.UP, Key.UP], ViewState(), TREE)
    assert (view.app, view.worker) == ("api", None)
    _, view = steer([Key.DOWN] * 3, ViewState(), TREE)
    assert (view.app, view.worker) == ("web", None)
    _, view = steer([Key.DOWN] * 9, ViewState(), TREE)
    assert (view.app, view.worker) == ("chat", None)
    _, view = steer([Key.NEXT_APP] * 5, ViewState(), TREE)
    assert (view.index, view.app) == (2, "chat")


def test_keys_for_the_selected_app_do_nothing_without_apps() -> None:
    keys = [Key.MORE, Key.FEWER, Key.RELOAD_APP, Key.RESTART, Key.DOWN, Key.NEXT_APP]
    commands, view = steer(keys, ViewState(), [])
    assert commands == []
    assert view == ViewState()
    _, view = steer([Key.RELOAD_ALL], ViewState(), [])
    assert view.question is not None


def test_question_mark_opens_the_help_and_any_key_closes_it_doing_nothing_else() -> None:
    commands, view = steer([Key.HELP], ViewState(), TREE)
    assert view.help
    commands, view = steer([Key.QUIT], view, TREE)
    assert (commands, view.help, view.question) == ([], False, None)


def test_the_log_keys_change_the_pane_and_moving_the_cursor_shows_the_newest_lines() -> None:
    _, view = steer([Key.LEVEL], ViewState(), TREE)
    assert view.log_level is Level.WARNING
    _, view = steer([Key.LEVEL, Key.LEVEL], view, TREE)
    assert view.log_level is Level.UNKNOWN
    _, view = steer([Key.PAGE_UP, Key.PAGE_UP], ViewState(), TREE)
    assert (view.paused, view.scroll) == (True, 2 * PAGE_LINES)
    _, view = steer([Key.PAGE_DOWN], view, TREE)
    assert (view.paused, view.scroll) == (True, PAGE_LINES)
    _, view = steer([Key.NEWEST], view, TREE)
    assert (view.paused, view.scroll) == (False, 0)
    _, view = steer([Key.PAGE_DOWN], view, TREE)
    assert (view.paused, view.scroll) == (False, 0)  # already at the newest: nothing to hold
    _, view = steer([Key.OLDEST, Key.DOWN], view, TREE)
    assert (view.paused, view.scroll) == (True, 0)  # another row's lines, from their newest
    _, view = steer([Key.PAUSE], ViewState(), TREE)
    assert view.paused
    _, view = steer([Key.PAUSE], ViewState(paused=True, scroll=30), TREE)
    assert (view.paused, view.scroll) == (False, 0)
    _, view = steer([Key.EVERY_APP], ViewState(), TREE)
    assert view.log_every_app
    _, view = steer([Key.YES, Key.OTHER], ViewState(), TREE)
    assert view == ViewState().follow(TREE)  # y without a question, and unknown keys: nothing


def test_the_view_returned_follows_the_apps_even_without_keys() -> None:
    assert steer([], ViewState(1, "web"), [("web", ())]) == ([], ViewState(0, "web"))


def test_decoder_and_steer_together() -> None:
    decoder = KeyDecoder()
    commands, view = steer(decoder.feed(b"\t\x1b["), ViewState(), TREE)
    assert (commands, view.app) == ([], "web")
    commands, view = steer(decoder.feed(b"Z+"), view, TREE)
    assert (commands, view.app) == ([ScaleBy(+1, "api")], "api")
