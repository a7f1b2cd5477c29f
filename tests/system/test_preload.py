"""preload = true: the master imports the app once, before forking; workers inherit it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from master_support import app_table, free_port, get, serve_command, serve_up, server_table
from support import APPS_DIR, ServeProcess, serve_status

pytestmark = pytest.mark.system


@pytest.mark.parametrize("preload", [True, False])
def test_the_app_is_imported_by_the_master_only_with_preload(tmp_path: Path, preload: bool) -> None:
    sock = tmp_path / "app.sock"
    toml = tmp_path / "serve.toml"
    toml.write_text(
        f'[server]\ncontrol_socket = "serve.sock"\ngraceful_timeout = 3\n\n'
        f'[apps.probe]\napp = "preload_probe:app"\napp_dir = "{APPS_DIR}"\n'
        f'bind = ["unix:{sock}"]\nworkers = 2\npreload = {str(preload).lower()}\n'
    )
    process = ServeProcess(["up", "-c", str(toml)])
    try:
        process.wait_for_line(r"probe: 2 workers of generation 1 ready")
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock))) as client:
            imported_by, worker = (int(x) for x in client.get("http://probe/").text.split())
        assert worker != process.proc.pid
        assert (imported_by == process.proc.pid) is preload
        assert (imported_by == worker) is not preload
    finally:
        assert process.stop() == 0


def test_a_reload_adding_a_preload_app_that_exits_at_import_leaves_the_master_serving(tmp_path: Path) -> None:
    """A reload imports no app code in the master, preload or not: an import calling os._exit
    ends the new app's worker, not the master, and the reload says why it failed."""
    (tmp_path / "exits_at_import.py").write_text("import os\nos._exit(0)\n")
    port, added_port = free_port(), free_port()
    text = server_table() + app_table("web", bind=[f"127.0.0.1:{port}"], workers=1)
    with serve_up(tmp_path, text, {"web": 1}) as master:
        added = f'[apps.late]\napp = "exits_at_import:app"\napp_dir = "{tmp_path}"\npreload = true\n'
        master.config.write_text(text + added + f'bind = ["127.0.0.1:{added_port}"]\n')
        reloaded = serve_command("reload", config=master.config)
        assert reloaded.returncode == 1, reloaded
        assert "reload failed: late: not ready" in reloaded.stdout + reloaded.stderr
        assert "exited with code 0 during startup" in reloaded.stdout + reloaded.stderr
        assert master.process.proc.poll() is None, master.output
        assert get(("127.0.0.1", port))[0] != master.pid  # answered by web's worker
        assert [app["name"] for app in serve_status(master.config)["apps"]] == ["web", "late"]
        assert master.stop() == 0, master.output
