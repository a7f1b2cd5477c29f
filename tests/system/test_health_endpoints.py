"""[server] health_bind: /livez and /readyz for orchestrators, answered by the master's own loop."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest
from support import ServeProcess

pytestmark = pytest.mark.system


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_readyz_is_ready_once_every_app_has_a_worker_and_503_while_draining(tmp_path: Path) -> None:
    health = free_port()
    config = tmp_path / "serve.toml"
    config.write_text(
        f'[server]\ncontrol_socket = "control.sock"\ngraceful_timeout = 5\nhealth_bind = "127.0.0.1:{health}"\n\n'
        f'[apps.hello]\napp = "supervisor.demo.hello:app"\nbind = ["unix:{tmp_path / "hello.sock"}"]\n'
        f'workers = 1\n\n[apps.slow]\napp = "system_apps:app"\napp_dir = "{Path(__file__).parent.parent / "apps"}"\n'
        f'bind = ["unix:{tmp_path / "slow.sock"}"]\nworkers = 1\n'
    )
    process = ServeProcess(["up", "-c", str(config)])
    base = f"http://127.0.0.1:{health}"
    try:
        # The master's first line, as every later one, starts with the time (log_timestamps).
        process.wait_for_line(
            r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}[+-]\d{4} INFO: +Serving /livez /readyz on 127.0.0.1:"
        )
        process.wait_for_line(r"hello: 1 worker of generation 1 ready")
        process.wait_for_line(r"slow: 1 worker of generation 1 ready")
        assert httpx.get(f"{base}/livez", timeout=5).status_code == 200
        ready = httpx.get(f"{base}/readyz", timeout=5)
        assert (ready.status_code, ready.text) == (200, "ready: every app has a ready worker\n")
        assert httpx.get(f"{base}/nope", timeout=5).status_code == 404
        assert httpx.post(f"{base}/readyz", timeout=5).status_code == 405
        # Hold a request open so the drain takes a while, then stop: readiness turns 503 first.
        release = tmp_path / "release"
        slow = ServeProcess(
            [],
            command=["curl", "-s", "--unix-socket", str(tmp_path / "slow.sock"), f"http://slow/hold?until={release}"],
        )
        process.wait_for_line(r"slow\[\d+\] system_apps: hold started")
        mark = len(process.lines)
        process.send_signal(15)
        process.wait_for_line(r"Stopping every app", start=mark)
        draining = httpx.get(f"{base}/readyz", timeout=5)
        assert (draining.status_code, draining.text) == (503, "stopping\n")
        release.touch()
        assert slow.wait_exit() == 0
        assert len(slow.output) > 0  # the held request was answered in full before the worker left
    finally:
        assert process.stop() == 0
