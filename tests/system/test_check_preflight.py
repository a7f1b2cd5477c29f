"""`serve check` catches what `serve up` would: apps that do not import (--import), users and groups that do
not exist, directories that are missing, and addresses that clash once names are resolved; each problem
names its key and line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from master_support import free_port
from support import ROOT

pytestmark = pytest.mark.system

HELLO = "async def app(scope, receive, send):\n    pass\n"


def check(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "supervisor", "check", "-c", str(config), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def write(tmp_path: Path, text: str, modules: dict[str, str] | None = None) -> Path:
    for name, source in (modules or {"hello": HELLO}).items():
        (tmp_path / f"{name}.py").write_text(source)
    config = tmp_path / "serve.toml"
    config.write_text(text)
    return config


def line_of(config: Path, text: str) -> int:
    return next(number for number, line in enumerate(config.read_text().splitlines(), 1) if text in line)


def app(name: str, target: str, bind: str, extra: str = "") -> str:
    return f'[apps.{name}]\napp = "{target}"\napp_dir = "."\nbind = ["{bind}"]\n{extra}\n'


def test_a_clean_file_passes_with_its_imports(tmp_path: Path) -> None:
    config = write(tmp_path, app("web", "hello:app", "127.0.0.1:18231"))
    result = check(config, "--import")
    assert result.returncode == 0, result.stderr
    assert 'app = "hello:app"' in result.stdout


@pytest.mark.parametrize(
    ("modules", "target", "told"),
    [
        ({"hello": HELLO}, "missing_module:app", 'could not import module "missing_module"'),
        ({"hello": HELLO}, "hello:apps", 'attribute "apps" not found in module "hello"; did you mean "app"?'),
        ({"broken": "x = 1\ndef app(:\n"}, "broken:app", "SyntaxError: "),
        ({"raises": "x = 1\nraise RuntimeError('no database')\n"}, "raises:app", "RuntimeError: no database"),
    ],
)
def test_import_reports_the_apps_own_error_at_the_app_key(
    tmp_path: Path, modules: dict[str, str], target: str, told: str
) -> None:
    config = write(tmp_path, app("web", target, "127.0.0.1:18232"), modules)
    assert check(config).returncode == 0  # without --import nothing is imported
    result = check(config, "--import")
    assert result.returncode == 1
    assert f"{config}:{line_of(config, 'app = ')}: apps.web.app: " in result.stderr
    assert told in result.stderr
    if "broken" in modules:
        assert f"{tmp_path / 'broken.py'}:2" in result.stderr
    if "raises" in modules:
        assert f"{tmp_path / 'raises.py'}:2" in result.stderr


def test_a_hung_import_is_bounded(tmp_path: Path) -> None:
    config = write(tmp_path, app("web", "hangs:app", "127.0.0.1:18233"), {"hangs": "import time\ntime.sleep(60)\n"})
    started = time.monotonic()
    result = check(config, "--import", "--import-timeout", "1")
    assert time.monotonic() - started < 15
    assert result.returncode == 1
    assert "apps.web.app: importing hangs:app did not finish within 1 s" in result.stderr


def test_users_groups_and_directories_are_checked(tmp_path: Path) -> None:
    text = (
        '[server]\npid_file = "run/serve.pid"\ncontrol_socket = "sockets/serve.sock"\n\n'
        '[defaults]\ngroup = "no-such-group-of-serve"\n\n'
        + app("web", "hello:app", "127.0.0.1:18234", 'user = "no-such-user-of-serve"\nlog_file = "logs/web.log"')
    )
    config = write(tmp_path, text)
    result = check(config)
    assert result.returncode == 1
    expected = [
        f"{config}:{line_of(config, 'pid_file')}: server.pid_file: no such directory: {tmp_path / 'run'}",
        f"{config}:{line_of(config, 'control_socket')}: server.control_socket: no such directory: "
        f"{tmp_path / 'sockets'}",
        f'{config}:{line_of(config, "group = ")}: defaults.group: no such group: "no-such-group-of-serve"',
        f'{config}:{line_of(config, "user = ")}: apps.web.user: no such user: "no-such-user-of-serve"',
        f"{config}:{line_of(config, 'log_file')}: apps.web.log_file: no such directory: {tmp_path / 'logs'}",
    ]
    for line in expected:
        assert line in result.stderr


def test_addresses_clash_once_names_are_resolved(tmp_path: Path) -> None:
    text = (
        '[server]\nmetrics_bind = "127.0.0.1:18236"\nhealth_bind = "localhost:18237"\n\n'
        + app("api", "hello:app", "localhost:18235")
        + app("chat", "hello:app", "127.0.0.1:18235")
        + app("metrics", "hello:app", "127.0.0.1:18236")
        + app("health", "hello:app", "0.0.0.0:18237")
    )
    config = write(tmp_path, text)
    result = check(config)
    assert result.returncode == 1
    binds = [number for number, line in enumerate(text.splitlines(), 1) if line.startswith("bind = ")]
    assert (
        f"{config}:{binds[1]}: apps.chat.bind[0]: 127.0.0.1:18235 is already bound by apps.api.bind[0] = "
        "localhost:18235 (both are 127.0.0.1:18235)"
    ) in result.stderr
    assert (
        f"{config}:{binds[2]}: apps.metrics.bind[0]: 127.0.0.1:18236 is already bound by server.metrics_bind = "
        "127.0.0.1:18236"
    ) in result.stderr
    assert f"{config}:{binds[3]}: apps.health.bind[0]: 0.0.0.0:18237 is already bound by server.health_bind" in (
        result.stderr
    )


def test_ws_ping_interval_0_turns_pings_off_as_in_uvicorn(tmp_path: Path) -> None:
    config = write(tmp_path, app("web", "hello:app", "127.0.0.1:18238", "ws_ping_interval = 0"))
    result = check(config)
    assert result.returncode == 0, result.stderr
    assert "ws_ping_interval = 0.0" in result.stdout


def test_supervisord_in_the_same_environment_is_reported(tmp_path: Path) -> None:
    """supervisord's distribution is named `supervisor` and installs the same import package."""
    metadata = tmp_path / "supervisor-4.2.5.dist-info"
    metadata.mkdir()
    (metadata / "METADATA").write_text("Metadata-Version: 2.1\nName: supervisor\nVersion: 4.2.5\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    config = write(tmp_path, app("web", "hello:app", "127.0.0.1:18239"))
    for args in (["--version"], ["check", "-c", str(config)]):
        result = subprocess.run(
            [sys.executable, "-m", "supervisor", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "supervisord's package `supervisor` 4.2.5 is installed in this environment" in (
            result.stdout + result.stderr
        )
    clean = subprocess.run(
        [sys.executable, "-m", "supervisor", "--version"], capture_output=True, text=True, timeout=30
    )
    assert "warning" not in clean.stdout + clean.stderr


def up(config: Path) -> subprocess.CompletedProcess[str]:
    """`serve up` that is expected to refuse to start (bounded: a master that starts fails the test)."""
    return subprocess.run(
        [sys.executable, "-m", "supervisor", "up", "-c", str(config), "--no-tui"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=20,
        check=False,
    )


def test_serve_up_refuses_addresses_that_clash_once_resolved_as_serve_check_does(tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    text = (
        f'[server]\nmetrics_bind = "127.0.0.1:{metrics_port}"\n\n'
        + app("api", "hello:app", f"127.0.0.1:{port}")
        + app("chat", "hello:app", f"localhost:{port}")
        + app("metrics", "hello:app", f"localhost:{metrics_port}")
    )
    config = write(tmp_path, text)
    result = up(config)
    assert result.returncode == check(config).returncode == 1, result.stderr
    binds = [number for number, line in enumerate(text.splitlines(), 1) if line.startswith("bind = ")]
    assert (
        f"{config}:{binds[1]}: apps.chat.bind[0]: localhost:{port} is already bound by apps.api.bind[0] = "
        f"127.0.0.1:{port} (both are 127.0.0.1:{port})"
    ) in result.stderr
    assert f"{config}:{binds[2]}: apps.metrics.bind[0]: localhost:{metrics_port} is already bound by " in result.stderr
    assert "Master" not in result.stderr  # refused before any master started
