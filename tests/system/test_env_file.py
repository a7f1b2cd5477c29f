"""One env_file rule in every mode: the shell wins over env_file, and the TOML env table over both.

`serve run` applies it in its server; under a master (`serve run --workers N`, `serve up`) each
worker's bootstrap applies it before dropping privileges, so a root-only env_file still works.
"""

from __future__ import annotations

import os
import pwd
import tempfile
from pathlib import Path

import pytest
from master_support import app_table, free_port, get, serve_up, server_table
from support import serve_run

pytestmark = pytest.mark.system

SHELL = {"ENVRULE_SHELL": "from-the-shell", "ENVRULE_TABLE": "from-the-shell"}
FILE_TEXT = "ENVRULE_SHELL=from-the-file\nENVRULE_FILE=from-the-file\nENVRULE_TABLE=from-the-file\n"


def _env_file(tmp_path: Path) -> Path:
    path = tmp_path / "app.env"
    path.write_text(FILE_TEXT, encoding="utf-8")
    return path


def _seen(address: tuple[str, int], *names: str) -> list[str]:
    return [get(address, f"/env?name={name}")[1] for name in names]


@pytest.mark.parametrize("workers", [(), ("--workers", "2")], ids=["one-process", "master"])
def test_serve_run_keeps_the_shells_value_over_env_file(tmp_path: Path, workers: tuple[str, ...]) -> None:
    env_file = _env_file(tmp_path)
    with serve_run("master_apps:app", "--env-file", str(env_file), *workers, env=SHELL) as server:
        seen = _seen((server.host, server.port), "ENVRULE_SHELL", "ENVRULE_FILE")
        assert seen == ["from-the-shell", "from-the-file"]


def test_serve_up_env_table_wins_over_the_shell_and_env_file(tmp_path: Path) -> None:
    env_file = _env_file(tmp_path)
    port = free_port()
    table = app_table(
        "api",
        bind=[f"127.0.0.1:{port}"],
        workers=1,
        env={"ENVRULE_TABLE": "from-the-table"},
        extra=f'env_file = "{env_file}"\n',
    )
    with serve_up(tmp_path, server_table() + table, {"api": 1}, env=SHELL):
        seen = _seen(("127.0.0.1", port), "ENVRULE_SHELL", "ENVRULE_FILE", "ENVRULE_TABLE")
        assert seen == ["from-the-shell", "from-the-file", "from-the-table"]


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs a master started as root")
def test_a_root_only_env_file_reaches_workers_that_run_as_another_user(tmp_path: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="serve-env-") as directory:
        # nobody can see the file (a directory it may enter) but not read it: the worker reads it
        # before it becomes nobody, and must not try again after.
        os.chmod(directory, 0o755)  # noqa: S103 - nobody must be able to enter it
        env_file = _env_file(Path(directory))
        env_file.chmod(0o600)
        _serve_as_nobody(tmp_path, env_file)


def _serve_as_nobody(tmp_path: Path, env_file: Path) -> None:
    port = free_port()
    user = f'user = "nobody"\ngroup = "{pwd.getpwnam("nobody").pw_gid}"\n'
    table = app_table("low", bind=[f"127.0.0.1:{port}"], workers=1, extra=f'env_file = "{env_file}"\n{user}')
    with serve_up(tmp_path, server_table() + table, {"low": 1}):
        assert _seen(("127.0.0.1", port), "ENVRULE_FILE") == ["from-the-file"]
