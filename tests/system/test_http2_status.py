"""HTTP/2 figures of a real `serve up` per worker, in `serve status --json` and /metrics: open connections and
streams, and the limits clients broke.

A raw h2 client holds streams open on /hold (tests/apps/system_apps.py) while the test reads
both views; the worker that took the connection is the one whose app said "hold started".
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from h2.errors import ErrorCodes
from master_support import LINE_START, Master, app_table, free_port, serve_up, server_table
from prometheus_client.parser import text_string_to_metric_families
from support import serve_status
from test_http2_client import H2Client, frame

pytestmark = pytest.mark.system

FIGURES_TIMEOUT_S = 10.0  # workers flush a few times a second; a loaded 2-core box may be slow to show it


def config_text(port: int, metrics_port: int, extra: str = "") -> str:
    return (
        server_table()
        + f'control_socket = "control.sock"\nmetrics_bind = "127.0.0.1:{metrics_port}"\n\n'
        + app_table(
            "api", bind=[f"127.0.0.1:{port}"], workers=2, target="system_apps:app", extra="http2 = true\n" + extra
        )
    )


def h2_figures(master: Master, metrics_port: int) -> tuple[dict[int, tuple[int, int]], dict[int, tuple[float, float]]]:
    """Each worker's (HTTP/2 connections, streams) as `serve status --json` and /metrics say, by pid."""
    app: dict[str, Any] = serve_status(master.config)["apps"][0]
    assert app["http2"] is True
    status = {w["pid"]: (w["h2_connections"], w["h2_streams"]) for w in app["workers"]}
    assert (app["h2_connections"], app["h2_streams"]) == tuple(map(sum, zip(*status.values(), strict=True)))
    scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
    gauges: dict[str, dict[int, float]] = {"serve_worker_h2_connections": {}, "serve_worker_h2_streams": {}}
    for family in text_string_to_metric_families(scraped):
        for sample in family.samples:
            if sample.name in gauges and sample.labels["app"] == "api":
                gauges[sample.name][int(sample.labels["pid"])] = sample.value
    metrics = {
        pid: (connections, gauges["serve_worker_h2_streams"][pid])
        for pid, connections in gauges["serve_worker_h2_connections"].items()
    }
    return status, metrics


def wait_for_figures(
    master: Master, metrics_port: int, expected: Callable[[int], tuple[int, int]]
) -> dict[int, tuple[int, int]]:
    """Until both views give every worker `expected(pid)`; the last reading when they never do."""
    deadline = time.monotonic() + FIGURES_TIMEOUT_S
    while True:
        status, metrics = h2_figures(master, metrics_port)
        wanted = {pid: expected(pid) for pid in status}
        if (status == wanted and metrics == wanted) or time.monotonic() > deadline:
            assert metrics == status, "/metrics and serve status disagree"
            return status
        time.sleep(0.1)


def text_status(master: Master) -> str:
    """Plain `serve status -c CONFIG`."""
    command = [sys.executable, "-m", "supervisor", "status", "-c", str(master.config)]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=True).stdout


def held_by(master: Master, start: int, count: int) -> int:
    """The pid of the worker whose app said "hold started" `count` times since log line `start`."""
    pattern = LINE_START + r"api\[(\d+)\] system_apps: hold started"
    deadline = time.monotonic() + FIGURES_TIMEOUT_S
    while True:
        found = [
            (index, m) for index, line in enumerate(master.lines) if index >= start and (m := re.search(pattern, line))
        ]
        pids = [int(m.group(1)) for _, m in found]
        if len(pids) >= count or time.monotonic() > deadline:
            assert len(pids) == count, master.output
            assert len(set(pids)) == 1, master.output
            return pids[0]
        # The next such line, after the last one seen (bounded by wait_for_line's own timeout).
        master.wait_for_line(pattern, start=found[-1][0] + 1 if found else start)


