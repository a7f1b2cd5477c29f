"""The status snapshot as Prometheus metrics: what `[server] metrics_bind` serves at /metrics.

No I/O: the master's metrics endpoint calls `exposition(snapshot)` on each scrape and sends the
bytes.

Every figure of `serve status` is exported, per app (label `app`) and per worker (labels
`app`, `pid`), under the `serve_` prefix. States are one gauge per possible state, 1 for the
current one and 0 for the others, so that `serve_app_state{state="crashloop"} == 1` is an
alert rule.

Latency is exported twice: as the histogram `serve_app_request_duration_seconds` over the
buckets of `figures.LATENCY_BOUNDS_S` (for `histogram_quantile()` across apps and hosts), and as
the gauge `serve_app_latency_seconds{quantile=...}` holding the p50 and p99 that `serve status`
shows. The histogram has `_bucket` series only: the workers' slots count responses per bucket
but keep no sum of durations, so there is no `_sum`, and `_bucket{le="+Inf"}` is the count.

An app's request total and its responses by status class count since the master started
(the master keeps a retired worker's last counts), so they never go back; its latency
buckets are sums over the live workers, and drop when a worker is replaced, which
Prometheus' `rate()` reads as a counter reset.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from supervisor.status.figures import LATENCY_BOUNDS_S, LATENCY_BUCKETS, STATUS_CLASSES
from supervisor.status.snapshot import AppState, AppStatus, Snapshot, WorkerState, WorkerStatus

# What `generate_latest` writes; prometheus_client's CONTENT_TYPE_LATEST names a newer version in recent releases.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "serve"
QUANTILES: tuple[tuple[str, Callable[[AppStatus], float | None]], ...] = (
    ("0.5", lambda app: app.p50_ms),
    ("0.99", lambda app: app.p99_ms),
)
_APP = ["app"]
_WORKER = ["app", "pid"]


def exposition(snapshot: Snapshot) -> bytes:
    """The snapshot in Prometheus' text exposition format (version 0.0.4; serve it as `CONTENT_TYPE`)."""
    return generate_latest(SnapshotCollector(lambda: snapshot))


class SnapshotCollector:
    """A prometheus_client collector reading the latest snapshot from `source` at each collection.

    Register it in a `CollectorRegistry` to export the snapshot next to other collectors, or
    pass it to `generate_latest` directly (`exposition` does).
    """

    def __init__(self, source: Callable[[], Snapshot]) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        """The metric families of one snapshot."""
        snapshot = self._source()
        yield from _master_metrics(snapshot)
        yield from _app_metrics(snapshot.apps)
        yield from _worker_metrics([(app.name, worker) for app in snapshot.apps for worker in app.workers])


def _gauge(name: str, documentation: str, labels: list[str], unit: str = "") -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", documentation, labels=labels, unit=unit)


def _counter(name: str, documentation: str, labels: list[str]) -> CounterMetricFamily:
    return CounterMetricFamily(f"{PREFIX}_{name}", documentation, labels=labels)


def _master_metrics(snapshot: Snapshot) -> Iterator[Metric]:
    info = _gauge("master_info", "The master process: its pid and configuration file (always 1).", ["pid", "config"])
    info.add_metric([str(snapshot.master_pid), snapshot.config_path], 1)
    yield info
    started = _gauge("master_start_time_seconds", "When the master started, in seconds since the epoch.", [])
    started.add_metric([], snapshot.started_at)
    yield started
    uptime = _gauge("master_uptime_seconds", "How long the master has been running.", [])
    uptime.add_metric([], snapshot.uptime_s)
    yield uptime


# (metric name, help, value of an app); all gauges but the `_total` ones, which are counters.
_APP_FIGURES: tuple[tuple[str, str, Callable[[AppStatus], float]], ...] = (
    (
        "app_requests_total",
        "Requests answered by the app since the master started (retired workers' included).",
        lambda app: app.requests_total,
    ),
    (
        "app_requests_per_second",
        "Requests per second over the last second, as `serve status` reports them.",
        lambda app: app.requests_per_s,
    ),
    (
        "app_requests_per_second_10s",
        "Requests per second over the last ten seconds.",
        lambda app: app.requests_per_s_10s,
    ),
    ("app_active_connections", "Open HTTP and WebSocket connections.", lambda app: app.active_connections),
    (
        "app_active_requests",
        "Requests being handled right now.",
        lambda app: sum(worker.active_requests for worker in app.workers),
    ),
    ("app_websocket_connections", "Open WebSocket connections.", lambda app: app.websockets),
    ("app_h2_connections", "Open HTTP/2 connections (0 when the app has http2 off).", lambda app: app.h2_connections),
    ("app_h2_streams", "Open HTTP/2 streams: requests in flight on them.", lambda app: app.h2_streams),
    (
        "app_h2_limits_exceeded_total",
        "HTTP/2 connections closed (or streams stalled on a zero window reset) because a client broke a limit.",
        lambda app: app.h2_limits_exceeded,
    ),
    ("app_resident_memory_bytes", "Resident memory of the app's workers, summed.", lambda app: app.rss_bytes),
    ("app_restarts_total", "Workers replaced because they crashed or hung.", lambda app: app.restarts),
    ("app_generation", "The app's current generation (one more at each reload).", lambda app: app.generation),
    ("app_workers_desired", "Workers the app should have.", lambda app: app.workers_desired),
    ("app_workers_ready", "Workers accepting requests.", lambda app: app.workers_ready),
)


