"""The worker-pool policy of one app: observations and the time in, Spawn/Retire/Kill actions out.

Pure: no os, signal or time calls; the caller passes `now` (its time.monotonic()) and may pass
the source of max_requests jitter.

The arbiter drives a pool on every turn of its loop:
    1. tell it what happened: answer each Spawn of the previous tick with `spawned` or
       `spawn_failed`; report `ready`, `exited`, and `observe` every worker's slot;
    2. pass on commands: `scale`, `scale_by`, `reload`, `stop`;
    3. call `tick(now)` and carry out the actions it returns, in order;
    4. sleep no later than `next_deadline()`.

The rules (SPEC §3), each enforced in the method named:

- Capacity (`_spawn_missing`). The app wants `desired` workers of its current generation.
  A worker counts while starting or ready, unless it is outgoing or retiring. Whenever fewer
  count, new workers are spawned at once, paced only by the crash backoff.
- Own limits (`observe`). Each worker gets its request limit (max_requests plus its own
  jitter, drawn here when the Spawn is made) and max_memory at fork, and stops itself there:
  it stops accepting and drains, so what it serves stays within its limit plus one request
  per connection it had open. Its slot shows the count (or RSS) past the limit: from then it
  is retiring, as if retired, without a signal; its exit is planned, not a crash.
- Make before break (`_retire_outgoing`). A ready worker nearing a limit (roster.py says
  when: within the larger of 10 % and what it serves or grows, at its rate of the last 2 s,
  during 2 s plus the app's latest start time) or belonging to
  an older generation is outgoing: it keeps serving but no longer counts, so its replacement
  is spawned at once. An older generation's worker is retired (SIGTERM, drain) when ready
  workers that count plus outgoing ones exceed `desired`, i.e. one for one as replacements
  become ready. A worker nearing its limit then serves on beside its replacement for up to
  STANDBY_S, to reach its limit by itself; only a worker whose traffic slowed is retired
  early. Ready workers never drop below `desired` through a planned retirement. (SPEC §3
  forks the replacement when a worker starts retiring; forking it first is the stronger form
  of that promise.)
- Worker index (`_spawn_missing`). Each worker has an index, its SERVE_WORKER_ID: a new one
  takes the lowest index no counting worker of the current generation holds, so the indexes
  stay 0..desired-1 and a replacement (retirement, crash, reload) takes over the index of
  the worker it replaces.
- Scale down (`_retire_surplus`) retires the surplus, highest index first, so the indexes
  left are 0..desired-1; at the same index, a starting worker (it serves nothing yet) before
  a ready one.
- Drain limit (`_escalate`). A retired worker still there graceful_timeout later gets SIGKILL.
- Health (`_expire_heartbeats`, `_expire_startups`). A ready worker whose heartbeat (its
  slot flush) is healthcheck_timeout old gets SIGABRT (it dumps its stack) and SIGKILL
  kill_grace later; its replacement is spawned at once. A starting worker not ready after
  startup_timeout is killed the same way and counts as a failure to start.
- Crashes (`exited`, `_fail`). An exit nobody asked for is a failure (but a clean exit of a
  worker that has a limit is that worker leaving at it): replacements wait an
  exponential backoff (master/backoff.py) and start one at a time while the app is failing;
  failures at start in a row make a crash loop, retried at the cap. A worker becoming ready
  clears it all; `last_error` is cleared once the current generation is at full strength.
- Failed forks (`spawn_failed`). A Spawn the master could not carry out (the kernel refused
  the fork or its pipe) is no failure of the app: nothing is counted toward the backoff, the
  crash loop or `restarts`; the missing workers are tried again after a short wait of their
  own (master/backoff.py ForkRetry), told once a turn.
- Reload (`reload`, `_start_failed`). The next generation starts `desired` workers; older
  workers become outgoing and retire one for one as new ones are ready. If the new
  generation fails before any of its workers was ready (a worker exits during startup, is
  not ready in time, or cannot be forked), it is abandoned: its workers are killed, the
  generation that last had a ready worker serves on, and a reload_failed event says why.
  Once one new worker was ready the new code is known to start, and later failures are
  ordinary crashes.
- Stop (`stop`, `_retire_all`). Every worker gets SIGTERM (SIGQUIT when immediate), then
  SIGKILL after graceful_timeout (kill_grace when immediate); nothing is spawned any more.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from supervisor.master.actions import Action, Note, PoolLimits, Reason, Spawn, WorkerView
from supervisor.master.backoff import Backoff, ForkRetry
from supervisor.master.roster import READY, RETIRING, STANDBY_S, STARTING, Roster, Worker
from supervisor.status.snapshot import AppState, EventKind


def draw_jitter(most: int) -> int:
    """A worker's extra requests before retirement: uniform in 0..most."""
    return random.randint(0, most)  # noqa: S311 - spreads retirements over time; not a secret


