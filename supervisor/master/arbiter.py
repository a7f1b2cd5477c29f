"""The master: one single-threaded loop that binds, forks, watches and reloads every app's workers.

May import: config/, status/, control, sockets, logs, errors, other master/ modules; server/
only through master/spawn.py, after fork.

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
import selectors
import signal
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from supervisor.asgi.loader import load_app
from supervisor.config.convert import Bind
from supervisor.config.loader import load_file
from supervisor.config.schema import AppConfig, ServeFile
from supervisor.control import Command, Reload, ReopenLogs, Reply, Scale, ScaleBy, Status, Stop, signal_to_command
from supervisor.errors import EXIT_OK, EXIT_STARTUP, AppLoadError, BindError, ConfigError, StartupError
from supervisor.master.actions import Action, Kill, Limits, Note, Retire, Spawn
from supervisor.master.control_server import ControlClient, ControlServer
from supervisor.master.http_endpoint import HttpEndpoint, Route
from supervisor.master.listeners import Listeners
from supervisor.master.notify import Notifier
from supervisor.master.output import LineSink, OutputRouter, PlainLog
from supervisor.master.plan import binds_of, plan_reload
from supervisor.master.pool import Pool
from supervisor.master.report import EventRecord, Reporter, WorkerInfo
from supervisor.master.spawn import spawn_worker
from supervisor.master.wakeup import Wakeup
from supervisor.master.watcher import DEFAULT_EXCLUDES, DEFAULT_INCLUDES, Watcher, WatchSpec
from supervisor.status import prometheus
from supervisor.status.slots import SlotsExhaustedError, SlotState, SlotTable, capacity_for
from supervisor.status.snapshot import EventKind, Snapshot, WorkerState

logger = logging.getLogger("serve.error")

STATUS_POLL_S = 0.25
STATUS_NOTIFY_S = (
    2.0  # how often systemd's STATUS= line is refreshed  # how often slots are read: readiness, heartbeats, counters
)
EVENTS_KEPT = 200
_WAKEUP = "wakeup"
_CONTROL = "control"
_KEYS = "keys"


@dataclass
class WorkerRecord:
    """What the master keeps about one live worker process."""

    app: str
    generation: int
    slot: int
    output_fd: int
    ready: bool = False


@dataclass
class PendingReload:
    """A control-socket client waiting to hear how its reload ended."""

    client: ControlClient
    targets: dict[str, int]  # app -> the generation it is rolling to


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
        sink: LineSink | None = None,
        display: Display | None = None,
        from_file: bool = True,
    ) -> None:
        self.file = serve_file
        self.from_file = from_file  # False for `serve run`: a reload rolls the code, the settings stay
        self.display = display
        self.sink = sink or PlainLog(to_stream=display is None)
        self.output = OutputRouter(self.sink)
        self.listeners = Listeners()
        self.apps: dict[str, AppRuntime] = {}
        self.workers: dict[int, WorkerRecord] = {}
        self.events: deque[EventRecord] = deque(maxlen=EVENTS_KEPT)
        self.reporter = Reporter()
        self.control: ControlServer | None = None
        self.pending_reloads: list[PendingReload] = []
        self.endpoints: list[HttpEndpoint] = []
        self.watchers: list[Watcher] = []
        self.notifier: Notifier | None = None
        self.announced_ready = False
        self.reload_targets: dict[str, int] | None = None  # the reload systemd is waiting on
        self.next_status_at = 0.0
        self.selector = selectors.DefaultSelector()
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
        self.notifier = Notifier(os.environ)  # read, and removed from the environment, before any fork
        inherited = self.listeners.inherit_systemd(os.environ)
        if inherited:
            logger.info("Adopted %d socket(s) from systemd socket activation.", inherited)
            used = {b for name, app in file.apps.items() for b in self.listeners.binds_for(name, app.bind)}
            for bind in sorted(self.listeners.inherited - used, key=str):
                logger.warning("systemd passed %s, which no app binds or is named after: it stays unused.", bind)
        for app in file.apps.values():
            self.listeners.ensure(app.bind, backlog=app.backlog, uds_mode=app.uds_mode)
        self.table = SlotTable(capacity_for(app.workers for app in file.apps.values()))
        self._write_pid_file()
        try:
            with Wakeup() as wakeup:
                self.wakeup = wakeup
                self.selector.register(wakeup.fileno(), selectors.EVENT_READ, _WAKEUP)
                if file.server.control_socket:
                    self.control = ControlServer(file.server.control_socket)
                    self.selector.register(self.control.fileno(), selectors.EVENT_READ, _CONTROL)
                self._open_endpoints()
                if self.display is not None:
                    self.selector.register(self.display.fileno(), selectors.EVENT_READ, _KEYS)
                for name, app in file.apps.items():
                    self._add_app(name, app)
                if file.server.watch_config:
                    self._watch(WatchSpec("", (file.path,), includes=(), excludes=()))
                logger.info("Master %d serving %d app(s) from %s", os.getpid(), len(self.apps), file.path)
                self._loop()
        finally:
            self._shut()
        return self.exit_code

    def _loop(self) -> None:
        while not (self.stopping and all(runtime.pool.stopped for runtime in self.apps.values())):
            now = time.monotonic()
            self._observe(now)
            self._decide(now)
            self._notify(now)
            self._draw(now)
            self._sleep(now)

    def _draw(self, now: float) -> None:
        display = self.display
        if display is not None and now >= display.due(now):
            logs = self.sink.recent if isinstance(self.sink, PlainLog) else ()
            display.draw(self.snapshot(), list(logs)[-200:], now)

    def _notify(self, now: float) -> None:
        """Tell systemd (when it started us) about readiness, reloads and the watchdog."""
        notifier = self.notifier
        if notifier is None or not notifier.enabled:
            return
        notifier.watchdog(now)
        if self.stopping:
            return
        if not self.announced_ready and all(rt.pool.ready_count >= rt.pool.desired for rt in self.apps.values()):
            self.announced_ready = True
            notifier.ready(self._summary())
        if self.reload_targets is not None and self._reload_outcome(self.reload_targets) is not None:
            self.reload_targets = None
            notifier.ready(self._summary())
        if now >= self.next_status_at:
            self.next_status_at = now + STATUS_NOTIFY_S
            notifier.status(self._summary())

    def _summary(self) -> str:
        """One line for systemd's STATUS=: "3 apps, 9/9 workers ready, 1.2k req/s"."""
        snapshot = self.snapshot()
        ready = sum(app.workers_ready for app in snapshot.apps)
        desired = sum(app.workers_desired for app in snapshot.apps)
        rate = snapshot.requests_per_s
        shown = f"{rate / 1000:.1f}k" if rate >= 1000 else f"{rate:.0f}"
        return f"{len(snapshot.apps)} apps, {ready}/{desired} workers ready, {shown} req/s"

    def _sleep(self, now: float) -> None:
        """Wait for the first of: a readable descriptor, the next deadline, the next slot poll."""
        deadlines = [d for d in (rt.pool.next_deadline() for rt in self.apps.values()) if d is not None]
        if self.notifier is not None and (watchdog := self.notifier.next_deadline()) is not None:
            deadlines.append(watchdog)
        if self.display is not None:
            deadlines.append(self.display.due(now))
        timeout = min([STATUS_POLL_S, *(d - now for d in deadlines)])
        for key, _ in self.selector.select(max(timeout, 0.0)):
            self._readable(key)

    def _readable(self, key: selectors.SelectorKey) -> None:
        data = key.data
        if data == _WAKEUP:
            self._signals()
        elif data == _CONTROL:
            self._accept_control()
        elif data == _KEYS:
            self._keys(key.fd)
        elif isinstance(data, ControlClient):
            self._control_request(data)
        elif isinstance(data, HttpEndpoint):
            client = data.accept()
            if client is not None:
                self.selector.register(client.fileno(), selectors.EVENT_READ, (data, client))
        elif isinstance(data, Watcher):
            self._changed(data)
        elif isinstance(data, tuple):
            endpoint, client = data
            if endpoint.read(client):
                self.selector.unregister(key.fd)
        elif not self.output.read(key.fd):
            self.selector.unregister(key.fd)

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
        self._answer_reloads()

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
        self._drain_output(record.output_fd)
        assert self.table is not None  # noqa: S101
        last = self.table.read(record.slot)
        self.reporter.worker_exited(record.app, pid, last if last.pid == pid else None, self._why_gone(record.app, pid))
        self.table.release(record.slot)
        runtime = self.apps[record.app]
        if code == EXIT_STARTUP and not record.ready and not runtime.ever_ready:
            runtime.failed_at_start = True
        if code < 0:
            runtime.pool.exited(pid, now, signal=signal.Signals(-code).name)
        else:
            runtime.pool.exited(pid, now, code=code)

    def _why_gone(self, app: str, pid: int) -> str:
        """Why a reaped worker went: the reason it was retired or killed for, else a crash."""
        for view in self.apps[app].pool.workers():
            if view.pid == pid:
                if view.state == WorkerState.RETIRING and view.reason is not None:
                    return view.reason.value
                return "stop" if self.stopping else "crash"
        return "crash"

    def _drain_output(self, fd: int) -> None:
        if fd in self.output.pipes:
            while self.output.read(fd):
                pass
            self.selector.unregister(fd)

    # --- decisions and actions -----------------------------------------------------------

    def _decide(self, now: float) -> None:
        for runtime in list(self.apps.values()):
            for action in runtime.pool.tick(now):
                self._carry_out(action, now)
        if not self.stopping and self.apps and all(rt.failed_at_start for rt in self.apps.values()):
            logger.error("No app could start; stopping (exit code %d).", EXIT_STARTUP)
            self.exit_code = EXIT_STARTUP
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
        config = runtime.generations[action.generation]
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
                close_in_child=self._master_fds(),
            )
        except OSError as error:
            table.release(slot)
            runtime.pool.spawn_failed(action.generation, now, str(error))
            return
        self.workers[spawned.pid] = WorkerRecord(action.app, action.generation, slot, spawned.output_fd)
        self.output.add(spawned.output_fd, action.app, spawned.pid)
        self.selector.register(spawned.output_fd, selectors.EVENT_READ)
        runtime.pool.spawned(spawned.pid, action.generation, now)

    def _master_fds(self) -> list[int]:
        fds = [*self.listeners.filenos(), *self.output.pipes, *(w.fileno() for w in self.watchers)]
        for endpoint in self.endpoints:
            fds.extend(endpoint.filenos())
        if self.notifier is not None and (notify_fd := self.notifier.fileno()) is not None:
            fds.append(notify_fd)
        if self.control is not None:
            fds.extend(self.control.filenos())
        selector_fd = getattr(self.selector, "fileno", None)
        if selector_fd is not None:
            fds.append(selector_fd())
        if self.wakeup is not None:
            fds.append(self.wakeup.fileno())
        return fds

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
            self.selector.unregister(fd)
            logger.warning("The dashboard's terminal is gone: stopping.")
            commands = [Stop(now=False)]
        for command in commands:
            self.execute(command)

    def _signals(self) -> None:
        assert self.wakeup is not None  # noqa: S101
        for signum in self.wakeup.drain():
            command = signal_to_command(signum, second_interrupt=self.interrupted and signum == signal.SIGINT)
            if signum == signal.SIGINT:
                self.interrupted = True
            if command is not None:
                self.execute(command)

    def execute(self, command: Command) -> object:
        """Carry out one command from a signal, the control socket or the dashboard."""
        if isinstance(command, Reload):
            return self._reload(command)
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
            if isinstance(self.sink, PlainLog):
                self.sink.reopen()
            logger.info("Log files closed: each reopens at its next line.")
            return None
        if isinstance(command, Status):
            return None
        raise TypeError(f"unknown command {command!r}")

    def _stop(self, command: Stop) -> None:
        if not self.stopping:
            logger.info("Stopping every app (%s).", "at once" if command.now else "gracefully")
            if self.notifier is not None:
                self.notifier.stopping()
        self.stopping = True
        for runtime in self.apps.values():
            runtime.pool.stop(immediate=command.now)

    def _reload(self, command: Reload) -> str | None:
        """Re-read the file; roll kept apps to a new generation. Returns an error message or None."""
        if self.stopping:
            return "stopping: not reloading"
        try:
            new = load_file(self.file.path) if self.from_file else self.file
        except ConfigError as error:
            for problem in error.problems:
                self._record("", EventKind.CONFIG_ERROR, f"reload refused: {problem}")
            return str(error)
        plan = plan_reload(self.file, new)
        try:
            apps = {name: preloaded(new.apps[name]) for name in (*plan.added, *plan.kept)}
            for app in apps.values():
                self.listeners.ensure(app.bind, backlog=app.backlog, uds_mode=app.uds_mode)
        except (BindError, AppLoadError) as error:
            self._record("", EventKind.RELOAD_FAILED, f"reload refused: {error}")
            return str(error)
        self.file = new
        for name in plan.removed:
            self.apps[name].pool.stop()
        for name in plan.added:
            self._add_app(name, apps[name])
        for name in plan.kept:
            if command.app in (None, name):
                runtime = self.apps[name]
                runtime.pool.reload(Limits.of(apps[name], new.server))
                runtime.generations[runtime.pool.generation] = apps[name]
                self._route_log(name, apps[name])
        self._record("", EventKind.RELOAD, f"reload: {_describe(plan.added, plan.removed, plan.kept)}")
        if self.notifier is not None and self.notifier.enabled:
            self.notifier.reloading()
            self.reload_targets = {
                name: rt.pool.generation for name, rt in self.apps.items() if command.app in (None, name)
            }
        return None

    def _add_app(self, name: str, app: AppConfig) -> None:
        app = preloaded(app)
        pool = Pool(name, Limits.of(app, self.file.server))
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
        watcher = Watcher(spec, close_in_child=self._master_fds())
        self.watchers.append(watcher)
        self.selector.register(watcher.fileno(), selectors.EVENT_READ, watcher)
        what = f"{spec.name}'s files" if spec.name else "the configuration file"
        logger.info("Watching %s: %s", what, ", ".join(spec.paths))

    def _changed(self, watcher: Watcher) -> None:
        """Files a watcher looks at changed: roll its app (or reload the file) as SIGHUP would."""
        paths = watcher.read()
        if paths is None:
            self.selector.unregister(watcher.fileno())
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
        if isinstance(self.sink, PlainLog):
            self.sink.set_log_file(name, app.log_file)

    def _close_unused_listeners(self) -> None:
        needed: set[Bind] = set(binds_of(self.file)) | self.listeners.inherited
        for record in self.workers.values():
            needed.update(self.apps[record.app].generations[record.generation].bind)
        self.listeners.keep_only(needed)
        for name in [n for n, rt in self.apps.items() if rt.pool.stopped and n not in self.file.apps]:
            del self.apps[name]

    # --- status and the control socket ---------------------------------------------------

    def _open_endpoints(self) -> None:
        """[server] metrics_bind and health_bind: one endpoint per address, with the routes of each."""
        server = self.file.server
        routes: dict[Bind, dict[str, Route]] = {}
        if server.metrics_bind is not None:
            routes.setdefault(server.metrics_bind, {})["/metrics"] = self._metrics
        if server.health_bind is not None:
            routes.setdefault(server.health_bind, {}).update({"/livez": self._livez, "/readyz": self._readyz})
        for bind, table in routes.items():
            endpoint = HttpEndpoint(bind, table)
            self.endpoints.append(endpoint)
            self.selector.register(endpoint.fileno(), selectors.EVENT_READ, endpoint)
            logger.info("Serving %s on %s", " ".join(sorted(table)), bind)

    def _metrics(self) -> tuple[int, str, bytes]:
        return 200, prometheus.CONTENT_TYPE, prometheus.exposition(self.snapshot())

    def _livez(self) -> tuple[int, str, bytes]:
        return 200, "text/plain", b"ok: the master's loop answers\n"

    def _readyz(self) -> tuple[int, str, bytes]:
        if self.stopping:
            return 503, "text/plain", b"stopping\n"
        waiting = [name for name, runtime in self.apps.items() if runtime.pool.ready_count == 0]
        if waiting:
            return 503, "text/plain", f"no ready worker yet: {', '.join(waiting)}\n".encode()
        return 200, "text/plain", b"ready: every app has a ready worker\n"

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
        )

    def _accept_control(self) -> None:
        assert self.control is not None  # noqa: S101
        client = self.control.accept()
        if client is not None:
            self.selector.register(client.fileno(), selectors.EVENT_READ, client)

    def _control_request(self, client: ControlClient) -> None:
        control = self.control
        assert control is not None  # noqa: S101
        outcome = control.read(client)
        if outcome is None:
            return
        self.selector.unregister(client.fileno())
        if isinstance(outcome, Reply):
            control.reply(client, outcome)
        elif isinstance(outcome, Reload):
            self._start_reload(outcome, client)
        else:
            control.reply(client, self._answer(outcome))

    def _start_reload(self, command: Reload, client: ControlClient) -> None:
        """A reload that starts keeps its client until the new generations are ready or abandoned."""
        assert self.control is not None  # noqa: S101
        if command.app is not None and command.app not in self.apps:
            self.control.reply(client, Reply.failure(f"no app named {command.app!r} (apps: {', '.join(self.apps)})"))
            return
        error = self._reload(command)
        if error is not None:
            self.control.reply(client, Reply.failure(error))
            return
        targets = {
            name: runtime.pool.generation
            for name, runtime in self.apps.items()
            if command.app in (None, name) and not runtime.pool.stopped
        }
        self.pending_reloads.append(PendingReload(client, targets))

    def _answer(self, command: Command) -> Reply:
        if isinstance(command, Status):
            return Reply.success(self.snapshot().to_dict())
        if isinstance(command, Scale) and command.app not in self.apps:
            return Reply.failure(f"no app named {command.app!r} (apps: {', '.join(self.apps)})")
        self.execute(command)
        return Reply.success()

    def _answer_reloads(self) -> None:
        for pending in list(self.pending_reloads):
            outcome = self._reload_outcome(pending.targets)
            if outcome is not None and self.control is not None:
                self.pending_reloads.remove(pending)
                self.control.reply(pending.client, outcome)

    def _reload_outcome(self, targets: dict[str, int]) -> Reply | None:
        failed = []
        for name, generation in targets.items():
            runtime = self.apps.get(name)
            if runtime is None or runtime.pool.stopped:
                failed.append(f"{name}: stopped")
                continue
            pool = runtime.pool
            if pool.generation != generation:
                failed.append(f"{name}: {pool.last_error or 'the new generation was abandoned'}")
                continue
            ready = sum(1 for w in pool.workers() if w.generation == generation and w.state == WorkerState.READY)
            if ready < pool.desired:
                return None  # still rolling
        if failed:
            return Reply.failure("reload failed: " + "; ".join(failed))
        return Reply.success(targets)

    # --- the end -------------------------------------------------------------------------

    def _shut(self) -> None:
        for pid in list(self.workers):
            self._send(pid, signal.SIGKILL)
        for pid in list(self.workers):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self.output.close_all()
        if self.control is not None:
            for pending in self.pending_reloads:
                self.control.reply(pending.client, Reply.failure("the master stopped before the reload finished"))
            self.control.close()
        for endpoint in self.endpoints:
            endpoint.close()
        if self.notifier is not None:
            self.notifier.close()
        for watcher in self.watchers:
            watcher.stop()
        self.listeners.close_all()
        self.selector.close()
        if self.table is not None:
            self.table.close()
        self._remove_pid_file()
        logger.info("Master %d stopped.", os.getpid())

    def _write_pid_file(self) -> None:
        path = self.file.server.pid_file
        if path:
            with open(path, "w", encoding="ascii") as handle:
                handle.write(f"{os.getpid()}\n")

    def _remove_pid_file(self) -> None:
        path = self.file.server.pid_file
        if path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


_WARNING_KINDS = frozenset((EventKind.CRASH, EventKind.RELOAD_FAILED, EventKind.CONFIG_ERROR, EventKind.HEALTH_KILL))


def _describe(added: tuple[str, ...], removed: tuple[str, ...], kept: tuple[str, ...]) -> str:
    parts = [
        f"{label} {', '.join(names)}"
        for label, names in (("added", added), ("removed", removed), ("rolling", kept))
        if names
    ]
    return "; ".join(parts) or "nothing to do"


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
    serve_file: ServeFile, *, display: Display | None = None, sink: LineSink | None = None, from_file: bool = True
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
