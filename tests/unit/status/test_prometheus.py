"""status/prometheus.py: /metrics parses with prometheus-client's own parser and says what the snapshot says."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from supervisor.status.figures import LATENCY_BOUNDS_S, LATENCY_BUCKETS, bucket_index
from supervisor.status.prometheus import CONTENT_TYPE, SnapshotCollector, exposition
from supervisor.status.snapshot import (
    AppState,
    AppStatus,
    Event,
    EventKind,
    Snapshot,
    WorkerState,
    WorkerStatus,
)

WORKERS = (
    WorkerStatus(
        pid=4312,
        slot=0,
        generation=2,
        state=WorkerState.READY,
        age_s=812.4,
        requests=45120,
        rss_bytes=60293120,
        cpu_percent=12.5,
        active_requests=2,
        requests_per_s=301.5,
        active_connections=9,
        p50_ms=1.5,
        p99_ms=40.0,
        h2_connections=2,
        h2_streams=5,
        h2_limits_exceeded=4,
    ),
    WorkerStatus(
        pid=4313,
        slot=1,
        generation=1,
        state=WorkerState.RETIRING,
        age_s=3605.0,
        requests=137613,
        rss_bytes=70000000,
        cpu_percent=0.5,
        active_requests=5,
    ),
)
API = AppStatus(
    name="api",
    binds=("127.0.0.1:8000",),
    state=AppState.RELOADING,
    generation=2,
    workers_desired=1,
    workers_ready=1,
    requests_total=182733,
    requests_per_s=1204.5,
    active_connections=37,
    websockets=3,
    p50_ms=1.8,
    p99_ms=41.0,
    rss_bytes=130293120,
    restarts=1,
    last_error=None,
    workers=WORKERS,
    http2=True,
    h2_connections=2,
    h2_streams=5,
    h2_limits_exceeded=6,
    status_classes=(0, 182001, 12, 700, 20),
    status_rates=(0.0, 1180.3, 0.0, 6.6, 0.5),
    # 3 responses in 0.1 ms, 5 at 2 ms, 1 at 40 ms, 2 slower than 10 s.
    latency_buckets=tuple(
        {0: 3, bucket_index(0.002): 5, bucket_index(0.04): 1, LATENCY_BUCKETS - 1: 2}.get(i, 0)
        for i in range(LATENCY_BUCKETS)
    ),
)
CHAT = AppStatus(
    name="chat",
    binds=("unix:/run/chat.sock",),
    state=AppState.CRASHLOOP,
    generation=1,
    workers_desired=2,
    workers_ready=0,
    requests_total=0,
    requests_per_s=0.0,
    active_connections=0,
    websockets=0,
    p50_ms=None,
    p99_ms=None,
    rss_bytes=0,
    restarts=7,
    last_error="worker exited with code 3",
)
SNAPSHOT = Snapshot(
    master_pid=4301,
    config_path='/srv/"quoted"\\serve.toml',
    started_at=1767225600.0,
    uptime_s=3600.0,
    apps=(API, CHAT),
    events=(Event(1767229100.2, "api", EventKind.RELOAD, "generation 2 serving"),),
)


def _samples(snapshot: Snapshot = SNAPSHOT) -> dict[str, list[Sample]]:
    found: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(exposition(snapshot).decode()):
        for sample in family.samples:
            found.setdefault(sample.name, []).append(sample)
    return found


def _by(samples: list[Sample], *labels: str) -> dict[tuple[str, ...], float]:
    return {tuple(sample.labels[label] for label in labels): sample.value for sample in samples}


def test_the_master_is_described() -> None:
    samples = _samples()
    assert _by(samples["serve_master_info"], "pid", "config") == {("4301", '/srv/"quoted"\\serve.toml'): 1.0}
    assert samples["serve_master_start_time_seconds"][0].value == 1767225600.0
    assert samples["serve_master_uptime_seconds"][0].value == 3600.0


def test_app_figures_equal_the_snapshots() -> None:
    samples = _samples()
    expected: dict[str, Callable[[AppStatus], float]] = {
        "serve_app_requests_total": lambda app: app.requests_total,
        "serve_app_requests_per_second": lambda app: app.requests_per_s,
        "serve_app_active_connections": lambda app: app.active_connections,
        "serve_app_active_requests": lambda app: sum(worker.active_requests for worker in app.workers),
        "serve_app_websocket_connections": lambda app: app.websockets,
        "serve_app_h2_connections": lambda app: app.h2_connections,
        "serve_app_h2_streams": lambda app: app.h2_streams,
        "serve_app_h2_limits_exceeded_total": lambda app: app.h2_limits_exceeded,
        "serve_app_resident_memory_bytes": lambda app: app.rss_bytes,
        "serve_app_restarts_total": lambda app: app.restarts,
        "serve_app_generation": lambda app: app.generation,
        "serve_app_workers_desired": lambda app: app.workers_desired,
        "serve_app_workers_ready": lambda app: app.workers_ready,
    }
    for name, value in expected.items():
        assert _by(samples[name], "app") == {("api",): value(API), ("chat",): value(CHAT)}, name
    assert _by(samples["serve_app_active_requests"], "app")[("api",)] == 7


def test_requests_and_restarts_are_counters() -> None:
    types = {family.name: family.type for family in text_string_to_metric_families(exposition(SNAPSHOT).decode())}
    assert types["serve_app_requests"] == "counter"
    assert types["serve_app_restarts"] == "counter"
    assert types["serve_app_responses"] == "counter"
    assert types["serve_app_request_duration_seconds"] == "histogram"
    assert types["serve_worker_requests"] == "counter"
    assert types["serve_app_h2_limits_exceeded"] == "counter"
    assert types["serve_worker_h2_limits_exceeded"] == "counter"
    assert types["serve_app_requests_per_second"] == "gauge"
    assert types["serve_worker_cpu_percent"] == "gauge"


def test_latency_percentiles_are_in_seconds_and_absent_until_measured() -> None:
    latency = _by(_samples()["serve_app_latency_seconds"], "app", "quantile")
    assert latency == {("api", "0.5"): 0.0018, ("api", "0.99"): 0.041}


def test_latency_buckets_form_a_cumulative_histogram_over_the_slot_bounds() -> None:
    samples = _samples()
    buckets = _by(samples["serve_app_request_duration_seconds_bucket"], "app", "le")
    assert len(buckets) == LATENCY_BUCKETS
    assert [float(le) for _, le in buckets][:-1] == list(LATENCY_BOUNDS_S)
    assert buckets[("api", "0.0001")] == 3
    assert buckets[("api", repr(LATENCY_BOUNDS_S[bucket_index(0.002)]))] == 8
    assert buckets[("api", "10.0")] == 9
    assert buckets[("api", "+Inf")] == 11 == sum(API.latency_buckets)
    assert list(buckets.values()) == sorted(buckets.values())
    assert "serve_app_request_duration_seconds_sum" not in samples  # the slots keep no sum of durations


def test_responses_are_counted_by_status_class() -> None:
    responses = _by(_samples()["serve_app_responses_total"], "app", "status_class")
    assert responses == {
        ("api", "1xx"): 0,
        ("api", "2xx"): 182001,
        ("api", "3xx"): 12,
        ("api", "4xx"): 700,
        ("api", "5xx"): 20,
    }


def test_response_rates_by_status_class_are_those_serve_status_shows() -> None:
    rates = _by(_samples()["serve_app_responses_per_second"], "app", "status_class")
    assert rates == {
        ("api", "1xx"): 0,
        ("api", "2xx"): 1180.3,
        ("api", "3xx"): 0,
        ("api", "4xx"): 6.6,
        ("api", "5xx"): 0.5,
    }


def test_worker_latency_percentiles_are_in_seconds_and_absent_until_measured() -> None:
    latency = _by(_samples()["serve_worker_latency_seconds"], "pid", "quantile")
    assert latency == {("4312", "0.5"): 0.0015, ("4312", "0.99"): 0.04}


def test_app_state_is_one_for_the_current_state_only() -> None:
    states = _by(_samples()["serve_app_state"], "app", "state")
    assert len(states) == 2 * len(AppState)
    assert {key for key, value in states.items() if value == 1} == {("api", "reloading"), ("chat", "crashloop")}
    assert set(states.values()) == {0.0, 1.0}


def test_worker_figures_equal_the_snapshots_labelled_by_app_and_pid() -> None:
    samples = _samples()
    expected: dict[str, Callable[[WorkerStatus], float]] = {
        "serve_worker_requests_total": lambda worker: worker.requests,
        "serve_worker_active_requests": lambda worker: worker.active_requests,
        "serve_worker_resident_memory_bytes": lambda worker: worker.rss_bytes,
        "serve_worker_cpu_percent": lambda worker: worker.cpu_percent,
        "serve_worker_age_seconds": lambda worker: worker.age_s,
        "serve_worker_generation": lambda worker: worker.generation,
        "serve_worker_requests_per_second": lambda worker: worker.requests_per_s,
        "serve_worker_active_connections": lambda worker: worker.active_connections,
        "serve_worker_h2_connections": lambda worker: worker.h2_connections,
        "serve_worker_h2_streams": lambda worker: worker.h2_streams,
        "serve_worker_h2_limits_exceeded_total": lambda worker: worker.h2_limits_exceeded,
    }
    for name, value in expected.items():
        assert _by(samples[name], "app", "pid") == {("api", str(w.pid)): value(w) for w in WORKERS}, name
    states = _by(samples["serve_worker_state"], "pid", "state")
    assert {key for key, value in states.items() if value == 1} == {("4312", "ready"), ("4313", "retiring")}
    assert len(states) == 2 * len(WorkerState)
    assert _by(samples["serve_worker_h2_streams"], "pid") == {("4312",): 5.0, ("4313",): 0.0}
    assert _by(samples["serve_worker_h2_limits_exceeded_total"], "pid") == {("4312",): 4.0, ("4313",): 0.0}
    assert b"# TYPE serve_worker_h2_connections gauge" in exposition(SNAPSHOT)


def test_an_idle_master_exports_its_own_figures_and_empty_families() -> None:
    idle = Snapshot(master_pid=7, config_path="serve.toml", started_at=1.0, uptime_s=2.0)
    samples = _samples(idle)
    assert set(samples) == {"serve_master_info", "serve_master_start_time_seconds", "serve_master_uptime_seconds"}
    assert b"# TYPE serve_app_requests_total counter" in exposition(idle)


def test_a_registered_collector_reads_the_latest_snapshot_at_each_scrape() -> None:
    latest = [SNAPSHOT]
    registry = CollectorRegistry()
    registry.register(SnapshotCollector(lambda: latest[-1]))
    assert b'serve_app_requests_total{app="api"} 182733.0' in generate_latest(registry)
    latest.append(Snapshot(master_pid=4301, config_path="serve.toml", started_at=1.0, uptime_s=5.0))
    assert b"serve_app_requests_total{" not in generate_latest(registry)


def test_the_content_type_is_the_text_format() -> None:
    assert CONTENT_TYPE.startswith("text/plain; version=0.0.4")
