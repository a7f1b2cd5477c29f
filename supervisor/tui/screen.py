"""The live dashboard on a terminal: rich `Live` drawn by the caller's loop, keys read without blocking.

`Live` runs with auto_refresh=False: its refresh thread would hold a lock that a worker
forked at the wrong moment inherits locked, and the master forks. The master's loop (or
`serve top`'s) calls `draw` on every turn instead; `draw` redraws at most MAX_FPS times a
second, so the dashboard never costs the loop more than a few renders a second. The
terminal is put in cbreak mode (keys arrive one by one, unechoed) and restored on exit,
also when the program fails.

Frames are written without blocking: a terminal paused with Ctrl-S, or an SSH session that
stalled, must not stop the loop that draws them (the master's: reaping, health checks, the
control socket). A frame the terminal does not take is dropped; the next one redraws the
whole screen.

The screen keeps what the keys need between frames: the last snapshot drawn (the rows the
cursor moves over) and, while the log pane is paused, the lines it showed when it paused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import termios
import tty
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TextIO, cast

from rich.console import Console
from rich.live import Live

from supervisor.control import Command, Restart
from supervisor.status.snapshot import Snapshot, WorkerState
from supervisor.tui.keys import KeyDecoder, steer
from supervisor.tui.render import picture
from supervisor.tui.view import Tree, ViewState, tree_of

MAX_FPS = 4
FRAME_S = 1.0 / MAX_FPS


class FrameWriter:
    """The dashboard's stdout: a description of its own with O_NONBLOCK (the terminal's shared one is
    left as it is), so a write that would block drops the rest of the frame instead."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.encoding = stream.encoding or "utf-8"
        self.dropped = 0  # frames (or their ends) the terminal did not take
        fd = stream.fileno()
        try:
            self.fd = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
            self.owned = True
        except OSError:  # no /proc: the stream's own descriptor, blocking as before
            self.fd, self.owned = fd, False

    def write(self, text: str) -> int:
        view = memoryview(text.encode(self.encoding, "replace"))
        while view:
            try:
                view = view[os.write(self.fd, view) :]
            except InterruptedError:
                continue
            except OSError:  # EAGAIN: paused or stalled; EIO: gone (the keys say so)
                self.dropped += 1
                break
        return len(text)

    def flush(self) -> None:
        """Nothing is buffered."""

    def fileno(self) -> int:
        return self.fd

    def isatty(self) -> bool:
        return os.isatty(self.fd)

    def close(self) -> None:
        if self.owned:
            self.owned = False
            os.close(self.fd)


