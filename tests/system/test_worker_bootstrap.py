"""A worker whose bootstrap fails before its app loads (master/spawn.py) is reported with its reason, as a
failed import is: `serve reload` and the app's last error say why, not only "exited with code 4"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from master_support import app_table, free_port, get, serve_command, serve_up, server_table

pytestmark = pytest.mark.system


def test_an_env_file_that_is_not_utf8_fails_the_reload_with_its_reason(tmp_path: Path) -> None:
    env_file = tmp_path / "app.env"
    env_file.write_text("BOOT_A=one\n")
    port = free_port()
    table = app_table("api", bind=[f"127.0.0.1:{port}"], workers=1, extra=f'env_file = "{env_file}"\n')
    with serve_up(tmp_path, server_table() + table, {"api": 1}) as master:
        serving = get(("127.0.0.1", port))[0]
        env_file.write_bytes(b"BOOT_A=\xff\n")
        reload = serve_command("reload", config=master.config)
        reason = f"could not start: env_file {env_file}: not UTF-8 text (it holds byte 0xff)"
        assert reload.returncode == 1, reload.stdout
        assert reason in reload.stderr, reload.stderr
        status = json.loads(serve_command("status", "--json", config=master.config).stdout)
        assert reason in status["apps"][0]["last_error"]
        assert get(("127.0.0.1", port))[0] == serving  # the old generation's worker serves on

        env_file.unlink()
        env_file.mkdir()  # the loader says what is there, rather than "no such file"
        reload = serve_command("reload", config=master.config)
        assert reload.returncode == 1, reload.stdout
        assert f"apps.api.env_file: a directory, not a file: {env_file}" in reload.stderr, reload.stderr
