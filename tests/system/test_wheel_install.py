"""A wheel built from the checkout, installed into a fresh virtualenv, serves the demo app under `serve up`.

README.md says how to install from a checkout; this is that path, end to end. The wheel's
dependencies come from the package index pip is configured with (a local wheel cache or
PyPI); where none answers, the fresh venv borrows this environment's installed packages
through a path file instead, so the test still proves the wheel itself installs and serves.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from master_support import Master, connect, free_port, request_bytes
from support import ROOT, ServeProcess, read_response

pytestmark = [pytest.mark.system, pytest.mark.timeout(600)]

BUILD_TIMEOUT_S = 180
INSTALL_TIMEOUT_S = 300


# Away from the checkout, whose supervisor/ would shadow the installed one on `python -c`'s path.
AWAY = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}


def run(command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False, cwd="/", env=AWAY)


def build_wheel(into: Path) -> Path:
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(into), str(ROOT)]
    built = run(command, BUILD_TIMEOUT_S)
    if built.returncode != 0:  # no index to fetch the build backend from: the one installed here, if any
        again = run([*command, "--no-build-isolation"], BUILD_TIMEOUT_S)
        if again.returncode != 0 and "hatchling" in again.stderr:
            pytest.skip(f"no package index answers and hatchling is not installed here:\n{built.stderr}")
        assert again.returncode == 0, built.stderr + again.stderr
    (wheel,) = into.glob("serve_supervisor-*.whl")
    return wheel


def fresh_venv(path: Path, wheel: Path) -> Path:
    """A venv from the base interpreter (not this one's venv), with the wheel installed; its python."""
    base = getattr(sys, "_base_executable", sys.executable)
    created = run([base, "-m", "venv", str(path)], 120)
    assert created.returncode == 0, created.stderr
    python = path / "bin" / "python"
    installed = run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)], INSTALL_TIMEOUT_S
    )
    if installed.returncode != 0:  # no index answers: the dependencies come from this environment
        alone = run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], INSTALL_TIMEOUT_S)
        assert alone.returncode == 0, installed.stderr + alone.stderr
        purelib = run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], 30)
        # A plain path line: the directory joins sys.path, but its own .pth files (this
        # checkout's editable install among them) are not run, so the wheel's package wins.
        paths = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
        Path(purelib.stdout.strip(), "borrowed-dependencies.pth").write_text("\n".join(sorted(paths)) + "\n")
    return python


def test_the_wheel_installs_into_a_fresh_venv_and_serves_the_demo(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "dist")
    python = fresh_venv(tmp_path / "venv", wheel)
    serve = tmp_path / "venv" / "bin" / "serve"
    where = run([str(python), "-c", "import supervisor; print(supervisor.__file__)"], 30)
    assert where.stdout.startswith(str(tmp_path / "venv")), where.stdout + where.stderr
    version = run([str(serve), "--version"], 30)
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("serve 0."), version.stdout
    assert "warning" not in version.stdout

    port = free_port()
    config = tmp_path / "serve.toml"
    config.write_text(
        '[server]\ncontrol_socket = "serve.sock"\ngraceful_timeout = 5\n\n'
        f'[apps.hello]\napp = "supervisor.demo.hello:app"\nbind = ["127.0.0.1:{port}"]\nworkers = 1\n'
    )
    checked = run([str(serve), "check", "-c", str(config), "--import"], 60)
    assert checked.returncode == 0, checked.stderr
    process = ServeProcess([], command=[str(serve), "up", "-c", str(config), "--no-tui"], env=AWAY, cwd=tmp_path)
    master = Master(process, config)
    try:
        master.wait_ready({"hello": 1})
        with connect(("127.0.0.1", port)) as sock:
            sock.sendall(request_bytes("/", close=True))
            status, _, body = read_response(sock)
        assert (status, body) == (200, b"Hello, world!")
    finally:
        assert master.stop() == 0, master.output
