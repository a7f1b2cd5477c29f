"""`serve upgrade` as the master carries it out: handing everything to a successor, or taking over from a predecessor.

The mechanics are elsewhere: master/upgrade.py starts the new master and hears how its start
went; master/handover.py is what the new master got from the old one; master/endpoints.py
moves the HTTP endpoints. Here is the order the two masters follow, and when each refuses.

The old master (`upgrade`, then `turn` each loop): refuses while it stops, when it was not
started from a file, when it is PID 1, while an upgrade is under way or it is itself still
taking over. Once the new master says "ready", the old one hands over the control socket, the
listeners, the endpoints and systemd's main pid, in that order, then drains and exits; a
failed upgrade is recorded and the old master serves on.

The new master (`take`, then `turn` each loop until it said something): once every app has
its workers ready it opens the control socket on the one handed over, writes the pid file,
starts answering the probes, owns the listeners' files and says "ready". An app that fails at
start, a stop, or a control socket or pid file it cannot take is "failed: REASON" instead,
and this master stops gracefully (the old one serves on).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import MutableMapping
from typing import Protocol

from supervisor.config.schema import ServeFile
from supervisor.control import Stop, Upgrade
from supervisor.errors import BindError
from supervisor.master import pidfile
from supervisor.master.apps import Apps
from supervisor.master.control_desk import ControlDesk
from supervisor.master.control_server import ControlServer
from supervisor.master.endpoints import Endpoints
from supervisor.master.handover import Handover
from supervisor.master.listeners import Listeners
from supervisor.master.reactor import Reactor
from supervisor.master.report import Reporter
from supervisor.master.systemd_link import SystemdLink
from supervisor.master.upgrade import START_GRACE_S, Upgraded, Upgrader, Upgrading
from supervisor.status.snapshot import AppState, EventKind

logger = logging.getLogger("serve.error")


class Master(Protocol):
    """What the succession needs of the master (the arbiter)."""

    @property
    def stopping(self) -> bool:
        """A stop began."""

    @property
    def file(self) -> ServeFile:
        """The configuration it runs now."""

    @property
    def apps(self) -> Apps:
        """Its apps."""

    @property
    def listeners(self) -> Listeners:
        """Its listening sockets."""

    @property
    def control(self) -> ControlServer | None:
        """Its control socket, once open."""

    @property
    def endpoints(self) -> Endpoints:
        """Its HTTP endpoints."""

    @property
    def systemd(self) -> SystemdLink | None:
        """What it tells systemd, once running."""

    @property
    def reporter(self) -> Reporter:
        """Where master errors are recorded."""

    @property
    def desk(self) -> ControlDesk:
        """Where `serve upgrade` clients wait for their answer."""

    def open_control(self, sock: socket.socket | None) -> None:
        """Open the control socket: bound afresh, or `sock`, the one handed over."""

    def stop(self, command: Stop) -> None:
        """Begin a stop."""


class Succession:
    """One master's part in `serve upgrade`: the successor it starts, the predecessor it takes over from."""

    def __init__(self, master: Master, reactor: Reactor) -> None:
        self.master = master
        self.upgrader = Upgrader(reactor)  # `serve upgrade`, SIGUSR2: the new master this one starts
        self.handover: Handover | None = None  # this master was started by one: what it owes the old one

    def take(self, environ: MutableMapping[str, str]) -> Handover | None:
        """Read (and remove from `environ`, before any fork) what an old master handed this one, if any."""
        self.handover = Handover.take(environ)
        return self.handover

    def next_deadline(self) -> float | None:
        """When `turn` must run next for an upgrade under way."""
        return self.upgrader.next_deadline()

    # --- the old master's side -----------------------------------------------------------

    def upgrade(self, _: Upgrade) -> Upgrading | str:
        """Start a new master on this one's sockets. Returns what it waits for, or why it refused."""
        master = self.master
        refusal = self._refusal()
        if refusal is None:
            systemd = master.systemd.successor_environment() if master.systemd is not None else {}
            server = master.file.server
            try:
                return self.upgrader.start(
                    master.file.path,
                    master.listeners,
                    master.control.sock if master.control is not None else None,
                    endpoints=master.endpoints.sockets(),
                    environ={**os.environ, **systemd},
                    bound_s=server.startup_timeout + START_GRACE_S,
                    graceful_s=server.graceful_timeout,
                    now=time.monotonic(),
                )
            except OSError as error:
                refusal = f"the new master could not be started: {error}"
        logger.warning("Upgrade refused: %s", refusal)
        return refusal

    def _refusal(self) -> str | None:
        if self.master.stopping:
            return "stopping: not upgrading"
        if not self.master.apps.from_file:
            return "only a master started by `serve up` from a TOML file can be upgraded"
        if os.getpid() == 1:  # its exit would end the container, the new master with it
            return "the master is PID 1 (a container's init): replace the container instead"
        if (pid := self.upgrader.in_progress) is not None:
            return f"an upgrade is already in progress (new master {pid})"
        if self.handover is not None and self.handover.pending:
            return "this master is itself still taking over from an older one"
        return None

    def turn(self, now: float) -> None:
        """Once per loop. As a new master: take over once every app is ready. As an old one: act on the outcome."""
        if self.handover is not None and self.handover.pending:
            self._take_over(self.handover)
        self.upgrader.turn(now)
        for outcome in self.upgrader.take():
            if outcome.ok:
                self._succeeded(outcome)
            else:
                self.master.reporter.record("", EventKind.MASTER_ERROR, f"upgrade failed: {outcome.error}")
            self.master.desk.upgraded(outcome)

    def _succeeded(self, outcome: Upgraded) -> None:
        """The sockets and files are the new master's, even if this one was stopping anyway."""
        master = self.master
        logger.info("The new master %d serves every app: this master drains and exits.", outcome.pid)
        if master.control is not None:
            master.control.hand_over()  # answers the clients it has; the new master accepts from now on
        master.listeners.hand_over()
        master.endpoints.hand_over()  # before the stop: a probe accepted already hears "ready"
        if master.systemd is not None:
            master.systemd.hand_over(outcome.pid)
        if not master.stopping:
            master.stop(Stop(now=False))

    # --- the new master's side -----------------------------------------------------------

    def _take_over(self, handover: Handover) -> None:
        master = self.master
        failing = [
            f"{name}: {runtime.pool.last_error or 'its workers fail at start'}"
            for name, runtime in master.apps.items()
            if runtime.failed_at_start or runtime.pool.state is AppState.CRASHLOOP
        ]
        if failing or master.stopping:
            handover.failed("; ".join(failing) or "the new master was told to stop")
            if not master.stopping:  # gracefully: the workers of its other apps may be serving already
                master.stop(Stop(now=False))
            return
        if not all(rt.pool.ready_count >= rt.pool.desired for rt in master.apps.values()):
            return
        server = master.file.server
        try:
            if server.control_socket:
                master.open_control(handover.control_socket(server.control_socket))
            pidfile.write(server.pid_file)
        except (BindError, OSError) as error:
            if master.control is not None:
                master.control.hand_over()  # still the old master's: its file stays
            handover.failed(f"the new master cannot take over: {error}")
            master.stop(Stop(now=False))
            return
        master.endpoints.take_over()  # the probes: this master answers them from now on
        handover.own_sockets(master.listeners)  # their files are this master's to remove from now on
        handover.ready()
        logger.info("Master %d took over from the old master: every app is ready.", os.getpid())

    def start_failed(self, error: Exception) -> None:
        """This master could not start: an old master that waits hears why before this one exits."""
        if self.handover is not None:
            self.handover.failed(f"the new master could not start: {error}")

    def close(self, exit_code: int) -> None:
        """At exit: an old master still waiting hears this one stopped; a new master not ready is told to stop."""
        if self.handover is not None:  # stopped before it took over: the old master serves on
            self.handover.failed(f"the new master stopped (exit code {exit_code}) before every app was ready")
            self.handover.close()
        self.upgrader.close()
