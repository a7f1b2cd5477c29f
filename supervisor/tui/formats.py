"""How the dashboard writes figures: counts, rates, sizes, durations, latencies, and worker output made safe to draw.

Pure functions of their arguments.

Counts are exact (grouped by thousands) up to ten million, so a count the viewer expects
(after 250 requests) reads as exactly that; sizes are binary (1M = 1 MiB) as in top(1).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rich.text import Text

EXACT_COUNT_BELOW = 10_000_000
NO_VALUE = "-"
_LARGER_UNITS = ("M", "G", "T")
# C0 controls but ESC (it starts the colour sequences rich decodes), DEL, and the characters
# Python counts as line breaks: each would move the cursor, ring, or break the line in two.
_CONTROLS = re.compile(r"[\x00-\x1a\x1c-\x1f\x7f\x85\u2028\u2029]")
_ESCAPE_SEQUENCES = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|[@-Z\\-_])?")  # ECMA-48 CSI and two-byte escapes
_LINE_BREAKS = re.compile(r"\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
# ECMA-48 escape sequences other than CSI: strings (OSC, DCS, SOS, PM, APC) ended by BEL or ST,
# then any other ESC with its intermediates and final byte. An unended string loses only its
# opening ESC and letter: its body stays visible, as text.
_STRINGS_AND_ESCAPES = r"[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)|[ -/]*[0-~]"
_ALL_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|" + _STRINGS_AND_ESCAPES + ")")
_NON_CSI_ESCAPES = re.compile(r"\x1b(?!\[)(?:" + _STRINGS_AND_ESCAPES + ")")
# What a terminal would act on but shown as text: C0 but TAB, DEL, C1 (8-bit CSI/OSC among them)
# and the separators Python splits lines at. `log_text` lets ESC through to rich's colour decoder.
_SHOWN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_SHOWN_BUT_ESC = re.compile(r"[\x00-\x08\x0a-\x1a\x1c-\x1f\x7f-\x9f\u2028\u2029]")
SPARKS = "▁▂▃▄▅▆▇█"


def count(value: int) -> str:
    """A counter: 182,733 · 12.4M · 3.1G."""
    if value < EXACT_COUNT_BELOW:
        return f"{value:,}"
    if value < 1_000_000_000:
        return f"{value / 1e6:.1f}M"
    return f"{value / 1e9:.1f}G"


def rate(per_s: float) -> str:
    """Events per second: 0 · 0.4 · 12.5 · 1,204."""
    if per_s <= 0:
        return "0"
    if per_s < 100:
        return f"{per_s:.1f}"
    return f"{per_s:,.0f}"


def size(num_bytes: int) -> str:
    """A memory size in binary units: 0 · 812K · 57.5M · 230M · 1.2G."""
    if num_bytes <= 0:
        return "0"
    value, unit = num_bytes / 1024, "K"
    for larger in _LARGER_UNITS:
        if value < 1024:
            break
        value, unit = value / 1024, larger
    return f"{value:.0f}{unit}" if unit == "K" or value >= 100 else f"{value:.1f}{unit}"


def percent(value: float) -> str:
    """A CPU share: 0.0% · 12.5% · 180% (several cores)."""
    return f"{value:.1f}%" if value < 100 else f"{value:.0f}%"


def latency(ms: float | None) -> str:
    """A latency given in milliseconds: - · 0.42ms · 1.8ms · 41ms · 1.2s."""
    if ms is None:
        return NO_VALUE
    if ms < 1:
        return f"{ms:.2f}ms"
    if ms < 10:
        return f"{ms:.1f}ms"
    if ms < 1000:
        return f"{ms:.0f}ms"
    return f"{ms / 1000:.1f}s"


def duration(seconds: float) -> str:
    """An age or uptime, two units at most: 42s · 3m05s · 2h07m · 3d04h."""
    whole = int(max(seconds, 0.0))
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def shorten_path(path: str, width: int) -> str:
    """`path` in at most `width` cells, keeping its end (the file name) when it must be cut."""
    if len(path) <= width:
        return path
    if width <= 1:
        return "…"[:width]
    return "…" + path[len(path) - width + 1 :]


def one_line(text: str) -> str:
    """Text from outside (an error message, a name) made into one drawable line.

    Line breaks become " ⏎ " (a traceback stays readable on one row), and control
    characters, escape sequences included, are removed: drawn raw they would move the cursor
    and break the layout.
    """
    lines = [_CONTROLS.sub("", _ESCAPE_SEQUENCES.sub("", line)).strip() for line in _LINE_BREAKS.split(text)]
    return " ⏎ ".join(line for line in lines if line)


def terminal_text(text: str) -> str:
    """Text from an app or a file made safe to print to a terminal, on one line.

    Every escape sequence (colours, cursor moves, OSC titles and clipboard writes) is removed;
    any other control character but TAB, line breaks included, is shown as `\\xNN`
    (`\\u2028` for the Unicode separators), so the text around it stays and nothing an app
    prints can act on the operator's terminal. JSON output never passes here: it escapes them.
    """
    return _SHOWN.sub(_shown, _ALL_ESCAPES.sub("", text))


def terminal_lines(text: str) -> list[str]:
    """`text` split at its newlines, each line made safe by terminal_text (a `\\r` is shown, not obeyed)."""
    return [terminal_text(line) for line in text.split("\n")]


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def log_text(line: str) -> Text:
    """One line of worker output as text for the log pane: its colours kept, other escapes removed, and
    other control characters shown as terminal_text shows them.

    A carriage return is shown, not obeyed: the `app[pid]` prefix must stay, so that a line
    cannot pose as another app's.
    """
    visible = _NON_CSI_ESCAPES.sub("", line.rstrip("\r\n").expandtabs(4))
    text = Text.from_ansi(_SHOWN_BUT_ESC.sub(_shown, visible))
    if "\x1b" in text.plain:  # an escape sequence rich does not know: drop it, colours and all
        text = Text(text.plain.replace("\x1b", ""))
    text.no_wrap, text.overflow = True, "ellipsis"
    return text


def sparkline(values: Sequence[float | None], top: float | None = None) -> str:
    """A cell per value, from ▁ (zero) to █ (`top`, else the largest value); a space for None (no figure).

    A value above zero is never drawn as ▁, so that a trickle stands out from nothing at all.
    """
    if top is None:
        top = max((value for value in values if value is not None), default=0.0)
    highest = len(SPARKS) - 1
    cells = []
    for value in values:
        if value is None:
            cells.append(" ")
        elif value <= 0 or top <= 0:
            cells.append(SPARKS[0])
        else:
            cells.append(SPARKS[max(1, min(highest, round(value / top * highest)))])
    return "".join(cells)
