"""tui/formats.py: how figures are written on the dashboard, and worker output made safe to draw."""

from __future__ import annotations

import pytest

from supervisor.tui import formats


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (250, "250"),
        (182733, "182,733"),
        (9_999_999, "9,999,999"),
        (12_400_000, "12.4M"),
        (3_100_000_000, "3.1G"),
    ],
)
def test_count(value: int, text: str) -> None:
    assert formats.count(value) == text


@pytest.mark.parametrize(
    ("value", "text"), [(0.0, "0"), (-1.0, "0"), (0.4, "0.4"), (12.46, "12.5"), (99.9, "99.9"), (1204.5, "1,204")]
)
def test_rate(value: float, text: str) -> None:
    assert formats.rate(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (-5, "0"),
        (512, "0K"),
        (831_488, "812K"),
        (60_293_120, "57.5M"),
        (241_172_480, "230M"),
        (1_288_490_189, "1.2G"),
        (5 * 1024**4, "5.0T"),
        (3000 * 1024**4, "3000T"),
    ],
)
def test_size(value: int, text: str) -> None:
    assert formats.size(value) == text


@pytest.mark.parametrize(("value", "text"), [(0.0, "0.0%"), (12.54, "12.5%"), (99.94, "99.9%"), (180.2, "180%")])
def test_percent(value: float, text: str) -> None:
    assert formats.percent(value) == text


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (None, "-"),
        (0.0, "0.00ms"),
        (0.42, "0.42ms"),
        (1.8, "1.8ms"),
        (41.2, "41ms"),
        (999.0, "999ms"),
        (1234.0, "1.2s"),
    ],
)
def test_latency(ms: float | None, text: str) -> None:
    assert formats.latency(ms) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(-3.0, "0s"), (0.6, "0s"), (42.9, "42s"), (185.0, "3m05s"), (7625.0, "2h07m"), (273600.0, "3d04h")],
)
def test_duration(seconds: float, text: str) -> None:
    assert formats.duration(seconds) == text


@pytest.mark.parametrize(
    ("width", "text"),
    [(30, "/srv/deploy/serve.toml"), (22, "/srv/deploy/serve.toml"), (12, "…/serve.toml"), (1, "…"), (0, ""), (-4, "")],
)
def test_shorten_path_keeps_the_file_name(width: int, text: str) -> None:
    assert formats.shorten_path("/srv/deploy/serve.toml", width) == text


def test_log_text_keeps_colours_and_drops_what_would_move_the_cursor() -> None:
    coloured = formats.log_text("\x1b[32mINFO\x1b[0m: ready")
    assert coloured.plain == "INFO: ready"
    assert [str(span.style) for span in coloured.spans] == ["color(2)"]  # ANSI green
    assert formats.log_text("bell\x07 back\x08space\x00").plain == "bell\\x07 back\\x08space\\x00"
    assert formats.log_text("a\tb").plain == "a   b"
    assert formats.log_text("10%\r100%\r\n").plain == "10%\\x0d100%"
    assert formats.log_text("crlf line\r\n").plain == "crlf line"
    assert formats.log_text("one\u2028two\x85three").plain == "one\\u2028two\\x85three"
    assert formats.log_text("title\x1b]0;owned\x07 kept").plain == "title kept"
    assert formats.log_text("cursor \x1b[2Jclear").plain == "cursor clear"
    assert formats.log_text("\x1b[31mred\x1b").plain == "red"  # a lone ESC: drop it, colours and all
    assert formats.log_text("\x1b[31mred\x1b").spans == []
    assert formats.log_text("x").no_wrap


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("plain", "plain"),
        ("", ""),
        (
            'Traceback (most recent call last):\n  File "app.py", line 1\nNameError: x\n',
            'Traceback (most recent call last): ⏎ File "app.py", line 1 ⏎ NameError: x',
        ),
        ("crlf\r\nline", "crlf ⏎ line"),
        ("\x1b[31mred\x1b[0m and \x1b[2Kgone\x07", "red and gone"),
        ("lone \x1b escape", "lone  escape"),
        ("a\u2028b\x0cc", "a ⏎ b ⏎ c"),
    ],
)
def test_one_line(text: str, line: str) -> None:
    assert formats.one_line(text) == line


@pytest.mark.parametrize(
    ("values", "top", "line"),
    [
        ([], None, ""),
        ([0, 0, 0], None, "▁▁▁"),  # idle: a floor, not a gap
        ([0, 1, 7], None, "▁▂█"),
        ([0.01, 7], None, "▂█"),  # a trickle is never drawn as nothing
        ([None, 3, None, 6], None, " ▅ █"),  # no figure: a gap
        ([2, 4], 8, "▃▅"),
        ([9], 8, "█"),  # past the top: the top
        ([3], 0, "▁"),
    ],
)
def test_sparkline(values: list[float | None], top: float | None, line: str) -> None:
    assert formats.sparkline(values, top) == line


def test_log_text_keeps_the_prefix_of_a_line_that_returns_the_carriage() -> None:
    # An app must not pose as another: the text before a \r stays, the \r is shown.
    assert formats.log_text("noisy[7] 10%\rapi[1] ERROR: spoofed").plain == "noisy[7] 10%\\x0dapi[1] ERROR: spoofed"
    assert (
        formats.log_text("c1 \u009b2J \u009d0;T\u009c").plain == "c1 \\x9b2J \\x9d0;T\\x9c"
    )  # C1: one cell each in rich


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain text, tab\there", "plain text, tab\there"),
        ("\x1b[31mred\x1b[0m", "red"),  # CSI
        ("a\x1b]0;title\x07b", "ab"),  # OSC ended by BEL
        ("a\x1b]52;c;aGk=\x1b\\b", "ab"),  # OSC 52 (clipboard) ended by ST
        ("a\x1bP1$r\x1b\\b", "ab"),  # DCS
        ("a\x1b]0;unended", "a0;unended"),  # no end: only ESC ] goes, the rest stays visible
        ("a\x1b]0;x\x1bcb", "a0;xb"),  # cut by another escape (RIS): both parts go, the text stays
        ("a\x1b(Bb\x1b7c", "abc"),  # charset and save-cursor escapes
        ("end\x1b", "end\\x1b"),  # a lone ESC is shown
        ("\x00\x07\x08\r\n\x7f", "\\x00\\x07\\x08\\x0d\\x0a\\x7f"),
        ("c1 \x9b2J \x85", "c1 \\x9b2J \\x85"),
        ("a\u2028b\u2029", "a\\u2028b\\u2029"),
    ],
)
def test_terminal_text_removes_escapes_and_shows_controls(raw: str, shown: str) -> None:
    assert formats.terminal_text(raw) == shown


def test_terminal_lines_keeps_the_lines_apart() -> None:
    assert formats.terminal_lines("first\x1b]0;t\x07\nsecond\r") == ["first", "second\\x0d"]
