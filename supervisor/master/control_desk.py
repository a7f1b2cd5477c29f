"""The control socket's requests, carried out by the master, and the reload answers it still owes.

`serve status|scale|stop` are answered at once. `serve reload` is answered when the reload
has an outcome (master/reloads.py): its client is held until then, and the master owes it
an answer within the reload's bound; a client that hangs up meanwhile is forgotten (the
reload goes on). `serve upgrade` is held likewise until the new master is ready or has
failed (master/upgrade.py). At exit, every client still waiting is told the master stopped first.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from supervisor.control import LOG_MASTER, Command, Logs, Reload, Reply, Restart, Scale, Status, Upgrade
from supervisor.errors import BindError
from supervisor.master.control_server import ControlClient, ControlServer
from supervisor.master.reloads import RELOAD_ANSWER_GRACE_S, Outcome, Waiting
from supervisor.master.upgrade import Upgraded, Upgrading
from supervisor.status.snapshot import Snapshot

logger = logging.getLogger("serve.error")


@dataclass(frozen=True, slots=True)
class Reloaded:
    """A reload that began: what it waits for, and [server] changes that need the master restarted."""

    waiting: Waiting
    restart_needed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()  # apps the file no longer has: they drain and stop


class Steered(Protocol):
    """What the desk needs of the master."""

    def app_names(self) -> Sequence[str]:
        """The apps the master runs now."""

    def execute(self, command: Command) -> object:
        """Carry out a command (scale, stop, ...)."""

    def reload(self, command: Reload) -> Reloaded | str:
        """Begin a reload; an error message when it was refused."""

    def settle(self, waiting: Waiting, now: float) -> Outcome | None:
        """The reload's outcome, or None while it rolls within its bound."""

    def snapshot(self) -> Snapshot:
        """Every app and worker now."""


@dataclass(slots=True)
class _Owed:
    client: ControlClient
    reloaded: Reloaded


class ControlDesk:
    """Carries out control requests for the master and owes each `serve reload` its answer."""

    def __init__(self, master: Steered) -> None:
        self.master = master
        self.server: ControlServer | None = None  # set once the socket is bound
        self.owed: list[_Owed] = []
        self.upgrading: list[ControlClient] = []  # `serve upgrade` clients, answered when it ends

    def restore_socket(self) -> None:
        """SIGHUP and USR1 bind the control socket again when its file was removed."""
        if self.server is None:
            return
        try:
            if self.server.restore():
                logger.warning("The control socket %s had been removed: bound again.", self.server.path)
        except (BindError, OSError) as error:
            logger.error(
                "The control socket %s had been removed and cannot be bound again: %s", self.server.path, error
            )

    def request(self, client: ControlClient, command: Command) -> None:
        """A whole request arrived (bad ones were answered by the server itself)."""
        if isinstance(command, Reload):
            self._reload(client, command)
        elif isinstance(command, Upgrade):
            self._upgrade(client, command)
        else:
            self._reply(client, self._answer(command))

    def gone(self, client: ControlClient) -> None:
        """A `serve reload` client hung up before its answer: the reload goes on, its answer has nowhere to go."""
        self.owed = [owed for owed in self.owed if owed.client is not client]
        self.upgrading = [waiting for waiting in self.upgrading if waiting is not client]

    def upgraded(self, outcome: Upgraded) -> None:
        """An upgrade ended: every `serve upgrade` waiting hears how."""
        reply = Reply.success({"pid": outcome.pid}) if outcome.ok else Reply.failure(outcome.error)
        for client in self.upgrading:
            self._reply(client, reply)
        self.upgrading.clear()

    def answer(self, now: float) -> None:
        """Answer every reload that has an outcome by now."""
        for owed in list(self.owed):
            outcome = self.master.settle(owed.reloaded.waiting, now)
            if outcome is not None:
                self.owed.remove(owed)
                self._reply(owed.client, _reply(outcome, owed.reloaded))

    def shut(self) -> None:
        """At exit: every client still owed an answer is told why it gets none."""
        for owed in self.owed:
            self._reply(owed.client, Reply.failure("the master stopped before the reload finished"))
        self.owed.clear()
        for client in self.upgrading:
            self._reply(client, Reply.failure("the master stopped before the upgrade finished"))
        self.upgrading.clear()

    def _upgrade(self, client: ControlClient, command: Upgrade) -> None:
        started = self.master.execute(command)
        if not isinstance(started, Upgrading):
            self._reply(client, Reply.failure(str(started)))
            return
        self.upgrading.append(client)
        if self.server is not None:  # answered when the new master is ready, fails, or runs out of time
            self.server.hold(client, until=started.deadline + RELOAD_ANSWER_GRACE_S)

    def _reload(self, client: ControlClient, command: Reload) -> None:
        names = self.master.app_names()
        if command.app is not None and command.app not in names:
            self._reply(client, Reply.failure(f"no app named {command.app!r} (apps: {', '.join(names)})"))
            return
        reloaded = self.master.reload(command)
        if isinstance(reloaded, str):
            self._reply(client, Reply.failure(reloaded))
            return
        self.owed.append(_Owed(client, reloaded))
        if self.server is not None:
            # Answered by `answer` by the reload's deadline; closed unanswered a little later
            # should that keep failing, so a held client cannot take a place for good.
            self.server.hold(client, until=reloaded.waiting.deadline + RELOAD_ANSWER_GRACE_S)

    def _answer(self, command: Command) -> Reply:
        if isinstance(command, Status):
            return Reply.success(self.master.snapshot().to_dict())
        names = self.master.app_names()
        if isinstance(command, (Scale, Restart)) and command.app not in names:
            return Reply.failure(f"no app named {command.app!r} (apps: {', '.join(names)})")
        if isinstance(command, Logs) and command.app not in (None, LOG_MASTER, *names):
            known = ", ".join(names)
            return Reply.failure(
                f"no app named {command.app!r} (apps: {known}; {LOG_MASTER} for the master's own lines)"
            )
        result = self.master.execute(command)
        if isinstance(command, Logs):
            return Reply.success(result)
        if isinstance(command, (Scale, Restart)) and isinstance(result, str):
            return Reply.failure(result)  # why that count does not fit, or that worker cannot be restarted now
        return Reply.success()

    def _reply(self, client: ControlClient, reply: Reply) -> None:
        if self.server is not None:
            self.server.reply(client, reply)


def _reply(outcome: Outcome, reloaded: Reloaded) -> Reply:
    if not outcome.ok:
        return Reply.failure(outcome.error or "reload failed")
    return Reply.success(
        {
            "generations": dict(outcome.generations),
            "restart_needed": list(reloaded.restart_needed),
            "removed": list(reloaded.removed),
        }
    )
