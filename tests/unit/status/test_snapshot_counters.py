"""The per-app counters (exits, status classes, latency buckets): through JSON and back, and into /metrics."""

from __future__ import annotations

import dataclasses

import pytest
from prometheus_client.parser import text_string_to_metric_families

from supervisor.status.prometheus import exposition
from supervisor.status.snapshot import AppState, AppStatus, Snapshot

APP = AppStatus(
    name="api",
    binds=("127.0.0.1:8000",),
    state=AppState.RUNNING,
    generation=1,
    workers_desired=1,
    workers_ready=1,
    requests_total=10,
    requests_per_s=0.0,
    active_connections=0,
    websockets=0,
    p50_ms=None,
    p99_ms=None,
    rss_bytes=0,
    restarts=0,
    last_error=None,
    exits={"crash": 1, "max_requests": 3},
    status_classes=(0, 7, 1, 2, 0),
    latency_buckets=(4, 0, 6),
)
SNAPSHOT = Snapshot(master_pid=1, config_path="serve.toml", started_at=0.0, uptime_s=1.0, apps=(APP,), events=())


def test_counters_round_trip_through_json() -> None:
    back = Snapshot.from_json(SNAPSHOT.to_json())
    assert back.apps[0].exits == {"crash": 1, "max_requests": 3}
    assert back.apps[0].status_classes == (0, 7, 1, 2, 0)
    assert back.apps[0].latency_buckets == (4, 0, 6)


@pytest.mark.parametrize("item", ["7", 7.0, True, None])
def test_a_count_that_is_not_an_integer_is_rejected_with_its_index(item: object) -> None:
    data = SNAPSHOT.to_dict()
    data["apps"][0]["status_classes"] = [0, item]  # type: ignore[index]
    with pytest.raises(ValueError, match=r"^status\.apps\[0\]\.status_classes\[1\]: expected an integer"):
        Snapshot.from_dict(data)


def test_an_app_without_counters_reads_them_as_empty() -> None:
    bare = dataclasses.replace(APP, exits={}, status_classes=(), latency_buckets=())
    back = Snapshot.from_json(dataclasses.replace(SNAPSHOT, apps=(bare,)).to_json())
    assert back.apps[0] == bare


def test_worker_exits_are_a_prometheus_counter_per_app_and_reason() -> None:
    quiet = dataclasses.replace(APP, name="quiet", exits={})
    loud = dataclasses.replace(APP, exits={"max_requests": 12, "crash": 1})
    text = exposition(dataclasses.replace(SNAPSHOT, apps=(loud, quiet))).decode()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    exits = families["serve_app_worker_exits"]
    assert exits.type == "counter"
    found = {(sample.labels["app"], sample.labels["reason"]): sample.value for sample in exits.samples}
    assert found == {("api", "crash"): 1.0, ("api", "max_requests"): 12.0}  # an app with none adds no sample
