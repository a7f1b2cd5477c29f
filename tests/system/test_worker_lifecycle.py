"""A worker's life under `serve up`: its clock under descriptor pressure, its own request and
memory limits, SIGTERM right after its fork (SIGHUP storms), and its exit when the master is gone.

Each test runs a real master with tests/apps/lifecycle_apps.py (or master_apps.py for the load
tests, whose answers carry the worker's pid) and talks to it over loopback.
"""

from __future__ import annotations

import re
import signal
import socket
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest
from master_support import (
    Load,
    Master,
    app_table,
    connect,
    free_port,
    get,
    request_bytes,
    serve_up,
    server_table,
)
from support import read_response

pytestmark = pytest.mark.system

LIFECYCLE_APP = "lifecycle_apps:app"
LOADED_HEALTHCHECK_S = 5  # busy workers on a busy 2-core machine must not be taken for hung ones


def forced_exits(master: Master) -> list[str]:
    """Log lines saying a worker was killed, or left without being asked."""
    return [line for line in master.lines if re.search(r"SIGKILL|SIGABRT|was killed|exited with code", line)]


def wait_gone(process: psutil.Process, timeout: float) -> bool:
    """Whether `process` (not our child: whoever adopted it reaps it, or not) ended within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)  # polling a process we cannot wait() on
    return False


def date_of(address: tuple[str, int]) -> str:
    with connect(address) as sock:
        sock.sendall(request_bytes("/", close=True))
        status, headers, _ = read_response(sock, 10)
    assert status == 200
    return str(headers["date"])


def test_the_clock_survives_descriptor_exhaustion(tmp_path: Path) -> None:
    """EMFILE inside a tick (the RSS read opens /proc) used to stop the clock for good."""
    port = free_port()
    address = ("127.0.0.1", port)
    config = server_table(healthcheck_timeout=2) + app_table(
        "api", bind=[f"127.0.0.1:{port}"], workers=1, target=LIFECYCLE_APP, extra="timeout_keep_alive = 1\n"
    )
    with serve_up(tmp_path, config, {"api": 1}) as master:
        (pid,) = master.worker_pids("api")
        # Held for longer than healthcheck_timeout: a worker whose heartbeat stopped would be killed meanwhile.
        answered, text = get(address, "/exhaust?hold=3", timeout=15)
        assert answered == pid
        assert text.startswith("freed ")
        master.wait_for_line(rf"\bapi\[{pid}\] .*cannot read resident memory .*Too many open files")  # it did bite
        # Idle past timeout_keep_alive: closed by the clock's sweep.
        with connect(address) as idle:
            idle.sendall(request_bytes("/"))
            assert read_response(idle, 5)[0] == 200
            idle.settimeout(5)
            started = time.monotonic()
            assert idle.recv(1) == b""
            assert time.monotonic() - started < 4
        first = date_of(address)
        time.sleep(1.1)  # the Date header has a one-second granularity: this is what is measured
        assert date_of(address) != first
        assert get(address)[0] == pid  # the same worker: never taken for a hung one
        assert forced_exits(master) == []


def test_a_sighup_storm_under_load_drains_every_old_worker_in_time(tmp_path: Path) -> None:
    """Workers retired while starting (SIGTERM right after the fork) must stop, not serve on until killed.

    Twenty SIGHUPs 30 ms apart, with the 2 cores saturated: forks wait to be scheduled, and a
    generation superseded at once gets SIGTERM in the first moments of its workers' lives.
    """
    port = free_port()
    config = server_table(healthcheck_timeout=LOADED_HEALTHCHECK_S, graceful_timeout=6) + app_table(
        "api", bind=[f"127.0.0.1:{port}"], workers=3
    )
    with serve_up(tmp_path, config, {"api": 3}) as master, Load(("127.0.0.1", port), threads=8) as load:
        load.wait_for(lambda report: len(report.answers) >= 100)
        for _ in range(20):
            master.send_signal(signal.SIGHUP)
            time.sleep(0.03)  # a storm, not a burst the kernel would merge into one pending signal
        wait_settled(master, "api")
        report = load.stop()
    assert not report.failures, load.summary()
    assert not report.refused, load.summary()
    assert forced_exits(master) == [], master.output


def wait_settled(master: Master, app: str, timeout: float = 15.0) -> None:
    """Until the newest generation started serves alone (every older worker exited)."""
    deadline = time.monotonic() + timeout
    started = re.compile(rf"{re.escape(app)}: starting generation (\d+)")

    def newest() -> int:
        return max(int(m.group(1)) for line in master.lines if (m := started.search(line)))

    while True:
        target = newest()
        try:  # in short waits: a reload still coming in supersedes the target
            master.wait_for_line(
                rf"{re.escape(app)}: generation {target} serving; every older worker has exited",
                timeout=min(1.0, max(deadline - time.monotonic(), 0.1)),
            )
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            continue
        if newest() == target:
            return


def test_a_worker_retired_right_after_its_fork_stops_at_once(tmp_path: Path) -> None:
    """The storm's mechanism, made certain: SIGTTIN then SIGTTOU retires the worker just forked."""
    port = free_port()
    config = server_table(graceful_timeout=8) + app_table("api", bind=[f"127.0.0.1:{port}"], workers=1)
    with serve_up(tmp_path, config, {"api": 1}) as master:
        (first,) = master.worker_pids("api")
        master_process = psutil.Process(master.pid)
        for _ in range(5):
            mark = master.mark()
            master.send_signal(signal.SIGTTIN)
            master.wait_for_line(r"api: 1 -> 2 workers", start=mark)
            master.send_signal(signal.SIGTTOU)  # at once: the new worker is still being forked or importing
            master.wait_for_line(r"api\[\d+\] retiring: scaled down to 1", start=mark)
        # A worker that lost its SIGTERM would start, serve, and be SIGKILLed 8 s later.
        deadline = time.monotonic() + 5
        while [child.pid for child in master_process.children()] != [first]:
            assert time.monotonic() < deadline, [child.pid for child in master_process.children()]
            time.sleep(0.05)  # polling the master's children: no line marks a planned exit
        assert get(("127.0.0.1", port))[0] == first
        assert forced_exits(master) == []


