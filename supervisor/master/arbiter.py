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

import contextlib
import dataclasses
import logging
import os
import signal
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from supervisor.asgi.loader import load_app
from supervisor.config.loader import load_file
from supervisor.config.schema import AppConfig, ServeFile
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
    signal_to_command,
)
from supervisor.errors import (
    EXIT_MASTER_FAILED,
    EXIT_OK,
    AppLoadError,
    BindError,
    ConfigError,
    StartupError,
)
from supervisor.master import exits, pidfile, probes
from supervisor.master.actions import Action, Kill, Note, PoolLimits, Retire, Spawn
from supervisor.master.control_desk import ControlDesk, Reloaded
from supervisor.master.control_server import ControlServer
from supervisor.master.fdbudget import FdBudget
from supervisor.master.http_endpoint import HttpEndpoint
from supervisor.master.listeners import Listeners
from supervisor.master.notify import Notifier
from supervisor.master.output import OutputRouter, PlainLog
from supervisor.master.plan import ReloadPlan, binds_in_use, plan_reload
from supervisor.master.pool import Pool
from supervisor.master.reactor import READ, Reactor
from supervisor.master.reloads import Outcome, Progress, Waiting, describe, outcome, restart_needed
from supervisor.master.report import EventRecord, Reporter, WorkerInfo
from supervisor.master.side_server import SideServer
from supervisor.master.spawn import spawn_worker
from supervisor.master.systemd_link import SystemdLink
from supervisor.master.wakeup import Wakeup
from supervisor.master.watcher import DEFAULT_EXCLUDES, DEFAULT_INCLUDES, Watcher, WatchSpec
from supervisor.status.slots import SlotsExhaustedError, SlotState, SlotTable, capacity_for
from supervisor.status.snapshot import EventKind, Snapshot, WorkerState

logger = logging.getLogger("serve.error")

STATUS_POLL_S = 0.25  # how often slots are read: readiness, heartbeats, counters
EVENTS_KEPT = 200


@dataclass
class WorkerRecord:
    """What the master keeps about one live worker process."""

    app: str
    generation: int
    slot: int
    output_fd: int
    ready: bool = False


@dataclass
class AppRuntime:
    """An app as the master runs it: its policy and the settings of each live generation."""

    pool: Pool
    generations: dict[int, AppConfig] = field(default_factory=dict)
    ever_ready: bool = False
    failed_at_start: bool = False


