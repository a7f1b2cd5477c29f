"""master/report.py: the figures `serve status`, the dashboard and /metrics show, from slot readings over time."""

from __future__ import annotations

import pytest

from supervisor.master.actions import PoolLimits, Spawn
from supervisor.master.pool import Pool
from supervisor.master.report import Reporter, WorkerInfo
from supervisor.status.figures import LATENCY_BUCKETS, STATUS_CLASSES, bucket_index
from supervisor.status.slots import SlotState, WorkerSample
from supervisor.status.snapshot import AppStatus


def sample(pid: int, heartbeat: float, requests: int, **fields: object) -> WorkerSample:
    values: dict[str, object] = {
        "index": pid % 64,
        "state": SlotState.READY,
        "generation": 1,
        "pid": pid,
        "started_at": 0.0,
        "heartbeat": heartbeat,
        "cpu_seconds": 0.0,
        "requests": requests,
        "active_connections": 0,
        "active_requests": 0,
        "websockets": 0,
        "status_classes": (0, requests, 0, 0, 0),
        "latency_buckets": tuple(requests if i == bucket_index(0.002) else 0 for i in range(LATENCY_BUCKETS)),
        "rss_bytes": 0,
    }
    values.update(fields)
    return WorkerSample(**values)  # type: ignore[arg-type]


def pool(*pids: int) -> Pool:
    pool = Pool("api", PoolLimits(workers=len(pids)))
    spawns = [action for action in pool.tick(0.0) if isinstance(action, Spawn)]
    for pid, spawn in zip(pids, spawns, strict=True):
        pool.spawned(pid, spawn.generation, 0.0)
        pool.ready(pid, 0.0)
    return pool


def status(reporter: Reporter, pools: dict[str, Pool], infos: list[WorkerInfo], now: float) -> AppStatus:
    snapshot = reporter.snapshot(
        now=now,
        started_at=1000.0,
        running_since=0.0,
        config_path="serve.toml",
        pools=pools,
        binds={},
        workers=infos,
        events=[],
    )
    return snapshot.apps[0]


INFOS = [WorkerInfo(1, "api", 0), WorkerInfo(2, "api", 1)]


def test_a_workers_rate_is_timed_by_its_own_flushes_not_by_when_the_master_reads() -> None:
    reporter = Reporter()
    # Both workers serve 100 requests a second and flush every 0.25 s; the master reads at odd moments.
    for read_at in (0.1, 0.3, 0.9, 1.05, 1.6, 2.2):
        flushed = int(read_at * 4) / 4
        samples = {pid: sample(pid, flushed, int(flushed * 100)) for pid in (1, 2)}
        reporter.observe(read_at, INFOS, samples)
    app = status(reporter, {"api": pool(1, 2)}, INFOS, 2.2)
    assert [worker.requests_per_s for worker in app.workers] == [pytest.approx(100.0), pytest.approx(100.0)]
    assert app.requests_per_s == pytest.approx(200.0)


def test_workers_show_their_connections_and_latency_and_the_app_its_rates_by_class() -> None:
    reporter = Reporter()
    for second in range(12):
        samples = {
            pid: sample(
                pid,
                float(second),
                10 * second,
                active_connections=pid + 2,
                status_classes=(0, 8 * second, 0, second, second),
            )
            for pid in (1, 2)
        }
        reporter.observe(float(second), INFOS, samples)
    app = status(reporter, {"api": pool(1, 2)}, INFOS, 11.0)
    assert [w.active_connections for w in app.workers] == [3, 4]
    assert all(w.p99_ms is not None and 1 < w.p99_ms < 3.5 for w in app.workers)
    assert app.status_rates == (0.0, 16.0, 0.0, 2.0, 2.0)
    assert len(app.history_requests_per_s) == 11
    assert app.history_requests_per_s[-1] == 20.0
    assert all(p99 is not None and 1 < p99 < 3.5 for p99 in app.history_p99_ms)


