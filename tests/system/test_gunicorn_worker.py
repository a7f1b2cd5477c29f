"""gunicorn keeps its arbiter, serve's core serves: `gunicorn app:app -k supervisor.workers.Worker`."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from support import ServeProcess

pytestmark = pytest.mark.system
gunicorn = pytest.importorskip("gunicorn", reason="gunicorn is in the test extra")


def start(tmp_path: Path, *options: str, worker: str = "supervisor.workers.Worker") -> tuple[ServeProcess, Path]:
    sock = tmp_path / "gunicorn.sock"
    command = [sys.executable, "-m", "gunicorn", "supervisor.demo.hello:app", "-k", worker, "--bind", f"unix:{sock}"]
    process = ServeProcess.from_command([*command, *options])
    return process, sock


def pids_seen(sock: Path, requests: int) -> list[int]:
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), timeout=10) as client:
        return [client.get("http://g/json").json()["pid"] for _ in range(requests)]


@pytest.mark.parametrize("worker", ["supervisor.workers.Worker", "supervisor.workers.H11Worker"])
def test_gunicorn_serves_through_serve_and_honours_max_requests(tmp_path: Path, worker: str) -> None:
    # A TERM that reaches a worker gunicorn has just forked, before the worker sets its own signal
    # handlers, is taken by the arbiter's inherited handler and lost (gunicorn's race, for every
    # worker class): the arbiter then kills that worker at --graceful-timeout, kept short here.
    process, sock = start(
        tmp_path, "--workers", "2", "--max-requests", "5", "--timeout", "2", "--graceful-timeout", "5", worker=worker
    )
    try:
        process.wait_for_line(r"Booting worker with pid")
        process.wait_for_line(r"serve running on unix:")
        first = pids_seen(sock, 4)
        time.sleep(3)  # deliberately longer than --timeout: the heartbeat keeps the workers alive
        assert "WORKER TIMEOUT" not in process.output
        seen = first + pids_seen(sock, 26)
        # 30 requests over 2 workers retiring after 5 each: gunicorn had to replace several.
        assert len(set(seen)) >= 4
        process.wait_for_line(r"Maximum request limit of 5 reached")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait_exit(30) == 0


def test_a_worker_whose_gunicorn_arbiter_died_stops_by_itself(tmp_path: Path) -> None:
    process, _ = start(tmp_path, "--workers", "1", "--timeout", "2")
    worker = 0
    try:
        worker = int(process.wait_for_line(r"Booting worker with pid: (\d+)").group(1))
        process.wait_for_line(r"serve running on unix:")
        process.send_signal(signal.SIGKILL)  # the arbiter goes without a word to its worker
        process.proc.wait(10)
        process.wait_for_line(r"Parent changed, shutting down")
        deadline = time.monotonic() + 15
        while psutil.pid_exists(worker) and psutil.Process(worker).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, f"the orphaned worker {worker} still runs"
            time.sleep(0.1)
    finally:
        if worker and psutil.pid_exists(worker):
            psutil.Process(worker).kill()
        process.wait_exit(10)
