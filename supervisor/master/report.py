"""From the master's pools and the workers' slots to one `Snapshot` (status, dashboard, metrics).

Rates need history, so the reporter keeps, per app, meters of its request total and of its
responses by status class, and the last minute's trend (`figures.Trend`); per worker, a meter
of its requests and its previous CPU reading. An app's totals include the counts of workers
that have exited, so they never go backwards when a worker retires.

A worker's request count is timed by its own heartbeats (when it flushed the counts), not by
when the master read them: reads and flushes both come a few times a second, and a one-second
window timed by the reads would hold one flush more or less from one read to the next. The
one-second rate is read between two instants common to every worker, the window ending
`RATE_LAG_S` ago (by then every live worker has flushed past its end), each worker's count at
an instant interpolated between its flushes. So a worker counts only for the part of the
window it was alive and flushing (from its start at zero requests, to its last flush), and an
app's rate, the sum of its workers' including the ones that exited within the window, counts
each request once while workers are replaced (max_requests).
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from supervisor.master.actions import WorkerView
from supervisor.master.pool import Pool
from supervisor.status.figures import (
    LATENCY_BUCKETS,
    STATUS_CLASSES,
    RateMeter,
    Trend,
    cpu_percent,
    percentile,
    sum_counts,
)
from supervisor.status.slots import WorkerSample
from supervisor.status.snapshot import HISTORY_SAMPLES, AppStatus, Event, EventKind, Snapshot, WorkerStatus

RATE_WINDOW_S = 1.0
# How far back the one-second window ends: a worker flushes every 0.25 s and the master reads
# every 0.25 s, so a live worker's reading is at most about half a second old.
RATE_LAG_S = 0.5
STATUS_RATE_WINDOW_S = 10.0  # responses by class: a 5xx stays in sight for ten seconds

logger = logging.getLogger("serve.error")

EVENTS_KEPT = 200
# Logged as warnings; every other event is logged at info.
WARNING_KINDS = frozenset(
    (EventKind.CRASH, EventKind.RELOAD_FAILED, EventKind.CONFIG_ERROR, EventKind.HEALTH_KILL, EventKind.MASTER_ERROR)
)


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
    """Keeps the history figures need and the latest events; builds snapshots on demand."""

    def __init__(self) -> None:
        self.events: deque[EventRecord] = deque(maxlen=EVENTS_KEPT)
        self.meters: dict[str, RateMeter] = {}
        self.retired_requests: dict[str, int] = {}
        self.retired_classes: dict[str, tuple[int, ...]] = {}
        self.retired_h2_limits: dict[str, int] = {}
        self.cpu: dict[int, tuple[float, float, float]] = {}  # pid -> (time, cpu seconds, percent)
        self.latest: dict[int, WorkerSample] = {}
        self.worker_meters: dict[int, RateMeter] = {}  # timed by the worker's heartbeats
        # app -> pid -> the meter of a worker that exited, while its last flush is within the window.
        self.retired_meters: dict[str, dict[int, RateMeter]] = {}
        self.exits: dict[str, dict[str, int]] = {}
        self.class_meters: dict[str, tuple[RateMeter, ...]] = {}  # app -> a meter per status class
        self.trends: dict[str, Trend] = {}
        # app -> whether its workers offer HTTP/2, as the live ones last said: kept while it has
        # none (a crash loop), so the dashboard's HTTP/2 columns do not come and go with them.
        self.http2: dict[str, bool] = {}

    def record(self, app: str, kind: EventKind, message: str) -> None:
        """An event for the status (stamped with the wall-clock time) and the log ("" for the master's own)."""
        self.events.append(EventRecord(time.time(), app, kind, message))
        logger.log(logging.WARNING if kind in WARNING_KINDS else logging.INFO, "%s", message)

    def observe(self, now: float, workers: Iterable[WorkerInfo], samples: Mapping[int, WorkerSample]) -> None:
        """Record one reading of every live worker's slot (called at each slot poll)."""
        by_app: dict[str, list[WorkerSample]] = {app: [] for app in self.trends}  # an app without workers: zeros
        for info in workers:
            sample = samples.get(info.pid)
            if sample is None:
                continue
            self._worker(now, info.pid, sample)
            by_app.setdefault(info.app, []).append(sample)
        self._forget_retired(now)
        for app, live in by_app.items():
            total = sum(s.requests for s in live) + self.retired_requests.get(app, 0)
            self.meters.setdefault(app, RateMeter()).add(now, total)
            classes = sum_counts([*(s.status_classes for s in live), self.retired_classes.get(app, ())], STATUS_CLASSES)
            meters = self.class_meters.setdefault(app, tuple(RateMeter() for _ in range(STATUS_CLASSES)))
            for meter, count in zip(meters, classes, strict=True):
                meter.add(now, count)
            if live:
                self.http2[app] = any(s.http2 for s in live)
            trend = self.trends.setdefault(app, Trend(HISTORY_SAMPLES))
            trend.add(now, self._app_rate(app, (s.pid for s in live), now), {s.pid: s.latency_buckets for s in live})

    def _worker(self, now: float, pid: int, sample: WorkerSample) -> None:
        previous = self.latest.get(pid)
        self.latest[pid] = sample
        if previous is None or sample.heartbeat > previous.heartbeat:  # a flush not read before
            meter = self.worker_meters.get(pid)
            if meter is None:
                meter = self.worker_meters[pid] = RateMeter(RATE_WINDOW_S + RATE_LAG_S + 1.0)
                if sample.started_at < sample.heartbeat:  # it started at zero: what it served before counts
                    meter.add(sample.started_at, 0)
            meter.add(sample.heartbeat, sample.requests)
        before = self.cpu.get(pid)
        if before is None:
            self.cpu[pid] = (now, sample.cpu_seconds, 0.0)
        elif now - before[0] >= RATE_WINDOW_S:
            self.cpu[pid] = (now, sample.cpu_seconds, cpu_percent(before[1], sample.cpu_seconds, now - before[0]))

    def _rate(self, pids: Iterable[int], now: float) -> float:
        """Requests per second over the one-second window ending RATE_LAG_S before `now`, summed over these workers."""
        meters = (meter for pid in pids if (meter := self.worker_meters.get(pid)) is not None)
        return _window_rate(meters, now)

    def _app_rate(self, app: str, live: Iterable[int], now: float) -> float:
        """`_rate` of an app: its live workers and the ones that exited within the window."""
        retired = self.retired_meters.get(app, {}).values()
        return self._rate(live, now) + _window_rate(retired, now)

    def _forget_retired(self, now: float) -> None:
        """Drop the meters of exited workers whose last flush is before the window."""
        start = now - RATE_LAG_S - RATE_WINDOW_S
        for app, meters in list(self.retired_meters.items()):
            for pid, meter in list(meters.items()):
                if (meter.newest() or start) <= start:
                    del meters[pid]
            if not meters:
                del self.retired_meters[app]

    def worker_exited(self, app: str, pid: int, last: WorkerSample | None, why: str) -> None:
        """Fold a reaped worker's final counts into its app's totals, and count why it went."""
        reasons = self.exits.setdefault(app, {})
        reasons[why] = reasons.get(why, 0) + 1
        meter = self.worker_meters.pop(pid, None)
        if meter is not None:
            newest = meter.newest()
            if last is not None and newest is not None and last.heartbeat > newest:  # its final flush, not read before
                meter.add(last.heartbeat, last.requests)
            self.retired_meters.setdefault(app, {})[pid] = meter
        sample = last or self.latest.get(pid)
        if sample is not None:
            self.retired_requests[app] = self.retired_requests.get(app, 0) + sample.requests
            before = self.retired_classes.get(app, (0,) * STATUS_CLASSES)
            self.retired_classes[app] = sum_counts((before, sample.status_classes), STATUS_CLASSES)
            self.retired_h2_limits[app] = self.retired_h2_limits.get(app, 0) + sample.h2_limits_exceeded
        self.latest.pop(pid, None)
        self.cpu.pop(pid, None)

    def snapshot(
        self,
        *,
        now: float,
        started_at: float,
        running_since: float,
        config_path: str,
        pools: Mapping[str, Pool],
        binds: Mapping[str, tuple[str, ...]],
        workers: Iterable[WorkerInfo],
        events: Iterable[EventRecord],
        lines_dropped: Mapping[str, int] | None = None,
    ) -> Snapshot:
        """The whole master now.

        Args:
            now: time.monotonic() now.
            started_at: the master's start by the wall clock (time.time()), shown as a moment only.
            running_since: the master's start by time.monotonic(): the uptime, which a step of the
                wall clock (NTP, a wrong clock set right) must not move.
        """
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
            uptime_s=max(0.0, now - running_since),
            apps=apps,
            events=tuple(Event(e.at, e.app or None, e.kind, e.message) for e in events),
            lines_dropped=dict(lines_dropped or {}),
        )

    def _app(self, name: str, pool: Pool, binds: tuple[str, ...], infos: list[WorkerInfo], now: float) -> AppStatus:
        slots = {info.pid: info.slot for info in infos}
        samples = [self.latest[info.pid] for info in infos if info.pid in self.latest]
        buckets = sum_counts((s.latency_buckets for s in samples), LATENCY_BUCKETS)
        workers = tuple(self._worker_status(view, slots.get(view.pid, -1), now) for view in pool.workers())
        meter = self.meters.get(name)
        trend = self.trends.get(name)
        p50, p99 = _ms(percentile(buckets, 0.5)), _ms(percentile(buckets, 0.99))
        return AppStatus(
            name=name,
            binds=binds,
            state=pool.state,
            generation=pool.generation,
            workers_desired=pool.desired,
            workers_ready=pool.ready_count,
            requests_total=sum(s.requests for s in samples) + self.retired_requests.get(name, 0),
            requests_per_s=self._app_rate(name, slots, now),
            active_connections=sum(s.active_connections for s in samples),
            websockets=sum(s.websockets for s in samples),
            p50_ms=p50,
            p99_ms=p99,
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
            status_rates=tuple(m.rate(STATUS_RATE_WINDOW_S) for m in self.class_meters.get(name, ())),
            history_requests_per_s=tuple(trend.requests_per_s) if trend is not None else (),
            history_p99_ms=tuple(trend.p99_ms) if trend is not None else (),
            http2=self.http2.get(name, False),
            h2_connections=sum(s.h2_connections for s in samples),
            h2_streams=sum(s.h2_streams for s in samples),
            h2_limits_exceeded=sum(s.h2_limits_exceeded for s in samples) + self.retired_h2_limits.get(name, 0),
        )

    def _worker_status(self, view: WorkerView, slot: int, now: float) -> WorkerStatus:
        sample = self.latest.get(view.pid)
        buckets = sample.latency_buckets if sample is not None else ()
        return WorkerStatus(
            pid=view.pid,
            slot=slot,
            generation=view.generation,
            index=view.index,
            state=view.state,
            age_s=max(0.0, now - view.spawned_at),
            requests=view.requests,
            rss_bytes=view.rss_bytes,
            cpu_percent=self.cpu.get(view.pid, (0.0, 0.0, 0.0))[2],
            active_requests=sample.active_requests if sample is not None else 0,
            requests_per_s=self._rate((view.pid,), now),
            active_connections=sample.active_connections if sample is not None else 0,
            p50_ms=_ms(percentile(buckets, 0.5)),
            p99_ms=_ms(percentile(buckets, 0.99)),
            h2_connections=sample.h2_connections if sample is not None else 0,
            h2_streams=sample.h2_streams if sample is not None else 0,
            h2_limits_exceeded=sample.h2_limits_exceeded if sample is not None else 0,
        )


def _window_rate(meters: Iterable[RateMeter], now: float) -> float:
    end = now - RATE_LAG_S
    return sum(meter.growth(end - RATE_WINDOW_S, end) for meter in meters) / RATE_WINDOW_S


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000
