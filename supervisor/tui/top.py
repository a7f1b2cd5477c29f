"""`serve top`: the dashboard of a running master, fed by its control socket.

The same renderer as `serve up`'s dashboard, fed by the same snapshot and the master's
latest output lines (the `logs` command), polled a few times a second. Keys send their
commands to the master (r reload, +/- scale, x restart); q leaves the dashboard and the
master keeps running, as quitting `top` leaves the system alone, so q asks nothing here.
A reload is sent without waiting for its answer (it comes when the new generation is
ready; the events pane shows it coming); a restart's answer is awaited, as it is immediate,
and a refusal ("still starting") is shown on the bottom line.

The master is polled on a thread (`Poller`), so the keys stay live while it does not answer
(stopped, or its loop held by an on_reload hook): the last frame stays, the bottom line says
for how long it has not answered, and q leaves at once. `top` exits on its own only when the
master is gone (its socket missing, or connections to it refused).
"""

from __future__ import annotations

import dataclasses
import selectors
import threading
import time
from collections.abc import Callable

from supervisor.client import DEFAULT_TIMEOUT_S, NoMasterError, explain_silence, request, send
from supervisor.config.peek import ControlTarget
from supervisor.control import (
    LOG_MASTER,
    Command,
    LogLine,
    Logs,
    LogsAnswer,
    MessageError,
    Reload,
    Restart,
    ScaleBy,
    Status,
    Stop,
)
from supervisor.errors import ControlError
from supervisor.status.snapshot import Snapshot
from supervisor.tui.screen import Screen

POLL_S = 0.5
LOG_LINES = 500  # as many as the dashboard of `serve up` shows (master/output.py RECENT_LINES)
ANSWER_TIMEOUT_S = 5.0
ATTEMPT_TIMEOUT_S = 5.0  # one poll's wait for an answer; the poller then asks again
SILENT_AFTER_S = 2.0  # a master that has not answered for this long is said not to answer

Fetched = tuple[Snapshot, list[str] | None]


