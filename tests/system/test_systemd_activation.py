"""systemd socket activation: sockets passed as LISTEN_FDS are adopted, never bound again."""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path

import httpx
import pytest
from support import ServeProcess

pytestmark = pytest.mark.system

# Stands in for systemd: puts the listening socket on fd 3, sets LISTEN_PID to its own pid
# and execs serve (exec keeps the pid, as systemd's does).
LAUNCHER = """
import os, sys
fd = int(sys.argv[1])
os.dup2(fd, 3)
os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS="1", LISTEN_FDNAMES=sys.argv[2])
os.execv(sys.executable, [sys.executable, "-m", "supervisor", *sys.argv[3:]])
"""


def _listening_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.set_inheritable(True)
    return sock


def test_an_app_serves_on_the_socket_systemd_passed_by_address(tmp_path: Path) -> None:
    sock = _listening_socket()
    host, port = sock.getsockname()
    toml = tmp_path / "serve.toml"
    toml.write_text(
        f'[server]\ncontrol_socket = "serve.sock"\ngraceful_timeout = 3\n\n'
        f'[apps.web]\napp = "supervisor.demo.hello:app"\nbind = ["{host}:{port}"]\nworkers = 1\n'
    )
    launcher = [sys.executable, "-c", LAUNCHER, str(sock.fileno()), "web", "up", "-c", str(toml)]
    process = ServeProcess.from_command(launcher, pass_fds=(sock.fileno(),))
    sock.close()  # only the server holds it now: an answered request proves it was adopted
    try:
        process.wait_for_line(r"Adopted 1 socket\(s\) from systemd")
        process.wait_for_line(r"web: 1 worker of generation 1 ready")
        assert httpx.get(f"http://{host}:{port}/", timeout=10).text == "Hello, world!"
    finally:
        assert process.stop() == 0


def test_a_socket_named_after_an_app_serves_that_app(tmp_path: Path) -> None:
    sock = _listening_socket()
    host, port = sock.getsockname()
    socket_path = tmp_path / "own.sock"
    toml = tmp_path / "serve.toml"
    toml.write_text(
        f'[server]\ncontrol_socket = "serve.sock"\ngraceful_timeout = 3\n\n'
        f'[apps.api]\napp = "supervisor.demo.hello:app"\nbind = ["unix:{socket_path}"]\nworkers = 1\n'
    )
    launcher = [sys.executable, "-c", LAUNCHER, str(sock.fileno()), "api", "up", "-c", str(toml)]
    process = ServeProcess.from_command(launcher, pass_fds=(sock.fileno(),))
    sock.close()
    try:
        process.wait_for_line(r"api: 1 worker of generation 1 ready")
        assert httpx.get(f"http://{host}:{port}/json", timeout=10).json()["pid"] != os.getpid()
        transport = httpx.HTTPTransport(uds=str(socket_path))
        with httpx.Client(transport=transport) as client:
            assert client.get("http://api/").text == "Hello, world!"
    finally:
        assert process.stop() == 0
    assert not socket_path.exists()


@pytest.mark.skipif(shutil.which("systemd-socket-activate") is None, reason="Debian's systemd package is not installed")
def test_under_debians_systemd_socket_activate(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a free port for systemd-socket-activate to listen on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    toml = tmp_path / "serve.toml"
    toml.write_text(
        '[server]\ncontrol_socket = "serve.sock"\ngraceful_timeout = 3\n\n'
        f'[apps.web]\napp = "supervisor.demo.hello:app"\nbind = ["127.0.0.1:{port}"]\nworkers = 1\n'
    )
    activate = [
        "systemd-socket-activate",
        f"--listen=127.0.0.1:{port}",
        "--fdname=web",
        sys.executable,
        "-m",
        "supervisor",
        "up",
        "-c",
        str(toml),
    ]
    process = ServeProcess.from_command(activate)
    try:
        # systemd-socket-activate starts serve on the first connection; it waits in the backlog.
        response = httpx.get(f"http://127.0.0.1:{port}/", timeout=30)
        assert response.text == "Hello, world!"
        process.wait_for_line(r"Adopted 1 socket\(s\) from systemd")
    finally:
        assert process.stop() == 0
