"""The master's remaining signals: USR1 reopens log files, QUIT stops at once, INT twice too."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest
from support import APPS_DIR, ServeProcess

pytestmark = pytest.mark.system


def start(tmp_path: Path, *, log_file: Path | None = None) -> tuple[ServeProcess, Path]:
    sock = tmp_path / "app.sock"
    extra = f'log_file = "{log_file}"\n' if log_file else ""
    config = tmp_path / "serve.toml"
    config.write_text(
        '[server]\ncontrol_socket = "control.sock"\ngraceful_timeout = 20\n\n'
        f'[apps.web]\napp = "system_apps:app"\napp_dir = "{APPS_DIR}"\nbind = ["unix:{sock}"]\nworkers = 2\n{extra}'
    )
    process = ServeProcess(["up", "-c", str(config)])
    process.wait_for_line(r"web: 2 workers of generation 1 ready")
    return process, sock


def get(sock: Path, path: str) -> int:
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), timeout=10) as client:
        return client.get(f"http://web{path}").status_code


def wait_for_text(path: Path, text: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never reached {path}")


def test_usr1_reopens_log_files_after_they_were_moved(tmp_path: Path) -> None:
    log = tmp_path / "web.log"
    process, sock = start(tmp_path, log_file=log)
    try:
        get(sock, "/before-rotation")
        wait_for_text(log, "/before-rotation")
        rotated = tmp_path / "web.log.1"
        log.rename(rotated)  # what logrotate does
        mark = len(process.lines)
        process.send_signal(signal.SIGUSR1)
        process.wait_for_line(r"Log files closed", start=mark)  # the master took the signal
        get(sock, "/after-rotation")
        wait_for_text(log, "/after-rotation")
        assert "/after-rotation" not in rotated.read_text()
    finally:
        assert process.stop() == 0


@pytest.mark.parametrize("how", ["quit", "interrupt-twice"])
def test_an_immediate_stop_does_not_wait_for_the_drain(tmp_path: Path, how: str) -> None:
    process, sock = start(tmp_path)
    # A request that never finishes: a graceful stop would wait graceful_timeout (20 s) for it.
    held = ServeProcess.from_command(
        ["curl", "-s", "--unix-socket", str(sock), f"http://web/hold?until={tmp_path / 'never'}"]
    )
    process.wait_for_line(r"web\[\d+\] system_apps: hold started")
    started = time.monotonic()
    if how == "quit":
        process.send_signal(signal.SIGQUIT)
    else:
        process.send_signal(signal.SIGINT)
        process.wait_for_line(r"Stopping every app \(gracefully\)")
        process.send_signal(signal.SIGINT)
    assert process.wait_exit(15) == 0
    assert time.monotonic() - started < 15  # generous: the point is not waiting 20 s
    process.wait_for_line(r"web: stopping now")
    held.wait_exit()  # its connection was cut