def _app_metrics(apps: tuple[AppStatus, ...]) -> Iterator[Metric]:
    for name, documentation, value in _APP_FIGURES:
        family = (
            _counter(name.removesuffix("_total"), documentation, _APP)
            if name.endswith("_total")
            else _gauge(name, documentation, _APP)
        )
        for app in apps:
            family.add_metric([app.name], value(app))
        yield family
    latency = _gauge(
        "app_latency_seconds",
        "Response latency percentiles, as `serve status` reports them (absent until a response was timed).",
        ["app", "quantile"],
    )
    for app in apps:
        for quantile, percentile in QUANTILES:
            ms = percentile(app)
            if ms is not None:
                latency.add_metric([app.name, quantile], ms / 1000)
    yield latency
    yield _durations(apps)
    yield _responses(apps)
    yield _response_rates(apps)
    exits = _counter("app_worker_exits", "Workers gone since the master started, by why.", ["app", "reason"])
    for app in apps:
        for reason, count in sorted(app.exits.items()):
            exits.add_metric([app.name, reason], count)
    yield exits
    state = _gauge("app_state", "The app's state: 1 for the current one, 0 for the others.", ["app", "state"])
    for app in apps:
        for choice in AppState:
            state.add_metric([app.name, choice.value], 1 if app.state is choice else 0)
    yield state


def _durations(apps: tuple[AppStatus, ...]) -> HistogramMetricFamily:
    histogram = HistogramMetricFamily(
        f"{PREFIX}_app_request_duration_seconds",
        "Time from a request's arrival to its response's end, of the app's live workers (no _sum: not measured).",
        labels=_APP,
    )
    bounds = [*map(repr, LATENCY_BOUNDS_S), "+Inf"]
    for app in apps:
        if len(app.latency_buckets) == LATENCY_BUCKETS:  # absent from an older master's snapshot
            cumulative = list(itertools.accumulate(app.latency_buckets))
            histogram.add_metric([app.name], list(zip(bounds, map(float, cumulative), strict=True)), None)
    return histogram


def _responses(apps: tuple[AppStatus, ...]) -> CounterMetricFamily:
    responses = _counter(
        "app_responses", "Responses by status class since the master started.", ["app", "status_class"]
    )
    for app in apps:
        if len(app.status_classes) == STATUS_CLASSES:  # absent from an older master's snapshot
            for index, count in enumerate(app.status_classes):
                responses.add_metric([app.name, f"{index + 1}xx"], count)
    return responses


def _response_rates(apps: tuple[AppStatus, ...]) -> GaugeMetricFamily:
    rates = _gauge(
        "app_responses_per_second",
        "Responses per second by status class over the last ten seconds, as `serve status` reports them.",
        ["app", "status_class"],
    )
    for app in apps:
        if len(app.status_rates) == STATUS_CLASSES:  # absent from an older master's snapshot
            for index, rate in enumerate(app.status_rates):
                rates.add_metric([app.name, f"{index + 1}xx"], rate)
    return rates


_WORKER_FIGURES: tuple[tuple[str, str, Callable[[WorkerStatus], float]], ...] = (
    ("worker_requests_total", "Requests the worker has answered.", lambda worker: worker.requests),
    (
        "worker_requests_per_second",
        "The worker's requests per second over the last second.",
        lambda worker: worker.requests_per_s,
    ),
    ("worker_active_connections", "The worker's open HTTP and WebSocket connections.", lambda w: w.active_connections),
    ("worker_active_requests", "Requests the worker is handling right now.", lambda worker: worker.active_requests),
    ("worker_h2_connections", "The worker's open HTTP/2 connections.", lambda worker: worker.h2_connections),
    ("worker_h2_streams", "The worker's open HTTP/2 streams: requests in flight on them.", lambda w: w.h2_streams),
    (
        "worker_h2_limits_exceeded_total",
        "The worker's HTTP/2 connections closed (or stalled streams reset) because a client broke a limit.",
        lambda worker: worker.h2_limits_exceeded,
    ),
    ("worker_resident_memory_bytes", "The worker's resident memory.", lambda worker: worker.rss_bytes),
    ("worker_cpu_percent", "The worker's CPU use, in percent of one core.", lambda worker: worker.cpu_percent),
    ("worker_age_seconds", "How long the worker has been running.", lambda worker: worker.age_s),
    ("worker_generation", "The generation the worker belongs to.", lambda worker: worker.generation),
)


def _worker_metrics(workers: list[tuple[str, WorkerStatus]]) -> Iterator[Metric]:
    for name, documentation, value in _WORKER_FIGURES:
        family = (
            _counter(name.removesuffix("_total"), documentation, _WORKER)
            if name.endswith("_total")
            else _gauge(name, documentation, _WORKER)
        )
        for app, worker in workers:
            family.add_metric([app, str(worker.pid)], value(worker))
        yield family
    latency = _gauge(
        "worker_latency_seconds",
        "The worker's response latency percentiles over its life (absent until a response was timed).",
        [*_WORKER, "quantile"],
    )
    for app, worker in workers:
        for quantile, ms in (("0.5", worker.p50_ms), ("0.99", worker.p99_ms)):
            if ms is not None:
                latency.add_metric([app, str(worker.pid), quantile], ms / 1000)
    yield latency
    state = _gauge("worker_state", "The worker's state: 1 for the current one, 0 for the others.", [*_WORKER, "state"])
    for app, worker in workers:
        for choice in WorkerState:
            state.add_metric([app, str(worker.pid), choice.value], 1 if worker.state is choice else 0)
    yield state