def test_a_retired_workers_counts_stay_in_the_rates_by_class_so_no_rate_dips() -> None:
    reporter = Reporter()
    for second in range(5):
        reporter.observe(float(second), INFOS, {pid: sample(pid, float(second), 10 * second) for pid in (1, 2)})
    reporter.worker_exited("api", 2, sample(2, 5.0, 50), "max_requests")
    for second in range(5, 11):
        reporter.observe(float(second), INFOS[:1], {1: sample(1, float(second), 10 * second)})
    app = status(reporter, {"api": pool(1)}, INFOS[:1], 10.0)
    assert app.status_rates[1] == 15.0  # (100 + 50 - 0) over ten seconds: nothing lost, no negative step
    assert app.exits == {"max_requests": 1}
    assert len(app.status_rates) == STATUS_CLASSES


def test_an_app_whose_workers_all_went_keeps_a_trend_of_zeros() -> None:
    reporter = Reporter()
    reporter.observe(0.0, INFOS[:1], {1: sample(1, 0.0, 0)})
    reporter.observe(1.0, INFOS[:1], {1: sample(1, 1.0, 5)})
    reporter.worker_exited("api", 1, None, "crash")
    reporter.observe(2.0, [], {})
    reporter.observe(3.0, [], {})
    app = status(reporter, {"api": pool(7)}, [], 3.0)
    # The window ends half a second back: the 5 requests of [0, 1] show half in each of the first two
    # samples (the exited worker still counts for the part of the window it was alive), once in all.
    assert app.history_requests_per_s == (2.5, 2.5, 0.0)
    assert app.history_p99_ms[1] == app.history_p99_ms[0]  # requests still in the window: its p99 stays
    assert app.history_p99_ms[2] is None


def test_a_flush_read_twice_counts_once_and_a_worker_without_a_reading_is_skipped() -> None:
    reporter = Reporter()
    for read_at, flushed in ((0.0, 0.0), (0.5, 0.5), (0.7, 0.5), (1.0, 1.0), (1.5, 1.5)):
        reporter.observe(read_at, INFOS, {1: sample(1, flushed, int(flushed * 10), cpu_seconds=read_at / 2)})
    app = status(reporter, {"api": pool(1, 2)}, INFOS, 1.5)
    assert [w.requests_per_s for w in app.workers] == [10.0, 0.0]
    assert [w.cpu_percent for w in app.workers] == [50.0, 0.0]
    assert app.workers[1].p99_ms is None
    reporter.worker_exited("api", 2, None, "crash")  # never read: nothing to fold in
    assert status(reporter, {"api": pool(1)}, INFOS[:1], 1.5).requests_total == 15


def test_http2_figures_are_each_workers_own_summed_for_the_app_and_the_flag_outlives_the_workers() -> None:
    reporter = Reporter()
    assert status(reporter, {"api": pool(1, 2)}, INFOS, 0.0).http2 is False  # never heard from
    readings = {
        1: sample(1, 0.0, 0, h2_connections=1, h2_streams=2, http2=True),
        2: sample(2, 0.0, 0, h2_connections=2, h2_streams=0, http2=True),
    }
    reporter.observe(0.0, INFOS, readings)
    app = status(reporter, {"api": pool(1, 2)}, INFOS, 0.0)
    assert (app.http2, app.h2_connections, app.h2_streams) == (True, 3, 2)
    assert [(w.h2_connections, w.h2_streams) for w in app.workers] == [(1, 2), (2, 0)]
    # Its workers gone (a crash loop): no figures, but the app still offers HTTP/2.
    reporter.worker_exited("api", 1, None, "crash")
    reporter.worker_exited("api", 2, None, "crash")
    reporter.observe(1.0, [], {})
    app = status(reporter, {"api": pool(7)}, [], 1.0)
    assert (app.http2, app.h2_connections, app.h2_streams) == (True, 0, 0)
    assert [(w.h2_connections, w.h2_streams) for w in app.workers] == [(0, 0)]
    # A reload turned it off: the new workers say so.
    reporter.observe(2.0, [WorkerInfo(7, "api", 0)], {7: sample(7, 2.0, 0)})
    assert status(reporter, {"api": pool(7)}, [WorkerInfo(7, "api", 0)], 2.0).http2 is False


