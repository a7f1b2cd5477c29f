"""The dashboard's keys: bytes read from the terminal become key presses, and key presses become commands.

No I/O: the screen reads the terminal (in cbreak mode) and hands the bytes over; this
module only decodes them and says what they do (`HELP` lists them for the `?` pane).

The keys that stop, reload or restart something ask first: the bottom line puts the
question, `y` (or Enter) carries the command out, any other key drops it. In `serve top`,
`q` only leaves the dashboard, and asks nothing.

`=` counts as `+` because it is the same key without shift on most layouts.

Arrow keys arrive as escape sequences: `ESC [ A` in the terminal's normal cursor mode, `ESC O A`
in application mode, possibly with parameters (`ESC [ 1 ; 2 A` with shift); Page Up is
`ESC [ 5 ~`, Home `ESC [ H`, `ESC O H` or `ESC [ 1 ~`. A read may end in the middle of one, so
`KeyDecoder` keeps the unfinished tail for the next read. An ESC that does not start a sequence
is dropped; any other escape sequence (function keys, mouse reports) is consumed whole and read
as `Key.OTHER`, so its bytes are never mistaken for letters.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from enum import Enum
from typing import TypeAlias

from supervisor.control import Command, Reload, Restart, ScaleBy, Stop
from supervisor.tui.loglines import FILTERS
from supervisor.tui.view import Question, Tree, ViewState

ESC = 0x1B
# Longer than any sequence a terminal sends for a key; a stuck prefix past it is discarded
# rather than buffered without end.
MAX_SEQUENCE_BYTES = 32
PAGE_LINES = 10  # a Page Up or Down scrolls the log pane by this many lines
OLDEST = 1 << 20  # Home: scrolled as far back as there are lines (the screen clamps it)


class Key(Enum):
    """One key press the dashboard acts on."""

    QUIT = "quit"
    RELOAD_ALL = "reload_all"
    RELOAD_APP = "reload_app"
    RESTART = "restart"
    UP = "up"
    DOWN = "down"
    NEXT_APP = "next_app"
    PREVIOUS_APP = "previous_app"
    MORE = "more"
    FEWER = "fewer"
    HELP = "help"
    YES = "yes"
    LEVEL = "level"
    EVERY_APP = "every_app"
    PAUSE = "pause"
    PAGE_UP = "page_up"
    PAGE_DOWN = "page_down"
    OLDEST = "oldest"
    NEWEST = "newest"
    OTHER = "other"  # any other key: it answers no to a question and closes the help


_PLAIN: dict[int, Key] = {
    ord("q"): Key.QUIT,
    ord("Q"): Key.QUIT,
    ord("r"): Key.RELOAD_ALL,
    ord("R"): Key.RELOAD_APP,
    ord("x"): Key.RESTART,
    ord("k"): Key.UP,
    ord("j"): Key.DOWN,
    ord("\t"): Key.NEXT_APP,
    ord("+"): Key.MORE,
    ord("="): Key.MORE,
    ord("-"): Key.FEWER,
    ord("?"): Key.HELP,
    ord("y"): Key.YES,
    ord("Y"): Key.YES,
    ord("\r"): Key.YES,
    ord("\n"): Key.YES,
    ord("l"): Key.LEVEL,
    ord("a"): Key.EVERY_APP,
    ord("p"): Key.PAUSE,
    ord(" "): Key.PAUSE,
    ord("g"): Key.OLDEST,
    ord("G"): Key.NEWEST,
}
# Final bytes of CSI and SS3 sequences; SS3 k and m are the keypad's + and - in application mode.
_CSI_FINALS: dict[int, Key] = {
    ord("A"): Key.UP,
    ord("B"): Key.DOWN,
    ord("Z"): Key.PREVIOUS_APP,  # shift-tab
    ord("H"): Key.OLDEST,
    ord("F"): Key.NEWEST,
}
_SS3_FINALS: dict[int, Key] = {**_CSI_FINALS, ord("k"): Key.MORE, ord("m"): Key.FEWER}
# CSI <number> ~ : the editing keys of the VT220 layout.
_CSI_TILDE: dict[bytes, Key] = {
    b"1": Key.OLDEST,
    b"7": Key.OLDEST,
    b"4": Key.NEWEST,
    b"8": Key.NEWEST,
    b"5": Key.PAGE_UP,
    b"6": Key.PAGE_DOWN,
}

# What the `?` pane lists, in order.
HELP: tuple[tuple[str, str], ...] = (
    ("↑ ↓  k j", "move over apps and workers"),
    ("Tab  Shift-Tab", "next / previous app"),
    ("+ -", "one worker more / less for the selected app"),
    ("x", "restart the selected worker (its replacement starts first)"),
    ("R", "reload the selected app"),
    ("r", "reload every app"),
    ("q", "stop the master (every app drains); in serve top: leave"),
    ("l", "log level: all, warnings and errors, errors"),
    ("a", "logs of every app / of the selected one"),
    ("p  Space", "pause or follow the logs"),
    ("PgUp PgDn", "scroll the logs (pauses them)"),
    ("Home End  g G", "oldest lines / follow the newest"),
    ("?", "this help; any key closes it"),
)
# The bottom line when nothing is asked.
SHORT_HELP: tuple[tuple[str, str], ...] = (
    ("q", "quit"),
    ("r", "reload"),
    ("x", "restart"),
    ("↑↓", "select"),
    ("+/-", "scale"),
    ("l", "level"),
    ("p", "pause"),
    ("?", "help"),
)


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

        A byte that is no key of the dashboard reads as `Key.OTHER` (a character of several
        bytes, once).
        """
        buffer = self._pending + data
        self._pending = b""
        keys: list[Key] = []
        position = 0
        while position < len(buffer):
            key: Key | None
            if buffer[position] != ESC:
                byte = buffer[position]
                key = _PLAIN.get(byte, None if 0x80 <= byte <= 0xBF else Key.OTHER)  # UTF-8 continuation: no key
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
        if buffer[end - 1] == ord("~"):
            number = buffer[start + 2 : end - 1].split(b";")[0]
            return end, _CSI_TILDE.get(number, Key.OTHER)
        return end, _CSI_FINALS.get(buffer[end - 1], Key.OTHER)
    if introducer == ord("O"):
        if start + 2 == len(buffer):
            return None, None
        return start + 3, _SS3_FINALS.get(buffer[start + 2], Key.OTHER)
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


