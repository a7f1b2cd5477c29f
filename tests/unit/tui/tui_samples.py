"""Snapshots for the dashboard tests, and a capture console that renders them to plain text."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Sequence

from rich.console import Console
from rich.segment import Segment

from supervisor.status.snapshot import (
    AppState,
    AppStatus,
    Event,
    EventKind,
    Snapshot,
    WorkerState,
    WorkerStatus,
)
from supervisor.tui.render import render
from supervisor.tui.view import ViewState

NOW = 1767229200.0


def worker(pid: int, **changes: object) -> WorkerStatus:
    base = WorkerStatus(
        pid=pid,
        slot=pid % 64,
        generation=2,
        state=WorkerState.READY,
        age_s=812.4,
        requests=45120,
        rss_bytes=60293120,
        cpu_percent=12.5,
        active_requests=2,
        requests_per_s=301.0,
        active_connections=9,
        p50_ms=1.7,
        p99_ms=39.5,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def app(name: str, **changes: object) -> AppStatus:
    base = AppStatus(
        name=name,
        binds=("127.0.0.1:8000",),
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
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


API = app(
    "api",
    binds=("127.0.0.1:8000", "unix:/run/api.sock"),
    generation=2,
    workers_desired=4,
    workers_ready=4,
    requests_total=182733,
    requests_per_s=1204.5,
    active_connections=37,
    websockets=3,
    p50_ms=1.8,
    p99_ms=41.0,
    rss_bytes=241172480,
    restarts=1,
    last_error="worker 4311 was killed by SIGKILL (out of memory?)",  # history: the app runs
    workers=(
        worker(4312),
        worker(4313, index=1, requests=45000, cpu_percent=11.0, requests_per_s=298.5),
        worker(4318, index=2, requests=46001, age_s=95.0, requests_per_s=305.0, p99_ms=120.0),
        worker(4320, index=3, requests=46612, age_s=3.2, cpu_percent=0.4, rss_bytes=52428800, requests_per_s=300.0),
    ),
    status_rates=(0.0, 1180.3, 0.0, 6.6, 0.5),
    # A minute of traffic rising to a peak and back, and its p99 with one slow second.
    history_requests_per_s=tuple(1000.0 + 20 * (i if i < 30 else 60 - i) for i in range(60)),
    history_p99_ms=tuple(None if i < 3 else 120.0 if i == 42 else 30.0 + i % 5 for i in range(60)),
)
WEB = app(
    "web",
    binds=("0.0.0.0:8080",),
    state=AppState.RELOADING,
    generation=5,
    workers_desired=2,
    workers_ready=1,
    requests_total=9312,
    requests_per_s=48.25,
    active_connections=4,
    p50_ms=0.42,
    p99_ms=12.0,
    rss_bytes=98000000,
    workers=(
        worker(4401, generation=4, state=WorkerState.RETIRING, requests=9000, age_s=3605.0, requests_per_s=0.0),
        worker(4415, generation=5, index=1, requests=312, age_s=4.0, requests_per_s=48.2, p50_ms=0.4, p99_ms=12.0),
        worker(
            4416,
            generation=5,
            state=WorkerState.STARTING,
            requests=0,
            age_s=0.6,
            cpu_percent=87.0,
            requests_per_s=0.0,
            active_connections=0,
            p50_ms=None,
            p99_ms=None,
        ),
    ),
    status_rates=(0.0, 48.0, 0.0, 0.0, 0.0),
)
CHAT = app(
    "chat",
    binds=("127.0.0.1:8001",),
    state=AppState.CRASHLOOP,
    workers_desired=2,
    workers_ready=0,
    restarts=7,
    last_error="worker 4502 exited with code 3 during startup (ModuleNotFoundError: examples.chatt)",
)
EVENTS = (
    Event(NOW - 3600, "api", EventKind.RELOAD, "generation 2 serving"),
    Event(NOW - 600, "api", EventKind.RETIRE, "worker 4311 retired after 10000 requests"),
    Event(NOW - 95, "api", EventKind.READY, "worker 4318 ready"),
    Event(NOW - 40, "chat", EventKind.CRASH, "worker 4502 exited with code 3 during startup"),
    Event(
        NOW - 20,
        None,
        EventKind.CONFIG_ERROR,
        'serve.toml:12: apps.web.workers: expected a positive integer, got "four"\n'
        "serve.toml:14: apps.web.bind: unknown key, did you mean 'binds'?",
    ),
    Event(NOW - 5, "web", EventKind.RELOAD, "generation 5 starting"),
)
SNAPSHOT = Snapshot(
    master_pid=4301,
    config_path="/srv/deploy/serve.toml",
    started_at=NOW - 7384.0,
    uptime_s=7384.0,
    apps=(API, WEB, CHAT),
    events=EVENTS,
)
LOGS = [
    *(f'api[4312] INFO: 127.0.0.1:5{i:04d} - "GET /items/{i} HTTP/1.1" 200 OK' for i in range(40)),
    "web[4415] \x1b[32mINFO\x1b[0m: Application startup complete.",
    "api[4313] ERROR: Exception in ASGI application",
    "api[4313] Traceback (most recent call last):",
    'api[4313]   File "/srv/api/routes.py", line 12, in item',
    "api[4313] KeyError: 'id'",
    'api[4313] INFO: 127.0.0.1:50100 - "GET /items/x HTTP/1.1" 500 Internal Server Error',
    "serve[4301] WARNING: api[4318] retiring: 1020 MiB resident, near 1024 MiB",
    "chat[4502] ModuleNotFoundError: No module named 'examples.chatt'",
]


def console(width: int, height: int) -> Console:
    """A capture console the size of a terminal, with colours on so that styles can be checked."""
    return Console(
        file=io.StringIO(),
        record=True,
        width=width,
        height=height,
        force_terminal=True,
        color_system="truecolor",
        legacy_windows=False,
        _environ={},
    )


def draw(
    snapshot: Snapshot = SNAPSHOT,
    *,
    width: int = 100,
    height: int = 30,
    selected: int = 0,
    view: ViewState | None = None,
    logs: Sequence[str] = LOGS,
) -> list[str]:
    """The dashboard's lines as a terminal of that size would show them (trailing blanks removed)."""
    capture = console(width, height)
    picture = render(snapshot, view or ViewState(selected), width=width, height=height, logs=logs)
    capture.print(picture, end="")
    text = capture.export_text()
    return [line.rstrip() for line in text.splitlines()]


def segments(
    snapshot: Snapshot = SNAPSHOT,
    *,
    width: int = 100,
    height: int = 30,
    selected: int = 0,
    view: ViewState | None = None,
) -> list[Segment]:
    """The styled pieces of the picture, to check colours."""
    capture = console(width, height)
    picture = render(snapshot, view or ViewState(selected), width=width, height=height, logs=LOGS)
    return list(capture.render(picture, capture.options.update(height=height)))