class Poller:
    """Fetches the master's status and lines on a thread, one poll every `period` seconds.

    `fetch` raises NoMasterError when the master is gone (the poller then stops, and `gone`
    says why) and ControlError when it did not answer in time (the poller asks again).
    """

    def __init__(self, fetch: Callable[[], Fetched], first: Fetched, now: float, *, period: float = POLL_S) -> None:
        self._fetch = fetch
        self._period = period
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self.latest = first
        self.answered_at = now
        self.gone: ControlError | None = None
        self.error = ""  # why the last attempt failed, "" after an answer
        self._thread = threading.Thread(target=self._run, name="serve-top-poll", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop polling (a poll under way is left to its thread, which is a daemon)."""
        self._stopped.set()
        self._wake.set()

    def poll_now(self) -> None:
        """Poll without waiting for the period (after a command, to show what it did)."""
        self._wake.set()

    def silent_for(self, now: float) -> float:
        """How long the master has not answered, counted when it is past SILENT_AFTER_S; else 0.0."""
        with self._lock:
            silent = now - self.answered_at
        return silent if silent >= SILENT_AFTER_S else 0.0

    def _run(self) -> None:
        while not self._stopped.is_set():
            self.poll_once()
            self._wake.wait(self._period)
            self._wake.clear()

    def poll_once(self) -> None:
        """One attempt: keep its answer, or why it failed."""
        try:
            fetched = self._fetch()
        except NoMasterError as error:
            with self._lock:
                self.gone = error
            self._stopped.set()
            return
        except ControlError as error:
            with self._lock:
                self.error = str(error)
            return
        with self._lock:
            self.latest, self.answered_at, self.error = fetched, time.monotonic(), ""


def watch(target: ControlTarget) -> None:
    """Show the status of the master of `target` until q is pressed.

    Raises:
        ControlError: no master answers (at the start, or because it stopped meanwhile).
    """
    try:
        first = _fetch(target, DEFAULT_TIMEOUT_S)  # fail before taking the terminal over
    except NoMasterError as error:
        raise ControlError(explain_silence(target, str(error))) from None
    with Screen(quit_asks=False) as screen, selectors.DefaultSelector() as selector:
        # The selected app's own lines: the view is read on the poller's thread (one attribute, replaced whole).
        poller = Poller(lambda: _fetch(target, ATTEMPT_TIMEOUT_S, screen.view.log_scope().app), first, time.monotonic())
        if first[1] is None:
            screen.notify("this master does not send its log lines (it predates `serve top`'s log pane)")
        selector.register(screen.fileno(), selectors.EVENT_READ)
        poller.start()
        try:
            _loop(target, screen, selector, poller)
        finally:
            poller.stop()


def _loop(target: ControlTarget, screen: Screen, selector: selectors.BaseSelector, poller: Poller) -> None:
    silence_notice = None
    while True:
        now = time.monotonic()
        if poller.gone is not None:
            raise ControlError(explain_silence(target, str(poller.gone)))
        snapshot, lines = poller.latest
        silent = poller.silent_for(now)
        notice = f"the master has not answered for {silent:.0f} s (the figures shown are from then)" if silent else None
        if notice is not None and notice != silence_notice:
            screen.notify(notice)
        elif notice is None and silence_notice is not None and screen.view.notice == silence_notice:
            screen.view = dataclasses.replace(screen.view, notice=None)  # it answers again
        silence_notice = notice
        screen.draw(snapshot, lines or (), now)
        timeout = max(0.0, min(now + POLL_S, screen.due(now)) - time.monotonic())
        if not selector.select(timeout):
            continue
        scope_app = screen.view.log_scope().app
        try:
            commands = screen.read_commands([app.name for app in snapshot.apps])
        except EOFError:
            return  # the terminal is gone: nothing left to show
        if screen.view.log_scope().app != scope_app:
            poller.poll_now()  # the pane of another app (or of all): its lines at once
        for command in commands:
            if isinstance(command, Stop):
                return
            if silent:  # a command would wait on it too: keep the keys live instead
                screen.notify(f"not sent: the master has not answered for {silent:.0f} s")
                continue
            try:
                screen.notify(_carry_out(target, command))
            except ControlError as error:  # it stopped answering meanwhile; gone, the poller says so next
                screen.notify(str(error))
            poller.poll_now()


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


def _fetch(target: ControlTarget, timeout: float, app: str | None = None) -> Fetched:
    """The master's status and its latest lines (of `app` and the master only, when given).

    Raises:
        NoMasterError: the master is gone.
        ControlError: it did not answer within `timeout`, or refused.
    """
    reply = request(target.control_socket, Status(), config_path=target.config_path, timeout=timeout)
    if not reply.ok:
        raise ControlError(f"{target.config_path}: {reply.error}")
    snapshot = Snapshot.from_dict(reply.result)
    if app is not None and app in {shown.name for shown in snapshot.apps}:
        own = _app_lines(target, timeout, app)
        if own is not None:
            return snapshot, own
    return snapshot, _lines(target, timeout)


def _lines(target: ControlTarget, timeout: float) -> list[str] | None:
    """The master's latest output lines, as its log pane shows them; None from a master that does not
    know the command."""
    reply = request(target.control_socket, Logs(LOG_LINES), config_path=target.config_path, timeout=timeout)
    if not reply.ok:
        return None
    if isinstance(reply.result, list):  # a master from before `serve logs` answers with the lines alone
        return [line for line in reply.result if isinstance(line, str)]
    try:
        return [line.prefixed() for line in LogsAnswer.from_dict(reply.result).lines]
    except MessageError:
        return None


def _app_lines(target: ControlTarget, timeout: float, app: str) -> list[str] | None:
    """The latest lines of `app` and of the master, from their own rings: another app's volume cannot
    push them out as it does the latest of all. None when the master cannot answer so (the latest of
    all will do)."""
    kept: list[LogLine] = []
    for source in (app, LOG_MASTER):
        reply = request(target.control_socket, Logs(LOG_LINES, source), config_path=target.config_path, timeout=timeout)
        if not reply.ok:
            return None
        try:
            kept += LogsAnswer.from_dict(reply.result).lines
        except MessageError:
            return None
    return [line.prefixed() for line in sorted(kept, key=_seq)[-LOG_LINES:]]


def _seq(line: LogLine) -> int:
    return line.seq
