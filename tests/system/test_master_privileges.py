"""user and group: a master started as root runs its workers as another user."""

from __future__ import annotations

import os
import pwd
import socket
from pathlib import Path

import httpx
import pytest
from support import APPS_DIR, ServeProcess

pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs a master started as root"),
]


def test_workers_run_as_the_configured_user_and_group(tmp_path: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "serve.toml"
    config.write_text(
        '[server]\ncontrol_socket = "control.sock"\ngraceful_timeout = 3\n\n'
        f'[apps.low]\napp = "identity_app:app"\napp_dir = "{APPS_DIR}"\nbind = ["127.0.0.1:{port}"]\n'
        f'workers = 1\nuser = "nobody"\ngroup = "{nobody.pw_gid}"\n'
    )
    process = ServeProcess(["up", "-c", str(config)])
    try:
        process.wait_for_line(r"low: 1 worker of generation 1 ready")
        answer = httpx.get(f"http://127.0.0.1:{port}/", timeout=10).text
        assert answer == f"{nobody.pw_uid} {nobody.pw_gid}"
    finally:
        assert process.stop() == 0


def test_an_apps_unix_socket_belongs_to_its_user_and_group(tmp_path: Path) -> None:
    """As gunicorn does: under uds_mode 0660, the app's group (a proxy added to it) can connect."""
    nobody = pwd.getpwnam("nobody")
    path = tmp_path / "low.sock"
    config = tmp_path / "serve.toml"
    config.write_text(
        '[server]\ncontrol_socket = "control.sock"\ngraceful_timeout = 3\n\n'
        f'[apps.low]\napp = "identity_app:app"\napp_dir = "{APPS_DIR}"\nbind = ["unix:{path}"]\n'
        f'workers = 1\nuser = "nobody"\ngroup = "{nobody.pw_gid}"\nuds_mode = "0o660"\n'
    )
    process = ServeProcess(["up", "-c", str(config)])
    try:
        process.wait_for_line(r"low: 1 worker of generation 1 ready")
        info = path.stat()
        assert (info.st_uid, info.st_gid, info.st_mode & 0o777) == (nobody.pw_uid, nobody.pw_gid, 0o660)
    finally:
        assert process.stop() == 0
