"""`serve logs`: the lines a running master kept, per app and in all, then following new ones until Ctrl-C."""

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
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from master_support import Master, app_table, get, serve_up, server_table
from support import ROOT, ServeProcess

pytestmark = pytest.mark.system

MARKER = "master_apps: slow started"  # what master_apps prints for /slow
WAIT_S = 20.0


def serve_logs(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "supervisor", "logs", "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.fixture
def master(tmp_path: Path) -> Iterator[Master]:
    config = server_table() + app_table("web", bind=[f"unix:{tmp_path / 'web.sock'}"], workers=2)
    config += app_table("api", bind=[f"unix:{tmp_path / 'api.sock'}"], workers=1)
    with serve_up(tmp_path, config, {"web": 2, "api": 1}) as running:
        yield running


def test_the_latest_lines_of_one_app_of_all_and_of_the_master(master: Master, tmp_path: Path) -> None:
    start = master.mark()
    get(str(tmp_path / "web.sock"), "/slow?seconds=0")
    pid = int(master.wait_for_line(rf"\bweb\[(\d+)\] {MARKER}", start=start).group(1))

    web = serve_logs(master.config, "web", "-n", "20")
    assert web.returncode == 0, web.stderr
    assert f"web[{pid}] {MARKER}" in web.stdout.splitlines()
    assert all(line.startswith("web[") for line in web.stdout.splitlines())

    last = serve_logs(master.config, "web", "-n", "2").stdout.splitlines()
    assert len(last) == 2  # the marker, then the access line of its request
    assert last[0] == f"web[{pid}] {MARKER}"

    every = serve_logs(master.config).stdout.splitlines()
    sources = {match.group(1) for line in every if (match := re.match(r"^([\w-]+)\[\d+\] ", line))}
    assert sources == {"web", "api", "serve"}  # the master's own lines too, as "serve[pid]"
    assert every.index(f"web[{pid}] {MARKER}") > max(
        index for index, line in enumerate(every) if re.match(r"^api\[\d+\] .*serve running on", line)
    )  # arrival order: the marker came after the api worker started

    own = serve_logs(master.config, "master").stdout.splitlines()
    assert own
    assert all(line.startswith(f"serve[{master.pid}] ") for line in own)
    assert any("web: 2 workers of generation 1 ready" in line for line in own)


def test_follow_shows_a_line_printed_after_it_started_until_interrupted(master: Master, tmp_path: Path) -> None:
    follower = ServeProcess(["logs", "-c", str(master.config), "web", "-n", "5", "-f"])
    try:
        follower.wait_for_line(r"^web\[\d+\] .*serve running on", timeout=WAIT_S)  # its first answer is in
        assert MARKER not in follower.output
        get(str(tmp_path / "web.sock"), "/slow?seconds=0")
        follower.wait_for_line(rf"^web\[\d+\] {MARKER}$", timeout=WAIT_S)
        seen = len(follower.lines)
        get(str(tmp_path / "api.sock"), "/slow?seconds=0")  # another app's line is not shown
        get(str(tmp_path / "web.sock"), "/slow?seconds=0")
        follower.wait_for_line(rf"^web\[\d+\] {MARKER}$", timeout=WAIT_S, start=seen)
    finally:
        follower.send_signal(signal.SIGINT)
        code = follower.wait_exit(timeout=10)
    assert code == 0, follower.output
    assert not any(line.startswith("api[") for line in follower.lines)
    assert "Traceback" not in follower.output


def test_an_unknown_app_is_a_usage_error_naming_the_apps(master: Master) -> None:
    result = serve_logs(master.config, "nope")
    assert result.returncode == 2
    assert "no app named 'nope' (apps: web, api; master for the master's own lines)" in result.stderr
    assert result.stdout == ""


def test_without_a_master_it_says_so(tmp_path: Path) -> None:
    config = tmp_path / "serve.toml"
    config.write_text(server_table() + app_table("web", bind=[f"unix:{tmp_path / 'web.sock'}"], workers=1))
    result = serve_logs(config)
    assert result.returncode == 1
    assert "no master is running" in result.stderr


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (scripts/test installs it)")
def test_it_works_while_the_dashboard_runs(tmp_path: Path) -> None:
    config = tmp_path / "serve.toml"
    config.write_text(
        server_table()
        + 'pid_file = "serve.pid"\n\n'
        + app_table("web", bind=[f"unix:{tmp_path / 'web.sock'}"], workers=1)
    )
    up = f"cd {shlex.quote(str(ROOT))} && {shlex.quote(sys.executable)} -m supervisor up -c {shlex.quote(str(config))}"
    session = f"serve-logs-{tmp_path.name}"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "45", up], check=True, timeout=10)
    try:
        ready = _poll(lambda: serve_logs(config, "master"), lambda result: "generation 1 ready" in result.stdout)
        assert all(line.startswith("serve[") for line in ready.stdout.splitlines())
        get(str(tmp_path / "web.sock"), "/slow?seconds=0")
        web = _poll(lambda: serve_logs(config, "web"), lambda result: MARKER in result.stdout)
        assert re.search(rf"^web\[\d+\] {MARKER}$", web.stdout, re.MULTILINE)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=10, check=False)
        _stop(tmp_path / "serve.pid")


def _poll(
    run: Callable[[], subprocess.CompletedProcess[str]], done: Callable[[subprocess.CompletedProcess[str]], bool]
) -> subprocess.CompletedProcess[str]:
    """Run `serve logs` until its output is `done` (the master is starting, the line on its way)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        result = run()
        if done(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"serve logs never showed it:\n{result.stdout}\n{result.stderr}")
        time.sleep(0.2)


def _stop(pid_file: Path) -> None:
    """The master, if the closed session left it running, stopped by its own pid, and waited for."""
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text())
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + WAIT_S
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
