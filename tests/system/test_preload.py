"""preload = true: the master imports the app once, before forking; workers inherit it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from support import APPS_DIR, ServeProcess

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
