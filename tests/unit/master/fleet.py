"""A stand-in arbiter for pool tests: a fake clock, pids handed out in order, Spawns answered at once."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from supervisor.master.actions import Action, Kill, Note, PoolLimits, Retire, Spawn
from supervisor.master.pool import Pool
from supervisor.status.snapshot import EventKind


class Fleet:
    """Drives one `Pool` the way the arbiter will: observations, then tick, then carry out Spawns."""

    def __init__(self, limits: PoolLimits | None = None, *, jitter: Callable[[int], int] | None = None) -> None:
        self.pool = Pool("api", limits or PoolLimits(workers=2), jitter=jitter or (lambda most: 0))
        self.now = 0.0
        self._pids = itertools.count(100)
        self.spawned: list[int] = []  # pids forked by the latest tick
        self.fail_spawns = False

    def tick(self) -> list[Action]:
        actions = self.pool.tick(self.now)
        self.spawned = []
        for action in actions:
            if isinstance(action, Spawn):
                if self.fail_spawns:
                    self.pool.spawn_failed(action.generation, self.now, "fork: resource temporarily unavailable")
                    continue
                pid = next(self._pids)
                self.spawned.append(pid)
                self.pool.spawned(pid, action.generation, self.now)
        return actions

    def later(self, seconds: float) -> list[Action]:
        """Move the clock on, keeping every ready worker's heartbeat fresh, and tick."""
        self.now += seconds
        self.beat()
        return self.tick()

    def beat(self, *, skip: tuple[int, ...] = ()) -> None:
        for view in self.pool.workers():
            if view.pid not in skip:
                self.pool.observe(view.pid, heartbeat_at=self.now, requests=view.requests, rss_bytes=view.rss_bytes)

    def ready(self, *pids: int) -> list[Action]:
        for pid in pids:
            self.pool.ready(pid, self.now)
        return self.tick()

    def serve(self, pid: int, requests: int, rss_bytes: int = 0) -> None:
        self.pool.observe(pid, heartbeat_at=self.now, requests=requests, rss_bytes=rss_bytes)

    def exit(
        self, pid: int, *, code: int | None = 0, signal: str | None = None, reason: str | None = None
    ) -> list[Action]:
        self.pool.exited(pid, self.now, code=code, signal=signal, reason=reason)
        return self.tick()

    def start(self) -> list[int]:
        """First tick and every worker ready; returns their pids."""
        self.tick()
        pids = list(self.spawned)
        self.ready(*pids)
        return pids

    def pids(self, state: str | None = None, generation: int | None = None) -> list[int]:
        return [
            view.pid
            for view in self.pool.workers()
            if (state is None or view.state.value == state) and (generation is None or view.generation == generation)
        ]


def retired(actions: list[Action]) -> list[tuple[int, str]]:
    return [(a.pid, a.reason.value) for a in actions if isinstance(a, Retire)]


def kills(actions: list[Action]) -> list[tuple[int, str, str]]:
    return [(a.pid, a.signal, a.reason.value) for a in actions if isinstance(a, Kill)]


def spawns(actions: list[Action]) -> list[int]:
    return [a.generation for a in actions if isinstance(a, Spawn)]


def notes(actions: list[Action], kind: EventKind | None = None) -> list[str]:
    return [a.message for a in actions if isinstance(a, Note) and (kind is None or a.kind is kind)]
