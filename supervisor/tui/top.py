"""`serve top`: the dashboard of a running master, fed by its control socket.

The same renderer as `serve up`'s dashboard, fed by the same snapshot and the master's
latest output lines (the `logs` command), polled a few times a second. Keys send their
commands to the master (r reload, +/- scale, x restart); q leaves the dashboard and the
master keeps running, as quitting `top` leaves the system alone, so q asks nothing here.
A reload is sent without waiting for its answer (it comes when the new generation is
ready; the events pane shows it coming); a restart's answer is awaited, as it is immediate,
and a refusal ("still starting") is shown on the bottom line.
"""

from __future__ import annotations

import selectors
import time

from supervisor.client import ask, request, send
from supervisor.config.peek import ControlTarget
from supervisor.control import Command, Logs, LogsAnswer, MessageError, Reload, Restart, ScaleBy, Status, Stop
from supervisor.errors import ControlError
from supervisor.status.snapshot import Snapshot
from supervisor.tui.screen import Screen

POLL_S = 0.5
LOG_LINES = 500  # as many as the dashboard of `serve up` shows (master/output.py RECENT_LINES)
ANSWER_TIMEOUT_S = 5.0


def watch(target: ControlTarget) -> None:
    """Show the status of the master of `target` until q is pressed.

    Raises:
        ControlError: no master answers (at the start, or because it stopped meanwhile).
    """
    snapshot = _status(target)  # fail before taking the terminal over
    lines = _lines(target)
    with Screen(quit_asks=False) as screen, selectors.DefaultSelector() as selector:
        if lines is None:
            screen.notify("this master does not send its log lines (it predates `serve top`'s log pane)")
        selector.register(screen.fileno(), selectors.EVENT_READ)
        next_poll = time.monotonic() + POLL_S
        while True:
            now = time.monotonic()
            if now >= next_poll:
                snapshot, lines = _status(target), _lines(target)
                next_poll = now + POLL_S
            screen.draw(snapshot, lines or (), now)
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
                screen.notify(_carry_out(target, command))
                next_poll = 0.0


def _carry_out(target: ControlTarget, command: Command) -> str:
    """Send `command` to the master; what to tell the viewer."""
    if isinstance(command, Restart):
        try:
            reply = request(target.control_socket, command, config_path=target.config_path, timeout=ANSWER_TIMEOUT_S)
        except ControlError as error:
            return str(error)
        if not reply.ok:
            return f"not restarted: {reply.error}"
        return f"restarting {command.app}[{command.pid}]: its replacement starts first"
    send(target.control_socket, command, config_path=target.config_path)
    if isinstance(command, Reload):
        return f"reload of {command.app or 'every app'} sent: the events pane shows how it goes"
    if isinstance(command, ScaleBy):
        return f"{command.app}: one worker {'more' if command.delta > 0 else 'less'}"
    return f"sent {command}"


def _status(target: ControlTarget) -> Snapshot:
    return Snapshot.from_dict(ask(target, Status()).result)


def _lines(target: ControlTarget) -> list[str] | None:
    """The master's latest output lines, as its log pane shows them; None from a master that does not
    know the command."""
    reply = request(target.control_socket, Logs(LOG_LINES), config_path=target.config_path)
    if not reply.ok:
        return None
    if isinstance(reply.result, list):  # a master from before `serve logs` answers with the lines alone
        return [line for line in reply.result if isinstance(line, str)]
    try:
        return [line.prefixed() for line in LogsAnswer.from_dict(reply.result).lines]
    except MessageError:
        return None
