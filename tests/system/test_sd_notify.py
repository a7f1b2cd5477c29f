"""sd_notify: a datagram socket in the test stands in for systemd's NOTIFY_SOCKET."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import APPS_DIR, ServeProcess

pytestmark = pytest.mark.system


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10)
    yield sock, path
    sock.close()


def next_message(sock: socket.socket, key: str, timeout: float = 15.0) -> dict[str, str]:
    """The next datagram carrying `key`, as a dict (others are skipped), within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        fields = dict(line.split("=", 1) for line in sock.recv(4096).decode().splitlines())
        if key in fields:
            return fields
    raise AssertionError(f"no {key} from the master within {timeout}s")


def test_ready_reloading_stopping_and_the_watchdog(tmp_path: Path, notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    config = tmp_path / "serve.toml"
    config.write_text(
        '[server]\ncontrol_socket = "control.sock"\ngraceful_timeout = 3\n\n'
        f'[apps.hello]\napp = "system_apps:app"\napp_dir = "{APPS_DIR}"\n'
        f'bind = ["unix:{tmp_path / "hello.sock"}"]\nworkers = 2\n'
    )
    process = ServeProcess(["up", "-c", str(config)], env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"})
    try:
        ready = next_message(sock, "READY")
        assert ready["READY"] == "1"
        assert ready["STATUS"] == "1 apps, 2/2 workers ready, 0 req/s"
        assert next_message(sock, "WATCHDOG")["WATCHDOG"] == "1"
        # Only the master reports to systemd: its workers never see NOTIFY_SOCKET.
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(tmp_path / "hello.sock"))) as client:
            assert client.get("http://hello/env?name=NOTIFY_SOCKET").text == "<unset>"
        process.send_signal(signal.SIGHUP)
        reloading = next_message(sock, "RELOADING")
        assert int(reloading["MONOTONIC_USEC"]) <= time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        assert next_message(sock, "READY")["READY"] == "1"
        process.send_signal(signal.SIGTERM)
        assert next_message(sock, "STOPPING")["STOPPING"] == "1"
        assert process.wait_exit() == 0
    finally:
        if process.proc.poll() is None:
            process.stop()
