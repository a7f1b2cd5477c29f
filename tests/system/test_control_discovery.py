"""Control commands find the master without a file: `--socket`, or this user's runtime directory, where
each master registers its control socket once bound and removes it when it exits.

Each test points XDG_RUNTIME_DIR at a directory of its own, so masters of other tests stay out of it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from master_support import app_table, free_port, serve_up, server_table, start_master, write_config

pytestmark = pytest.mark.system


def runtime(tmp_path: Path) -> dict[str, str]:
    directory = tmp_path / "runtime"
    directory.mkdir(mode=0o700, exist_ok=True)
    return {"XDG_RUNTIME_DIR": str(directory)}


def config_text(port: int) -> str:
    return server_table() + "\n" + app_table("web", bind=[f"127.0.0.1:{port}"], workers=1)


def serve(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """A control command run from `cwd`, where there is no serve.toml, and without -c."""
    environment = {key: value for key, value in os.environ.items() if key != "SERVE_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "supervisor", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**environment, **env},
        timeout=30,
        check=False,
    )


def elsewhere(tmp_path: Path) -> Path:
    directory = tmp_path / "elsewhere"
    directory.mkdir(exist_ok=True)
    return directory


def test_status_without_a_file_finds_the_one_running_master_and_its_entry_goes_with_it(tmp_path: Path) -> None:
    env = runtime(tmp_path)
    with serve_up(tmp_path, config_text(free_port()), {"web": 1}, env=env) as master:
        entry = Path(env["XDG_RUNTIME_DIR"]) / "serve" / str(master.pid)
        assert json.loads(entry.read_text()) == {
            "control_socket": str(tmp_path / "serve.sock"),
            "config": str(master.config),
        }
        found = serve(elsewhere(tmp_path), env, "status", "--json")
        assert found.returncode == 0, found.stderr
        assert f"using the master of {master.config} (pid {master.pid})" in found.stderr
        assert json.loads(found.stdout)["master_pid"] == master.pid

        by_socket = serve(elsewhere(tmp_path), env, "status", "--json", "--socket", str(tmp_path / "serve.sock"))
        assert by_socket.returncode == 0, by_socket.stderr
        assert "using the master" not in by_socket.stderr

        stopped = serve(elsewhere(tmp_path), env, "stop")
        assert stopped.returncode == 0, stopped.stderr
        assert master.wait_exit() == 0
    assert not entry.exists()
    none = serve(elsewhere(tmp_path), env, "status")
    assert none.returncode == 1
    assert "no running master of yours was found" in none.stderr
    assert "-c CONFIG" in none.stderr


def test_several_masters_are_listed_and_the_operator_must_choose(tmp_path: Path) -> None:
    env = runtime(tmp_path)
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    with (
        serve_up(first, config_text(free_port()), {"web": 1}, env=env) as one,
        serve_up(second, config_text(free_port()), {"web": 1}, env=env) as two,
    ):
        result = serve(elsewhere(tmp_path), env, "status")
        assert result.returncode == 2, result.stderr
        for master in (one, two):
            assert f"{master.config}  (pid {master.pid}, control socket {master.config.parent / 'serve.sock'})" in (
                result.stderr
            )
        assert "-c CONFIG or --socket PATH" in result.stderr
        chosen = serve(elsewhere(tmp_path), env, "status", "--json", "-c", str(two.config))
        assert json.loads(chosen.stdout)["master_pid"] == two.pid


def test_stale_entries_are_ignored_and_removed(tmp_path: Path) -> None:
    env = runtime(tmp_path)
    entries = Path(env["XDG_RUNTIME_DIR"]) / "serve"
    entries.mkdir(mode=0o700)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = entries / dead.stdout.strip()  # a pid that no longer runs
    gone.write_text(json.dumps({"control_socket": str(tmp_path / "gone.sock"), "config": "/gone/serve.toml"}))
    silent_socket = tmp_path / "silent.sock"
    with socket.socket(socket.AF_UNIX) as bound:  # bound, never listening: connections are refused
        bound.bind(str(silent_socket))
        silent = entries / str(os.getpid())  # a live pid whose socket does not answer
        silent.write_text(json.dumps({"control_socket": str(silent_socket), "config": "/silent/serve.toml"}))
        with serve_up(tmp_path, config_text(free_port()), {"web": 1}, env=env) as master:
            found = serve(elsewhere(tmp_path), env, "status")
            assert found.returncode == 0, found.stderr
            assert f"using the master of {master.config} (pid {master.pid})" in found.stderr
    assert not gone.exists()
    assert not silent.exists()


def test_a_second_up_names_the_key_and_line_and_the_running_master(tmp_path: Path) -> None:
    env = runtime(tmp_path)
    port = free_port()
    with serve_up(tmp_path, config_text(port), {"web": 1}, env=env) as master:
        second = start_master(master.config, env=env)
        assert second.wait_exit() == 3
        line = next(n for n, text in enumerate(master.config.read_text().splitlines(), 1) if "bind = " in text)
        assert f"{master.config}:{line}: apps.web.bind[0]: 127.0.0.1:{port}: address already in use" in second.output
        assert f"this file's own master is already running (pid {master.pid})" in second.output


def test_up_with_a_user_that_does_not_exist_exits_3_at_once(tmp_path: Path) -> None:
    text = config_text(free_port()) + 'user = "no-such-user-of-serve"\n'
    master = start_master(write_config(tmp_path, text), env=runtime(tmp_path))
    assert master.wait_exit() == 3
    line = len(text.splitlines())
    assert f'{master.config}:{line}: apps.web.user: no such user: "no-such-user-of-serve"' in master.output
    assert "starting" not in master.output  # no worker was forked


def test_a_control_socket_bound_again_is_registered_again(tmp_path: Path) -> None:
    env = runtime(tmp_path)
    with serve_up(tmp_path, config_text(free_port()), {"web": 1}, env=env) as master:
        entry = Path(env["XDG_RUNTIME_DIR"]) / "serve" / str(master.pid)
        (tmp_path / "serve.sock").unlink()  # a tmp cleaner, a stray rm
        gone = serve(elsewhere(tmp_path), env, "status")
        assert gone.returncode == 1
        assert "no running master of yours was found" in gone.stderr
        assert not entry.exists()  # nothing answers there: the entry was cleaned up

        mark = master.mark()
        master.send_signal(signal.SIGUSR1)
        master.wait_for_line(r"control socket .* had been removed: bound again", start=mark)
        found = serve(elsewhere(tmp_path), env, "status")
        assert found.returncode == 0, found.stderr
        assert f"using the master of {master.config} (pid {master.pid})" in found.stderr


def test_control_commands_reach_the_master_of_a_file_that_is_mid_save(tmp_path: Path) -> None:
    """An editor empties the file, writes half of it, or the control_socket line is half-typed: -c FILE
    still reaches the master registered for that file, instead of saying none runs or its socket is gone."""
    env = runtime(tmp_path)
    (tmp_path / "run").mkdir()
    text = config_text(free_port()).replace("[server]\n", '[server]\ncontrol_socket = "run/serve.sock"\n', 1)
    with serve_up(tmp_path, text, {"web": 1}, env=env) as master:
        good = master.config.read_text()
        for mid_save in ("", good[:40], good.replace('"run/serve.sock"', '"run/serve.sock')):
            master.config.write_text(mid_save)
            for command in (["status", "--json"], ["logs", "-n", "1"]):
                answered = serve(elsewhere(tmp_path), env, *command, "-c", str(master.config))
                assert answered.returncode == 0, (mid_save, answered.stderr)
                assert f"using the master registered for it (pid {master.pid}" in answered.stderr
            assert json.loads(serve(tmp_path, env, "status", "--json", "-c", "serve.toml").stdout)["master_pid"] == (
                master.pid
            )
        master.config.write_text(good)
        plain = serve(elsewhere(tmp_path), env, "status", "-c", str(master.config))
        assert (plain.returncode, plain.stderr) == (0, "")
