"""The master: one single-threaded loop that binds, forks, watches and reloads every app's workers.

Why single-threaded: the master forks. A thread holding a lock at fork time leaves that
lock held forever in the child, so the loop forks only from here, between selects, and
nothing else runs (no refresh thread, no executor). Signal handlers only record the signal
(master/wakeup.py); the loop turns each into the same `Command` the control socket and the
dashboard produce, and one method carries each command out.

One turn of the loop: read what is ready (signal wake-ups, worker output), carry out
commands, reap exited children, read every worker's status slot, let each app's pool policy
(master/pool.py) decide, carry out its actions, and sleep until the next deadline or the
next status poll, whichever comes first.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from supervisor.config.schema import ServeFile
from supervisor.control import (
    Command,
    Logs,
    Reload,
    ReopenLogs,
    Restart,
    Scale,
    ScaleBy,
    Status,
    Stop,
    Upgrade,
    signal_to_command,
)
from supervisor.errors import EXIT_MASTER_FAILED, EXIT_OK, BindError, StartupError
from supervisor.hooks import call, call_logged, master_context
from supervisor.master import exits, pidfile, probes
from supervisor.master.actions import Action, Kill, Note, Retire, Spawn
from supervisor.master.apps import Apps
from supervisor.master.control_desk import ControlDesk, Reloaded
from supervisor.master.control_server import ControlServer
from supervisor.master.endpoints import Endpoints
from supervisor.master.fdbudget import FdBudget
from supervisor.master.listeners import Listeners
from supervisor.master.notify import Notifier
from supervisor.master.output import OutputRouter, PlainLog
from supervisor.master.processes import Exited, Workers
from supervisor.master.reactor import READ, Reactor
from supervisor.master.reloads import Outcome, Waiting
from supervisor.master.report import Reporter
from supervisor.master.side_server import SideServer
from supervisor.master.succession import Succession
from supervisor.master.systemd_link import SystemdLink
from supervisor.master.wakeup import Wakeup
from supervisor.status.slots import SlotsExhaustedError, capacity_for
from supervisor.status.snapshot import EventKind, Snapshot

logger = logging.getLogger("serve.error")

STATUS_POLL_S = 0.25  # how often slots are read: readiness, heartbeats, counters


class Display(Protocol):
    """A live view the master draws from its own loop (the dashboard, wired in by cli.py)."""

    def fileno(self) -> int:
        """Readable when keys were typed."""

    def read_commands(self, apps: Sequence[str]) -> list[Command]:
        """The commands the keys typed since the last call ask for; EOFError when the terminal is gone."""

    def due(self, now: float) -> float:
        """When the next frame may be drawn."""

    def draw(
        self, snapshot: Snapshot, logs: Sequence[str], now: float, *, app_logs: Callable[[str], Sequence[str]]
    ) -> None:
        """Show the snapshot and the latest log lines (every app's; `app_logs` gives one app's and the master's)."""


class Arbiter:
    """Runs every app of one TOML file until stopped. `run()` returns the exit code."""

    def __init__(
        self,
        serve_file: ServeFile,
        *,
        sink: PlainLog | None = None,
        display: Display | None = None,
        from_file: bool = True,
    ) -> None:
        self.display = display
        self.listeners = Listeners()
        self.reporter = Reporter()
        self.control: ControlServer | None = None
        self.desk = ControlDesk(self)  # carries out control requests, owes each `serve reload` its answer
        self.fd_budget = FdBudget()  # shared by the side servers: probes cannot use up the master's descriptors
        self.systemd: SystemdLink | None = None
        self.reactor = Reactor()
        self.endpoints = Endpoints(self.reactor, self.fd_budget)  # metrics_bind, health_bind
        self.reactor.on_failure = self._handler_failed
        # Worker output and log files are written without blocking, through the loop (master/output.py).
        self.owns_sink = sink is None
        self.sink = sink or PlainLog(to_stream=display is None)
        self.sink.set_server(serve_file.server)  # the first line (an endpoint's) already has its time
        self.sink.attach(self.reactor)
        self.output = OutputRouter(self.sink, self.reactor)
        self.workers = Workers(self.listeners, self.output)
        self.apps = Apps(
            serve_file,
            from_file=from_file,
            listeners=self.listeners,
            sink=self.sink,
            reactor=self.reactor,
            record=self.reporter.record,
            on_change=self.execute,
            stopping=lambda: self.stopping,
        )
        self.loop_failures: dict[str, int] = {}  # loop step -> failures, logged in full once each
        self.wakeup: Wakeup | None = None
        self.stopping = False
        self.interrupted = False
        self.exit_code = EXIT_OK
        self.started_at = time.time()  # shown as a moment; durations use the monotonic reading
        self.running_since = time.monotonic()
        self.was_ready = False  # every app's first workers were ready once: when_ready was called
        self.succession = Succession(self, self.reactor)  # `serve upgrade`: a successor, or a predecessor's handover

    @property
    def file(self) -> ServeFile:
        """The configuration the master runs now (a reload replaces it)."""
        return self.apps.file

    # --- the loop ------------------------------------------------------------------------

    def run(self) -> int:
        """Bind, start every app, and supervise until a stop completes.

        Raises:
            BindError: an address could not be bound (nothing was started).
        """
        file = self.file
        self.systemd = SystemdLink(Notifier(os.environ))  # read, and removed from the environment, before any fork
        try:
            self.listeners.open_apps(file.apps, os.environ)
            handover = self.succession.take(os.environ)  # started by `serve upgrade`: the old master waits to hear
            self.workers.open_table(capacity_for(app.workers for app in file.apps.values()))
            self.apps.slots = self.workers.capacity
        except BaseException:
            # Startup failed before the loop's cleanup below applies: the addresses bound so far are
            # released now (their unix socket files removed), not left to the process's exit.
            self.listeners.close_all()
            raise
        try:
            # Signal intake stays installed until everything is shut (restored in `_shut`): a
            # further Ctrl-C or TERM while it cleans up is recorded, not a KeyboardInterrupt.
            wakeup = self.wakeup = Wakeup()
            self.reactor.watch(wakeup.fileno(), READ, lambda _: self._signals(), name="signal wake-ups")
            if file.server.control_socket and handover is None:
                self.open_control(None)
            self.endpoints.open(file.server, handover, snapshot=self.snapshot, readiness=self._readiness)
            if handover is None:  # else the old master's until this one takes over (master/succession.py)
                # Only once every address of its own is held: a second master that cannot get them
                # must leave the running master's pid file alone (its removal at exit checks the pid).
                pidfile.write(file.server.pid_file)
            if self.display is not None:
                fd = self.display.fileno()
                self.reactor.watch(fd, READ, lambda _: self._keys(fd), name="dashboard keys")
            self.apps.start()
            logger.info("Master %d serving %d app(s) from %s", os.getpid(), len(self.apps), file.path)
            self._supervise()
        except Exception as error:
            self.succession.start_failed(error)
            raise
        finally:
            self._shut()
        return self.exit_code

    def _supervise(self) -> None:
        """The loop, and what happens if something escapes it after all: the workers drain, exit code 70."""
        try:
            self._loop()
        except Exception:
            logger.critical(
                "The master failed and stops; every worker drains (exit code %d).", EXIT_MASTER_FAILED, exc_info=True
            )
            self.exit_code = EXIT_MASTER_FAILED
            self.workers.drain(self.file.server.graceful_timeout)

    def _loop(self) -> None:
        steps = (
            *(self._observe, self._when_ready, self.desk.answer, self._decide, self._notify, self._upgrades),
            *(self._draw, self._sleep),
        )
        while not (self.stopping and all(runtime.pool.stopped for runtime in self.apps.values())):
            now = time.monotonic()
            for step in steps:
                try:
                    step(now)
                except Exception as error:  # one failing step must not take every app down
                    self._step_failed(step.__name__.strip("_"), error)

    def _step_failed(self, step: str, error: Exception) -> None:
        """A step of the loop raised: log it (in full the first time), record it, go on."""
        count = self.loop_failures[step] = self.loop_failures.get(step, 0) + 1
        if count == 1:
            logger.error("The master's %s step failed; supervision goes on.", step, exc_info=error)
        if count in (1, 10, 100, 1000) or count % 10000 == 0:
            self.reporter.record("", EventKind.MASTER_ERROR, f"the master's {step} step failed ({count}x): {error!r}")

    def _handler_failed(self, name: str, error: BaseException) -> None:
        self.reporter.record("", EventKind.MASTER_ERROR, f"the master's handler for {name} failed: {error!r}")

    def _draw(self, now: float) -> None:
        display = self.display
        if display is not None and now >= display.due(now):
            display.draw(self.snapshot(), self.sink.recent, now, app_logs=self.sink.lines_of)

    def _notify(self, now: float) -> None:
        """Tell systemd (when it started us) about readiness, reloads and the watchdog."""
        if self.systemd is not None:
            self.systemd.turn(
                now,
                stopping=self.stopping,
                all_ready=all(rt.pool.ready_count >= rt.pool.desired for rt in self.apps.values()),
                settled=lambda waiting: self.settle(waiting, now) is not None,
                snapshot=self.snapshot,
            )

    def _upgrades(self, now: float) -> None:
        """`serve upgrade` under way, either side (master/succession.py)."""
        self.succession.turn(now)

    def _sleep(self, now: float) -> None:
        """Wait for the first of: a readable descriptor, the next deadline, the next slot poll.

        The wait happens even if working out its length fails: a loop that skipped it would
        spin without ever reading a signal or a command.
        """
        timeout = STATUS_POLL_S
        try:
            timeout = self._sleep_length(now)
        finally:
            self.reactor.poll(timeout)

    def _sleep_length(self, now: float) -> float:
        deadlines = [d for d in (rt.pool.next_deadline() for rt in self.apps.values()) if d is not None]
        if self.systemd is not None and (watchdog := self.systemd.next_deadline()) is not None:
            deadlines.append(watchdog)
        if self.display is not None:
            deadlines.append(self.display.due(now))
        if (upgrade := self.succession.next_deadline()) is not None:
            deadlines.append(upgrade)
        if (leftovers := self.workers.next_deadline()) is not None:
            deadlines.append(leftovers)
        for side in self._side_servers():
            side.expire(now)
            if (deadline := side.next_deadline()) is not None:
                deadlines.append(deadline)
        return min([STATUS_POLL_S, *(d - now for d in deadlines)])

    # --- observations --------------------------------------------------------------------

    def _observe(self, now: float) -> None:
        reaped = False
        for exited in self.workers.reap():
            self._reaped(exited, now)
            reaped = True
        if reaped:
            self.apps.release((record.app, record.generation) for record in self.workers.records.values())
        self.workers.expire(now)  # reaped workers' process groups and output pipes past their grace
        samples = {}
        for pid, record, sample in self.workers.samples():
            runtime = self.apps[record.app]
            if self.workers.became_ready(record, sample):
                runtime.ever_ready = True
                runtime.pool.ready(pid, now)
            samples[pid] = sample
            runtime.pool.observe(
                pid, heartbeat_at=sample.heartbeat, requests=sample.requests, rss_bytes=sample.rss_bytes
            )
        self.reporter.observe(now, self.workers.infos(), samples)

    def _when_ready(self, _: float) -> None:
        """[server.hooks] when_ready, once: when every app's first workers are all ready."""
        if self.was_ready or self.stopping:  # a stop before every app was ready never calls it
            return
        if all(rt.pool.ready_count >= rt.pool.desired for rt in self.apps.values()):
            self.was_ready = True
            if failed := call_logged(self.file.server.hooks, "when_ready", master_context()):
                self.reporter.record("", EventKind.MASTER_ERROR, str(failed))

    def _reaped(self, exited: Exited, now: float) -> None:
        pid, record, last = exited.pid, exited.record, exited.last
        runtime = self.apps[record.app]
        why = "crash"
        try:
            self.output.worker_exited(record.output_fd, pid)  # what is there now; the pipe stays watched until EOF
            if last is not None:  # its last figures: a limit reached between two polls is a planned exit
                runtime.pool.observe(pid, heartbeat_at=last.heartbeat, requests=last.requests, rss_bytes=last.rss_bytes)
            on_trial = runtime.pool.on_trial(record.generation)
            why = exits.exit_reason(pid, runtime.pool.workers(), stopping=self.stopping, on_trial=on_trial)
            self.reporter.worker_exited(record.app, pid, last, why)
        finally:
            # Whatever failed above, the pool must hear of the exit: a worker it still counts
            # would hold capacity and keep a graceful stop from ever finishing.
            if exits.failed_at_start(exited.code, why, was_ready=record.ready, app_ever_ready=runtime.ever_ready):
                runtime.failed_at_start = True
            runtime.pool.exited(pid, now, code=exited.exit_code, signal=exited.signal, reason=exited.reason)

    # --- decisions and actions -----------------------------------------------------------

    def _decide(self, now: float) -> None:
        for name, runtime in list(self.apps.items()):
            try:
                actions = runtime.pool.tick(now)
            except Exception as error:  # one app's policy failing must not stop the others' supervision
                self._step_failed(f"{name} pool", error)
                continue
            for action in actions:
                try:
                    self._carry_out(action, now)
                except Exception as error:
                    self._step_failed(f"{name} {type(action).__name__.lower()}", error)
        if not self.stopping and exits.no_app_can_start(rt.failed_at_start for rt in self.apps.values()):
            why = "; ".join(runtime.pool.last_error or name for name, runtime in self.apps.items())
            logger.error("No app could start (%s); stopping (exit code %d).", why, StartupError.exit_code)
            self.exit_code = StartupError.exit_code
            self.stop(Stop(now=True))

    def _carry_out(self, action: Action, now: float) -> None:
        if isinstance(action, Spawn):
            self._spawn(action, now)
        elif isinstance(action, Retire):
            self.workers.send(action.pid, signal.SIGTERM)
        elif isinstance(action, Kill):
            self.workers.send(action.pid, signal.Signals[action.signal])
        elif isinstance(action, Note):
            self.reporter.record(action.app, action.kind, action.message)

    def _spawn(self, action: Spawn, now: float) -> None:
        runtime = self.apps[action.app]
        # The worker enforces its own request limit: the one the pool drew for it (jitter included).
        config = dataclasses.replace(runtime.generations[action.generation], max_requests=action.max_requests)
        try:
            pid = self.workers.spawn(action.app, action.generation, config, now, index=action.index)
        except SlotsExhaustedError as error:
            # Never a failure of the app: older generations' workers free their slots as they drain.
            runtime.pool.spawn_deferred(action.generation)
            if not runtime.waiting_for_slot:
                runtime.waiting_for_slot = True
                self.reporter.record(action.app, EventKind.START, f"{action.app}: a new worker waits: {error}")
            return
        except Exception as error:  # a fork or pipe that failed (EMFILE, EAGAIN): the pool tries again soon
            runtime.pool.spawn_failed(action.generation, now, str(error))
            return
        runtime.waiting_for_slot = False
        # The pool hears of the new process first: whatever fails after this (watching its
        # pipe), the worker is known, supervised, and reaped.
        runtime.pool.spawned(pid, action.generation, now)
        self.workers.follow(pid)

    # --- commands ------------------------------------------------------------------------

    def _keys(self, fd: int) -> None:
        assert self.display is not None  # noqa: S101
        try:
            commands = self.display.read_commands(list(self.apps))
        except EOFError:
            # The dashboard's terminal went away: nobody can see or steer this master any more.
            self.reactor.forget(fd)
            logger.warning("The dashboard's terminal is gone: stopping.")
            commands = [Stop(now=False)]
        for command in commands:
            self._execute_contained(command, "dashboard key")

    def _execute_contained(self, command: Command, source: str) -> None:
        """Carry out a command whose failure must not lose the ones after it (a TERM after a HUP)."""
        try:
            self.execute(command)
        except Exception as error:
            self._step_failed(f"{source} {type(command).__name__.lower()}", error)

    def _signals(self) -> None:
        assert self.wakeup is not None  # noqa: S101
        for signum in self.wakeup.drain():
            command = signal_to_command(signum, second_interrupt=self.interrupted and signum == signal.SIGINT)
            if signum == signal.SIGINT:
                self.interrupted = True
            if command is not None:
                self._execute_contained(command, "signal")

    def execute(self, command: Command) -> object:
        """Carry out one command from a signal, the control socket or the dashboard."""
        handlers: dict[type[Command], Callable[[Any], object]] = {
            Reload: self.reload,
            Stop: self.stop,
            ScaleBy: self._scale_by,
            Scale: lambda scale: self._pools_fixed() or self.apps.scale(scale),
            ReopenLogs: self._reopen_logs,
            Restart: lambda restart: self._pools_fixed() or self.apps.restart(restart),
            Logs: self.sink.ring.answer,
            Status: lambda _: None,
            Upgrade: self.succession.upgrade,
        }
        handler = handlers.get(type(command))
        if handler is None:
            raise TypeError(f"unknown command {command!r}")
        return handler(command)

    def _pools_fixed(self) -> str | None:
        """Why a scale or a restart would not happen now (as a reload is refused then), or None."""
        if self.stopping:
            return "stopping: the workers are not changed"
        if self.succession.upgrader.starting:  # the new master runs the counts of the file it read
            return "an upgrade is in progress: change the workers once the new master serves"
        return None

    def _scale_by(self, command: ScaleBy) -> None:
        """TTIN/TTOU and the dashboard's +/-: nobody waits for an answer, so a refusal is logged."""
        if refusal := self._pools_fixed():
            logger.warning("Not scaling: %s.", refusal)
        else:
            self.apps.scale_by(command)

    def open_control(self, sock: socket.socket | None) -> None:
        """The control socket: bound here, or `sock`, the one an old master handed over."""
        file = self.file
        self.control = self.desk.server = ControlServer(
            file.server.control_socket,
            self.reactor,
            self.desk.request,
            on_gone=self.desk.gone,
            budget=self.fd_budget,
            config_path=file.path if self.apps.from_file else None,
            sock=sock,
        )

    def _reopen_logs(self, _: ReopenLogs) -> None:
        self.desk.restore_socket()
        self.sink.reopen()
        logger.info("Log files closed: each reopens at its next line.")

    def stop(self, command: Stop) -> None:
        """Begin a stop: every app's pool stops, gracefully or at once."""
        if not self.stopping:
            logger.info("Stopping every app (%s).", "at once" if command.now else "gracefully")
            if self.systemd is not None and self.systemd.enabled:
                self.systemd.stopping()
        self.stopping = True
        # A stop wins over an upgrade still starting: the new master must not take over afterwards.
        self.succession.upgrader.cancel("this master was told to stop")
        for runtime in self.apps.values():
            runtime.pool.stop(immediate=command.now)

    def reload(self, command: Reload) -> Reloaded | str:
        """Re-read the file and roll the apps (master/apps.py). Returns what it waits for, or why it refused."""
        self.desk.restore_socket()
        if self.stopping:
            return "stopping: not reloading"
        if self.succession.upgrader.starting:  # the new master runs the file as it read it at its start
            return "an upgrade is in progress: reload once the new master serves"
        reloaded = self.apps.reload(command)
        if isinstance(reloaded, Reloaded) and self.systemd is not None:
            self.systemd.reloading(reloaded.waiting)
        return reloaded

    def settle(self, waiting: Waiting, now: float) -> Outcome | None:
        """The outcome of a reload (master/reloads.py), from each target's pool now."""
        return self.apps.settle(waiting, now)

    def app_names(self) -> list[str]:
        """The apps the master runs now."""
        return list(self.apps)

    # --- status and the control socket ---------------------------------------------------

    def _readiness(self) -> probes.Answer:
        waiting = [name for name, runtime in self.apps.items() if runtime.pool.ready_count == 0]
        return probes.readyz(stopping=self.stopping, waiting=waiting)

    def _side_servers(self) -> list[SideServer]:
        return [*self.endpoints, *([self.control] if self.control is not None else [])]

    def snapshot(self) -> Snapshot:
        """Every app and worker now: what `serve status` prints and the dashboard draws."""
        return self.reporter.snapshot(
            now=time.monotonic(),
            started_at=self.started_at,
            running_since=self.running_since,
            config_path=self.file.path,
            pools={name: runtime.pool for name, runtime in self.apps.items()},
            binds={
                name: tuple(str(b) for b in self.listeners.binds_for(name, app.bind))
                for name, app in self.file.apps.items()
            },
            workers=self.workers.infos(),
            events=self.reporter.events,
            lines_dropped=self.sink.dropped,
        )

    # --- the end -------------------------------------------------------------------------

    def _shut(self) -> None:
        self.succession.close(self.exit_code)
        # Normally every worker has exited by now; these are the ones a failure left behind.
        self.workers.kill_all()
        self.output.close_all()  # what each pipe holds now, without waiting
        self.desk.shut()
        if self.control is not None:
            self.control.close()
        self.endpoints.close()
        if self.systemd is not None:
            self.systemd.close()
        self.apps.close()
        self.listeners.close_all()
        self.sink.attach(None)
        self.reactor.close_selector()
        self.workers.close()
        pidfile.remove(self.file.server.pid_file)
        logger.info("Master %d stopped.", os.getpid())
        if self.owns_sink:
            self.sink.close()
        if self.wakeup is not None:
            self.wakeup.restore()  # after the selector that watched it is closed


def run_master(
    serve_file: ServeFile, *, display: Display | None = None, sink: PlainLog | None = None, from_file: bool = True
) -> int:
    """`serve up`: supervise every app of `serve_file` until stopped; returns the exit code.

    Raises:
        StartupError: an address could not be bound.
        HookError: [server.hooks] on_starting failed (exit code 1); nothing was started.
    """
    call(serve_file.server.hooks, "on_starting", master_context(serve_file.apps))
    try:
        return Arbiter(serve_file, display=display, sink=sink, from_file=from_file).run()
    except BindError:
        raise
    except OSError as error:
        raise StartupError(str(error)) from error