class Screen:
    """Owns the terminal while the dashboard shows: alternate screen, cbreak input."""

    def __init__(self, *, output: TextIO | None = None, input_fd: int | None = None, quit_asks: bool = True) -> None:
        """Args:
        output: where frames go (a test's stream); the terminal's stdout by default.
        input_fd: where keys come from; stdin by default.
        quit_asks: q asks before it stops the master; False where q only leaves (`serve top`).
        """
        self.writer = FrameWriter(sys.stdout) if output is None else None
        # Console takes any object with write, flush, fileno and isatty.
        self.console = Console(file=output or cast("TextIO", self.writer))
        self.input_fd = sys.stdin.fileno() if input_fd is None else input_fd
        self.live = Live(
            console=self.console,
            auto_refresh=False,
            screen=True,
            redirect_stdout=False,
            redirect_stderr=False,
            transient=True,
        )
        self.decoder = KeyDecoder()
        self.quit_asks = quit_asks
        self.view = ViewState()
        self.tree: Tree = []  # the apps and workers of the last frame
        self.states: dict[int, WorkerState] = {}  # and the state each worker was in
        self.shown: tuple[str, ...] = ()  # the log lines of the last frame
        self.held: tuple[str, ...] | None = None  # those of the frame before the pane was paused
        self.last_draw = -FRAME_S
        self.lost = False  # the terminal went away: draw nothing more
        self._saved: list[int | list[bytes | int]] | None = None

    def __enter__(self) -> Screen:
        with contextlib.suppress(termios.error):  # not a terminal: keys are simply never read
            self._saved = termios.tcgetattr(self.input_fd)
            tty.setcbreak(self.input_fd)
        self.live.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self.writer is not None:
            # The last writes (leaving the alternate screen) must not be dropped: blocking again.
            self.console.file = sys.stdout
            self.writer.close()
        with contextlib.suppress(OSError):  # a terminal that is gone cannot be restored
            self.live.stop()
            if self._saved is not None and not self.lost:
                termios.tcsetattr(self.input_fd, termios.TCSADRAIN, self._saved)
        self._saved = None

    def fileno(self) -> int:
        """The terminal input, for the caller's selector."""
        return self.input_fd

    def read_commands(self, apps: Sequence[str]) -> list[Command]:
        """Read the keys typed since the last call; return what they ask for (selection applied here).

        The cursor moves over the apps and workers of the last frame drawn; `apps` (the
        master's app names) stands in for them before the first one.

        Raises:
            EOFError: the terminal is gone (closed window, killed session): nobody can see or
                steer the dashboard any more. The caller stops watching the descriptor.
        """
        try:
            data = os.read(self.input_fd, 1024)
        except (BlockingIOError, InterruptedError):
            return []
        except OSError as error:  # EIO: the terminal hung up
            self.lost = True
            raise EOFError("the terminal is gone") from error
        if not data:
            self.lost = True
            raise EOFError("the terminal is gone")
        keys = self.decoder.feed(data)
        tree = self.tree or [(name, ()) for name in apps]
        commands, self.view = steer(keys, self.view, tree, quit_asks=self.quit_asks)
        if not self.view.paused:
            self.held = None
        elif self.held is None:
            self.held = self.shown  # the pane holds still on what the viewer was reading
        if keys:
            self.last_draw = -FRAME_S  # answer a key at once
        return [command for command in commands if self._feasible(command)]

    def _feasible(self, command: Command) -> bool:
        """A restart is for a ready worker: one still starting, or already leaving, is said so and left alone."""
        if not isinstance(command, Restart):
            return True
        state = self.states.get(command.pid)
        if state is WorkerState.READY:
            return True
        why = "is gone" if state is None else f"is {state.value}: only a ready worker is restarted"
        self.notify(f"{command.app}[{command.pid}] {why}")
        return False

    def notify(self, text: str) -> None:
        """Say something on the bottom line until the next key (what a command sent came to)."""
        self.view = dataclasses.replace(self.view, notice=text)
        self.last_draw = -FRAME_S

    def due(self, now: float) -> float:
        """When the next frame may be drawn."""
        return self.last_draw + FRAME_S

    def draw(
        self,
        snapshot: Snapshot,
        logs: Sequence[str],
        now: float,
        *,
        app_logs: Callable[[str], Sequence[str]] | None = None,
    ) -> None:
        """Redraw, unless the last frame is younger than FRAME_S.

        `logs` are every app's latest lines; `app_logs`, when given, one app's and the master's,
        which the pane of a selected app shows instead: a chatty app cannot push them out.
        """
        if self.lost or now < self.last_draw + FRAME_S:
            return
        self.last_draw = now
        self.tree = tree_of(snapshot)
        self.states = {worker.pid: worker.state for app in snapshot.apps for worker in app.workers}
        self.view = self.view.follow(self.tree)
        if self.held is None:
            app = self.view.log_scope().app
            self.shown = tuple(app_logs(app) if app_logs is not None and app is not None else logs)
        size = self.console.size
        frame = picture(snapshot, self.view, width=size.width, height=size.height, logs=self.held or self.shown)
        self.view = dataclasses.replace(self.view, scroll=min(self.view.scroll, frame.scroll_most))
        self.live.update(frame.renderable, refresh=True)
