"""`serve logs`: the output lines a running master kept, then, with -f, the new ones as they come.

Lines are printed as the master prints them (`api[4312] text`, `serve[4300] text` for its
own), oldest first. Following polls the master's `logs` command with the cursor of the
previous answer: the master keeps no state for a reader and never waits for one, and a
reader that falls further behind than the master's rings is told that lines were lost.
A cursor counts the lines of one master: when another answers (its `epoch` differs: `serve
upgrade` handed the control socket over, or the master was restarted), the follower says so
and reads the new master's lines from the first it kept, rather than skipping as many of them
as the old master had numbered.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from supervisor.client import NoMasterError, explain_silence, request
from supervisor.config.peek import ControlTarget
from supervisor.control import LOG_LINES_MOST, Logs, LogsAnswer, MessageError
from supervisor.errors import ControlError

POLL_S = 0.3  # how soon a new line shows; each poll is one small request to the master


class LogsRefusedError(ControlError):
    """The master refused the request (an app it does not run): a usage error."""

    exit_code = 2


def show(
    target: ControlTarget,
    app: str | None,
    lines: int,
    *,
    follow: bool,
    write: Callable[[str], None] | None = None,
) -> None:
    """Print the latest `lines` lines of `app` (every app when None); with `follow`, then every new one
    until interrupted (KeyboardInterrupt is left to the caller).

    Raises:
        LogsRefusedError: the master runs no app of that name.
        ControlError: no master answers, or it stopped meanwhile.
    """
    out = write or _print
    answer = fetch(target, Logs(lines, app))
    _emit(answer, out)
    while follow:
        if not answer.more:
            time.sleep(POLL_S)
        epoch = answer.epoch
        answer = fetch(target, Logs(LOG_LINES_MOST, app, after=answer.cursor))
        if answer.epoch != epoch:
            out("serve logs: another master answers now (upgraded or restarted): its lines from the first it kept")
            answer = fetch(target, Logs(LOG_LINES_MOST, app, after=0))
        if answer.gap:
            out("serve logs: lines were lost before they could be shown (the master keeps the latest per app)")
        _emit(answer, out)


def fetch(target: ControlTarget, command: Logs) -> LogsAnswer:
    """One `logs` answer from the master of `target`.

    Raises:
        LogsRefusedError: the master refused the request.
        ControlError: no master answers, or its answer is not one serve can read.
    """
    try:
        reply = request(target.control_socket, command, config_path=target.config_path)
    except NoMasterError as error:
        raise ControlError(explain_silence(target, str(error))) from None
    if not reply.ok:
        raise LogsRefusedError(f"{target.config_path}: {reply.error}")
    try:
        return LogsAnswer.from_dict(reply.result)
    except MessageError as error:
        raise ControlError(
            f"the master of {target.config_path} answered in a form serve logs cannot read: {error}"
        ) from None


def _emit(answer: LogsAnswer, out: Callable[[str], None]) -> None:
    for line in answer.lines:
        out(line.prefixed())
    sys.stdout.flush()


def _print(text: str) -> None:
    sys.stdout.write(text + "\n")
