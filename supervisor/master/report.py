"""From the master's pools and the workers' slots to one `Snapshot` (status, dashboard, metrics).

May import: status/, config/, the standard library, other master/ modules' types.

Rates need history, so the reporter keeps, per app, a meter of its request total, and per
worker its previous CPU reading. An app's total includes the requests of workers that have
exited, so it never goes backwards when a worker retires.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from supervisor.master.pool import Pool
from supervisor.status.figures import (
    LATENCY_BUCKETS,
    STATUS_CLASSES,
    RateMeter,
    cpu_percent,
    percentile,
    sum_counts,
)
from supervisor.status.slots import WorkerSample
from supervisor.status.snapshot import AppStatus, Event, EventKind, Snapshot, WorkerStatus

RATE_WINDOW_S = 1.0


@dataclass(frozen=True)
class WorkerInfo:
    """What the arbiter knows of a live worker besides its slot."""

    pid: int
    app: str
    slot: int


@dataclass(frozen=True)
class EventRecord:
    """An event as the arbiter recorded it."""

    at: float
    app: str
    kind: EventKind
    message: str


class Reporter:
    """Keeps the history figures need; builds snapshots on demand."""

    def __init__(self) -> None:
        self.meters: dict[str, RateMeter] = {}
        self.retired_requests: dict[str, int] = {}
        self.retired_classes: dict[str, tuple[int, ...]] = {}
        self.cpu: dict[int, tuple[float, float, float]] = {}  # pid -> (time, cpu seconds, percent)
        self.latest: dict[int, WorkerSample] = {}
        self.worker_meters: dict[int, RateMeter] = {}
        self.exits: dict[str, dict[str, int]] = {}

    def observe(self, now: float, workers: Iterable[WorkerInfo], samples: Mapping[int, WorkerSample]) -> None:
        """Record one reading of every live worker's slot (called at each slot poll)."""
        totals: dict[str, int] = {}
        for info in workers:
            sample = samples.get(info.pid)
            if sample is None:
                continue
            self.latest[info.pid] = sample
            self.worker_meters.setdefault(info.pid, RateMeter(RATE_WINDOW_S * 2)).add(now, sample.requests)
            totals[info.app] = totals.get(info.app, 0) + sample.requests
            before = self.cpu.get(info.pid)
            if before is None:
                self.cpu[info.pid] = (now, sample.cpu_seconds, 0.0)
            elif now - before[0] >= RATE_WINDOW_S:
                percent = cpu_percent(before[1], sample.cpu_seconds, now - before[0])
                self.cpu[info.pid] = (now, sample.cpu_seconds, percent)
        for app, total in totals.items():
            self.meters.setdefault(app, RateMeter()).add(now, total + self.retired_requests.get(app, 0))

    def worker_exited(self, app: str, pid: int, last: WorkerSample | None, why: str) -> None:
        """Fold a reaped worker's final counts into its app's totals, and count why it went."""
        reasons = self.exits.setdefault(app, {})
        reasons[why] = reasons.get(why, 0) + 1
        self.worker_meters.pop(pid, None)
        sample = last or self.latest.get(pid)
        if sample is not None:
            self.retired_requests[app] = self.retired_requests.get(app, 0) + sample.requests
            before = self.retired_classes.get(app, (0,) * STATUS_CLASSES)
            self.retired_classes[app] = sum_counts((before, sample.status_classes), STATUS_CLASSES)
        self.latest.pop(pid, None)
        self.cpu.pop(pid, None)

    def snapshot(
        self,
        *,
        now: float,
        wall_now: float,
        started_at: float,
        config_path: str,
        pools: Mapping[str, Pool],
        binds: Mapping[str, tuple[str, ...]],
        workers: Iterable[WorkerInfo],
        events: Iterable[EventRecord],
        lines_dropped: Mapping[str, int] | None = None,
    ) -> Snapshot:
        """The whole master now."""
        by_app: dict[str, list[WorkerInfo]] = {}
        for info in workers:
            by_app.setdefault(info.app, []).append(info)
        apps = tuple(
            self._app(name, pool, binds.get(name, ()), by_app.get(name, []), now) for name, pool in pools.items()
        )
        return Snapshot(
            master_pid=os.getpid(),
            config_path=config_path,
            started_at=started_at,
            uptime_s=max(0.0, wall_now - started_at),
            apps=apps,
            events=tuple(Event(e.at, e.app or None, e.kind, e.message) for e in events),
            lines_dropped=dict(lines_dropped or {}),
        )

    def _app(self, name: str, pool: Pool, binds: tuple[str, ...], infos: list[WorkerInfo], now: float) -> AppStatus:
        slots = {info.pid: info.slot for info in infos}
        samples = [self.latest[info.pid] for info in infos if info.pid in self.latest]
        buckets = sum_counts((s.latency_buckets for s in samples), LATENCY_BUCKETS)
        workers = tuple(
            WorkerStatus(
                pid=view.pid,
                slot=slots.get(view.pid, -1),
                generation=view.generation,
                state=view.state,
                age_s=max(0.0, now - view.spawned_at),
                requests=view.requests,
                rss_bytes=view.rss_bytes,
                cpu_percent=self.cpu.get(view.pid, (0.0, 0.0, 0.0))[2],
                active_requests=self.latest[view.pid].active_requests if view.pid in self.latest else 0,
                requests_per_s=wm.rate(RATE_WINDOW_S) if (wm := self.worker_meters.get(view.pid)) else 0.0,
            )
            for view in pool.workers()
        )
        meter = self.meters.get(name)
        p50, p99 = percentile(buckets, 0.5), percentile(buckets, 0.99)
        return AppStatus(
            name=name,
            binds=binds,
            state=pool.state,
            generation=pool.generation,
            workers_desired=pool.desired,
            workers_ready=pool.ready_count,
            requests_total=sum(s.requests for s in samples) + self.retired_requests.get(name, 0),
            requests_per_s=meter.rate(RATE_WINDOW_S) if meter is not None else 0.0,
            active_connections=sum(s.active_connections for s in samples),
            websockets=sum(s.websockets for s in samples),
            p50_ms=None if p50 is None else p50 * 1000,
            p99_ms=None if p99 is None else p99 * 1000,
            rss_bytes=sum(s.rss_bytes for s in samples),
            restarts=pool.restarts,
            last_error=pool.last_error,
            workers=workers,
            status_classes=sum_counts(
                [*(s.status_classes for s in samples), self.retired_classes.get(name, ())], STATUS_CLASSES
            ),
            latency_buckets=buckets,
            requests_per_s_10s=meter.rate(10.0) if meter is not None else 0.0,
            exits=dict(self.exits.get(name, {})),
        )
