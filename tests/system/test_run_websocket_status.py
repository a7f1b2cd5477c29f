"""WebSockets under `serve up` (a master and its worker): counted in the status slot, closed with 1012 at stop.

Moved from tests/integration, which serves in the test process: this needs the master, its
workers, `serve status` and SIGTERM.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from support import APPS_DIR, ServeProcess
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

pytestmark = pytest.mark.system

TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def websockets_in_status(config: Path) -> int:
    done = subprocess.run(
        [sys.executable, "-m", "supervisor", "status", "--json", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    [app] = json.loads(done.stdout)["apps"]
    return int(app["websockets"])


def wait_for_count(config: Path, expected: int) -> None:
    """Poll `serve status` (workers flush their figures a few times a second) until it shows `expected`."""
    deadline = time.monotonic() + TIMEOUT_S
    while (count := websockets_in_status(config)) != expected:
        assert time.monotonic() < deadline, f"status shows {count} WebSockets, expected {expected}"
        time.sleep(0.1)


def test_open_websockets_are_counted_and_closed_with_1012_on_stop(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "serve.toml"
    config.write_text(
        '[server]\ncontrol_socket = "control.sock"\ngraceful_timeout = 5\n\n'
        f'[apps.ws]\napp = "ws_apps:app"\napp_dir = "{APPS_DIR}"\nbind = ["127.0.0.1:{port}"]\nworkers = 1\n'
    )
    process = ServeProcess(["up", "-c", str(config)])
    try:
        process.wait_for_line(r"ws: 1 worker of generation 1 ready")
        wait_for_count(config, 0)
        with ExitStack() as stack:
            clients = [stack.enter_context(open_ws(port)) for _ in range(3)]
            wait_for_count(config, 3)
            clients.pop().close()
            wait_for_count(config, 2)
            stop_and_expect_1012(process, clients)
    finally:
        if process.proc.poll() is None:
            process.stop()


def open_ws(port: int) -> ClientConnection:
    return connect(f"ws://127.0.0.1:{port}/echo", proxy=None, open_timeout=TIMEOUT_S)


def stop_and_expect_1012(process: ServeProcess, clients: list[ClientConnection]) -> None:
    process.send_signal(signal.SIGTERM)
    for client in clients:
        with pytest.raises(ConnectionClosed) as closed:
            client.recv(TIMEOUT_S)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1012
    assert process.wait_exit(TIMEOUT_S) == 0
