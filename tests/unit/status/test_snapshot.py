"""status/snapshot.py: the status shape round-trips through JSON, and bad JSON is rejected with its path."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from supervisor.status.snapshot import (
    SCHEMA,
    AppState,
    AppStatus,
    Event,
    EventKind,
    Snapshot,
    WorkerState,
    WorkerStatus,
)

WORKER = WorkerStatus(
    pid=4312,
    slot=0,
    generation=2,
    state=WorkerState.READY,
    age_s=812.4,
    requests=45120,
    rss_bytes=60293120,
    cpu_percent=12.5,
    active_requests=2,
)
API = AppStatus(
    name="api",
    binds=("127.0.0.1:8000", "unix:/run/api.sock"),
    state=AppState.RUNNING,
    generation=2,
    workers_desired=4,
    workers_ready=4,
    requests_total=182733,
    requests_per_s=1204.5,
    active_connections=37,
    websockets=3,
    p50_ms=1.8,
    p99_ms=None,
    rss_bytes=241172480,
    restarts=1,
    last_error=None,
    workers=(WORKER,),
)
CHAT = AppStatus(
    name="chat",
    binds=("127.0.0.1:8001",),
    state=AppState.CRASHLOOP,
    generation=1,
    workers_desired=2,
    workers_ready=0,
    requests_total=0,
    requests_per_s=0.5,
    active_connections=0,
    websockets=0,
    p50_ms=None,
    p99_ms=None,
    rss_bytes=0,
    restarts=9,
    last_error="chat[4400] exited with code 3 during startup",
)
SNAPSHOT = Snapshot(
    master_pid=4301,
    config_path="/srv/serve.toml",
    started_at=1767225600.0,
    uptime_s=3600.0,
    apps=(API, CHAT),
    events=(
        Event(time=1767229100.25, app="api", kind=EventKind.RELOAD, message="generation 2 serving"),
        Event(time=1767229101.0, app=None, kind=EventKind.CONFIG_ERROR, message="serve.toml:3: apps.x: bad"),
    ),
)


def test_json_round_trip() -> None:
    assert Snapshot.from_json(SNAPSHOT.to_json()) == SNAPSHOT
    assert Snapshot.from_json(SNAPSHOT.to_json(indent=2).encode()) == SNAPSHOT


def test_the_json_is_plain_and_shaped_as_documented() -> None:
    data = json.loads(SNAPSHOT.to_json())
    assert data["schema"] == SCHEMA
    assert list(data) == [
        "schema",
        "master_pid",
        "config_path",
        "started_at",
        "uptime_s",
        "apps",
        "events",
        "lines_dropped",
    ]
    assert data["apps"][0]["state"] == "running"
    assert data["apps"][0]["binds"] == ["127.0.0.1:8000", "unix:/run/api.sock"]
    assert data["apps"][0]["workers"][0] == {
        "pid": 4312,
        "slot": 0,
        "generation": 2,
        "state": "ready",
        "age_s": 812.4,
        "requests": 45120,
        "rss_bytes": 60293120,
        "cpu_percent": 12.5,
        "active_requests": 2,
        "requests_per_s": 0.0,
        "active_connections": 0,
        "p50_ms": None,
        "p99_ms": None,
        "index": 0,
        "h2_connections": 0,
        "h2_streams": 0,
        "h2_limits_exceeded": 0,
    }
    assert (data["apps"][0]["http2"], data["apps"][0]["h2_connections"], data["apps"][0]["h2_streams"]) == (
        False,
        0,
        0,
    )
    assert data["apps"][1]["workers"] == []
    assert data["events"][1] == {
        "time": 1767229101.0,
        "app": None,
        "kind": "config_error",
        "message": "serve.toml:3: apps.x: bad",
    }


def test_fields_newer_than_the_master_read_as_their_defaults() -> None:
    data = SNAPSHOT.to_dict()
    app = data["apps"][0]  # type: ignore[index]
    for key in ("requests_per_s_10s", "exits", "status_classes", "latency_buckets", "status_rates"):
        del app[key]
    for key in ("history_requests_per_s", "history_p99_ms", "http2", "h2_connections", "h2_streams"):
        del app[key]
    del app["h2_limits_exceeded"]
    for key in ("requests_per_s", "active_connections", "p50_ms", "p99_ms", "index", "h2_connections", "h2_streams"):
        del app["workers"][0][key]
    del app["workers"][0]["h2_limits_exceeded"]
    older = Snapshot.from_dict(data)
    assert older.apps[0].exits == {}
    assert older.apps[0].requests_per_s_10s == 0.0
    assert (older.apps[0].status_rates, older.apps[0].history_requests_per_s, older.apps[0].history_p99_ms) == (
        (),
        (),
        (),
    )
    assert older.apps[0].workers[0].requests_per_s == 0.0
    assert older.apps[0].workers[0].active_connections == 0
    assert older.apps[0].workers[0].index == 0
    assert (older.apps[0].workers[0].p50_ms, older.apps[0].workers[0].p99_ms) == (None, None)
    assert (older.apps[0].http2, older.apps[0].h2_connections, older.apps[0].h2_streams) == (False, 0, 0)
    assert (older.apps[0].workers[0].h2_connections, older.apps[0].workers[0].h2_streams) == (0, 0)
    assert (older.apps[0].h2_limits_exceeded, older.apps[0].workers[0].h2_limits_exceeded) == (0, 0)


def test_http2_figures_round_trip() -> None:
    worker = dataclasses.replace(WORKER, h2_connections=1, h2_streams=2, h2_limits_exceeded=3)
    app = dataclasses.replace(API, http2=True, h2_connections=1, h2_streams=2, h2_limits_exceeded=7, workers=(worker,))
    snapshot = dataclasses.replace(SNAPSHOT, apps=(app,))
    data = json.loads(snapshot.to_json())
    assert (data["apps"][0]["http2"], data["apps"][0]["h2_connections"], data["apps"][0]["h2_streams"]) == (True, 1, 2)
    assert (data["apps"][0]["workers"][0]["h2_connections"], data["apps"][0]["workers"][0]["h2_streams"]) == (1, 2)
    assert (data["apps"][0]["h2_limits_exceeded"], data["apps"][0]["workers"][0]["h2_limits_exceeded"]) == (7, 3)
    assert Snapshot.from_json(snapshot.to_json()) == snapshot


def test_the_last_minute_round_trips_with_its_gaps() -> None:
    app = dataclasses.replace(
        API,
        status_rates=(0.0, 12.5, 0.0, 1.0, 0.5),
        history_requests_per_s=(0.0, 3.0, 12.5),
        history_p99_ms=(None, 2.5, 41.0),
        workers=(dataclasses.replace(WORKER, requests_per_s=3.5, active_connections=4, p50_ms=1.0, p99_ms=9.5),),
    )
    snapshot = dataclasses.replace(SNAPSHOT, apps=(app,))
    data = json.loads(snapshot.to_json())
    assert data["apps"][0]["history_p99_ms"] == [None, 2.5, 41.0]
    assert data["apps"][0]["status_rates"] == [0.0, 12.5, 0.0, 1.0, 0.5]
    assert Snapshot.from_json(snapshot.to_json()) == snapshot


def test_exits_must_be_counts() -> None:
    data = SNAPSHOT.to_dict()
    data["apps"][0]["exits"] = {"crash": "one"}  # type: ignore[index]
    with pytest.raises(ValueError, match=r"status\.apps\[0\]\.exits"):
        Snapshot.from_dict(data)


def test_integers_read_where_numbers_are_expected_and_unknown_keys_are_ignored() -> None:
    data = SNAPSHOT.to_dict()
    data["uptime_s"] = 3600
    data["from_a_newer_master"] = True
    snapshot = Snapshot.from_dict(data)
    assert snapshot.uptime_s == 3600.0
    assert isinstance(snapshot.uptime_s, float)


def test_lookups_and_totals() -> None:
    assert SNAPSHOT.app("chat") == CHAT
    assert SNAPSHOT.app("nope") is None
    assert SNAPSHOT.requests_per_s == 1205.0


def broken(path: list[str | int], value: object) -> object:
    data = json.loads(SNAPSHOT.to_json())
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["master_pid"], "4301", "status.master_pid: expected an integer, got str '4301'"),
        (["master_pid"], True, "status.master_pid: expected an integer, got bool True"),
        (["uptime_s"], None, "status.uptime_s: expected a number, got null"),
        (["uptime_s"], False, "status.uptime_s: expected a number, got bool False"),
        (["config_path"], KeyError, "status.config_path: missing"),
        (["config_path"], 7, "status.config_path: expected a string, got int 7"),
        (["apps"], {}, "status.apps: expected a list, got dict {}"),
        (["apps", 0], [], "status.apps[0]: expected an object, got list []"),
        (["apps", 0, "binds", 1], 8000, "status.apps[0].binds[1]: expected a string, got int 8000"),
        (["apps", 0, "state"], "sleeping", "status.apps[0].state: expected running | starting | reloading"),
        (["apps", 0, "p50_ms"], "fast", "status.apps[0].p50_ms: expected a number, got str 'fast'"),
        (["apps", 0, "last_error"], 3, "status.apps[0].last_error: expected a string, got int 3"),
        (["apps", 0, "workers", 0, "state"], "gone", "status.apps[0].workers[0].state: expected starting | ready"),
        (["events", 0, "kind"], "party", "status.events[0].kind: expected start | ready | retire"),
        (["schema"], 2, "status.schema: expected 1, got 2 (a newer serve?)"),
        (["apps", 0, "status_rates"], [1, "2"], "status.apps[0].status_rates[1]: expected a number, got str '2'"),
        (
            ["apps", 0, "history_requests_per_s"],
            [None],
            "status.apps[0].history_requests_per_s[0]: expected a number, got null",
        ),
        (
            ["apps", 0, "history_p99_ms"],
            [1.0, True],
            "status.apps[0].history_p99_ms[1]: expected a number or null, got bool True",
        ),
        (
            ["apps", 0, "workers", 0, "active_connections"],
            1.5,
            "status.apps[0].workers[0].active_connections: expected an integer",
        ),
        (["apps", 0, "http2"], 1, "status.apps[0].http2: expected true or false, got int 1"),
        (["apps", 0, "h2_streams"], None, "status.apps[0].h2_streams: expected an integer, got null"),
        (["apps", 0, "workers", 0, "p99_ms"], "slow", "status.apps[0].workers[0].p99_ms: expected a number, got str"),
    ],
)
def test_a_bad_snapshot_names_the_offending_key(path: list[str | int], value: object, message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        Snapshot.from_dict(broken(path, value))


def test_not_json_or_not_an_object() -> None:
    with pytest.raises(ValueError, match=r"^status: not JSON"):
        Snapshot.from_json("{")
    with pytest.raises(ValueError, match=r"^status: expected an object, got list \[1\]"):
        Snapshot.from_json("[1]")
