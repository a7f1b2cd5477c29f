"""Worker indexes under `serve up`: SERVE_WORKER_ID stays in 0..workers-1 through retirements and crashes,
and `serve status --json` shows the same index as each worker's own environment.

A real master serves tests/apps/master_apps.py, whose /env route answers with the worker's
pid and one environment variable.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from master_support import app_table, free_port, get, serve_up, server_table
from support import serve_status

pytestmark = pytest.mark.system


def index_of(address: tuple[str, int]) -> tuple[int, int]:
    """(pid, SERVE_WORKER_ID) of the worker answering one request."""
    pid, value = get(address, "/env?name=SERVE_WORKER_ID")
    return pid, int(value)


def ready_workers(config: Path) -> dict[int, int]:
    """pid -> index of the ready workers, as `serve status --json` says."""
    (app,) = serve_status(config)["apps"]
    return {worker["pid"]: worker["index"] for worker in app["workers"] if worker["state"] == "ready"}


def wait_for_workers(config: Path, count: int, *, without: int | None = None, timeout: float = 15.0) -> dict[int, int]:
    """The ready workers once there are `count` of them (none of them `without`) and no other worker."""
    deadline = time.monotonic() + timeout
    while True:
        (app,) = serve_status(config)["apps"]
        workers = {worker["pid"]: worker["index"] for worker in app["workers"]}
        ready = ready_workers(config)
        if len(ready) == count == len(workers) and without not in ready:
            return ready
        assert time.monotonic() < deadline, f"workers never settled at {count}: {app['workers']}"
        time.sleep(0.1)  # polling the master's status: there is no line to wait for


def test_indexes_stay_0_to_n_minus_1_through_retirements_and_a_killed_worker(tmp_path: Path) -> None:
    port = free_port()
    address = ("127.0.0.1", port)
    text = server_table() + app_table("api", bind=[f"127.0.0.1:{port}"], workers=2, extra="max_requests = 4\n")
    with serve_up(tmp_path, text, {"api": 2}) as master:
        assert sorted(ready_workers(master.config).values()) == [0, 1]
        _, app_name = get(address, "/env?name=SERVE_APP")
        assert app_name == "api"
        seen: dict[int, int] = {}
        for _ in range(24):  # every worker retires after 4 requests: several generations of pids
            pid, index = index_of(address)
            assert seen.setdefault(pid, index) == index  # a worker keeps its index
        assert len(seen) > 2, seen
        assert set(seen.values()) <= {0, 1}
        settled = wait_for_workers(master.config, 2)
        assert sorted(settled.values()) == [0, 1]

        victim, victim_index = next(iter(settled.items()))
        os.kill(victim, signal.SIGKILL)
        after = wait_for_workers(master.config, 2, without=victim)
        assert sorted(after.values()) == [0, 1]
        (replacement,) = set(after) - set(settled)
        assert after[replacement] == victim_index
        deadline = time.monotonic() + 10
        while True:  # the replacement's own environment says the same
            pid, index = index_of(address)
            if pid == replacement:
                assert index == victim_index
                break
            assert time.monotonic() < deadline, "the replacement never answered"
