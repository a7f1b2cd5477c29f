"""A reload never leaves an address listening that no worker serves: an address handed from one running app to
another in one reload is refused (file, line, key, and the two-step way to do it); an address a failed reload gave an
app is closed again and `serve status` shows the binds the app's workers serve; a bind failure names the key."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from master_support import free_port, get, serve_command as serve, serve_up, server_table
from support import serve_status

pytestmark = pytest.mark.system

CODE = """\
import os


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": f"{os.getpid()} NAME v1".encode()})
"""
WAIT_S = 10.0


def table(directory: Path, name: str, *ports: int) -> str:
    binds = ", ".join(f'"127.0.0.1:{port}"' for port in ports)
    return f'[apps.{name}]\napp = "{name}:app"\napp_dir = "{directory}"\nbind = [{binds}]\nworkers = 1\n'


def binds(config: Path) -> dict[str, list[str]]:
    return {app["name"]: list(app["binds"]) for app in serve_status(config)["apps"]}


def refuses(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(2.0)
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_an_address_handed_from_one_running_app_to_another_is_refused(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / f"{name}.py").write_text(CODE.replace("NAME", name))
    one, two, three = free_port(), free_port(), free_port()
    text = server_table() + table(tmp_path, "a", one) + table(tmp_path, "b", two)
    with serve_up(tmp_path, text, {"a": 1, "b": 1}) as master:
        (tmp_path / "a.py").write_text(CODE.replace("NAME", "a") + "\ndef broken(:\n")
        master.config.write_text(server_table() + table(tmp_path, "a", one, two) + table(tmp_path, "b", three))
        reloaded = serve("reload", config=master.config)
        assert reloaded.returncode == 1, reloaded
        line = server_table().count("\n") + 4  # a's bind line
        assert f"{master.config}:{line}: apps.a.bind[1]: 127.0.0.1:{two} moves from b to a" in reloaded.stderr
        assert "give it to a while b still binds it" in reloaded.stderr
        assert get(("127.0.0.1", two))[1] == "b v1"
        assert binds(master.config) == {"a": [f"127.0.0.1:{one}"], "b": [f"127.0.0.1:{two}"]}
        assert refuses(three)
        assert master.stop() == 0, master.output


def test_an_address_a_failed_reload_gave_an_app_is_closed_and_not_shown(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(CODE.replace("NAME", "a"))
    one, two = free_port(), free_port()
    with serve_up(tmp_path, server_table() + table(tmp_path, "a", one), {"a": 1}) as master:
        (tmp_path / "a.py").write_text(CODE.replace("NAME", "a") + "\ndef broken(:\n")
        master.config.write_text(server_table() + table(tmp_path, "a", one, two))
        reloaded = serve("reload", config=master.config)
        assert reloaded.returncode == 1, reloaded
        assert "SyntaxError" in reloaded.stderr, reloaded.stderr
        deadline = time.monotonic() + WAIT_S
        while binds(master.config)["a"] != [f"127.0.0.1:{one}"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert binds(master.config) == {"a": [f"127.0.0.1:{one}"]}
        assert refuses(two)  # closed, not listening with nobody to serve it
        assert get(("127.0.0.1", one))[1] == "a v1"
        # Fixed, the next reload binds the address again.
        (tmp_path / "a.py").write_text(CODE.replace("NAME", "a").replace("v1", "v2"))
        reloaded = serve("reload", config=master.config)
        assert reloaded.returncode == 0, reloaded
        assert get(("127.0.0.1", two))[1] == "a v2"
        assert binds(master.config) == {"a": [f"127.0.0.1:{one}", f"127.0.0.1:{two}"]}
        assert master.stop() == 0, master.output


def test_a_bind_failure_at_reload_names_the_file_line_and_key(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(CODE.replace("NAME", "a"))
    one = free_port()
    with socket.socket() as held, serve_up(tmp_path, server_table() + table(tmp_path, "a", one), {"a": 1}) as master:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        master.config.write_text(server_table() + table(tmp_path, "a", one) + table(tmp_path, "c", taken))
        reloaded = serve("reload", config=master.config)
        assert reloaded.returncode == 1, reloaded
        line = server_table().count("\n") + 9  # c's bind line
        said = f"{master.config}:{line}: apps.c.bind[0]: 127.0.0.1:{taken}: address already in use"
        assert said in reloaded.stderr, reloaded.stderr
        assert master.stop() == 0, master.output