def test_http2_limits_broken_are_each_workers_own_and_the_apps_keep_those_of_retired_workers() -> None:
    reporter = Reporter()
    readings = {
        1: sample(1, 0.0, 0, http2=True, h2_limits_exceeded=3),
        2: sample(2, 0.0, 0, http2=True, h2_limits_exceeded=1),
    }
    reporter.observe(0.0, INFOS, readings)
    app = status(reporter, {"api": pool(1, 2)}, INFOS, 0.0)
    assert (app.h2_limits_exceeded, [w.h2_limits_exceeded for w in app.workers]) == (4, [3, 1])
    # Worker 2 retires after one more; its count stays in the app's, as its requests do.
    reporter.worker_exited("api", 2, sample(2, 1.0, 0, http2=True, h2_limits_exceeded=2), "max_requests")
    reporter.observe(1.0, INFOS[:1], {1: sample(1, 1.0, 0, http2=True, h2_limits_exceeded=3)})
    app = status(reporter, {"api": pool(1)}, INFOS[:1], 1.0)
    assert (app.h2_limits_exceeded, [w.h2_limits_exceeded for w in app.workers]) == (5, [3])


def test_workers_replaced_inside_the_window_count_each_request_once() -> None:
    """max_requests churn: an old worker stops flushing and exits, a new one starts at zero; together
    they served 100 requests a second, and the app's one-second rate says 100, not more."""
    reporter = Reporter()
    old, new = WorkerInfo(1, "api", 0), WorkerInfo(2, "api", 1)
    for tick in range(9):  # the old worker: 100 a second from 0 to 2 s
        at = tick * 0.25
        reporter.observe(at, [old], {1: sample(1, at, round(at * 100))})
    reporter.observe(2.1, [old], {1: sample(1, 2.0, 200)})  # it stopped flushing (retiring)
    final = sample(1, 2.1, 210)  # its last flush, read at its exit
    reporter.worker_exited("api", 1, final, "max_requests")
    for tick in range(1, 9):  # the new worker started at 2.1 and serves the same 100 a second
        at = 2.1 + tick * 0.25
        reporter.observe(at, [new], {2: sample(2, at, round((at - 2.1) * 100), started_at=2.1)})
        app = status(reporter, {"api": pool(2)}, [new], at)
        assert app.requests_per_s == pytest.approx(100.0, abs=1.0), at
    assert reporter.retired_meters == {}  # the old worker's last flush left the window: forgotten
    assert app.workers[0].requests_per_s == pytest.approx(100.0, abs=1.0)


def test_a_worker_that_stopped_flushing_counts_nothing_for_the_time_since() -> None:
    reporter = Reporter()
    for tick in range(5):
        reporter.observe(tick * 0.25, INFOS[:1], {1: sample(1, tick * 0.25, tick * 25)})
    for at in (1.5, 2.0, 2.5):  # no flush since 1.0: a busy window's rate must not stay up
        reporter.observe(at, INFOS[:1], {1: sample(1, 1.0, 100)})
    assert status(reporter, {"api": pool(1)}, INFOS[:1], 2.5).requests_per_s == 0.0


def test_uptime_is_monotonic_time_since_the_start_whatever_the_wall_clock_did() -> None:
    # The wall clock was stepped back an hour after the start: the start shows as it was, the
    # uptime is still the time the master ran (it read "up 0s" when taken from the wall clock).
    snapshot = Reporter().snapshot(
        now=5006.0,
        started_at=1_767_225_600.0,
        running_since=5000.0,
        config_path="serve.toml",
        pools={},
        binds={},
        workers=[],
        events=[],
    )
    assert snapshot.uptime_s == 6.0
    assert snapshot.started_at == 1_767_225_600.0