class Display(Protocol):
    """A live view the master draws from its own loop (the dashboard, wired in by cli.py)."""

    def fileno(self) -> int:
        """Readable when keys were typed."""

    def read_commands(self, apps: Sequence[str]) -> list[Command]:
        """The commands the keys typed since the last call ask for; EOFError when the terminal is gone."""

    def due(self, now: float) -> float:
        """When the next frame may be drawn."""

    def draw(self, snapshot: Snapshot, logs: Sequence[str], now: float) -> None:
        """Show the snapshot and the latest log lines."""


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
        self.file = serve_file
        self.from_file = from_file  # False for `serve run`: a reload rolls the code, the settings stay
        self.display = display
        self.listeners = Listeners()
        self.apps: dict[str, AppRuntime] = {}
        self.workers: dict[int, WorkerRecord] = {}
        self.events: deque[EventRecord] = deque(maxlen=EVENTS_KEPT)
        self.reporter = Reporter()
        self.control: ControlServer | None = None
        self.desk = ControlDesk(self)  # carries out control requests, owes each `serve reload` its answer
        self.endpoints: list[HttpEndpoint] = []
        self.fd_budget = FdBudget()  # shared by the side servers: probes cannot use up the master's descriptors
        self.watchers: list[Watcher] = []
        self.systemd: SystemdLink | None = None
        self.reactor = Reactor()
        self.reactor.on_failure = self._handler_failed
        # Worker output and log files are written without blocking, through the loop (master/output.py).
        self.owns_sink = sink is None
        self.sink = sink or PlainLog(to_stream=display is None)
        self.sink.attach(self.reactor)
        self.output = OutputRouter(self.sink, self.reactor)
        self.loop_failures: dict[str, int] = {}  # loop step -> failures, logged in full once each
        self.table: SlotTable | None = None
        self.wakeup: Wakeup | None = None
        self.stopping = False
        self.interrupted = False
        self.exit_code = EXIT_OK
        self.started_at = time.time()

    # --- the loop ------------------------------------------------------------------------

    def run(self) -> int:
        """Bind, start every app, and supervise until a stop completes.

        Raises:
            BindError: an address could not be bound (nothing was started).
        """
        file = self.file
        self.systemd = SystemdLink(Notifier(os.environ))  # read, and removed from the environment, before any fork
        inherited = self.listeners.inherit_systemd(os.environ)
        if inherited:
            logger.info("Adopted %d socket(s) from systemd socket activation.", inherited)
            used = {b for name, app in file.apps.items() for b in self.listeners.binds_for(name, app.bind)}
            for bind in sorted(self.listeners.inherited - used, key=str):
                logger.warning("systemd passed %s, which no app binds or is named after: it stays unused.", bind)
        for app in file.apps.values():
            self.listeners.ensure(app.bind, backlog=app.backlog, uds_mode=app.uds_mode)
        self.table = SlotTable(capacity_for(app.workers for app in file.apps.values()))
        pidfile.write(file.server.pid_file)
        try:
            # Signal intake stays installed until everything is shut (restored in `_shut`): a
            # further Ctrl-C or TERM while it cleans up is recorded, not a KeyboardInterrupt.
            wakeup = self.wakeup = Wakeup()
            self.reactor.watch(wakeup.fileno(), READ, lambda _: self._signals(), name="signal wake-ups")
            if file.server.control_socket:
                self.control = self.desk.server = ControlServer(
                    file.server.control_socket,
                    self.reactor,
                    self.desk.request,
                    on_gone=self.desk.gone,
                    budget=self.fd_budget,
                )
            self._open_endpoints()
            if self.display is not None:
                fd = self.display.fileno()
                self.reactor.watch(fd, READ, lambda _: self._keys(fd), name="dashboard keys")
            for name, app in file.apps.items():
                self._add_app(name, app)
            if file.server.watch_config:
                self._watch(WatchSpec("", (file.path,), includes=(), excludes=()))
            logger.info("Master %d serving %d app(s) from %s", os.getpid(), len(self.apps), file.path)
            self._supervise()
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
            self._drain_all(self.file.server.graceful_timeout)

    def _loop(self) -> None:
        steps = (self._observe, self.desk.answer, self._decide, self._notify, self._draw, self._sleep)
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
            self._record("", EventKind.MASTER_ERROR, f"the master's {step} step failed ({count}x): {error!r}")

    def _handler_failed(self, name: str, error: BaseException) -> None:
        self._record("", EventKind.MASTER_ERROR, f"the master's handler for {name} failed: {error!r}")

    def _draw(self, now: float) -> None:
        display = self.display
        if display is not None and now >= display.due(now):
            display.draw(self.snapshot(), self.sink.recent, now)

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
        for side in self._side_servers():
            side.expire(now)
            if (deadline := side.next_deadline()) is not None:
                deadlines.append(deadline)
        return min([STATUS_POLL_S, *(d - now for d in deadlines)])

    # --- observations --------------------------------------------------------------------

    def _observe(self, now: float) -> None:
        self._reap(now)
        table = self.table
        assert table is not None  # noqa: S101 - created before the loop
        samples = {}
        for pid, record in self.workers.items():
            sample = table.read(record.slot)
            pool = self.apps[record.app].pool
            if not record.ready and sample.state == SlotState.READY and sample.pid == pid:
                record.ready = True
                self.apps[record.app].ever_ready = True
                pool.ready(pid, now)
            if sample.pid == pid:
                samples[pid] = sample
                pool.observe(pid, heartbeat_at=sample.heartbeat, requests=sample.requests, rss_bytes=sample.rss_bytes)
        self.reporter.observe(now, self._infos(), samples)

    def _reap(self, now: float) -> None:
        reaped = False
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            record = self.workers.pop(pid, None)
            if record is not None:
                self._reaped(pid, record, os.waitstatus_to_exitcode(status), now)
                reaped = True
        if reaped:
            self._close_unused_listeners()

    def _reaped(self, pid: int, record: WorkerRecord, code: int, now: float) -> None:
        runtime = self.apps[record.app]
        assert self.table is not None  # noqa: S101
        try:
            self.output.worker_exited(record.output_fd)  # what is there now; the pipe stays watched until EOF
            last = self.table.read(record.slot)
            if last.pid == pid:  # its last figures: a limit reached between two polls is a planned exit
                runtime.pool.observe(pid, heartbeat_at=last.heartbeat, requests=last.requests, rss_bytes=last.rss_bytes)
            why = exits.exit_reason(pid, runtime.pool.workers(), stopping=self.stopping)
            self.reporter.worker_exited(record.app, pid, last if last.pid == pid else None, why)
        finally:
            # Whatever failed above, the pool must hear of the exit: a worker it still counts
            # would hold capacity and keep a graceful stop from ever finishing.
            self.table.release(record.slot)
            if exits.failed_at_start(code, was_ready=record.ready, app_ever_ready=runtime.ever_ready):
                runtime.failed_at_start = True
            if code < 0:
                runtime.pool.exited(pid, now, signal=_signal_name(-code))
            else:
                runtime.pool.exited(pid, now, code=code)

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
            logger.error("No app could start; stopping (exit code %d).", StartupError.exit_code)
            self.exit_code = StartupError.exit_code
            self._stop(Stop(now=True))

    def _carry_out(self, action: Action, now: float) -> None:
        if isinstance(action, Spawn):
            self._spawn(action, now)
        elif isinstance(action, Retire):
            self._send(action.pid, signal.SIGTERM)
        elif isinstance(action, Kill):
            self._send(action.pid, signal.Signals[action.signal])
        elif isinstance(action, Note):
            self._record(action.app, action.kind, action.message)

    def _spawn(self, action: Spawn, now: float) -> None:
        runtime = self.apps[action.app]
        # The worker enforces its own request limit: the one the pool drew for it (jitter included).
        config = dataclasses.replace(runtime.generations[action.generation], max_requests=action.max_requests)
        table = self.table
        assert table is not None  # noqa: S101
        try:
            slot = table.allocate(generation=action.generation, started_at=now)
        except SlotsExhaustedError as error:
            runtime.pool.spawn_failed(action.generation, now, str(error))
            return
        try:
            spawned = spawn_worker(
                config,
                sockets=self.listeners.sockets_for(self.listeners.binds_for(action.app, config.bind)),
                table=table,
                slot=slot,
            )
        except Exception as error:  # a fork or pipe that failed (EMFILE, EAGAIN) is retried with backoff
            table.release(slot)
            runtime.pool.spawn_failed(action.generation, now, str(error))
            return
        # The pool and the reaper hear of the new process first: whatever fails after this
        # (watching its pipe), the worker is known, supervised, and reaped.
        self.workers[spawned.pid] = WorkerRecord(action.app, action.generation, slot, spawned.output_fd)
        runtime.pool.spawned(spawned.pid, action.generation, now)
        self.output.add(spawned.output_fd, action.app, spawned.pid)

    def _send(self, pid: int, sig: int) -> None:
        if pid in self.workers:
            with contextlib.suppress(ProcessLookupError):  # exited already: the next reap tells the pool
                os.kill(pid, sig)

    def _record(self, app: str, kind: EventKind, message: str) -> None:
        self.events.append(EventRecord(time.time(), app, kind, message))
        level = logging.WARNING if kind in _WARNING_KINDS else logging.INFO
        logger.log(level, "%s", message)

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
        if isinstance(command, Reload):
            return self.reload(command)
        if isinstance(command, Stop):
            self._stop(command)
            return None
        if isinstance(command, ScaleBy):
            for name, runtime in self.apps.items():
                if command.app in (None, name):
                    runtime.pool.scale_by(command.delta)
            return None
        if isinstance(command, Scale):
            self.apps[command.app].pool.scale(command.workers)
            return None
        if isinstance(command, ReopenLogs):
            self._restore_control_socket()
            self.sink.reopen()
            logger.info("Log files closed: each reopens at its next line.")
            return None
        if isinstance(command, Restart):
            restarted = self.apps.get(command.app)
            return restarted.pool.restart(command.pid) if restarted is not None else f"no app named {command.app!r}"
        if isinstance(command, Logs):
            return command.pick(self.sink.recent)
        if isinstance(command, Status):
            return None
        raise TypeError(f"unknown command {command!r}")

    def _stop(self, command: Stop) -> None:
        if not self.stopping:
            logger.info("Stopping every app (%s).", "at once" if command.now else "gracefully")
            if self.systemd is not None and self.systemd.enabled:
                self.systemd.stopping()
        self.stopping = True
        for runtime in self.apps.values():
            runtime.pool.stop(immediate=command.now)

    def _restore_control_socket(self) -> None:
        """SIGHUP and USR1 bind the control socket again when its file was removed."""
        if self.control is None:
            return
        try:
            if self.control.restore():
                logger.warning("The control socket %s had been removed: bound again.", self.control.path)
        except (BindError, OSError) as error:
            logger.error(
                "The control socket %s had been removed and cannot be bound again: %s", self.control.path, error
            )

    def reload(self, command: Reload) -> Reloaded | str:
        """Re-read the file; roll kept apps to a new generation. Returns what it waits for, or why it refused."""
        self._restore_control_socket()
        prepared = self._prepare_reload()
        if isinstance(prepared, str):
            return prepared
        new, plan, apps = prepared
        # A [server] setting the running master cannot take keeps its running value, and says so.
        unchanged = restart_needed(plan.server_changes)
        old_server = self.file.server
        kept = {name: getattr(old_server, name) for name in unchanged}
        self.file = dataclasses.replace(new, server=dataclasses.replace(new.server, **kept))
        for name in plan.removed:
            self.apps[name].pool.stop()
        for name in plan.added:
            self._add_app(name, apps[name])
        rolled = tuple(name for name in plan.kept if command.app in (None, name))
        for name in rolled:
            runtime = self.apps[name]
            runtime.pool.reload(PoolLimits.of(apps[name], new.server))
            runtime.generations[runtime.pool.generation] = apps[name]
            self._route_log(name, apps[name])
        self._record("", EventKind.RELOAD, f"reload: {describe(plan.added, plan.removed, rolled)}")
        for name in unchanged:
            change = f"{getattr(old_server, name)!r} -> {getattr(new.server, name)!r}"
            self._record(
                "", EventKind.CONFIG_ERROR, f"[server] {name} changed ({change}): takes a restart of the master"
            )
        waiting = self._waiting_for(command)
        if self.systemd is not None:
            self.systemd.reloading(waiting)
        return Reloaded(waiting, tuple(unchanged))

    def _prepare_reload(self) -> tuple[ServeFile, ReloadPlan, dict[str, AppConfig]] | str:
        """The new file, its plan, its apps (imported when preloaded) and their sockets bound; or why not."""
        if self.stopping:
            return "stopping: not reloading"
        try:
            new = load_file(self.file.path) if self.from_file else self.file
        except ConfigError as error:
            for problem in error.problems:
                self._record("", EventKind.CONFIG_ERROR, f"reload refused: {problem}")
            return str(error)
        plan = plan_reload(self.file, new)
        draining = [name for name in plan.added if name in self.apps]
        if draining:
            # Removed by an earlier reload and still draining: its old workers must finish
            # under their own pool before a new one takes the name.
            refusal = (
                f"reload refused: {', '.join(draining)} removed by an earlier reload and still draining; "
                f"try again within {self.file.server.graceful_timeout:g} s"
            )
            self._record("", EventKind.RELOAD_FAILED, refusal)
            return refusal
        try:
            apps = {name: preloaded(new.apps[name]) for name in (*plan.added, *plan.kept)}
            for app in apps.values():
                self.listeners.ensure(app.bind, backlog=app.backlog, uds_mode=app.uds_mode)
            pidfile.move(self.file.server.pid_file, new.server.pid_file)
        except (BindError, AppLoadError, OSError) as error:
            self._record("", EventKind.RELOAD_FAILED, f"reload refused: {error}")
            return str(error)
        return new, plan, apps

    def _waiting_for(self, command: Reload) -> Waiting:
        """What a reload that just began waits for: every targeted app still in the file, at its new generation."""
        targets = {
            name: runtime.pool.generation
            for name, runtime in self.apps.items()
            if command.app in (None, name) and name in self.file.apps and not runtime.pool.stopped
        }
        restarts = {name: self.apps[name].pool.restarts for name in targets}
        return Waiting.begin(targets, restarts, now=time.monotonic(), startup_timeout=self.file.server.startup_timeout)

    def settle(self, waiting: Waiting, now: float) -> Outcome | None:
        """The outcome of a reload (master/reloads.py), from each target's pool now."""
        return outcome(waiting, {name: self._progress(name, gen) for name, gen in waiting.targets.items()}, now)

    def _progress(self, name: str, generation: int) -> Progress | None:
        runtime = self.apps.get(name)
        if runtime is None:
            return None
        pool = runtime.pool
        ready = sum(1 for w in pool.workers() if w.generation == generation and w.state == WorkerState.READY)
        return Progress(
            generation=pool.generation,
            desired=pool.desired,
            ready=ready,
            restarts=pool.restarts,
            ever_ready=runtime.ever_ready,
            stopped=pool.stopped,
            last_error=pool.last_error,
        )

    def app_names(self) -> list[str]:
        """The apps the master runs now."""
        return list(self.apps)

    def _add_app(self, name: str, app: AppConfig) -> None:
        app = preloaded(app)
        pool = Pool(name, PoolLimits.of(app, self.file.server))
        self.apps[name] = AppRuntime(pool, {pool.generation: app})
        self._route_log(name, app)
        if app.reload:
            self._watch(
                WatchSpec(
                    name,
                    app.reload_dirs or (app.app_dir or os.getcwd(),),
                    includes=app.reload_includes or DEFAULT_INCLUDES,
                    excludes=app.reload_excludes or DEFAULT_EXCLUDES,
                    delay_s=app.reload_delay,
                )
            )

    def _watch(self, spec: WatchSpec) -> None:
        watcher = Watcher(spec)
        self.watchers.append(watcher)
        self.reactor.watch(watcher.fileno(), READ, lambda _: self._changed(watcher), name=f"watcher {spec.name}")
        what = f"{spec.name}'s files" if spec.name else "the configuration file"
        logger.info("Watching %s: %s", what, ", ".join(spec.paths))

    def _changed(self, watcher: Watcher) -> None:
        """Files a watcher looks at changed: roll its app (or reload the file) as SIGHUP would."""
        paths = watcher.read()
        if paths is None:
            self.reactor.forget(watcher.fileno())
            watcher.stop()  # closes its pipe
            self.watchers.remove(watcher)
            logger.warning("The watcher of %s stopped; changes are no longer noticed.", watcher.spec.name or "the file")
            return
        if not paths or self.stopping:
            return
        name = watcher.spec.name
        shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        logger.info("%s changed: %s; reloading %s", "Files" if len(paths) > 1 else "A file", shown, name or "every app")
        if name and name not in self.apps:
            return
        self.execute(Reload(name or None))

    def _route_log(self, name: str, app: AppConfig) -> None:
        self.sink.set_log_file(name, app.log_file)

    def _close_unused_listeners(self) -> None:
        live = (self.apps[record.app].generations[record.generation].bind for record in self.workers.values())
        self.listeners.keep_only(binds_in_use(self.file, live, self.listeners.inherited))
        for name in [n for n, rt in self.apps.items() if rt.pool.stopped and n not in self.file.apps]:
            del self.apps[name]
            self.sink.set_log_file(name, None)

    # --- status and the control socket ---------------------------------------------------

    def _open_endpoints(self) -> None:
        """[server] metrics_bind and health_bind: one endpoint per address, with the routes of each."""
        tables = probes.routes(self.file.server, snapshot=self.snapshot, readiness=self._readiness)
        for bind, table in tables.items():
            endpoint = HttpEndpoint(bind, table, self.reactor, budget=self.fd_budget)
            self.endpoints.append(endpoint)
            logger.info("Serving %s on %s", " ".join(sorted(table)), bind)

    def _readiness(self) -> probes.Answer:
        waiting = [name for name, runtime in self.apps.items() if runtime.pool.ready_count == 0]
        return probes.readyz(stopping=self.stopping, waiting=waiting)

    def _side_servers(self) -> list[SideServer]:
        return [*self.endpoints, *([self.control] if self.control is not None else [])]

    def _infos(self) -> list[WorkerInfo]:
        return [WorkerInfo(pid, record.app, record.slot) for pid, record in self.workers.items()]

    def snapshot(self) -> Snapshot:
        """Every app and worker now: what `serve status` prints and the dashboard draws."""
        return self.reporter.snapshot(
            now=time.monotonic(),
            wall_now=time.time(),
            started_at=self.started_at,
            config_path=self.file.path,
            pools={name: runtime.pool for name, runtime in self.apps.items()},
            binds={
                name: tuple(str(b) for b in self.listeners.binds_for(name, app.bind))
                for name, app in self.file.apps.items()
            },
            workers=self._infos(),
            events=self.events,
            lines_dropped=self.sink.dropped,
        )

    # --- the end -------------------------------------------------------------------------

    def _drain_all(self, timeout: float) -> None:
        """Outside the loop: SIGTERM every worker and reap them for up to `timeout` seconds."""
        for pid in list(self.workers):
            self._send(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.workers and time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid:
                self.workers.pop(pid, None)
            else:
                time.sleep(0.05)  # no loop to wait in any more: poll the children

    def _shut(self) -> None:
        # Normally every worker has exited by now; these are the ones a failure left behind.
        for pid in list(self.workers):
            self._send(pid, signal.SIGKILL)
        for pid in list(self.workers):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self.output.close_all()  # what each pipe holds now, without waiting
        self.desk.shut()
        if self.control is not None:
            self.control.close()
        for endpoint in self.endpoints:
            endpoint.close()
        if self.systemd is not None:
            self.systemd.close()
        for watcher in self.watchers:
            self.reactor.forget(watcher.fileno())
            watcher.stop()
        self.listeners.close_all()
        self.sink.attach(None)
        self.reactor.close_selector()
        if self.table is not None:
            self.table.close()
        pidfile.remove(self.file.server.pid_file)
        logger.info("Master %d stopped.", os.getpid())
        if self.owns_sink:
            self.sink.close()
        if self.wakeup is not None:
            self.wakeup.restore()  # after the selector that watched it is closed


_WARNING_KINDS = frozenset(
    (EventKind.CRASH, EventKind.RELOAD_FAILED, EventKind.CONFIG_ERROR, EventKind.HEALTH_KILL, EventKind.MASTER_ERROR)
)


def _signal_name(number: int) -> str:
    """SIGTERM for 15; a real-time signal (SIGRTMIN+n) has no Signals member: "signal 40"."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def preloaded(app: AppConfig) -> AppConfig:
    """With `preload`, the app imported here, once, for every worker to inherit (copy-on-write).

    Like gunicorn's --preload, a reload then re-reads the settings but not the code: a module
    already imported stays as it is until the master restarts.

    Raises:
        AppLoadError: the app could not be imported.
    """
    if not app.preload or not isinstance(app.app, str):
        return app
    target = load_app(app.app, factory=app.factory, interface=app.interface, app_dir=app.app_dir or ".")
    return dataclasses.replace(app, app=target, factory=False, interface="asgi3")


def run_master(
    serve_file: ServeFile, *, display: Display | None = None, sink: PlainLog | None = None, from_file: bool = True
) -> int:
    """`serve up`: supervise every app of `serve_file` until stopped; returns the exit code.

    Raises:
        StartupError: an address could not be bound.
    """
    try:
        return Arbiter(serve_file, display=display, sink=sink, from_file=from_file).run()
    except BindError:
        raise
    except OSError as error:
        raise StartupError(str(error)) from error
