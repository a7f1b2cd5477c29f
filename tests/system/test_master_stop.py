"""Stopping `serve up`: SIGTERM lets requests in flight finish, and a worker that cannot drain is killed."""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from master_support import app_table, free_port, get, serve_up, server_table

pytestmark = pytest.mark.system


def test_sigterm_lets_the_slow_request_in_flight_finish_then_the_master_exits_0(tmp_path: Path) -> None:
    port = free_port()
    config = server_table(graceful_timeout=10) + app_table("api", bind=[f"127.0.0.1:{port}"], workers=2)
    with serve_up(tmp_path, config, {"api": 2}) as master, ThreadPoolExecutor(1) as pool:
        slow = pool.submit(get, ("127.0.0.1", port), "/slow?seconds=1.5")
        pid = int(master.wait_for_line(r"\bapi\[(\d+)\] master_apps: slow started").group(1))
        mark = master.mark()
        master.send_signal(signal.SIGTERM)
        master.wait_for_line(rf"\bapi\[{pid}\] .*Waiting for 1 connection\(s\) to finish", start=mark)
        assert slow.result(timeout=10) == (pid, "v0")
        assert master.wait_exit(10) == 0, master.output
        master.wait_for_line(rf"\bapi\[{pid}\] .*Finished server process", start=mark)
        assert not [line for line in master.lines[mark:] if "SIGKILL" in line or "timed out" in line]


def test_worker_that_cannot_drain_is_killed_after_graceful_timeout_and_the_master_exits(tmp_path: Path) -> None:
    port = free_port()
    # The health check would kill the blocked worker first: give it longer than the drain limit.
    config = server_table(healthcheck_timeout=20, graceful_timeout=2) + app_table(
        "api", bind=[f"127.0.0.1:{port}"], workers=2
    )
    with serve_up(tmp_path, config, {"api": 2}) as master, ThreadPoolExecutor(1) as pool:
        stuck = pool.submit(get, ("127.0.0.1", port), "/block?seconds=30")
        pid = int(master.wait_for_line(r"\bapi\[(\d+)\] master_apps: block started").group(1))
        mark = master.mark()
        signalled = time.monotonic()
        master.send_signal(signal.SIGTERM)
        master.wait_for_line(rf"api\[{pid}\] still draining after 2 s: SIGKILL", start=mark)
        assert master.wait_exit(10) == 0, master.output
        assert time.monotonic() - signalled < 10
        with pytest.raises(AssertionError, match="connection closed before a complete response"):
            stuck.result(timeout=10)
