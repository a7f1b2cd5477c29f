"""`serve status` against a master whose control socket is busy, and against one that is gone.

Busy (every client slot taken and the listen backlog full) is waited out, up to the command's
timeout; a master that is gone (its socket file left behind, refusing connections) is reported
at once. Linux refuses a non-blocking unix connect to a full backlog with EAGAIN, which the
client used to report as "cannot reach the master".
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from master_support import app_table, free_port, serve_command, serve_up, server_table
from support import ROOT

from supervisor.client import DEFAULT_TIMEOUT_S
from supervisor.master.control_server import BACKLOG, CLIENT_CAP

pytestmark = pytest.mark.system

CONTROL_SOCKET = "serve.sock"  # the default: beside the TOML file
BURST = 4  # `serve status` processes started while the backlog is full
HOLD_MIN_S = 2.0  # the least time the burst must be kept waiting without giving up
FILL_TIMEOUT_S = 5.0  # less than the master gives an idle client to send its request


def config_text() -> str:
    return server_table() + app_table("api", bind=[f"127.0.0.1:{free_port()}"], workers=1)


@contextmanager
def every_slot_and_the_backlog_taken(path: str) -> Iterator[None]:
    """Idle connections to `path` until every slot is taken and the kernel refuses one more with EAGAIN,
    held open until the block ends.

    The master accepts while these connect: a refusal before CLIENT_CAP + BACKLOG are held only
    means it has not caught up yet, and the backlog will have room again.
    """
    deadline = time.monotonic() + FILL_TIMEOUT_S
    with ExitStack() as stack:
        held = 0
        while True:
            sock = stack.enter_context(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
            sock.setblocking(False)
            try:
                sock.connect(path)
            except BlockingIOError:
                if held >= CLIENT_CAP + BACKLOG:
                    break
                assert time.monotonic() < deadline, f"only {held} connections held: the master stopped accepting"
                time.sleep(0.01)  # the master is still accepting the first ones: they make room
                continue
            held += 1
            assert held < 2 * (CLIENT_CAP + BACKLOG), "the control socket's backlog never filled"
        yield


def still_full(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.setblocking(False)
        try:
            probe.connect(path)
        except BlockingIOError:
            return True
        return False


def status_process(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "supervisor", "status", "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def time_to_fail_fast(directory: Path) -> float:
    """How long a `serve status` that gives up at once takes here (start-up dominates on a loaded box)."""
    started = time.monotonic()
    result = serve_command("status", config=_without_master(directory))
    assert result.returncode == 1, result.stderr
    return time.monotonic() - started


def _without_master(directory: Path) -> Path:
    lonely = directory / "lonely"
    lonely.mkdir()
    config = lonely / "serve.toml"
    config.write_text(config_text(), encoding="utf-8")
    return config


@pytest.mark.timeout(40)
def test_status_waits_while_every_control_slot_and_the_backlog_are_taken(tmp_path: Path) -> None:
    fail_fast = time_to_fail_fast(tmp_path)
    hold = max(HOLD_MIN_S, 3 * fail_fast)  # the burst gave up long before this, had it not waited
    assert hold < DEFAULT_TIMEOUT_S / 2, f"`serve status` takes {fail_fast:.1f} s to fail here: too slow to test"
    with serve_up(tmp_path, config_text(), {"api": 1}) as master:
        path = str(master.config.parent / CONTROL_SOCKET)
        with every_slot_and_the_backlog_taken(path):
            started = time.monotonic()
            burst = [status_process(master.config) for _ in range(BURST)]
            try:
                for process in burst:
                    with pytest.raises(subprocess.TimeoutExpired):  # waiting, not failing
                        process.wait(timeout=max(started + hold - time.monotonic(), 0.01))
                assert still_full(path)  # so none of them could have connected yet
            except BaseException:
                for process in burst:
                    process.kill()
                raise
        # The idle clients hung up: the master takes the waiting commands within their timeout.
        for process in burst:
            out, err = process.communicate(timeout=DEFAULT_TIMEOUT_S)
            assert process.returncode == 0, err
            assert "api" in out
        assert time.monotonic() - started < DEFAULT_TIMEOUT_S
        assert master.process.proc.poll() is None


@pytest.mark.timeout(40)
def test_status_fails_at_once_when_the_master_is_gone_and_its_socket_file_stays(tmp_path: Path) -> None:
    with serve_up(tmp_path, config_text(), {"api": 1}) as master:
        master.send_signal(signal.SIGKILL)  # no chance to remove its socket file
        master.wait_exit()
        path = master.config.parent / CONTROL_SOCKET
        assert path.exists()
        started = time.monotonic()
        result = serve_command("status", config=master.config)
        took = time.monotonic() - started
    assert result.returncode == 1
    assert f"the control socket {path} refuses connections" in result.stderr or "no master is running" in (
        result.stderr
    )
    assert "busy" not in result.stderr
    assert took < DEFAULT_TIMEOUT_S / 2, f"took {took:.1f} s, as if it waited for a master"