def test_workers_keep_their_request_limit_under_load(tmp_path: Path) -> None:
    port = free_port()
    config = server_table(healthcheck_timeout=LOADED_HEALTHCHECK_S) + app_table(
        "api", bind=[f"127.0.0.1:{port}"], workers=2, extra="max_requests = 50\nmax_requests_jitter = 20\n"
    )
    threads = 4
    with serve_up(tmp_path, config, {"api": 2}) as master:
        first = master.worker_pids("api")
        with Load(("127.0.0.1", port), threads=threads, per_connection=1000) as load:
            load.wait_for(lambda report: len(set(report.pids()) - first) >= 10)
            report = load.stop()
        limits = {
            int(m.group(1)): int(m.group(2))
            for line in master.lines
            if (m := re.search(r"\bapi\[(\d+)\] .*Maximum request limit of (\d+) reached", line))
        }
        served = Counter(answer.pid for answer in report.answers)
        assert not report.failures, load.summary()
        assert not report.refused, load.summary()
        assert len(limits) >= 6, master.output
        for pid, limit in limits.items():
            assert 50 <= limit <= 70
            # One request more at most on each connection it had open (one per client thread).
            assert served[pid] <= limit + threads, (pid, served[pid], limit)
        assert max(served.values()) <= 70 + threads
        assert forced_exits(master) == [], master.output
        assert master.stop() == 0


def test_a_worker_over_max_memory_stops_accepting_at_its_next_tick(tmp_path: Path) -> None:
    """The issue measured a 224 MiB peak against 150 MiB: the worker now stops itself within a tick."""
    port = free_port()
    address = ("127.0.0.1", port)
    config = server_table() + app_table(
        "api", bind=[f"127.0.0.1:{port}"], workers=1, target=LIFECYCLE_APP, extra='max_memory = "150MiB"\n'
    )
    with serve_up(tmp_path, config, {"api": 1}) as master:
        (pid,) = master.worker_pids("api")
        with connect(address) as sock:
            for _ in range(20):
                sock.sendall(request_bytes("/grow?mib=20"))
                status, headers, body = read_response(sock, 10)
                assert (status, body.split()[0]) == (200, str(pid).encode())
                if headers.get("connection", "").lower() == "close":
                    break  # stopped accepting: this connection got its one more request
                time.sleep(0.3)  # an allocation per clock tick and a bit: what one tick lets through is measured
            else:
                pytest.fail("the worker never retired")
        noticed = master.wait_for_line(rf"\bapi\[{pid}\] .*: (\d+) MiB resident, over max_memory \(150 MiB\): retiring")
        assert int(noticed.group(1)) <= 150 + 20 + 8  # the allocation that crossed it, and some noise
        replacement, _ = get(address)
        assert replacement != pid
        assert forced_exits(master) == []


def test_an_orphaned_worker_stuck_in_a_request_leaves_after_graceful_timeout(tmp_path: Path) -> None:
    port = free_port()
    config = server_table(graceful_timeout=2) + app_table(
        "api", bind=[f"127.0.0.1:{port}"], workers=1, target=LIFECYCLE_APP
    )
    with serve_up(tmp_path, config, {"api": 1}) as master:
        (pid,) = master.worker_pids("api")
        worker = psutil.Process(pid)
        with connect(("127.0.0.1", port)) as stuck:
            stuck.sendall(request_bytes("/hang"))
            master.wait_for_line(rf"\bapi\[{pid}\] lifecycle_apps: hang started")
            master.process.proc.kill()
            master.wait_exit()
            # It notices within a tick, drains for graceful_timeout, and is gone a moment later.
            assert wait_gone(worker, timeout=10), f"worker {pid} still running 10 s after its master was killed"
        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
