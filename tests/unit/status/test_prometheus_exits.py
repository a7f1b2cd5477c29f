"""status/prometheus.py: workers gone are a counter per app and reason, as `serve status` counts them."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from supervisor.status.prometheus import exposition
from supervisor.status.snapshot import AppState, AppStatus, Snapshot


def _app(name: str, exits: dict[str, int]) -> AppStatus:
    return AppStatus(
        name=name,
        binds=(),
        state=AppState.RUNNING,
        generation=1,
        workers_desired=1,
        workers_ready=1,
        requests_total=0,
        requests_per_s=0.0,
        active_connections=0,
        websockets=0,
        p50_ms=None,
        p99_ms=None,
        rss_bytes=0,
        restarts=0,
        last_error=None,
        exits=exits,
    )


def test_worker_exits_are_counted_per_app_and_reason() -> None:
    snapshot = Snapshot(
        master_pid=1,
        config_path="serve.toml",
        started_at=0.0,
        uptime_s=1.0,
        apps=(_app("api", {"max_requests": 12, "crash": 1}), _app("quiet", {})),
        events=(),
    )
    families = {family.name: family for family in text_string_to_metric_families(exposition(snapshot).decode())}
    exits = families["serve_app_worker_exits"]
    assert exits.type == "counter"
    found = {(sample.labels["app"], sample.labels["reason"]): sample.value for sample in exits.samples}
    assert found == {("api", "crash"): 1.0, ("api", "max_requests"): 12.0}  # an app with none adds no sample
