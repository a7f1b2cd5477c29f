"""`serve up` with several apps: every kind of bind answers, each app with its own workers and environment;
what the master leaves behind when it exits; `serve run --workers`."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from master_support import Address, app_table, free_port, get, pids_answering, serve_up, server_table
from support import serve_run

pytestmark = pytest.mark.system


def test_two_apps_on_tcp_unix_and_fd_binds_each_with_its_own_workers_and_env(tmp_path: Path, uds_path: Path) -> None:
    inherited = socket.socket()
    inherited.bind(("127.0.0.1", 0))
    inherited.listen()
    fd_port = inherited.getsockname()[1]
    api_port, chat_port = free_port(), free_port()
    config = (
        server_table()
        + app_table("api", bind=[f"127.0.0.1:{api_port}", f"unix:{uds_path}"], workers=2, env={"GREETING": "api!"})
        + app_table(
            "chat", bind=[f"fd://{inherited.fileno()}", f"127.0.0.1:{chat_port}"], workers=3, env={"GREETING": "chat!"}
        )
    )
    with inherited, serve_up(tmp_path, config, {"api": 2, "chat": 3}, pass_fds=[inherited.fileno()]) as master:
        api_pids, chat_pids = master.worker_pids("api"), master.worker_pids("chat")
        assert (len(api_pids), len(chat_pids)) == (2, 3)
        api_addresses: list[Address] = [("127.0.0.1", api_port), str(uds_path)]
        for address in api_addresses:
            pid, greeting = get(address, "/env?name=GREETING")
            assert (pid in api_pids, greeting) == (True, "api!")
        chat_addresses: list[Address] = [("127.0.0.1", fd_port), ("127.0.0.1", chat_port)]
        for address in chat_addresses:
            pid, greeting = get(address, "/env?name=GREETING")
            assert (pid in chat_pids, greeting) == (True, "chat!")
        assert pids_answering(("127.0.0.1", api_port), 2) == api_pids
        assert pids_answering(("127.0.0.1", fd_port), 3) == chat_pids
        assert master.stop() == 0, master.output


def test_unix_socket_and_pid_file_removed_when_the_master_exits(tmp_path: Path, uds_path: Path) -> None:
    config = server_table() + 'pid_file = "serve.pid"\n' + app_table("api", bind=[f"unix:{uds_path}"], workers=1)
    pid_file = tmp_path / "serve.pid"
    with serve_up(tmp_path, config, {"api": 1}) as master:
        assert pid_file.read_text().strip() == str(master.pid)
        assert uds_path.is_socket()
        assert get(str(uds_path))[1] == "v0"
        assert master.stop() == 0, master.output
    assert not uds_path.exists()
    assert not pid_file.exists()


def test_a_second_master_that_cannot_start_leaves_the_running_masters_pid_file(tmp_path: Path) -> None:
    """A second file naming the same pid_file and control socket: refused, and the first's pid file stays."""
    pid_file, control = tmp_path / "serve.pid", tmp_path / "serve.sock"
    shared = f'pid_file = "{pid_file}"\ncontrol_socket = "{control}"\n'
    config = server_table() + shared + app_table("api", bind=[f"127.0.0.1:{free_port()}"], workers=1)
    second = tmp_path / "second.toml"
    second.write_text(server_table() + shared + app_table("other", bind=[f"127.0.0.1:{free_port()}"], workers=1))
    with serve_up(tmp_path, config, {"api": 1}) as master:
        result = subprocess.run(
            [sys.executable, "-m", "supervisor", "up", "-c", str(second), "--no-tui"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        assert result.returncode == 3, result.stderr
        assert pid_file.read_text().strip() == str(master.pid)
        assert master.stop() == 0, master.output


def test_serve_run_with_two_workers_answers_from_two_pids_and_stops_on_sigterm() -> None:
    with serve_run("master_apps:app", "--workers", "2") as server:
        address = (server.host, server.port)
        pids = pids_answering(address, 2)
        assert len(pids) == 2
        assert server.stop(signal.SIGTERM) == 0


def test_a_failed_start_removes_the_unix_socket_files_it_bound_before_the_failing_address(uds_path: Path) -> None:
    bound = uds_path.parent / "first.sock"
    missing = uds_path.parent / "no-such-directory" / "x.sock"
    config = uds_path.parent / "serve.toml"
    config.write_text(
        server_table()
        + app_table("first", bind=[f"unix:{bound}"], workers=1)
        + app_table("second", bind=[f"unix:{missing}"], workers=1)
    )
    result = subprocess.run(
        [sys.executable, "-m", "supervisor", "up", "-c", str(config), "--no-tui"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert result.returncode == 3, result.stderr
    assert "apps.second.bind[0]" in result.stderr
    assert not bound.exists()
    assert sorted(path.name for path in uds_path.parent.iterdir()) == ["serve.toml"]
