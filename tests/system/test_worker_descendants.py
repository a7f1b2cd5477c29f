"""Processes an app starts end with the worker that started them; the master's descriptors stay bounded.

A worker leads a process group of its own. When the master reaps it (retired, crashed, at a
stop), the group gets SIGTERM, and SIGKILL GROUP_GRACE_S later; a process that left the
group (start_new_session=True) survives, and the master closes the worker's output pipe
PIPE_GRACE_S after the reap whoever still holds its write end (tests/apps/descendant_apps.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from master_support import Master, app_table, free_port, get, serve_up, server_table
from support import ROOT

from supervisor.master.output import PIPE_GRACE_S
from supervisor.master.processes import GROUP_GRACE_S

SLACK_S = 4.0  # a loaded 2-core box: a reap, a poll of the loop, a replacement's fork


def config(port: int, *, max_requests: int | None) -> str:
    limit = f"max_requests = {max_requests}\n" if max_requests is not None else ""
    return server_table(graceful_timeout=3) + app_table(
        "api", bind=[f"127.0.0.1:{port}"], workers=1, target="descendant_apps:app", extra=limit
    )


def gone(pid: int) -> bool:
    """No such process, or only its zombie (ended; its new parent has not reaped it yet)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def group_of(pid: int) -> int | None:
    """Its process group, None once it is gone."""
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_until(what: str, condition: Callable[[], bool], timeout: float) -> float:
    """Poll `condition` every 20 ms until it holds; returns when (monotonic). AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout:g} s")
        time.sleep(0.02)
    return time.monotonic()


@contextlib.contextmanager
def helpers_cleaned() -> Iterator[list[int]]:
    """The helper pids a test records, killed afterwards if the test left any (by pid, only our own)."""
    pids: list[int] = []
    try:
        yield pids
    finally:
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                helper = psutil.Process(pid)
                command = helper.cmdline()
                if command[:2] == ["sleep", "600"] or "signal.SIG_IGN" in " ".join(command):
                    helper.kill()


def spawn(port: int, path: str, pids: list[int]) -> tuple[int, int]:
    """GET `path`: (the worker that answered, the helper it started, recorded in `pids`)."""
    worker, helper = get(("127.0.0.1", port), path)
    pids.append(int(helper))
    return worker, int(helper)


def wait_worker_reaped(master: Master, worker: int) -> float:
    """Until the master reaped `worker` (no longer its child, not even a zombie); returns when."""
    return wait_until(f"worker {worker} reaped", lambda: worker not in _children(master), 10.0)


def _children(master: Master) -> set[int]:
    return {child.pid for child in psutil.Process(master.pid).children()}


@pytest.mark.timeout(40)
def test_helpers_end_with_their_retired_worker_and_the_masters_descriptors_come_back(tmp_path: Path) -> None:
    port = free_port()
    with helpers_cleaned() as pids, serve_up(tmp_path, config(port, max_requests=2), {"api": 1}) as master:
        baseline = open_fds(master.pid)
        # max_requests = 2: one request and its worker is near its limit; replaced, it is retired
        # STANDBY_S (2 s) later at the latest (master/roster.py).
        for _ in range(2):
            mark = master.mark()
            worker, helper = spawn(port, "/spawn", pids)
            assert group_of(helper) in (worker, None)  # in the worker's group (unless ended already)
            wait_worker_reaped(master, worker)
            wait_until(f"helper {helper} of retired worker {worker} gone", lambda h=helper: gone(h), SLACK_S)  # type: ignore[misc]
            replacement = master.worker_started("api", start=mark)
            assert replacement != worker
        # Every old pipe closed (end of file: nothing holds it any more), the new worker's open.
        wait_until(f"the master's descriptors back to {baseline}", lambda: open_fds(master.pid) == baseline, SLACK_S)
        spawn(port, "/spawn", pids)
        assert master.stop() == 0
        left = [pid for pid in pids if not gone(pid)]
        assert left == [], f"helpers alive after the stop: {left}"


@pytest.mark.timeout(40)
def test_a_stop_waits_for_every_helper_and_kills_the_stubborn_one(tmp_path: Path) -> None:
    port = free_port()
    with helpers_cleaned() as pids, serve_up(tmp_path, config(port, max_requests=None), {"api": 1}) as master:
        spawn(port, "/spawn", pids)
        spawn(port, "/spawn", pids)
        spawn(port, "/stubborn", pids)
        started = time.monotonic()
        stop = subprocess.run(
            [sys.executable, "-m", "supervisor", "stop", "-c", str(master.config)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=20,
            check=False,
        )
        assert stop.returncode == 0, stop.stderr
        assert master.wait_exit(timeout=3 + GROUP_GRACE_S + SLACK_S) == 0
        took = time.monotonic() - started
        left = [pid for pid in pids if not gone(pid)]
        assert left == [], f"helpers alive after the stop: {left}"
        assert took < 3 + GROUP_GRACE_S + SLACK_S, f"the stop took {took:.1f} s"


@pytest.mark.timeout(40)
def test_a_stubborn_helper_is_killed_after_the_grace_and_a_daemon_survives_with_its_pipe_closed(
    tmp_path: Path,
) -> None:
    # One retirement for both (their graces run side by side): max_requests = 3, so the worker
    # is near its limit after the second request and retired once its replacement is ready.
    port = free_port()
    with helpers_cleaned() as pids, serve_up(tmp_path, config(port, max_requests=3), {"api": 1}) as master:
        baseline = open_fds(master.pid)
        mark = master.mark()
        worker, stubborn = spawn(port, "/stubborn", pids)
        same, daemon = spawn(port, "/daemon", pids)
        assert same == worker
        assert group_of(daemon) == daemon  # it left the worker's group, and holds the worker's stdout
        reaped_at = wait_worker_reaped(master, worker)
        assert master.worker_started("api", start=mark) != worker  # its pipe is open: the old one alone is counted
        ended_at = wait_until(f"stubborn helper {stubborn} gone", lambda: gone(stubborn), GROUP_GRACE_S + SLACK_S)
        # It outlived the SIGTERM sent at the reap: SIGKILL at the end of the grace ended it.
        assert ended_at - reaped_at > GROUP_GRACE_S - 1.0, f"gone {ended_at - reaped_at:.1f} s after the reap"
        closed_at = wait_until(
            f"the master's descriptors back to {baseline}",
            lambda: open_fds(master.pid) == baseline,
            PIPE_GRACE_S + SLACK_S,
        )
        # The pipe was closed at the end of its grace, not at an end of file the daemon never gave.
        assert closed_at - reaped_at > PIPE_GRACE_S - 1.0
        assert not gone(daemon), "a helper that left the worker's group on purpose was ended"
        assert master.stop() == 0
        assert not gone(daemon), "the stop ended a helper that left the worker's group on purpose"
        os.kill(daemon, signal.SIGKILL)