def steer(
    keys: Iterable[Key], view: ViewState, tree: Tree, *, quit_asks: bool = True
) -> tuple[list[Command], ViewState]:
    """What key presses ask the master to do, and where they leave the view.

    Keys apply in order, so "↓ +" scales the app below the one selected before. A key
    closes the help pane and does nothing else; a key answers a pending question (y: yes,
    any other: no) and does nothing else. Reading stops at quit: nothing typed after it in
    the same read is acted on.

    Args:
        keys: decoded key presses, oldest first.
        view: the view before these keys.
        tree: the apps and their workers, in the order the dashboard shows them.
        quit_asks: q asks before it stops the master (`serve up`); without, q quits at once
            (`serve top`, where quitting leaves the master alone).

    Returns:
        The commands for the master (none for a key that needs a selected app or worker
        when there is none), and the new view.
    """
    commands: list[Command] = []
    view = view.follow(tree)
    for key in keys:
        command: Command | None = None
        view = dataclasses.replace(view, notice=None)
        if view.help:
            view = dataclasses.replace(view, help=False)
        elif view.question is not None:
            yes = key is Key.YES
            command = view.question.command if yes else None
            view = dataclasses.replace(view, question=None, notice=None if yes else "cancelled")
        elif key is Key.QUIT and not quit_asks:
            command = Stop(now=False)
        else:
            view, command = _ACTIONS.get(key, _nothing)(view, tree)
        if command is not None:
            commands.append(command)
            if isinstance(command, Stop):
                break
    return commands, view.follow(tree)


_Action: TypeAlias = Callable[[ViewState, Tree], tuple[ViewState, "Command | None"]]


def _nothing(view: ViewState, tree: Tree) -> tuple[ViewState, Command | None]:
    return view, None


