"""tui/keys.py: terminal bytes to key presses (across split reads), key presses to commands."""

from __future__ import annotations

import pytest

from supervisor.control import Reload, ScaleBy, Stop
from supervisor.tui.keys import MAX_SEQUENCE_BYTES, Key, KeyDecoder, steer
from supervisor.tui.view import ViewState

APPS = ["api", "web", "chat"]
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
        (b"k", [Key.UP]),
        (b"j", [Key.DOWN]),
        (b"+", [Key.MORE]),
        (b"=", [Key.MORE]),
        (b"-", [Key.FEWER]),
        (UP, [Key.UP]),
        (DOWN, [Key.DOWN]),
        (b"\x1bOA", [Key.UP]),  # application cursor mode
        (b"\x1bOB", [Key.DOWN]),
        (b"\x1bOk", [Key.MORE]),  # keypad + and - in application mode
        (b"\x1bOm", [Key.FEWER]),
        (b"\x1b[1;2A", [Key.UP]),  # shift-up
        (b"\x1b[C\x1b[D", []),  # right, left
        (b"\x1b[5~\x1b[15~", []),  # page up, F5: no digit or tilde leaks out as a key
        (b"\x1bOP", []),  # F1
        (b"\x1b[<0;81;5M", []),  # a mouse report whose bytes would otherwise read as keys
        (b"\x1bq", [Key.QUIT]),  # a lone ESC before a letter is dropped, the letter is not
        (b"\x1b\x1b[A", [Key.UP]),
        (b"\x1b[\x01j", [Key.DOWN]),  # a broken sequence ends at the first byte that cannot be in it
        ("é€x".encode(), []),
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


def test_quit_stops_the_master_gracefully_and_ends_the_read() -> None:
    commands, view = steer([Key.QUIT, Key.MORE, Key.RELOAD_ALL], ViewState(), APPS)
    assert commands == [Stop(now=False)]
    assert view == ViewState(0, "api")


def test_r_reloads_every_app_and_shift_r_the_selected_one() -> None:
    commands, _ = steer([Key.RELOAD_ALL, Key.DOWN, Key.RELOAD_APP], ViewState(), APPS)
    assert commands == [Reload(), Reload("web")]


def test_plus_and_minus_scale_the_selected_app() -> None:
    commands, view = steer([Key.MORE, Key.DOWN, Key.DOWN, Key.MORE, Key.FEWER, Key.UP], ViewState(), APPS)
    assert commands == [ScaleBy(+1, "api"), ScaleBy(+1, "chat"), ScaleBy(-1, "chat")]
    assert view == ViewState(1, "web")


def test_the_selection_stops_at_the_ends() -> None:
    _, view = steer([Key.UP, Key.UP], ViewState(), APPS)
    assert view == ViewState(0, "api")
    _, view = steer([Key.DOWN] * 5, ViewState(), APPS)
    assert view == ViewState(2, "chat")


def test_keys_for_the_selected_app_do_nothing_without_apps() -> None:
    commands, view = steer([Key.MORE, Key.FEWER, Key.RELOAD_APP, Key.DOWN, Key.RELOAD_ALL], ViewState(), [])
    assert commands == [Reload()]
    assert view == ViewState()


def test_the_view_returned_follows_the_apps_even_without_keys() -> None:
    assert steer([], ViewState(1, "web"), ["web"]) == ([], ViewState(0, "web"))


def test_decoder_and_steer_together() -> None:
    decoder = KeyDecoder()
    commands, view = steer(decoder.feed(b"j\x1b["), ViewState(), APPS)
    assert (commands, view) == ([], ViewState(1, "web"))
    commands, view = steer(decoder.feed(b"B+"), view, APPS)
    assert (commands, view) == ([ScaleBy(+1, "chat")], ViewState(2, "chat"))
