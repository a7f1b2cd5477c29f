"""`serve top` while its master does not answer (stopped, or its loop held) and once the master is gone."""

from __future__ import annotations

import shlex
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from master_support import Master, app_table, free_port, serve_up, server_table
from support import ROOT
from test_dashboard import Tmux, row

pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (scripts/test installs it)"),
]


def _top(tmp_path: Path, config: Path) -> Tmux:
    """`serve top` in tmux; its exit code goes to tmp_path/top-exit, and the pane stays to be read."""
    top = f"{shlex.quote(sys.executable)} -m supervisor top -c {shlex.quote(str(config))}"
    command = f"cd {shlex.quote(str(ROOT))} && {top}; echo $? > {tmp_path / 'top-exit'}; sleep 60"
    return Tmux(f"serve-top-silent-{tmp_path.name}", command)


def _exit_code(tmp_path: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    path = tmp_path / "top-exit"
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < deadline, "serve top did not exit"
        time.sleep(0.05)
    return path.read_text().strip()


def _config(tmp_path: Path) -> str:
    return (
        server_table()
        + f'control_socket = "{tmp_path / "control.sock"}"\n\n'
        + app_table("api", bind=[f"127.0.0.1:{free_port()}"], workers=1)
    )


@contextmanager
def _top_of_a_running_master(tmp_path: Path) -> Iterator[tuple[Master, Tmux]]:
    """`serve top` attached to a `serve up` whose one app it shows running; both stopped afterwards."""
    with serve_up(tmp_path, _config(tmp_path), {"api": 1}) as master:
        top = _top(tmp_path, master.config)
        try:
            top.wait_for(row("api", "running", "1/1", "1", selected=True))
            yield master, top
        finally:
            top.kill()


def test_top_keeps_its_keys_while_the_master_does_not_answer_and_q_leaves_at_once(tmp_path: Path) -> None:
    with _top_of_a_running_master(tmp_path) as (master, top):
        master.send_signal(signal.SIGSTOP)
        try:
            top.wait_for(r"^the master has not answered for [2-9] s \(the figures shown are from then\)$")
            top.wait_for(row("api", "running", "1/1", "1", selected=True))  # the last frame stays
            top.keys("+")  # a command is not sent (it would wait too), and says so
            top.wait_for(r"^not sent: the master has not answered for \d+ s$")
            left = time.monotonic()
            top.keys("q")
            assert _exit_code(tmp_path, timeout=5) == "0"
            assert time.monotonic() - left < 3  # at once, not after a poll's timeout
        finally:
            master.send_signal(signal.SIGCONT)


def test_top_shows_the_master_again_once_it_answers_and_leaves_when_it_is_gone(tmp_path: Path) -> None:
    with _top_of_a_running_master(tmp_path) as (master, top):
        master.send_signal(signal.SIGSTOP)
        try:
            top.wait_for(r"^the master has not answered for \d+ s")
        finally:
            master.send_signal(signal.SIGCONT)
        top.wait_for(r"^q quit  r reload")  # it answers again: the notice is gone, the keys are back
        master.stop()
        assert _exit_code(tmp_path, timeout=10) == "1"
        top.wait_for(r"no master is running for")
