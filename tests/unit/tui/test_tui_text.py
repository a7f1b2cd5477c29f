"""tui/text.py: plain `serve status` says what the dashboard shows, in lines a script can read."""

from __future__ import annotations

import dataclasses

from tui_samples import API, SNAPSHOT, WEB

from supervisor.tui.text import describe


def test_each_app_its_workers_and_the_latest_events() -> None:
    lines = describe(SNAPSHOT).splitlines()
    assert lines[0] == "master 4301 · /srv/deploy/serve.toml · up 2h03m · 1252.8 req/s"
    assert lines[2].startswith("api  running  generation 2  workers 4/4  182733 requests  1204.5 req/s  37 conns  ")
    assert "recent events:" in lines
    assert lines[-1] == "  reload         generation 5 starting"


def test_workers_show_their_rate_connections_and_latency() -> None:
    lines = describe(SNAPSHOT).splitlines()
    row = next(line for line in lines if line.startswith("  pid 4318 "))
    assert row.startswith("  pid 4318    ready     gen 2   age   1m35s     46001 requests")
    assert row.endswith("305.0 req/s     9 conns  p50 1.7 ms · p99 120.0 ms")
    assert next(line for line in lines if line.startswith("  pid 4416 ")).endswith("0 conns  -")


def test_responses_by_class_with_server_errors_called_out() -> None:
    api = dataclasses.replace(API, status_classes=(0, 182001, 12, 700, 20))
    lines = describe(dataclasses.replace(SNAPSHOT, apps=(api, WEB))).splitlines()
    assert (
        "  responses: 2xx 1180.3/s  4xx 6.6/s  5xx 0.5/s (last 10 s); since the start: 2xx 182001 · 4xx 700 · 5xx 20  <- server errors"
        in lines
    )
    assert not any(line.startswith("  responses:") for line in describe(SNAPSHOT).splitlines()[3:8])  # not counted yet


def test_the_last_minute_as_sparklines() -> None:
    lines = describe(SNAPSHOT).splitlines()
    requests = next(line for line in lines if line.startswith("  req/s, last 60 s: "))
    p99 = next(line for line in lines if line.startswith("  p99, last 60 s:   "))
    assert requests.endswith(" peak 1600.0")
    assert p99.endswith(" peak 120.0 ms")
    assert len(requests.split()[4]) == 60
    assert not any(
        line.startswith("  req/s, last") for line in describe(dataclasses.replace(SNAPSHOT, apps=(WEB,))).splitlines()
    )


def test_exits_and_the_last_error_and_no_events() -> None:
    api = dataclasses.replace(API, exits={"restart": 1, "crash": 2})
    lines = describe(dataclasses.replace(SNAPSHOT, apps=(api,), events=())).splitlines()
    assert "  exits: crash 2, restart 1" in lines
    assert "  last error: worker 4311 was killed by SIGKILL (out of memory?)" in lines
    assert "recent events:" not in lines


def test_http2_connections_and_streams_for_an_app_that_offers_http2_only() -> None:
    assert " h2 " not in describe(SNAPSHOT)  # HTTP/1.1 only: the lines as they always were
    workers = (
        dataclasses.replace(API.workers[0], h2_connections=1, h2_streams=2, h2_limits_exceeded=4),
        *API.workers[1:],
    )
    api = dataclasses.replace(API, http2=True, h2_connections=1, h2_streams=2, h2_limits_exceeded=5, workers=workers)
    lines = describe(dataclasses.replace(SNAPSHOT, apps=(api, WEB))).splitlines()
    assert lines[2].startswith("api  running  generation 2  workers 4/4  182733 requests  1204.5 req/s  37 conns  ")
    assert "  37 conns  1 h2 conns  2 h2 streams  5 h2 limits broken  p50 1.8 ms" in lines[2]
    assert next(line for line in lines if line.startswith("  pid 4312 ")).endswith(
        "9 conns  1 h2 conns  2 h2 streams  4 h2 limits broken  p50 1.7 ms · p99 39.5 ms"
    )
    assert "9 conns  0 h2 conns  0 h2 streams  0 h2 limits broken  p50" in next(
        line for line in lines if line.startswith("  pid 4313 ")
    )
    assert not any(" h2 " in line for line in lines if line.startswith(("web", "  pid 44")))


def test_text_from_apps_and_files_cannot_act_on_the_terminal() -> None:
    api = dataclasses.replace(API, last_error="boom\x1b]0;owned\x07 \x9b2J\nsecond\rline\n", binds=("unix:/r\x07n",))
    event = dataclasses.replace(SNAPSHOT.events[-1], message="failed:\n  Traceback\x1b[2J")
    snapshot = dataclasses.replace(SNAPSHOT, config_path="/srv/a\nb.toml", apps=(api,), events=(event,))
    lines = describe(snapshot).splitlines()
    assert lines[0].startswith("master 4301 · /srv/a\\x0ab.toml · up ")
    assert "  binds: unix:/r\\x07n" in lines
    at = lines.index("  last error: boom \\x9b2J")
    assert lines[at + 1] == "              second\\x0dline"  # beneath the first, not at the left edge
    assert lines[-2:] == [f"  {event.kind.value:<14} failed:", " " * 17 + "  Traceback"]
    assert all(ch == "\t" or ch >= " " for line in lines for ch in line)
