"""The apps the master runs, and how a reload changes them.

`Apps` holds each app's runtime (its pool policy and the settings of every live generation),
by name, along with what follows the app: its file watcher and its log file. A reload reads
the file again, asks the planner (master/plan.py) what changes, and carries the plan out:
removed apps stop, added apps start, kept apps roll to a new generation; the plan's new
addresses are bound before anything starts, and the addresses it drops are closed only once
no live worker accepts on them any more (SPEC §3, Reload). A reload that hands an address from
one running app to another is refused; an app whose new generation is abandoned has its old
binds back in the running file, and an address only that generation used is closed. When a reload ends and what it
answers are the pure rules of master/reloads.py, asked from here with each app's progress.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from supervisor.asgi.loader import load_app
from supervisor.config.convert import Bind
from supervisor.config.loader import load_file
from supervisor.config.schema import APP_DEFAULTS, AppConfig, ServeFile
from supervisor.control import Reload, Restart, Scale, ScaleBy
from supervisor.errors import BindError, ConfigError
from supervisor.hooks import call_logged, master_context
from supervisor.master import pidfile
from supervisor.master.actions import PoolLimits
from supervisor.master.control_desk import Reloaded
from supervisor.master.listeners import Listeners, unix_owner
from supervisor.master.output import PlainLog
from supervisor.master.plan import ReloadPlan, closable, handed_over, plan_reload, scoped, still_closing
from supervisor.master.pool import Pool
from supervisor.master.reactor import READ, Reactor
from supervisor.master.reloads import Outcome, Progress, Waiting, describe, outcome, restart_needed
from supervisor.master.watcher import DEFAULT_EXCLUDES, DEFAULT_INCLUDES, Watcher, WatchSpec, default_dirs
from supervisor.preflight import FileLines, startup_problems
from supervisor.status.slots import SLOTS_PER_WORKER, workers_that_fit
from supervisor.status.snapshot import EventKind, WorkerState

logger = logging.getLogger("serve.error")

Record = Callable[[str, EventKind, str], None]  # (app, kind, message): an event for the status and the log
# The status table cannot grow under running workers; a new master sizes its own from the file.
_UPGRADE_SIZES = " (a new master, with a status table sized for the file, takes over without downtime)"


@dataclass
class AppRuntime:
    """An app as the master runs it: its policy and the settings of each live generation."""

    pool: Pool
    generations: dict[int, AppConfig] = field(default_factory=dict)
    ever_ready: bool = False
    failed_at_start: bool = False
    waiting_for_slot: bool = False  # a Spawn was deferred for want of a free status slot (said once)


class Apps(Mapping[str, AppRuntime]):
    """Every app the master runs now, by name (an app a reload removed stays until its workers are gone)."""

    def __init__(
        self,
        serve_file: ServeFile,
        *,
        from_file: bool,
        listeners: Listeners,
        sink: PlainLog,
        reactor: Reactor,
        record: Record,
        on_change: Callable[[Reload], object],
        stopping: Callable[[], bool],
    ) -> None:
        self.file = serve_file
        self.from_file = from_file  # False for `serve run`: a reload rolls the code, the settings stay
        self.listeners = listeners
        self.sink = sink
        self.reactor = reactor
        self.record = record
        self.on_change = on_change  # a watcher saw files change: the master reloads as SIGHUP would
        self.stopping = stopping
        self.runtimes: dict[str, AppRuntime] = {}
        self.watchers: list[Watcher] = []
        self.closing: frozenset[Bind] = frozenset()  # dropped by reloads, closed once no live worker uses them
        self.slots = 0  # the status table's capacity, once created: the counts reloads and scaling may reach

    def __getitem__(self, name: str) -> AppRuntime:
        return self.runtimes[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.runtimes)

    def __len__(self) -> int:
        return len(self.runtimes)

    def start(self) -> None:
        """Every app of the file; and, with watch_config, a watcher of the file itself.

        Raises:
            AppLoadError: a preloaded app could not be imported.
        """
        for name, app in self.file.apps.items():
            self._add(name, preloaded(app))  # only here: a reload never imports app code in the master
        self.sink.ring.run(self.runtimes)  # every app's kept lines stay, however many apps there are
        if self.file.server.watch_config:
            # The file's own watcher has no app to take reload_delay from: the key's default.
            spec = WatchSpec("", (self.file.path,), includes=(), excludes=(), delay_s=APP_DEFAULTS["reload_delay"])
            self._watch(spec)

    # --- reloads -------------------------------------------------------------------------

    def reload(self, command: Reload) -> Reloaded | str:
        """Re-read the file; roll kept apps to a new generation. Returns what it waits for, or why it refused."""
        prepared = self._prepare(command)
        if isinstance(prepared, str):
            return prepared
        new, plan, apps = prepared
        # A [server] setting the running master cannot take keeps its running value, and says so.
        unchanged = restart_needed(plan.server_changes)
        old_server = self.file.server
        kept = {name: getattr(old_server, name) for name in unchanged}
        self.file = dataclasses.replace(new, server=dataclasses.replace(new.server, **kept))
        self.closing = still_closing(self.closing, plan)
        for name in plan.removed:
            self.runtimes[name].pool.stop()
        for name in plan.added:
            self._add(name, apps[name])
        rolled = tuple(name for name in plan.kept if command.app in (None, name))
        for name in rolled:
            runtime = self.runtimes[name]
            runtime.pool.reload(PoolLimits.of(apps[name], new.server))
            runtime.generations[runtime.pool.generation] = apps[name]
            _forget_generations(runtime, ())
            self.sink.set_app(name, apps[name], self.file.server)
        self.record("", EventKind.RELOAD, f"reload: {describe(plan.added, plan.removed, rolled)}")
        for name in unchanged:
            change = f"{getattr(old_server, name)!r} -> {getattr(new.server, name)!r}"
            self.record(
                "", EventKind.CONFIG_ERROR, f"[server] {name} changed ({change}): takes a restart of the master"
            )
        self.sink.ring.run(self.runtimes)  # a removed app's lines stay while it drains
        return Reloaded(self._waiting_for(command), tuple(unchanged), tuple(plan.removed))

    def _prepare(self, command: Reload) -> tuple[ServeFile, ReloadPlan, dict[str, AppConfig]] | str:
        """The new file, its plan, its apps and the plan's new sockets bound; or why not."""
        try:
            new = scoped(self.file, load_file(self.file.path) if self.from_file else self.file, command.app)
        except ConfigError as error:
            for problem in error.problems:
                self.record("", EventKind.CONFIG_ERROR, f"reload refused: {problem}")
            return str(error)
        # A missing user or an unwritable log directory would crash-loop the new workers: refuse instead.
        blocked = startup_problems(new)
        if blocked:
            for problem in blocked:
                self.record("", EventKind.CONFIG_ERROR, f"reload refused: {problem}")
            return "\n".join(str(problem) for problem in blocked)
        plan = plan_reload(self.file, new)
        if moved := _handovers(self.file, new):
            self.record("", EventKind.RELOAD_FAILED, f"reload refused: {moved}")
            return moved
        crowded = self._too_many_after(new)
        if crowded is not None:
            refusal = f"reload refused: {crowded}"
            self.record("", EventKind.RELOAD_FAILED, refusal)
            return refusal
        draining = [name for name in plan.added if name in self.runtimes]
        if draining:
            # Removed by an earlier reload and still draining: its old workers must finish
            # under their own pool before a new one takes the name.
            refusal = (
                f"reload refused: {', '.join(draining)} removed by an earlier reload and still draining; "
                f"try again within {self.file.server.graceful_timeout:g} s"
            )
            self.record("", EventKind.RELOAD_FAILED, refusal)
            return refusal
        rolling = (*plan.added, *(name for name in plan.kept if command.app in (None, name)))
        if failed := call_logged(self.file.server.hooks, "on_reload", master_context(rolling)):
            self.record("", EventKind.RELOAD_FAILED, f"reload refused: {failed}")
            return f"reload refused: {failed}"
        opened: list[Bind] = []
        try:
            # Never imported here, even with preload: an import that exits, hangs or forks would take
            # the master with it. The new workers import their app themselves.
            apps = {name: new.apps[name] for name in (*plan.added, *plan.kept)}
            opened = self._open(plan, new)
            pidfile.move(self.file.server.pid_file, new.server.pid_file)
        except (BindError, OSError) as error:
            self.listeners.close(opened)  # the file that wanted them is not taken
            told = _where_bound(new, str(error)) if isinstance(error, BindError) else str(error)
            self.record("", EventKind.RELOAD_FAILED, f"reload refused: {told}")
            return told
        return new, plan, apps

    # --- scaling and restarts ------------------------------------------------------------

    def scale(self, command: Scale) -> str | None:
        """Run the count asked for from now on; or say why not (more than the status table holds)."""
        refusal = self._too_many(command.app, command.workers)
        if refusal is None:
            self.runtimes[command.app].pool.scale(command.workers)
        return refusal

    def scale_by(self, command: ScaleBy) -> None:
        """One worker more or fewer (the dashboard's keys), for one app or every app, within the table."""
        for name, runtime in self.runtimes.items():
            if command.app in (None, name):
                refusal = self._too_many(name, runtime.pool.desired + command.delta)
                if refusal is None:
                    runtime.pool.scale_by(command.delta)
                else:
                    logger.warning("%s", refusal)

    def restart(self, command: Restart) -> str | None:
        """Replace one worker, make before break; or say why not."""
        runtime = self.runtimes.get(command.app)
        return runtime.pool.restart(command.pid) if runtime is not None else f"no app named {command.app!r}"

    def _too_many(self, app: str, workers: int) -> str | None:
        """Why `app` cannot run `workers` workers in the status table, or None when it can."""
        if not self.slots:
            return None
        capacity = self.slots
        others = [rt.pool.desired for name, rt in self.runtimes.items() if name != app and name in self.file.apps]
        most = workers_that_fit(capacity, others)
        if workers <= most:
            return None
        return (
            f"{app}: at most {most} workers fit this master's {capacity} worker slots ({SLOTS_PER_WORKER} per worker,"
            f" as replacements and reloads overlap; the other apps run {sum(others)}); to run {workers}, set"
            f" workers = {workers} in the file and run `serve upgrade`{_UPGRADE_SIZES}"
        )

    def _too_many_after(self, new: ServeFile) -> str | None:
        """Why the new file's counts do not fit the status table, or None. A count changed at run time
        (`serve scale`) stays unless the file's own count changed."""
        if not self.slots:
            return None
        counts = {}
        for name, app in new.apps.items():
            runtime, old = self.runtimes.get(name), self.file.apps.get(name)
            kept = runtime is not None and old is not None and old.workers == app.workers
            counts[name] = runtime.pool.desired if runtime is not None and kept else app.workers
        for name, workers in counts.items():
            most = workers_that_fit(self.slots, [c for other, c in counts.items() if other != name])
            if workers > most:
                return (
                    f"{name}: workers = {workers} does not fit this master's {self.slots} worker slots (at most {most}"
                    f" beside the other apps, {SLOTS_PER_WORKER} slots per worker); run `serve upgrade` to run"
                    f" more{_UPGRADE_SIZES}"
                )
        return None

    def _open(self, plan: ReloadPlan, new: ServeFile) -> list[Bind]:
        """Bind the plan's new addresses, and again a kept unix socket whose file was removed; returns those opened.

        Each address takes the backlog and mode of the first app of the new file that names it.

        Raises:
            BindError: an address could not be bound; the ones opened here are closed again.
        """
        first: dict[Bind, AppConfig] = {}
        for app in new.apps.values():
            for bind in app.bind:
                first.setdefault(bind, app)
        opened: list[Bind] = []
        try:
            for bind in (*plan.open_binds, *plan.kept_binds):
                app = first[bind]
                opened += self.listeners.ensure(
                    [bind], backlog=app.backlog, uds_mode=app.uds_mode, owner=unix_owner(app)
                )
        except BaseException:
            self.listeners.close(opened)
            raise
        return opened

    def _waiting_for(self, command: Reload) -> Waiting:
        """What a reload that just began waits for: every targeted app still in the file, at its new generation."""
        targets = {
            name: runtime.pool.generation
            for name, runtime in self.runtimes.items()
            if command.app in (None, name) and name in self.file.apps and not runtime.pool.stopped
        }
        restarts = {name: self.runtimes[name].pool.restarts for name in targets}
        return Waiting.begin(targets, restarts, now=time.monotonic(), startup_timeout=self.file.server.startup_timeout)

    def settle(self, waiting: Waiting, now: float) -> Outcome | None:
        """The outcome of a reload (master/reloads.py), from each target's pool now."""
        return outcome(waiting, {name: self._progress(name, gen) for name, gen in waiting.targets.items()}, now)

    def _progress(self, name: str, generation: int) -> Progress | None:
        runtime = self.runtimes.get(name)
        if runtime is None:
            return None
        pool = runtime.pool
        # A newer reload may have superseded `generation`: the reload follows the one now rolling.
        ready = sum(1 for w in pool.workers() if w.generation == pool.generation and w.state == WorkerState.READY)
        return Progress(
            generation=pool.generation,
            desired=pool.desired,
            ready=ready,
            restarts=pool.restarts,
            ever_ready=runtime.ever_ready,
            stopped=pool.stopped,
            last_error=pool.last_error,
        )

    def release(self, live: Iterable[tuple[str, int]]) -> None:
        """After workers exited: close the dropped sockets no live worker accepts on, forget removed apps now empty.

        Args:
            live: (app, generation) of every live worker.
        """
        live = list(live)
        self._fall_back()
        binds = [self.runtimes[app].generations[generation].bind for app, generation in live]
        for name, runtime in self.runtimes.items():
            _forget_generations(runtime, (generation for app, generation in live if app == name))
        done = closable(self.closing, binds, self.listeners.inherited)
        if done:
            self.listeners.close(done)
            self.closing = self.closing.difference(done)
        for name in [n for n, rt in self.runtimes.items() if rt.pool.stopped and n not in self.file.apps]:
            del self.runtimes[name]
            self.sink.set_log_file(name, None)
            self.sink.ring.run(self.runtimes)  # its lines are kept among the gone apps' (logring.py)

    def _fall_back(self) -> None:
        """An app whose new generation was abandoned serves its old addresses again: the running file
        says so (`serve status` shows them, the next reload binds the new ones again), and an address
        only the abandoned generation used is closed once its workers are gone, not left listening."""
        for name, runtime in self.runtimes.items():
            serving, filed = runtime.generations[runtime.pool.generation], self.file.apps.get(name)
            if filed is None or _binding(filed) == _binding(serving):
                continue
            bind, backlog, uds_mode = _binding(serving)
            back = dataclasses.replace(filed, bind=bind, backlog=backlog, uds_mode=uds_mode)
            reverted = dataclasses.replace(self.file, apps={**self.file.apps, name: back})
            self.closing = still_closing(self.closing, plan_reload(self.file, reverted))
            self.file = reverted

    # --- apps and their watchers ---------------------------------------------------------

    def _add(self, name: str, app: AppConfig) -> None:
        pool = Pool(name, PoolLimits.of(app, self.file.server))
        self.runtimes[name] = AppRuntime(pool, {pool.generation: app})
        self.sink.set_app(name, app, self.file.server)
        if app.reload:
            self._watch(
                WatchSpec(
                    name,
                    app.reload_dirs or default_dirs(app.app_dir, os.getcwd(), with_cwd=not self.from_file),
                    # As uvicorn's: the configured patterns are added to the defaults, never instead.
                    includes=(*DEFAULT_INCLUDES, *app.reload_includes),
                    excludes=(*DEFAULT_EXCLUDES, *app.reload_excludes),
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
        if not paths or self.stopping():
            return
        name = watcher.spec.name
        shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        logger.info("%s changed: %s; reloading %s", "Files" if len(paths) > 1 else "A file", shown, name or "every app")
        if name and name not in self.runtimes:
            return
        self.on_change(Reload(name or None))

    def close(self) -> None:
        """At exit: stop every watcher."""
        for watcher in self.watchers:
            self.reactor.forget(watcher.fileno())
            watcher.stop()
        self.watchers.clear()


def _forget_generations(runtime: AppRuntime, live: Iterable[int]) -> None:
    """Drop the settings of generations nothing can use any more: kept are the serving one, the one a
    reload under way would fall back to, and those of live workers (`live`, and the pool's own)."""
    pool = runtime.pool
    kept = {pool.generation, *live, *(worker.generation for worker in pool.workers())}
    if pool.fallback is not None:
        kept.add(pool.fallback)
    for generation in [generation for generation in runtime.generations if generation not in kept]:
        del runtime.generations[generation]


def _binding(app: AppConfig) -> tuple[tuple[Bind, ...], int, int | None]:
    return tuple(app.bind), app.backlog, app.uds_mode


def _handovers(running: ServeFile, new: ServeFile) -> str | None:
    """Why the reload is refused: addresses it hands from running apps to another (master/plan.py), each
    told at the key and line that takes it; or None."""
    where = FileLines.read(new.path)
    told = []
    for bind, givers, taker in handed_over(running, new):
        gave = ", ".join(givers)
        index = new.apps[taker].bind.index(bind)
        message = (
            f"{bind} moves from {gave} to {taker} in one reload; if {taker}'s new generation could not start,"
            f" nothing would serve it: give it to {taker} while {gave} still binds it, reload, then remove it"
            f" from {gave} and reload again"
        )
        told.append(str(where.problem((*where.app_key(taker, "bind"), index), message)))
    return "\n".join(told) or None


def _where_bound(serve_file: ServeFile, message: str) -> str:
    """A bind failure ("127.0.0.1:8100: address already in use") told at the key and line of each app
    that names the address, as `serve up` tells it."""
    address = message.partition(": ")[0]
    where = FileLines.read(serve_file.path)
    told = [
        str(where.problem((*where.app_key(name, "bind"), index), message))
        for name, app in serve_file.apps.items()
        for index, bind in enumerate(app.bind)
        if str(bind) == address
    ]
    return "\n".join(told) or message


def preloaded(app: AppConfig) -> AppConfig:
    """With `preload`, the app imported here, once, for every worker to inherit (copy-on-write).

    Called only when a master starts (`serve up`, `serve upgrade`), before the loop runs. A reload
    imports nothing in the master (an app's code that exits, hangs or forks at import must not
    take the master down): its new workers import the app themselves, and a module the master
    imported at start is still the one they find in sys.modules, as with gunicorn's --preload.

    Raises:
        AppLoadError: the app could not be imported.
    """
    if not app.preload or not isinstance(app.app, str):
        return app
    target = load_app(app.app, factory=app.factory, interface=app.interface, app_dir=app.app_dir or ".")
    return dataclasses.replace(app, app=target, factory=False, interface="asgi3")
