"""The workers of one app as the pool policy tracks them, and the questions it asks about them.

Pure: times are parameters.

A worker's state only moves forward: STARTING -> READY -> RETIRING, or STARTING -> RETIRING;
it leaves the roster when it is reaped. RETIRING covers every way out: SIGTERM (retired:
drain, then SIGKILL at `kill_at`), the worker's own stop at its request or memory limit
(the same drain and deadline, no signal), SIGABRT or SIGQUIT (then SIGKILL at `kill_at`), or
SIGKILL already sent (`killed`).

Nearing a limit. A worker is replaced ahead of its limit, when what is left of it is no
more than the headroom: the larger of NEAR_FRACTION of the limit and what the worker serves
(or grows) at its rate over the last RATE_WINDOW_S during the lead time. The lead is the time
a replacement takes to be seen due, forked and ready: RATE_WINDOW_S for the polls and the
fork, plus how long the app's latest worker took from its fork to ready (an app that loads
a model for 30 s is replaced 30 s earlier), so under a steady rate the replacement is ready
about when the worker reaches its limit; the fraction covers a rate that rises, and the
first seconds before any rate is known.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from supervisor.master.actions import Kill, PoolLimits, Reason, Retire, WorkerView
from supervisor.status.snapshot import WorkerState

STARTING, READY, RETIRING = WorkerState.STARTING, WorkerState.READY, WorkerState.RETIRING

NEAR_FRACTION = 0.1
RATE_WINDOW_S = 2.0
# How long a due worker serves on beside its ready replacement, in case it reaches its limit by
# itself: about the window its replacement was started ahead by. Past it, the traffic slowed,
# and the master retires it rather than run a worker more than asked for.
STANDBY_S = RATE_WINDOW_S


@dataclass(frozen=True, slots=True)
class _Reading:
    at: float  # the worker's heartbeat: when it flushed these figures
    requests: int
    rss_bytes: int


@dataclass(slots=True)
class Worker:
    """One forked worker: what it reported and what the master has done to it."""

    pid: int
    generation: int
    spawned_at: float
    request_limit: int  # max_requests plus this worker's jitter; 0: none. The worker stops itself there.
    heartbeat_at: float
    memory_limit: int = 0  # bytes of RSS (max_memory when it was forked); 0: none. Likewise.
    index: int = 0  # its place in the app: SERVE_WORKER_ID, taken over by its replacement
    state: WorkerState = STARTING
    ready_at: float | None = None
    requests: int = 0
    rss_bytes: int = 0
    due: Reason | None = None  # ready, nearing a limit: its replacement is started
    standby_since: float | None = None  # due, and its replacement is ready
    reason: Reason | None = None  # why it is retiring
    kill_at: float | None = None  # SIGKILL then, unless it has exited
    kill_reason: Reason = Reason.GRACEFUL_TIMEOUT
    killed: bool = False  # SIGKILL sent
    quit_sent: bool = False
    readings: deque[_Reading] = field(default_factory=deque)  # the last RATE_WINDOW_S, and one before

    def __post_init__(self) -> None:
        self.readings.append(_Reading(self.spawned_at, 0, 0))  # until it is ready (`serving`)

    def serving(self, at: float) -> None:
        """It became ready at `at`: its rates count from here, not from its fork (its start served
        nothing, and its RSS grew from 0 to the app's baseline)."""
        self.readings.clear()
        self.readings.append(_Reading(at, self.requests, self.rss_bytes))

    def record(self, at: float, requests: int, rss_bytes: int) -> None:
        """What its slot says at `at` (its heartbeat): requests served so far, RSS."""
        self.heartbeat_at = max(self.heartbeat_at, at)
        self.requests, self.rss_bytes = requests, rss_bytes
        readings = self.readings
        if readings and at < readings[-1].at:
            return
        if readings and at == readings[-1].at:
            readings.pop()  # the same flush read again: the master polls more often than workers flush
        readings.append(_Reading(at, requests, rss_bytes))
        while len(readings) > 1 and readings[1].at <= at - RATE_WINDOW_S:
            readings.popleft()  # readings[0] stays the newest one at least a window old

    def limit_reached(self) -> Reason | None:
        """The limit it stopped itself at (it stops accepting and drains there), if any."""
        if self.request_limit and self.requests >= self.request_limit:
            return Reason.MAX_REQUESTS
        if self._judged_on_memory() and self.rss_bytes > self.memory_limit:
            return Reason.MEMORY
        return None

    def nearing_limit(self, start_s: float = 0.0) -> Reason | None:
        """The limit it is within headroom of (see the module docstring): time to start its replacement.

        `start_s`: how long the app's latest worker took from its fork to ready.
        """
        lead = (RATE_WINDOW_S + start_s) / RATE_WINDOW_S  # the lead time, in windows
        # Only once it served: with a limit of a few requests, 10 % rounds up to a whole one, and
        # a worker that has served none would be replaced as soon as it started, for ever.
        if (
            self.request_limit
            and self.requests
            and self.request_limit - self.requests
            <= _headroom(self.request_limit, lead * self._recent(lambda reading: reading.requests))
        ):
            return Reason.MAX_REQUESTS
        if self._judged_on_memory() and self.memory_limit - self.rss_bytes <= _headroom(
            self.memory_limit, lead * self._recent(lambda reading: reading.rss_bytes)
        ):
            return Reason.MEMORY
        return None

    def _judged_on_memory(self) -> bool:
        # Only once it served: a worker that served nothing is at the app's baseline, which a
        # replacement would have too (the worker applies the same rule to the same figures).
        return self.memory_limit > 0 and self.requests > 0

    def _recent(self, figure: Callable[[_Reading], int]) -> float:
        """How much `figure` grew over the last RATE_WINDOW_S (scaled down when the readings span more)."""
        first, last = self.readings[0], self.readings[-1]
        growth = figure(last) - figure(first)
        span = last.at - first.at
        return growth if span <= RATE_WINDOW_S else growth * RATE_WINDOW_S / span

    def retire(self, reason: Reason, now: float, graceful_timeout_s: float) -> Retire:
        """Mark it retiring by SIGTERM, to be killed if still there after the drain limit."""
        self.stopping(reason, now, graceful_timeout_s)
        return Retire(self.pid, reason)

    def stopping(self, reason: Reason, now: float, graceful_timeout_s: float) -> None:
        """Mark it retiring (draining), to be killed if still there after the drain limit."""
        self.state, self.reason = RETIRING, reason
        self.kill_at, self.kill_reason = now + graceful_timeout_s, Reason.GRACEFUL_TIMEOUT

    def signal(self, signal: str, reason: Reason, now: float, kill_grace_s: float) -> Kill:
        """Mark it retiring by `signal` (SIGABRT, SIGQUIT), to be killed if still there after the grace."""
        self.state, self.reason, self.kill_reason = RETIRING, reason, reason
        grace_end = now + kill_grace_s
        self.kill_at = grace_end if self.kill_at is None else min(self.kill_at, grace_end)
        return Kill(self.pid, signal, reason)

    def kill(self, reason: Reason) -> Kill:
        """Mark it killed by SIGKILL: nothing more to wait for but its exit."""
        self.state, self.killed = RETIRING, True
        self.reason = self.reason or reason
        return Kill(self.pid, "SIGKILL", reason)

    def deadline(self, limits: PoolLimits) -> float | None:
        """When the policy must look at this worker again without being told anything."""
        if self.killed:
            return None
        if self.kill_at is not None:
            return self.kill_at
        if self.state is STARTING:
            return self.spawned_at + limits.startup_timeout_s
        silent = self.heartbeat_at + limits.healthcheck_timeout_s
        if self.standby_since is not None:
            return min(silent, self.standby_since + STANDBY_S)
        return silent

    def view(self) -> WorkerView:
        return WorkerView(
            pid=self.pid,
            generation=self.generation,
            state=self.state,
            spawned_at=self.spawned_at,
            ready_at=self.ready_at,
            requests=self.requests,
            rss_bytes=self.rss_bytes,
            reason=self.reason or self.due,
            index=self.index,
        )


class Roster:
    """The workers of one app not yet reaped, by pid."""

    def __init__(self) -> None:
        self._workers: dict[int, Worker] = {}

    def __iter__(self) -> Iterator[Worker]:
        return iter(list(self._workers.values()))

    def __len__(self) -> int:
        return len(self._workers)

    def add(self, worker: Worker) -> None:
        self._workers[worker.pid] = worker

    def get(self, pid: int) -> Worker | None:
        return self._workers.get(pid)

    def pop(self, pid: int) -> Worker | None:
        return self._workers.pop(pid, None)

    def listed(self, state: WorkerState) -> list[Worker]:
        """Workers in `state`, oldest first."""
        return sorted((w for w in self._workers.values() if w.state is state), key=lambda w: w.spawned_at)

    def serving(self, generation: int) -> list[Worker]:
        """Ready workers of `generation` that count toward the desired number, oldest first."""
        return [w for w in self.listed(READY) if w.generation == generation and w.due is None]

    def starting(self, generation: int) -> list[Worker]:
        """Starting workers of `generation`, oldest first."""
        return [w for w in self.listed(STARTING) if w.generation == generation]

    def outgoing(self, generation: int) -> list[Worker]:
        """Ready workers to be replaced: older generations first (oldest first), then due ones of `generation`."""
        outgoing = [w for w in self.listed(READY) if w.due is not None or w.generation != generation]
        return sorted(outgoing, key=lambda w: w.generation == generation)

    def views(self) -> tuple[WorkerView, ...]:
        """Every worker, oldest first."""
        return tuple(w.view() for w in sorted(self._workers.values(), key=lambda w: w.spawned_at))


def _headroom(limit: int, recent: float) -> float:
    return max(math.ceil(limit * NEAR_FRACTION), recent)
