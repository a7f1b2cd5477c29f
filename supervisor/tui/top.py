"""`serve top`: the dashboard of a running master, fed by its control socket.

May import: client, control, status/, tui/ siblings and the standard library.

The same renderer as `serve up`'s dashboard, fed by the same snapshot, polled a few times
a second. Keys send their commands to the master (r reload, +/- scale); q leaves the
dashboard and the master keeps running, as quitting `top` leaves the system alone.
"""

from __future__ import annotations

import selectors
import time

from supervisor.client import request, send
from supervisor.control import Status, Stop
from supervisor.errors import ControlError
from supervisor.status.snapshot import Snapshot
from supervisor.tui.screen import Screen

POLL_S = 0.5


def watch(socket_path: str, *, config_path: str) -> None:
    """Show the master's status until q is pressed.

    Raises:
        ControlError: no master answers (at the start, or because it stopped meanwhile).
    """
    snapshot = _status(socket_path, config_path)  # fail before taking the terminal over
    notes: list[str] = []
    with Screen() as screen, selectors.DefaultSelector() as selector:
        selector.register(screen.fileno(), selectors.EVENT_READ)
        next_poll = time.monotonic() + POLL_S
        while True:
            now = time.monotonic()
            if now >= next_poll:
                snapshot = _status(socket_path, config_path)
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
                send(socket_path, command, config_path=config_path)
                notes.append(f"sent {command}")
                next_poll = 0.0


def _status(socket_path: str, config_path: str) -> Snapshot:
    reply = request(socket_path, Status(), config_path=config_path)
    if not reply.ok:
        raise ControlError(f"{config_path}: {reply.error}")
    return Snapshot.from_dict(reply.result)