@dataclass(frozen=True, slots=True)
class _Reload:
    target: int  # the generation being started
    fallback: int | None  # the generation to go back to if it fails (None: none ever was ready)
    limits: PoolLimits  # and the limits and worker count that went with it
    desired: int


class Pool:
    """The policy for one app's workers (see the module docstring for the rules)."""

    def __init__(
        self,
        app: str,
        limits: PoolLimits,
        *,
        generation: int = 1,
        jitter: Callable[[int], int] = draw_jitter,
    ) -> None:
        """A pool about to start `limits.workers` workers of `generation`.

        Args:
            app: the app's name, used in actions and messages.
            limits: worker count, retirement limits, timeouts.
            generation: the first generation's number.
            jitter: given max_requests_jitter, returns a worker's extra requests (0..that).
        """
        self.app = app
        self._limits = limits
        self._desired = limits.workers
        self._generation = self._newest = generation
        self._jitter = jitter
        self._backoff = self._new_backoff()
        self._forks = ForkRetry()
        self._roster = Roster()
        # generation -> (request limit, memory limit, index) of each Spawn not yet answered, in order
        self._pending: dict[int, deque[tuple[int, int, int]]] = {}
        self._notes: list[Note] = []
        self._proven: int | None = None  # the newest current generation that had a ready worker
        self._reload: _Reload | None = None
        self._abandoned: set[int] = set()
        self._announced: int | None = None  # generation whose full strength was announced
        self._stopping = self._immediate = False
        self._start_s = 0.0  # how long the latest worker to become ready took from its fork
        self.restarts = 0  # workers replaced because they crashed, hung or failed to start
        self.last_error: str | None = None
        self._note(EventKind.START, f"{app}: starting {_workers(self._desired)} (generation {generation})")

    # --- what the status shows ---------------------------------------------------------

    @property
    def desired(self) -> int:
        return self._desired

    @property
    def generation(self) -> int:
        """The generation the pool is building up or running."""
        return self._generation

    @property
    def fallback(self) -> int | None:
        """The generation a reload under way goes back to if its new one cannot start (None: none)."""
        return None if self._reload is None else self._reload.fallback

    @property
    def state(self) -> AppState:
        if self._stopping:
            return AppState.STOPPING
        if self._backoff.crashloop:
            return AppState.CRASHLOOP
        if self._reload is not None:
            return AppState.RELOADING
        return AppState.STARTING if self._proven is None else AppState.RUNNING

    @property
    def ready_count(self) -> int:
        """Workers of any generation accepting connections."""
        return len(self._roster.listed(READY))

    @property
    def stopped(self) -> bool:
        """Stopping, and every worker has exited."""
        return self._stopping and not self._roster

    def workers(self) -> tuple[WorkerView, ...]:
        """Every worker not yet exited, oldest first."""
        return self._roster.views()

    # --- observations ------------------------------------------------------------------

    def spawned(self, pid: int, generation: int, now: float) -> None:
        """A Spawn was carried out: worker `pid` of `generation` was forked at `now`.

        Raises:
            ValueError: no Spawn of that generation is waiting for an answer.
        """
        request_limit, memory_limit, index = self._answer(generation)
        self._forks.succeed()
        self._roster.add(
            Worker(pid, generation, now, request_limit, heartbeat_at=now, memory_limit=memory_limit, index=index)
        )

    def spawn_failed(self, generation: int, now: float, error: str) -> None:
        """A Spawn could not be carried out (fork failed, no free status slot): `error` says why.

        Raises:
            ValueError: no Spawn of that generation is waiting for an answer.
        """
        self._answer(generation)
        message = f"could not start a worker: {error}"
        reload = self._reload
        if reload is not None and reload.fallback is not None and self.on_trial(generation):
            self._abandon(reload, reload.fallback, message)  # told at once; the old generation serves on
            return
        if generation != self._generation:
            return  # a Spawn of a generation abandoned earlier in this turn: nothing to start any more
        # The master's own want of a process, a pipe or memory, not the app's fault: no crash, no
        # restart, no crash loop; said once a turn however many forks failed in it, with the real wait.
        self.last_error = message
        delay = self._forks.fail(now)
        if delay is not None:
            self._note(EventKind.MASTER_ERROR, f"{self.app}: {message}; next try in {delay:g} s")

    def spawn_deferred(self, generation: int) -> None:
        """A Spawn waits for a free status slot (workers of older generations still drain): nothing
        failed, nothing counts; the next tick asks for it again.

        Raises:
            ValueError: no Spawn of that generation is waiting for an answer.
        """
        self._answer(generation)

    def ready(self, pid: int, now: float) -> None:
        """Worker `pid` finished starting (app imported, lifespan started) and accepts connections."""
        worker = self._roster.get(pid)
        if worker is None or worker.state is not STARTING:
            return
        worker.state, worker.ready_at = READY, now
        worker.heartbeat_at = max(worker.heartbeat_at, now)
        self._start_s = max(now - worker.spawned_at, 0.0)  # how far ahead its successors must start
        worker.serving(now)
        if worker.generation in self._abandoned:
            return
        if self._backoff.succeed():
            self._note(EventKind.READY, f"{self.app}[{pid}] is ready: the crash loop is over")
        if worker.generation == self._generation:
            self._proven = worker.generation

    def observe(self, pid: int, *, heartbeat_at: float, requests: int, rss_bytes: int) -> None:
        """What worker `pid`'s status slot says: last heartbeat (same clock as `now`), requests served, RSS.

        Also the final reading of a worker just reaped, before `exited`: it shows whether the
        worker left at its own limit. A worker that served, or whose clock measured its RSS,
        was ready, whether or not its READY state was seen (a worker at a small limit may be
        past it by the next poll).
        """
        worker = self._roster.get(pid)
        if worker is None:
            return
        worker.record(heartbeat_at, requests, rss_bytes)
        if worker.state is RETIRING:
            return
        reached = worker.limit_reached()
        if worker.state is STARTING and (requests > 0 or reached is not None):
            self.ready(pid, worker.heartbeat_at)
        if worker.state is not READY:
            return
        if reached is not None:
            self._retired_itself(worker, reached, worker.heartbeat_at)
        elif worker.due is None and worker.generation == self._generation:
            worker.due = worker.nearing_limit(self._start_s)

    def exited(
        self, pid: int, now: float, *, code: int | None = None, signal: str | None = None, reason: str | None = None
    ) -> None:
        """Worker `pid` was reaped: it exited with `code`, or was killed by the signal named `signal`.

        `reason` is the worker's own line on why its app could not start, when it wrote one.
        """
        worker = self._roster.pop(pid)
        if worker is None or worker.state is RETIRING or self._stopping or worker.generation in self._abandoned:
            return
        if code == 0 and (worker.request_limit or worker.memory_limit):
            # A worker leaves cleanly unasked only at its own limit: this one drained before the
            # slot showed it past the limit (no keep-alive connection held it).
            reason = worker.due or (Reason.MAX_REQUESTS if worker.request_limit else Reason.MEMORY)
            kind = EventKind.MEMORY_RETIRE if reason is Reason.MEMORY else EventKind.RETIRE
            self._note(kind, f"{self.app}[{pid}] exited at its own limit ({reason.value})")
            return
        how = f"exited with code {code}" if code is not None else f"was killed by {signal or 'a signal'}"
        if worker.state is STARTING:
            self._count_restart(worker.generation)
            what = f"could not start: {reason}" if reason else f"{how} during startup"
            self._start_failed(worker.generation, now, f"{self.app}[{pid}] {what}")
        else:
            self.restarts += 1
            kind = EventKind.EXIT if code == 0 else EventKind.CRASH
            self._fail(now, f"{self.app}[{pid}] {how}", at_start=False, kind=kind)

    # --- commands ----------------------------------------------------------------------

    def scale(self, workers: int) -> None:
        """Run `workers` workers from now on (ignored while stopping).

        Raises:
            ValueError: fewer than one.
        """
        if workers < 1:
            raise ValueError(f"{self.app}: an app needs at least one worker, got {workers}")
        if self._stopping or workers == self._desired:
            return
        self._note(EventKind.SCALE, f"{self.app}: {self._desired} -> {_workers(workers)}")
        self._desired = workers

    def scale_by(self, delta: int) -> None:
        """One worker more (+1) or fewer (-1), or any delta; never below one."""
        self.scale(max(1, self._desired + delta))

    def reload(self, limits: PoolLimits | None = None) -> None:
        """Start a new generation, with new limits when the settings changed (ignored while stopping).

        The worker count follows `limits.workers` only if that setting changed; otherwise a
        count set at run time by `scale` is kept.
        """
        if self._stopping:
            return
        if self._reload is not None and self._proven != self._generation:
            # The reload under way never had a worker ready: failing, this one goes back to the same place.
            base = self._reload
        else:
            base = _Reload(self._generation, self._proven, self._limits, self._desired)
        self._newest += 1
        self._reload = dataclasses.replace(base, target=self._newest)
        if limits is not None:
            if limits.workers != self._limits.workers:
                self._desired = limits.workers
            self._limits = limits
        self._generation = self._newest
        self._backoff = self._new_backoff()
        self._note(EventKind.RELOAD, f"{self.app}: starting generation {self._newest} ({_workers(self._desired)})")

    def stop(self, *, immediate: bool = False) -> None:
        """Stop every worker: drain (SIGTERM), or at once (SIGQUIT) when `immediate`. Nothing starts again."""
        if self._stopping and (self._immediate or not immediate):
            return
        self._stopping, self._immediate, self._reload = True, immediate, None
        limit = self._limits.graceful_timeout_s
        how = (
            "now"
            if immediate
            else "draining until they finish"
            if limit == math.inf
            else f"draining for up to {limit:g} s"
        )
        self._note(EventKind.STOP, f"{self.app}: stopping {how}")

    def restart(self, pid: int) -> str | None:
        """Replace worker `pid` with a fresh one of the current generation, making before breaking.

        The worker becomes outgoing: its replacement is spawned at once, and it is retired
        (SIGTERM, drain) once the replacement is ready, as a worker nearing its limit is.

        Returns:
            None when the restart is under way; otherwise why not, for the operator (no such
            worker, one that is starting or already leaving, or the app is stopping).
        """
        worker = self._roster.get(pid)
        if worker is None:
            return f"{self.app} has no worker {pid}"
        if self._stopping:
            return f"{self.app} is stopping"
        if worker.state is STARTING:
            return f"{self.app}[{pid}] is still starting"
        if worker.state is RETIRING:
            return f"{self.app}[{pid}] is already leaving"
        if worker.due is not None or worker.generation != self._generation:
            return f"{self.app}[{pid}] is already being replaced"
        worker.due = Reason.RESTART
        self._note(EventKind.RETIRE, f"{self.app}[{pid}] restarting: its replacement starts first")
        return None

    # --- decisions ---------------------------------------------------------------------

    def tick(self, now: float) -> list[Action]:
        """Everything to do at `now`: notes first, then signals and spawns, in order.

        Raises:
            RuntimeError: a Spawn of the previous tick was not answered.
        """
        unanswered = sum(len(pending) for pending in self._pending.values())
        if unanswered:
            raise RuntimeError(
                f"{self.app}: {unanswered} Spawn action(s) not answered with spawned() or spawn_failed()"
            )
        actions: list[Action] = []
        self._escalate(now, actions)
        if self._stopping:
            self._retire_all(now, actions)
        else:
            self._expire_startups(now, actions)
            self._expire_heartbeats(now, actions)
            self._kill_abandoned(actions)
            self._retire_surplus(now, actions)
            self._retire_outgoing(now, actions)
            self._spawn_missing(now, actions)
            self._finish_reload()
        notes, self._notes = self._notes, []
        return [*notes, *actions]

    def next_deadline(self) -> float | None:
        """The earliest time `tick` has something to do unprompted, or None.

        It may be in the past (tick at once). Observations and commands can bring it
        closer: tick after each of them.
        """
        deadlines = [deadline for worker in self._roster if (deadline := worker.deadline(self._limits)) is not None]
        if not self._stopping and self._missing() > 0 and not (self._backoff.failing and self._starting()):
            # A spawn needs both waits over, the crash backoff's and the failed fork's: the later one.
            gates = [self._backoff.resume_at] if self._backoff.failing else []
            if self._forks.resume_at is not None:
                gates.append(self._forks.resume_at)
            if gates:
                deadlines.append(max(gates))
        return min(deadlines, default=None)

    def _escalate(self, now: float, actions: list[Action]) -> None:
        for worker in self._roster:
            if worker.kill_at is None or worker.killed or now < worker.kill_at:
                continue
            if worker.kill_reason is Reason.GRACEFUL_TIMEOUT:
                kind, why = EventKind.RETIRE, f"still draining after {self._limits.graceful_timeout_s:g} s"
            else:
                kind, why = EventKind.HEALTH_KILL, f"still running {self._limits.kill_grace_s:g} s after a signal"
            self._note(kind, f"{self.app}[{worker.pid}] {why}: SIGKILL")
            actions.append(worker.kill(worker.kill_reason))

    def _retire_all(self, now: float, actions: list[Action]) -> None:
        for worker in self._roster:
            if worker.killed:
                continue
            if self._immediate and not worker.quit_sent:
                worker.quit_sent = True
                actions.append(worker.signal("SIGQUIT", Reason.STOP, now, self._limits.kill_grace_s))
            elif worker.state is not RETIRING:
                actions.append(worker.retire(Reason.STOP, now, self._limits.graceful_timeout_s))

    def _expire_startups(self, now: float, actions: list[Action]) -> None:
        timeout = self._limits.startup_timeout_s
        for worker in self._roster.listed(STARTING):
            if worker.generation in self._abandoned or now < worker.spawned_at + timeout:
                continue
            message = f"{self.app}[{worker.pid}] not ready after {timeout:g} s (startup_timeout)"
            self._note(EventKind.HEALTH_KILL, f"{message}: SIGABRT")
            actions.append(worker.signal("SIGABRT", Reason.STARTUP_TIMEOUT, now, self._limits.kill_grace_s))
            self._count_restart(worker.generation)
            self._start_failed(worker.generation, now, message)

    def _expire_heartbeats(self, now: float, actions: list[Action]) -> None:
        timeout = self._limits.healthcheck_timeout_s
        for worker in self._roster.listed(READY):
            silent = now - worker.heartbeat_at
            if worker.generation in self._abandoned or silent < timeout:
                continue
            message = (
                f"{self.app}[{worker.pid}] event loop silent for {silent:.0f} s (healthcheck_timeout {timeout:g} s)"
            )
            self._note(EventKind.HEALTH_KILL, f"{message}: SIGABRT, replacing it")
            actions.append(worker.signal("SIGABRT", Reason.HEALTH, now, self._limits.kill_grace_s))
            self.restarts += 1
            self.last_error = message

    def _kill_abandoned(self, actions: list[Action]) -> None:
        # One already on its way out (SIGABRT for a stack dump, say) keeps its own schedule.
        abandoned = [w for w in self._roster if w.generation in self._abandoned and w.state is not RETIRING]
        actions.extend(worker.kill(Reason.RELOAD_FAILED) for worker in abandoned)

    def _retire_surplus(self, now: float, actions: list[Action]) -> None:
        serving, starting = self._serving(), self._starting()
        surplus = len(serving) + len(starting) - self._desired
        by_index = sorted([*reversed(starting), *serving], key=lambda worker: -worker.index)  # stable: starting first
        for worker in by_index[: max(0, surplus)]:
            self._note(EventKind.RETIRE, f"{self.app}[{worker.pid}] retiring: scaled down to {self._desired}")
            actions.append(worker.retire(Reason.SCALE, now, self._limits.graceful_timeout_s))

    def _retire_outgoing(self, now: float, actions: list[Action]) -> None:
        serving = len(self._serving())
        outgoing = self._roster.outgoing(self._generation)
        for worker in outgoing[: max(0, serving + len(outgoing) - self._desired)]:
            if worker.due is not None and worker.generation == self._generation:
                # Replaced, and near its limit: it serves on until it stops itself there, unless slow.
                worker.standby_since = now if worker.standby_since is None else worker.standby_since
                if now < worker.standby_since + STANDBY_S:
                    continue
            if worker.due is Reason.MEMORY:
                rss, limit = worker.rss_bytes >> 20, worker.memory_limit >> 20
                self._note(
                    EventKind.MEMORY_RETIRE, f"{self.app}[{worker.pid}] retiring: {rss} MiB resident, near {limit} MiB"
                )
            elif worker.due is Reason.MAX_REQUESTS:
                self._note(EventKind.RETIRE, f"{self.app}[{worker.pid}] retiring after {worker.requests} requests")
            actions.append(worker.retire(worker.due or Reason.RELOAD, now, self._limits.graceful_timeout_s))
        if serving >= self._desired:  # older generations' starting workers are no longer needed
            unneeded = [w for w in self._roster.listed(STARTING) if w.generation != self._generation]
            actions.extend(worker.retire(Reason.RELOAD, now, self._limits.graceful_timeout_s) for worker in unneeded)

    def _spawn_missing(self, now: float, actions: list[Action]) -> None:
        missing = self._missing()
        if missing <= 0 or not self._forks.may_fork(now):
            return
        if self._backoff.failing:
            if self._starting() or not self._backoff.may_start(now):
                return
            missing = 1  # one probe at a time until a worker is ready again
        pending = self._pending.setdefault(self._generation, deque())
        for index in self._free_indexes(missing):
            request_limit = self._limits.max_requests
            if request_limit:
                request_limit += self._jitter(self._limits.max_requests_jitter)
            pending.append((request_limit, self._limits.max_memory, index))
            actions.append(Spawn(self.app, self._generation, max_requests=request_limit, index=index))

    def _free_indexes(self, count: int) -> list[int]:
        """The `count` lowest indexes no worker that counts holds (a replaced one's index is free)."""
        held = {worker.index for worker in (*self._serving(), *self._starting())}
        return list(itertools.islice((index for index in itertools.count() if index not in held), count))

    def _finish_reload(self) -> None:
        if len(self._serving()) >= self._desired and self._announced != self._generation:
            self._announced = self._generation
            self.last_error = None  # what failed before is over: `serve status` no longer shows it
            self._note(EventKind.READY, f"{self.app}: {_workers(self._desired)} of generation {self._generation} ready")
        reload = self._reload
        if reload is None or self._proven != reload.target:
            return
        if any(worker.generation != reload.target for worker in self._roster):
            return
        self._reload = None
        self._note(EventKind.RELOAD, f"{self.app}: generation {reload.target} serving; every older worker has exited")

    # --- helpers -----------------------------------------------------------------------

    def on_trial(self, generation: int) -> bool:
        """A reload is trying `generation` with a proven one to fall back to: its failure to start
        fails the reload (abandoned, the old generation serves on), not the app."""
        reload = self._reload
        return reload is not None and reload.fallback is not None and generation == reload.target != self._proven

    def _count_restart(self, generation: int) -> None:
        # A failed reload is a reload failure, not a crash: nothing was restarted.
        if not self.on_trial(generation):
            self.restarts += 1

    def _start_failed(self, generation: int, now: float, message: str) -> None:
        reload = self._reload
        if reload is not None and reload.fallback is not None and self.on_trial(generation):
            self._abandon(reload, reload.fallback, message)
        elif generation == self._generation:
            self._fail(now, message, at_start=True, kind=EventKind.CRASH)
        else:
            self.last_error = message
            self._note(EventKind.CRASH, f"{message} (generation {generation}, being replaced)")

    def _abandon(self, reload: _Reload, fallback: int, message: str) -> None:
        self._abandoned.add(reload.target)
        self._generation, self._limits, self._desired = fallback, reload.limits, reload.desired
        self._reload = None
        self.last_error = message
        self._note(
            EventKind.RELOAD_FAILED,
            f"{self.app}: generation {reload.target} abandoned: {message}; generation {fallback} serves on",
        )

    def _fail(self, now: float, message: str, *, at_start: bool, kind: EventKind) -> None:
        delay = self._backoff.fail(now, at_start=at_start)
        self.last_error = message
        loop = " (crash loop)" if self._backoff.crashloop else ""
        self._note(kind, f"{message}; next start in {delay:g} s{loop}")

    def _answer(self, generation: int) -> tuple[int, int, int]:
        """The request and memory limits and the index of the oldest Spawn of `generation` not yet answered."""
        pending = self._pending.get(generation)
        if not pending:
            raise ValueError(f"{self.app}: no Spawn of generation {generation} is waiting for an answer")
        return pending.popleft()

    def _retired_itself(self, worker: Worker, reason: Reason, now: float) -> None:
        """`worker` stopped itself at its limit: it drains as if retired (or has already left)."""
        worker.stopping(reason, now, self._limits.graceful_timeout_s)
        if reason is Reason.MEMORY:
            rss, limit = worker.rss_bytes >> 20, worker.memory_limit >> 20
            self._note(
                EventKind.MEMORY_RETIRE, f"{self.app}[{worker.pid}] retiring: {rss} MiB resident, over {limit} MiB"
            )
        else:
            self._note(
                EventKind.RETIRE,
                f"{self.app}[{worker.pid}] retiring after {worker.requests} requests (its limit: {worker.request_limit})",
            )

    def _serving(self) -> list[Worker]:
        return self._roster.serving(self._generation)

    def _starting(self) -> list[Worker]:
        return self._roster.starting(self._generation)

    def _missing(self) -> int:
        return self._desired - len(self._serving()) - len(self._starting())

    def _new_backoff(self) -> Backoff:
        limits = self._limits
        return Backoff(limits.backoff_initial_s, limits.backoff_cap_s, limits.crashloop_after)

    def _note(self, kind: EventKind, message: str) -> None:
        self._notes.append(Note(self.app, kind, message))


def _workers(count: int) -> str:
    return f"{count} worker" if count == 1 else f"{count} workers"
