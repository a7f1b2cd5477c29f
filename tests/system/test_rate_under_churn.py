"""The one-second request rate of an app whose workers keep retiring (max_requests) matches the real rate.

A paced load at a known rate, three workers each retiring after a few dozen requests: old and
new workers overlap all the time. The app's one-second figure must count each request once,
as its request total does.
"""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path

import pytest
from master_support import app_table, free_port, get, serve_up, server_table

from supervisor import client
from supervisor.control import Status
from supervisor.status.snapshot import AppStatus, Snapshot

pytestmark = pytest.mark.system

CLIENTS = 3
PER_CLIENT_PER_S = 40.0  # 120 requests a second in all: easy for a 2-core box, and each worker lives ~1 s


def _paced_client(address: tuple[str, int], stop: threading.Event, failures: list[str]) -> None:
    """One request every 1/PER_CLIENT_PER_S seconds, on schedule (a late request does not shift the next)."""
    step = 1.0 / PER_CLIENT_PER_S
    due = time.monotonic()
    while not stop.is_set():
        try:
            get(address, timeout=5)
        except (OSError, AssertionError) as error:  # AssertionError: not a 200
            failures.append(repr(error))
        due += step
        stop.wait(max(0.0, due - time.monotonic()))


def _app(socket_path: str) -> AppStatus:
    reply = client.request(socket_path, Status(), config_path="serve.toml", timeout=5)
    assert reply.ok, reply
    return Snapshot.from_dict(reply.result).apps[0]


def test_the_one_second_rate_counts_each_request_once_while_workers_churn(tmp_path: Path) -> None:
    port = free_port()
    control = str(tmp_path / "control.sock")
    text = (
        server_table()
        + f'control_socket = "{control}"\n\n'
        + app_table("api", bind=[f"127.0.0.1:{port}"], workers=3, extra="max_requests = 40\n")
    )
    with serve_up(tmp_path, text, {"api": 3}):
        stop = threading.Event()
        failures: list[str] = []
        clients = [
            threading.Thread(target=_paced_client, args=(("127.0.0.1", port), stop, failures), daemon=True)
            for _ in range(CLIENTS)
        ]
        for thread in clients:
            thread.start()
        try:
            stop.wait(3.0)  # the pace: the figures need their one-second window filled
            first, started = _app(control), time.monotonic()
            rates, rates_10s = [], []
            while time.monotonic() - started < 6.0:
                app = _app(control)
                rates.append(app.requests_per_s)
                rates_10s.append(app.requests_per_s_10s)
                stop.wait(0.25)
            last, ended = _app(control), time.monotonic()
        finally:
            stop.set()
            for thread in clients:
                thread.join(10)
    real = (last.requests_total - first.requests_total) / (ended - started)
    assert real > 40, (real, failures)  # the load ran (a box too slow for the pace still gets a fair test)
    assert sum(last.exits.values()) >= 6, last.exits  # workers did churn
    summary = f"real {real:.0f}/s, 1 s figures {[round(r) for r in rates]}, 10 s {rates_10s[-1]:.0f}"
    # Generous bands (the load's own pace wavers on a busy box). Summing each worker's rate over its own
    # flushes read some 0.7x the real rate here (exited workers dropped out) and 3x under wrk.
    assert 0.8 * real < statistics.mean(rates) < 1.2 * real, summary
    assert all(0.5 * real < rate < 1.6 * real for rate in rates), summary
    assert 0.6 * real < rates_10s[-1] < 1.4 * real, summary
