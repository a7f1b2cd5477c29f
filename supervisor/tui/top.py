"""`serve top`: the dashboard of a running master, fed by its control socket.

May import: client, config.peek, control, status/, tui/ siblings and the standard library.

The same renderer as `serve up`'s dashboard, fed by the same snapshot, polled a few times
a second. Keys send their commands to the master (r reload, +/- scale); q leaves the
dashboard and the master keeps running, as quitting `top` leaves the system alone.
"""

from __future__ import annotations

import selectors
import time

from supervisor.client import ask, send
from supervisor.config.peek import ControlTarget
from supervisor.control import Status, Stop
from supervisor.status.snapshot import Snapshot
from supervisor.tui.screen import Screen

POLL_S = 0.5


def watch(target: ControlTarget) -> None:
    """Show the status of the master of `target` until q is pressed.

    Raises:
        ControlError: no master answers (at the start, or because it stopped meanwhile).
    """
    snapshot = _status(target)  # fail before taking the terminal over
    notes: list[str] = []
    with Screen() as screen, selectors.DefaultSelector() as selector:
        selector.register(screen.fileno(), selectors.EVENT_READ)
        next_poll = time.monotonic() + POLL_S
        while True:
            now = time.monotonic()
            if now >= next_poll:
                snapshot = _status(target)
                next_poll = now + POLL_S
            screen.draw(snapshot, notes[-50:], now)
            timeout = max(0.0, min(next_poll, screen.due(now)) - time.monotonic())
            if not selector.select(timeout):
                continue
            try:
                commands = screen.read_commands([app.name for app in snapshot.apps])
            except EOFError:
                return  # the terminal is gone: nothing left to show
            for command in commands:
                if isinstance(command, Stop):
                    return
                send(target.control_socket, command, config_path=target.config_path)
                notes.append(f"sent {command}")
                next_poll = 0.0


def _status(target: ControlTarget) -> Snapshot:
    return Snapshot.from_dict(ask(target, Status()).result)
