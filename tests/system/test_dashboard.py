"""The live dashboard, driven like a person would: in tmux, with send-keys, read with capture-pane."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import ROOT

from supervisor import client
from supervisor.control import Status

pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (scripts/test installs it)"),
]

SCREEN_WAIT_S = 20.0


class Tmux:
    """One detached tmux session running a command in a 160x45 terminal."""

    def __init__(self, name: str, command: str) -> None:
        self.name = name
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", name, "-x", "160", "-y", "45", command], check=True, timeout=10
        )

    def screen(self) -> str:
        result = subprocess.run(
            ["tmux", "capture-pane", "-t", self.name, "-p"], capture_output=True, text=True, timeout=10, check=False
        )
        return result.stdout

    def wait_for(self, pattern: str, timeout: float = SCREEN_WAIT_S) -> re.Match[str]:
        """Poll the screen (the dashboard redraws up to four times a second) until `pattern` shows."""
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            match = regex.search(screen)
            if match:
                return match
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} never showed; the screen:\n{screen}")
            time.sleep(0.1)

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True, timeout=10)

    def kill(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True, timeout=10, check=False)


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[tuple[Tmux, Path]]:
    sock = tmp_path / "hello.sock"
    config = tmp_path / "serve.toml"
    config.write_text(
        '[server]\ncontrol_socket = "control.sock"\ngraceful_timeout = 3\npid_file = "serve.pid"\n\n'
        f'[apps.hello]\napp = "supervisor.demo.hello:app"\nbind = ["unix:{sock}"]\nworkers = 2\n\n'
        f'[apps.stream]\napp = "supervisor.demo.stream:app"\nbind = ["unix:{tmp_path / "stream.sock"}"]\n'
        "workers = 1\n"
    )
    serve = f"{shlex.quote(sys.executable)} -m supervisor up -c {shlex.quote(str(config))}"
    # The exit code is written to a file, and the pane kept open, so the test can read both.
    command = f"cd {shlex.quote(str(ROOT))} && {serve}; echo $? > {tmp_path / 'exit'}; sleep 60"
    session = Tmux(f"serve-test-{tmp_path.name}", command)
    try:
        yield session, tmp_path
    finally:
        session.kill()
        stop_master(tmp_path / "serve.pid")


def stop_master(pid_file: Path) -> None:
    """A master still running after its test (the session is gone) is stopped by its own pid."""
    if not pid_file.exists():
        return  # it exited and removed its pid file
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + SCREEN_WAIT_S
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)


def test_the_dashboard_shows_counts_and_obeys_its_keys(dashboard: tuple[Tmux, Path]) -> None:
    tmux, tmp_path = dashboard
    tmux.wait_for(r"^▸ hello\s+running\s+2/2\s+1\s")
    tmux.wait_for(r"^  stream\s+running\s+1/1\s+1\s")
    assert len(re.findall(r"^  [├└] \d+\s+ready", tmux.screen(), re.MULTILINE)) == 3

    with httpx.Client(transport=httpx.HTTPTransport(uds=str(tmp_path / "hello.sock"))) as client:
        for _ in range(17):
            assert client.get("http://hello/").status_code == 200
    tmux.wait_for(r"^▸ hello\s+running\s+2/2\s+1\s+\S+\s+17\s")  # REQUESTS column

    tmux.keys("+")
    tmux.wait_for(r"^▸ hello\s+running\s+3/3\s+1\s")

    tmux.keys("r")
    tmux.wait_for(r"^▸ hello\s+running\s+3/3\s+2\s")  # generation 2, still three workers
    tmux.wait_for(r"^  stream\s+running\s+1/1\s+2\s")

    tmux.keys("q")
    exit_file = tmp_path / "exit"
    deadline = time.monotonic() + SCREEN_WAIT_S
    while not exit_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert exit_file.read_text().strip() == "0"
    tmux.wait_for(r"serve\[\d+\] INFO:\s+Master \d+ stopped\.")  # the last lines stay on the terminal


def test_a_master_whose_dashboard_terminal_goes_away_stops(dashboard: tuple[Tmux, Path]) -> None:
    tmux, tmp_path = dashboard
    tmux.wait_for(r"^▸ hello\s+running\s+2/2\s+1\s")
    tmux.kill()  # the terminal hangs up under the master
    deadline = time.monotonic() + SCREEN_WAIT_S
    while (tmp_path / "serve.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not (tmp_path / "serve.pid").exists()  # it stopped and cleaned up on its own


def test_serve_top_shows_the_running_master(dashboard: tuple[Tmux, Path]) -> None:
    tmux, tmp_path = dashboard
    tmux.wait_for(r"^▸ hello\s+running\s+2/2\s+1\s")
    config = tmp_path / "serve.toml"
    top = Tmux(f"serve-top-{tmp_path.name}", f"{shlex.quote(sys.executable)} -m supervisor top -c {config}")
    try:
        top.wait_for(r"^▸ hello\s+running\s+2/2\s+1\s")
        top.keys("Down", "-")  # select stream, then one worker less: it stays at one
        top.keys("Up", "+")  # select hello, one worker more
        tmux.wait_for(r"^▸ hello\s+running\s+3/3\s")  # the master's own dashboard shows the change
        top.keys("q")  # leaves top; the master keeps running
        tmux.wait_for(r"^▸ hello\s+running\s+3/3\s")
    finally:
        top.kill()


def test_a_terminal_paused_with_ctrl_s_does_not_stop_the_master(dashboard: tuple[Tmux, Path]) -> None:
    """XOFF stops the terminal from taking output; frames fill its buffer within seconds. The master
    drops frames instead of blocking: it goes on answering the control socket, and draws again on XON."""
    tmux, tmp_path = dashboard
    tmux.wait_for(r"^▸ hello\s+running\s+2/2\s+1\s")
    socket_path = str(tmp_path / "control.sock")
    tmux.keys("C-s")
    try:
        # Four frames a second of some 10 KB each: well past any pty buffer in this time.
        deadline = time.monotonic() + 6
        polls = 0
        while time.monotonic() < deadline:
            reply = client.request(socket_path, Status(), config_path="serve.toml", timeout=5)
            assert reply.ok, reply
            polls += 1
            time.sleep(0.25)
        assert polls >= 10
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(tmp_path / "hello.sock"))) as http:
            assert http.get("http://hello/").status_code == 200
    finally:
        tmux.keys("C-q")
    tmux.keys("+")  # still steerable: the keys are read, and the dashboard shows the change
    tmux.wait_for(r"^▸ hello\s+running\s+3/3\s+1\s")
