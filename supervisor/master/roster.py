"""The workers of one app as the pool policy tracks them, and the questions it asks about them.

May import: supervisor.master.actions, supervisor.status.snapshot and the standard library.
Pure: times are parameters.

A worker's state only moves forward: STARTING -> READY -> RETIRING, or STARTING -> RETIRING;
it leaves the roster when it is reaped. RETIRING covers every way out the master started:
SIGTERM (retired: drain, then SIGKILL at `kill_at`), SIGABRT or SIGQUIT (then SIGKILL at
`kill_at`), or SIGKILL already sent (`killed`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from supervisor.master.actions import Kill, Limits, Reason, Retire, WorkerView
from supervisor.status.snapshot import WorkerState

STARTING, READY, RETIRING = WorkerState.STARTING, WorkerState.READY, WorkerState.RETIRING


@dataclass(slots=True)
class Worker:
    """One forked worker: what it reported and what the master has done to it."""

    pid: int
    generation: int
    spawned_at: float
    request_limit: int  # max_requests plus this worker's jitter; 0: none
    heartbeat_at: float
    state: WorkerState = STARTING
    ready_at: float | None = None
    requests: int = 0
    rss_bytes: int = 0
    due: Reason | None = None  # ready, and to be replaced (max_requests, memory)
    reason: Reason | None = None  # why it is retiring
    kill_at: float | None = None  # SIGKILL then, unless it has exited
    kill_reason: Reason = Reason.GRACEFUL_TIMEOUT
    killed: bool = False  # SIGKILL sent
    quit_sent: bool = False

    def due_reason(self, max_memory: int) -> Reason | None:
        """Why this worker should be replaced now, if it should."""
        if self.request_limit and self.requests >= self.request_limit:
            return Reason.MAX_REQUESTS
        if max_memory and self.rss_bytes > max_memory:
            return Reason.MEMORY
        return None

    def retire(self, reason: Reason, now: float, graceful_timeout_s: float) -> Retire:
        """Mark it retiring by SIGTERM, to be killed if still there after the drain limit."""
        self.state, self.reason = RETIRING, reason
        self.kill_at, self.kill_reason = now + graceful_timeout_s, Reason.GRACEFUL_TIMEOUT
        return Retire(self.pid, reason)

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

    def deadline(self, limits: Limits) -> float | None:
        """When the policy must look at this worker again without being told anything."""
        if self.killed:
            return None
        if self.kill_at is not None:
            return self.kill_at
        if self.state is STARTING:
            return self.spawned_at + limits.startup_timeout_s
        return self.heartbeat_at + limits.healthcheck_timeout_s

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
