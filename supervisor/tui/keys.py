"""The dashboard's keys: bytes read from the terminal become key presses, and key presses become commands.

May import: supervisor.control, supervisor.tui.view and the standard library. No I/O: the screen
reads the terminal (in cbreak mode) and hands the bytes over; this module only decodes them.

Keys (SPEC §5):

    q Q            quit: stop the master gracefully          -> control.Stop(now=False)
    r              reload the configuration and every app    -> control.Reload()
    R              reload the selected app only              -> control.Reload(app)
    ↑ k  /  ↓ j    select the app above / below              -> a new ViewState
    + =  /  -      one worker more / less for the selected app -> control.ScaleBy(±1, app)

`=` counts as `+` because it is the same key without shift on most layouts.

Arrow keys arrive as escape sequences: `ESC [ A` in the terminal's normal cursor mode, `ESC O A`
in application mode, possibly with parameters (`ESC [ 1 ; 2 A` with shift). A read may end in
the middle of one, so `KeyDecoder` keeps the unfinished tail for the next read. An ESC that does
not start a sequence is dropped; any other escape sequence (function keys, Home, mouse reports)
is consumed whole and ignored, so its bytes are never mistaken for letters.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import Enum

from supervisor.control import Command, Reload, ScaleBy, Stop
from supervisor.tui.view import ViewState

ESC = 0x1B
# Longer than any sequence a terminal sends for a key; a stuck prefix past it is discarded
# rather than buffered without end.
MAX_SEQUENCE_BYTES = 32


class Key(Enum):
    """One key press the dashboard acts on."""

    QUIT = "quit"
    RELOAD_ALL = "reload_all"
    RELOAD_APP = "reload_app"
    UP = "up"
    DOWN = "down"
    MORE = "more"
    FEWER = "fewer"


_PLAIN: dict[int, Key] = {
    ord("q"): Key.QUIT,
    ord("Q"): Key.QUIT,
    ord("r"): Key.RELOAD_ALL,
    ord("R"): Key.RELOAD_APP,
    ord("k"): Key.UP,
    ord("j"): Key.DOWN,
    ord("+"): Key.MORE,
    ord("="): Key.MORE,
    ord("-"): Key.FEWER,
}
# Final bytes of CSI and SS3 sequences; SS3 k and m are the keypad's + and - in application mode.
_CSI_FINALS: dict[int, Key] = {ord("A"): Key.UP, ord("B"): Key.DOWN}
_SS3_FINALS: dict[int, Key] = {**_CSI_FINALS, ord("k"): Key.MORE, ord("m"): Key.FEWER}


class KeyDecoder:
    """Turns the bytes of successive terminal reads into key presses, across split escape sequences."""

    def __init__(self) -> None:
        self._pending = b""

    @property
    def pending(self) -> bytes:
        """The start of an escape sequence the last read ended in, waiting for its end."""
        return self._pending

    def feed(self, data: bytes) -> list[Key]:
        """The key presses in `data`, in order, after whatever the previous read left unfinished.

        Bytes that are no key of the dashboard are ignored.
        """
        buffer = self._pending + data
        self._pending = b""
        keys: list[Key] = []
        position = 0
        while position < len(buffer):
            if buffer[position] != ESC:
                key = _PLAIN.get(buffer[position])
                position += 1
            else:
                end, key = _escape(buffer, position)
                if end is None:
                    unfinished = buffer[position:]
                    self._pending = unfinished if len(unfinished) < MAX_SEQUENCE_BYTES else b""
                    break
                position = end
            if key is not None:
                keys.append(key)
        return keys


def _escape(buffer: bytes, start: int) -> tuple[int | None, Key | None]:
    """Where the escape sequence at `start` ends and the key it means; end None when it is unfinished."""
    if start + 1 == len(buffer):
        return None, None
    introducer = buffer[start + 1]
    if introducer == ord("["):
        end = _csi_end(buffer, start)
        if end is None:
            return None, None
        return end, _CSI_FINALS.get(buffer[end - 1])
    if introducer == ord("O"):
        if start + 2 == len(buffer):
            return None, None
        return start + 3, _SS3_FINALS.get(buffer[start + 2])
    return start + 1, None


def _csi_end(buffer: bytes, start: int) -> int | None:
    """The index after a CSI sequence's final byte (ECMA-48: parameter and intermediate bytes, then one final).

    A byte that cannot be part of the sequence ends it there, unconsumed. None when the data
    ends first: the sequence is not finished yet.
    """
    position = start + 2
    while position < len(buffer):
        byte = buffer[position]
        if 0x20 <= byte <= 0x3F:
            position += 1
        elif 0x40 <= byte <= 0x7E:
            return position + 1
        else:
            return position
    return None


def steer(keys: Iterable[Key], view: ViewState, apps: Sequence[str]) -> tuple[list[Command], ViewState]:
    """What key presses ask the master to do, and where they leave the selection.

    Keys apply in order, so "↓ +" scales the app below the one selected before. Reading
    stops at quit: nothing typed after it in the same read is acted on.

    Args:
        keys: decoded key presses, oldest first.
        view: the selection before these keys.
        apps: the app names, in the order the dashboard shows them.

    Returns:
        The commands for the master (none for a key that needs a selected app when there is
        no app), and the new view.
    """
    commands: list[Command] = []
    for key in keys:
        if key is Key.QUIT:
            commands.append(Stop(now=False))
            break
        if key is Key.RELOAD_ALL:
            commands.append(Reload())
        elif key in (Key.UP, Key.DOWN):
            view = view.move(-1 if key is Key.UP else +1, apps)
        else:
            app = view.selected(apps)
            if app is None:
                continue
            if key is Key.RELOAD_APP:
                commands.append(Reload(app))
            else:
                commands.append(ScaleBy(+1 if key is Key.MORE else -1, app))
    return commands, view.follow(apps)