def _ask(view: ViewState, text: str, command: Command) -> tuple[ViewState, Command | None]:
    return dataclasses.replace(view, question=Question(text, command)), None


def _quit(view: ViewState, tree: Tree) -> tuple[ViewState, Command | None]:
    return _ask(view, "Stop the master and every app (each drains first)?", Stop(now=False))


def _reload_all(view: ViewState, tree: Tree) -> tuple[ViewState, Command | None]:
    apps = f"all {len(tree)} apps" if len(tree) > 1 else "every app"
    return _ask(view, f"Reload {apps}? Each starts a new generation; the old one serves until it is ready.", Reload())


def _reload_app(view: ViewState, tree: Tree) -> tuple[ViewState, Command | None]:
    app = view.selected(tree)
    if app is None:
        return view, None
    return _ask(view, f"Reload {app}? A new generation starts; the old one serves until it is ready.", Reload(app))


def _restart(view: ViewState, tree: Tree) -> tuple[ViewState, Command | None]:
    app, pid = view.selected(tree), view.selected_worker(tree)
    if app is None or pid is None:
        return dataclasses.replace(view, notice="x restarts a worker: select one first (↓)"), None
    return _ask(view, f"Restart {app}[{pid}]? Its replacement starts first.", Restart(app, pid))


def _scale(delta: int) -> _Action:
    """Scaling asks nothing: the other key undoes it."""

    def scale(view: ViewState, tree: Tree) -> tuple[ViewState, Command | None]:
        app = view.selected(tree)
        return view, None if app is None else ScaleBy(delta, app)

    return scale


def _selection(move: Callable[[ViewState, Tree], ViewState]) -> _Action:
    """A key that moves the cursor: the log pane follows it, from its newest lines."""

    def select(view: ViewState, tree: Tree) -> tuple[ViewState, Command | None]:
        moved = move(view, tree)
        if (moved.app, moved.worker) != (view.app, view.worker):
            moved = dataclasses.replace(moved, scroll=0)
        return moved, None

    return select


def _view(change: Callable[[ViewState], ViewState]) -> _Action:
    """A key that changes only what is shown."""
    return lambda view, tree: (change(view), None)


def _next_level(view: ViewState) -> ViewState:
    position = FILTERS.index(view.log_level) if view.log_level in FILTERS else -1
    return dataclasses.replace(view, log_level=FILTERS[(position + 1) % len(FILTERS)], scroll=0)


def _scroll(lines: int) -> _Action:
    """Scrolling back holds the pane still: new lines would move what is being read."""
    return _view(
        lambda view: dataclasses.replace(
            view, paused=view.paused or lines > 0, scroll=max(0, min(view.scroll + lines, OLDEST))
        )
    )


_ACTIONS: dict[Key, _Action] = {
    Key.QUIT: _quit,
    Key.RELOAD_ALL: _reload_all,
    Key.RELOAD_APP: _reload_app,
    Key.RESTART: _restart,
    Key.MORE: _scale(+1),
    Key.FEWER: _scale(-1),
    Key.UP: _selection(lambda view, tree: view.move(-1, tree)),
    Key.DOWN: _selection(lambda view, tree: view.move(+1, tree)),
    Key.NEXT_APP: _selection(lambda view, tree: view.jump(+1, tree)),
    Key.PREVIOUS_APP: _selection(lambda view, tree: view.jump(-1, tree)),
    Key.HELP: _view(lambda view: dataclasses.replace(view, help=True)),
    Key.LEVEL: _view(_next_level),
    Key.EVERY_APP: _view(lambda view: dataclasses.replace(view, log_every_app=not view.log_every_app, scroll=0)),
    Key.PAUSE: _view(lambda view: dataclasses.replace(view, paused=not view.paused, scroll=0)),
    Key.PAGE_UP: _scroll(+PAGE_LINES),
    Key.PAGE_DOWN: _scroll(-PAGE_LINES),
    Key.OLDEST: _scroll(OLDEST),
    Key.NEWEST: _view(lambda view: dataclasses.replace(view, paused=False, scroll=0)),
}