def test_open_http2_connections_and_streams_are_counted_on_their_worker(tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    release = tmp_path / "release"
    with serve_up(tmp_path, config_text(port, metrics_port), {"api": 2}) as master:
        assert set(wait_for_figures(master, metrics_port, lambda pid: (0, 0)).values()) == {(0, 0)}
        start = master.mark()
        with H2Client.connect("127.0.0.1", port) as client:
            streams = [client.request("GET", f"/hold?until={release}") for _ in range(2)]
            worker = held_by(master, start, 2)
            figures = wait_for_figures(master, metrics_port, lambda pid: (1, 2) if pid == worker else (0, 0))
            assert figures[worker] == (1, 2)
            assert [value for pid, value in figures.items() if pid != worker] == [(0, 0)]
            lines = text_status(master).splitlines()
            assert "  1 h2 conns  2 h2 streams  " in next(line for line in lines if line.startswith("api  "))
            assert "  1 h2 conns  2 h2 streams  " in next(line for line in lines if line.startswith(f"  pid {worker} "))
            release.touch()
            assert [client.response(stream)[0] for stream in streams] == [200, 200]
            # Answered, the connection still open: no stream is.
            assert wait_for_figures(master, metrics_port, lambda pid: (1, 0) if pid == worker else (0, 0))[worker] == (
                1,
                0,
            )
        assert set(wait_for_figures(master, metrics_port, lambda pid: (0, 0)).values()) == {(0, 0)}


def test_reset_streams_and_a_lost_connection_leave_no_count_behind(tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    release = tmp_path / "release"
    with serve_up(tmp_path, config_text(port, metrics_port), {"api": 2}) as master:
        start = master.mark()
        client = H2Client.connect("127.0.0.1", port)
        try:
            streams = [client.request("GET", f"/hold?until={release}") for _ in range(2)]
            worker = held_by(master, start, 2)
            assert wait_for_figures(master, metrics_port, lambda pid: (1, 2) if pid == worker else (0, 0))[worker] == (
                1,
                2,
            )
            client.conn.reset_stream(streams[0], ErrorCodes.CANCEL)
            client.flush()
            assert wait_for_figures(master, metrics_port, lambda pid: (1, 1) if pid == worker else (0, 0))[worker] == (
                1,
                1,
            )
        finally:
            client.close()  # a stream still open: the connection is lost under it
        assert set(wait_for_figures(master, metrics_port, lambda pid: (0, 0)).values()) == {(0, 0)}
        release.touch()  # the held apps finish and the master stops without waiting for them


def limits_broken(master: Master, metrics_port: int) -> tuple[int, dict[int, int], dict[int, float]]:
    """The app's count of broken HTTP/2 limits, and each worker's in `serve status --json` and in /metrics."""
    app: dict[str, Any] = serve_status(master.config)["apps"][0]
    status = {w["pid"]: w["h2_limits_exceeded"] for w in app["workers"]}
    scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
    metrics = {
        int(sample.labels["pid"]): sample.value
        for family in text_string_to_metric_families(scraped)
        for sample in family.samples
        if sample.name == "serve_worker_h2_limits_exceeded_total"
    }
    return app["h2_limits_exceeded"], status, metrics


def test_a_connection_closed_for_a_broken_limit_is_counted_on_its_worker(tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    config = config_text(port, metrics_port, extra="h2_control_frame_budget = 50\n")
    with serve_up(tmp_path, config, {"api": 2}) as master:
        assert limits_broken(master, metrics_port)[0] == 0
        start = master.mark()
        with H2Client.connect("127.0.0.1", port) as client:
            client.send_raw(frame(6, payload=bytes(8)) * 200)  # a PING flood
            assert client.goaway().error_code == ErrorCodes.ENHANCE_YOUR_CALM
            client.wait_closed()
        pattern = LINE_START + r"api\[(\d+)\] .*HTTP/2 connection from .* closed: more than 50 control frames"
        worker = int(master.wait_for_line(pattern, start=start).group(1))
        deadline = time.monotonic() + FIGURES_TIMEOUT_S
        while (figures := limits_broken(master, metrics_port))[0] != 1 and time.monotonic() < deadline:
            time.sleep(0.1)  # the worker's next flush carries it
        total, status, metrics = figures
        assert total == 1
        assert status == {pid: int(pid == worker) for pid in status}
        assert metrics == {pid: float(count) for pid, count in status.items()}
        line = next(line for line in text_status(master).splitlines() if line.startswith(f"  pid {worker} "))
        assert "  1 h2 limits broken  " in line
        # Only the abusive connection ended: a well-behaved client is served at once.
        with H2Client.connect("127.0.0.1", port) as fresh:
            assert fresh.response(fresh.request("GET", "/"), timeout=5)[0] == 200
