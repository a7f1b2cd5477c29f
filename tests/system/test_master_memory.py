"""max_memory: a worker whose RSS grows past the limit is retired gracefully and replaced first."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from support import ServeProcess, serve_status

pytestmark = pytest.mark.system


def test_a_worker_over_max_memory_is_retired_for_memory_and_replaced(tmp_path: Path) -> None:
    sock = tmp_path / "app.sock"
    config = tmp_path / "serve.toml"
    # Every Python worker is far above 1 MiB: each is retired as soon as its RSS is seen.
    config.write_text(
        '[server]\ncontrol_socket = "control.sock"\ngraceful_timeout = 3\n\n'
        f'[apps.fat]\napp = "supervisor.demo.hello:app"\nbind = ["unix:{sock}"]\nworkers = 1\nmax_memory = "1MiB"\n'
    )
    process = ServeProcess(["up", "-c", str(config)])
    try:
        # The worker checks its own RSS once it has served a request (a fresh one is at the app's
        # baseline), then stops accepting and drains: retired, not killed.
        process.wait_for_line(r"fat\[\d+\] INFO:\s+serve running on unix:")
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), timeout=10) as client:
            assert client.get("http://fat/").status_code == 200
        process.wait_for_line(r"fat\[\d+\] WARNING:\s+\d+: \d+ MiB resident, over max_memory \(1 MiB\): retiring")
        deadline = time.monotonic() + 20
        while True:
            status = serve_status(config)
            exits = status["apps"][0]["exits"]
            if exits.get("memory", 0) >= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert exits.get("memory", 0) >= 1
        assert "crash" not in exits
        # Make before break: the app keeps answering through the retirements.
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), timeout=10) as client:
            assert all(client.get("http://fat/").status_code == 200 for _ in range(20))
    finally:
        assert process.stop() == 0
