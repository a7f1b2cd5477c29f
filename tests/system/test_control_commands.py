"""Steering a running master from another process: serve status, reload, scale, stop."""

from __future__ import annotations

import json
import re
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from master_support import serve_command as serve
from support import ServeProcess

pytestmark = pytest.mark.system

STATUS_WAIT_S = 10.0


def status(config: Path) -> dict[str, object]:
    result = serve("status", "--json", config=config)
    assert result.returncode == 0, result.stderr
    snapshot: dict[str, object] = json.loads(result.stdout)
    return snapshot


def app_status(config: Path, name: str) -> dict[str, object]:
    apps = status(config)["apps"]
    assert isinstance(apps, list)
    return next(app for app in apps if app["name"] == name)


def wait_for_status(config: Path, name: str, key: str, expected: object) -> dict[str, object]:
    """Poll `serve status` (workers flush their figures a few times a second) until app[key] == expected."""
    deadline = time.monotonic() + STATUS_WAIT_S
    while True:
        app = app_status(config, name)
        if app[key] == expected or time.monotonic() > deadline:
            assert app[key] == expected, app
            return app
        time.sleep(0.1)


@pytest.fixture
def master(tmp_path: Path) -> Iterator[tuple[ServeProcess, Path, Path]]:
    sock = tmp_path / "hello.sock"
    config = tmp_path / "serve.toml"
    config.write_text(
        '[server]\ncontrol_socket = "control.sock"\ngraceful_timeout = 3\n\n'
        f'[apps.hello]\napp = "supervisor.demo.hello:app"\nbind = ["unix:{sock}"]\nworkers = 2\naccess_log = false\n'
    )
    process = ServeProcess(["up", "-c", str(config)])
    try:
        process.wait_for_line(r"hello: 2 workers of generation 1 ready")
        yield process, config, sock
    finally:
        if process.proc.poll() is None:
            process.stop()


def test_status_counts_exactly_the_requests_made(master: tuple[ServeProcess, Path, Path]) -> None:
    _, config, sock = master
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock))) as client:
        for _ in range(25):
            assert client.get("http://hello/").status_code == 200
    app = wait_for_status(config, "hello", "requests_total", 25)
    assert app["workers_ready"] == 2
    assert app["state"] == "running"
    workers = app["workers"]
    assert isinstance(workers, list)
    assert sum(worker["requests"] for worker in workers) == 25


def test_scale_and_reload_change_what_status_shows(master: tuple[ServeProcess, Path, Path]) -> None:
    _, config, _ = master
    scaled = serve("scale", "hello", "3", config=config)
    assert scaled.returncode == 0, scaled.stderr
    wait_for_status(config, "hello", "workers_ready", 3)
    reloaded = serve("reload", config=config)
    assert reloaded.returncode == 0, reloaded.stderr
    assert "hello generation 2 ready" in reloaded.stdout
    app = app_status(config, "hello")
    assert app["generation"] == 2
    assert app["workers_desired"] == 3


def test_a_reload_with_an_invalid_file_is_refused_and_reported(master: tuple[ServeProcess, Path, Path]) -> None:
    _, config, sock = master
    config.write_text(config.read_text().replace("workers = 2", 'workers = "two"'))
    reloaded = serve("reload", config=config)
    assert reloaded.returncode == 1
    assert "apps.hello.workers" in reloaded.stderr
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock))) as client:
        assert client.get("http://hello/").text == "Hello, world!"


def test_the_control_socket_is_private_to_its_user(master: tuple[ServeProcess, Path, Path]) -> None:
    _, config, _ = master
    mode = stat.S_IMODE((config.parent / "control.sock").stat().st_mode)
    assert mode == 0o600


def test_stop_drains_and_the_master_exits(master: tuple[ServeProcess, Path, Path]) -> None:
    process, config, _ = master
    stopped = serve("stop", config=config)
    assert stopped.returncode == 0, stopped.stderr
    assert process.wait_exit() == 0
    assert not (config.parent / "control.sock").exists()


def test_commands_without_a_master_say_so(tmp_path: Path) -> None:
    config = tmp_path / "serve.toml"
    config.write_text('[apps.hello]\napp = "supervisor.demo.hello:app"\nbind = ["127.0.0.1:1"]\n')
    for args in (("status",), ("reload",), ("scale", "hello", "2"), ("stop",)):
        result = serve(*args, config=config)
        assert result.returncode == 1
        assert f"no master is running for {config}" in result.stderr


def test_plain_status_lists_apps_workers_and_events(master: tuple[ServeProcess, Path, Path]) -> None:
    process, config, sock = master
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock))) as client:
        assert client.get("http://hello/").status_code == 200
    wait_for_status(config, "hello", "requests_total", 1)
    text = serve("status", config=config)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith(f"master {process.proc.pid} · {config} · up ")
    assert any(re.match(r"hello  running  generation 1  workers 2/2  1 requests ", line) for line in lines)
    assert len([line for line in lines if re.match(r"  pid \d+ +ready ", line)]) == 2
    assert "recent events:" in lines
    assert any("hello: 2 workers of generation 1 ready" in line for line in lines)
