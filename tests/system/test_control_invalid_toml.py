"""Control commands need only the control socket: they reach the master while its file is mid-edit,
and a deleted socket names the master that still runs the file instead of asking for a second one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from master_support import app_table, free_port, get, serve_up, server_table
from support import ROOT

pytestmark = pytest.mark.system

STATUS_WAIT_S = 15.0


def serve(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "supervisor", *args, "-c", str(config)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
        check=False,
    )


def config_text(port: int, *, pid_file: bool = False) -> str:
    server = server_table() + 'control_socket = "control.sock"\n' + ('pid_file = "serve.pid"\n' if pid_file else "")
    return server + "\n" + app_table("web", bind=[f"127.0.0.1:{port}"], workers=1)


def line_of(config: Path, text: str) -> int:
    return next(number for number, line in enumerate(config.read_text().splitlines(), 1) if text in line)


def web_status(config: Path) -> dict[str, object]:
    result = serve(config, "status", "--json")
    assert result.returncode == 0, result.stderr
    apps = json.loads(result.stdout)["apps"]
    return next(app for app in apps if app["name"] == "web")


def wait_for_ready_workers(config: Path, count: int) -> None:
    """Poll `serve status` (bounded) until `count` workers of web are ready."""
    deadline = time.monotonic() + STATUS_WAIT_S
    while (app := web_status(config))["workers_ready"] != count:
        assert time.monotonic() < deadline, app
        time.sleep(0.1)


def test_control_commands_reach_the_master_while_its_file_is_invalid(tmp_path: Path) -> None:
    port = free_port()
    with serve_up(tmp_path, config_text(port), {"web": 1}) as master:
        config = master.config
        valid = config.read_text()

        config.write_text(valid.replace("workers = 1", "workers = "))  # a syntax error, mid-edit
        assert web_status(config)["workers_desired"] == 1
        scaled = serve(config, "scale", "web", "2")
        assert scaled.returncode == 0, scaled.stderr
        wait_for_ready_workers(config, 2)
        reloaded = serve(config, "reload")  # the master re-reads the file and refuses it
        assert reloaded.returncode == 1
        assert f"{config}:{line_of(config, 'workers = ')}: invalid TOML" in reloaded.stderr

        config.write_text(valid.replace("workers = 1", 'workers = "four"'))  # valid TOML, invalid value
        assert web_status(config)["workers_ready"] == 2
        reloaded = serve(config, "reload")
        assert reloaded.returncode == 1
        assert f"{config}:{line_of(config, 'workers = ')}: apps.web.workers: " in reloaded.stderr
        workers = web_status(config)["workers"]
        assert isinstance(workers, list)
        assert get(("127.0.0.1", port))[0] in {worker["pid"] for worker in workers}  # the old generation serves on

        stopped = serve(config, "stop")
        assert stopped.returncode == 0, stopped.stderr
        assert master.wait_exit() == 0


def test_a_deleted_control_socket_names_the_master_that_still_runs(tmp_path: Path) -> None:
    port = free_port()
    with serve_up(tmp_path, config_text(port, pid_file=True), {"web": 1}) as master:
        config, pid_file, control = master.config, tmp_path / "serve.pid", tmp_path / "control.sock"
        control.unlink()

        status = serve(config, "status")
        assert status.returncode == 1
        assert (
            f"the control socket {control} is gone, but a master (pid {master.pid}, per {pid_file}) still runs "
            f"{config}: kill -USR1 {master.pid} binds its control socket again"
        ) in status.stderr, status.stderr
        assert "start one" not in status.stderr

        # A pid file older than the process it names is not believed (a reused pid): the app's
        # address still finds the master, by the process that listens on it.
        started = psutil.Process(master.pid).create_time()
        os.utime(pid_file, (started - 60, started - 60))
        stop = serve(config, "stop")
        assert stop.returncode == 1
        assert (
            f"the control socket {control} is gone, but 127.0.0.1:{port}, an address of {config}, is still held "
            f"by pid {master.pid} ("
        ) in stop.stderr, stop.stderr

        # As the message says: USR1 binds the control socket again, and every command works.
        mark = master.mark()
        master.send_signal(signal.SIGUSR1)
        master.wait_for_line(r"control socket .* had been removed: bound again", start=mark)
        assert serve(config, "status").returncode == 0
        assert serve(config, "stop").returncode == 0
        assert master.wait_exit() == 0


def test_without_a_master_the_commands_still_say_start_one(tmp_path: Path) -> None:
    config = tmp_path / "serve.toml"
    config.write_text(config_text(free_port(), pid_file=True).replace("workers = 1", "workers = "))
    (tmp_path / "serve.pid").write_text(f"{os.getpid()}\n")  # a live process, started before its "master" wrote this?
    os.utime(tmp_path / "serve.pid", (0, 0))  # no: written long before it started, so a reused pid
    result = serve(config, "status")
    assert result.returncode == 1
    assert result.stderr.startswith(
        f"no master is running for {config} (nothing listens on {tmp_path / 'control.sock'}); start one with "
        f"`serve up -c {config}` (note: {config} is not valid TOML right now, so control_socket was read line by line;"
    ), result.stderr

    missing = serve(tmp_path / "missing.toml", "stop")
    assert missing.returncode == 1
    assert missing.stderr == f"{tmp_path / 'missing.toml'}: cannot read the file: No such file or directory\n"


def test_a_file_left_where_the_control_socket_was_is_named_as_such(tmp_path: Path) -> None:
    """The master binds again only a path that is gone: the message says to move the file first."""
    with serve_up(tmp_path, config_text(free_port(), pid_file=True), {"web": 1}) as master:
        control = tmp_path / "control.sock"
        control.unlink()
        control.write_text("not a socket\n")
        status = serve(master.config, "status")
        assert status.returncode == 1
        assert f"the control socket {control} is not a socket (move that file away first), but a master" in (
            status.stderr
        ), status.stderr
        control.unlink()
        master.send_signal(signal.SIGUSR1)
        master.wait_for_line("had been removed: bound again")
        assert serve(master.config, "status").returncode == 0
