"""Workers whose master dies (SIGKILL, the OOM killer) drain and exit instead of serving on unsupervised."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest
from support import ServeProcess

pytestmark = pytest.mark.system


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_workers_stop_when_their_master_is_killed(tmp_path: Path) -> None:
    config = tmp_path / "serve.toml"
    config.write_text(
        '[server]\ncontrol_socket = "control.sock"\ngraceful_timeout = 3\n\n'
        f'[apps.web]\napp = "supervisor.demo.hello:app"\nbind = ["unix:{tmp_path / "web.sock"}"]\nworkers = 2\n'
    )
    process = ServeProcess(["up", "-c", str(config)])
    process.wait_for_line(r"web: 2 workers of generation 1 ready")
    workers = {int(pid) for pid in re.findall(r"web\[(\d+)\]", process.output)}
    assert len(workers) == 2
    process.send_signal(signal.SIGKILL)
    process.wait_exit()
    deadline = time.monotonic() + 15
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    leftover = [pid for pid in workers if alive(pid)]
    for pid in leftover:  # never leave them behind, even when the test fails
        os.kill(pid, signal.SIGKILL)
    assert leftover == []
