"""Reloads and failed starts say why, in the worker's own words: a `serve reload` reply, a status row and event,
the exit-3 report; the log has the whole traceback. A reload failure is no crash; removing an app is a reload
like any other; `serve reload APP` touches APP alone; a reload that moves an app's bind closes the old socket."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from master_support import (
    READY_TIMEOUT_S,
    app_table,
    free_port,
    get,
    ready_line,
    serve_command as serve,
    serve_up,
    server_table,
    start_master,
    write_config,
)
from support import serve_status

pytestmark = pytest.mark.system

# An app of its own in the test's directory: its code is rewritten by the tests.
CHAT_CODE = """\
import os


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": f"{os.getpid()} chat v1".encode()})
"""
BROKEN = CHAT_CODE + "\n\ndef broken(:\n    pass\n"
BROKEN_LINE = CHAT_CODE.count("\n") + 3
STATUS_WAIT_S = 15.0


def chat_table(directory: Path, port: int, *, target: str = "chat:app") -> str:
    return (
        f'[apps.chat]\napp = "{target}"\napp_dir = "{directory}"\nbind = ["127.0.0.1:{port}"]\n'
        "workers = 1\naccess_log = false\n"
    )


def app_row(config: Path, name: str) -> dict[str, Any]:
    return next(app for app in serve_status(config)["apps"] if app["name"] == name)


def test_a_reload_with_a_syntax_error_names_the_file_and_line_and_is_no_crash(tmp_path: Path) -> None:
    chat = tmp_path / "chat.py"
    chat.write_text(CHAT_CODE)
    port = free_port()
    with serve_up(tmp_path, server_table() + chat_table(tmp_path, port), {"chat": 1}) as master:
        chat.write_text(BROKEN)
        mark = master.mark()
        reloaded = serve("reload", config=master.config)
        assert reloaded.returncode == 1, reloaded
        assert f"SyntaxError: invalid syntax ({chat}, line {BROKEN_LINE})" in reloaded.stderr, reloaded.stderr
        # The log has the traceback: the full path, the line, and the caret under the mistake.
        master.wait_for_line(rf'File "{chat}", line {BROKEN_LINE}', start=mark)
        master.wait_for_line(r"chat\[\d+\] \s*\^$", start=mark)
        row = app_row(master.config, "chat")
        assert row["restarts"] == 0, row
        assert "crash" not in row["exits"], row
        assert row["generation"] == 1
        assert get(("127.0.0.1", port))[1] == "chat v1"
        assert master.stop() == 0, master.output


def test_a_crashlooping_app_shows_its_own_error_in_status(tmp_path: Path) -> None:
    api, chat = free_port(), free_port()
    text = server_table() + app_table("api", bind=[f"127.0.0.1:{api}"], workers=1)
    text += chat_table(tmp_path, chat, target="chatt:app")
    with serve_up(tmp_path, text, {"api": 1}) as master:
        master.wait_for_line(r"chat\[\d+\] could not start: ModuleNotFoundError: No module named 'chatt'")
        deadline = time.monotonic() + STATUS_WAIT_S
        while True:
            status = serve_status(master.config)
            row = next(app for app in status["apps"] if app["name"] == "chat")
            if row["restarts"] >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert "No module named 'chatt'" in (row["last_error"] or ""), row
        crashes = [e for e in status["events"] if e["app"] == "chat" and e["kind"] == "crash"]
        assert crashes, status["events"]
        assert all("No module named 'chatt'" in e["message"] for e in crashes), crashes
        assert master.stop() == 0, master.output


def test_an_app_that_cannot_start_alone_exits_3_saying_why(tmp_path: Path) -> None:
    config = write_config(tmp_path, server_table() + chat_table(tmp_path, free_port(), target="chatt:app"))
    master = start_master(config)
    assert master.wait_exit(timeout=READY_TIMEOUT_S) == 3, master.output
    master.wait_for_line(
        r"No app could start \(chat\[\d+\] could not start: ModuleNotFoundError: No module named 'chatt'"
    )


def test_removing_an_app_from_the_file_is_a_successful_reload(tmp_path: Path) -> None:
    (tmp_path / "chat.py").write_text(CHAT_CODE)
    api, chat = free_port(), free_port()
    api_only = server_table() + app_table("api", bind=[f"127.0.0.1:{api}"], workers=1)
    with serve_up(tmp_path, api_only + chat_table(tmp_path, chat), {"api": 1, "chat": 1}) as master:
        master.config.write_text(api_only)
        mark = master.mark()
        reloaded = serve("reload", config=master.config)
        assert reloaded.returncode == 0, reloaded
        master.wait_for_line(r"reload: removed chat; rolling api", start=mark)
        master.wait_for_line(ready_line("api", 1, generation=2), start=mark)
        deadline = time.monotonic() + STATUS_WAIT_S
        while [app["name"] for app in serve_status(master.config)["apps"]] != ["api"]:
            assert time.monotonic() < deadline, serve_status(master.config)
            time.sleep(0.2)
        with pytest.raises(OSError):  # its socket closed with its last worker
            get(("127.0.0.1", chat), timeout=2)
        assert master.stop() == 0, master.output


def test_reloading_one_app_rolls_and_names_only_that_app(tmp_path: Path) -> None:
    (tmp_path / "chat.py").write_text(CHAT_CODE)
    api, chat = free_port(), free_port()
    text = server_table() + app_table("api", bind=[f"127.0.0.1:{api}"], workers=1) + chat_table(tmp_path, chat)
    with serve_up(tmp_path, text, {"api": 1, "chat": 1}) as master:
        mark = master.mark()
        reloaded = serve("reload", "chat", config=master.config)
        assert reloaded.returncode == 0, reloaded
        assert reloaded.stdout.strip() == "reloaded: chat generation 2 ready"
        line = master.wait_for_line(r"reload: .*", start=mark).group(0)
        assert line.endswith("reload: rolling chat"), line
        assert app_row(master.config, "api")["generation"] == 1
        assert master.stop() == 0, master.output


def test_a_reload_that_moves_a_bind_serves_the_new_address_and_closes_the_old(tmp_path: Path) -> None:
    (tmp_path / "chat.py").write_text(CHAT_CODE)
    old, new = free_port(), free_port()
    with serve_up(tmp_path, server_table() + chat_table(tmp_path, old), {"chat": 1}) as master:
        master.config.write_text(server_table() + chat_table(tmp_path, new))
        reloaded = serve("reload", config=master.config)
        assert reloaded.returncode == 0, reloaded
        assert get(("127.0.0.1", new))[1] == "chat v1"
        deadline = time.monotonic() + STATUS_WAIT_S
        while True:  # the old socket closes once the old generation's worker has gone
            try:
                get(("127.0.0.1", old), timeout=2)
            except OSError:
                break
            assert time.monotonic() < deadline, "the old address still answers"
            time.sleep(0.2)
        snapshot = json.loads(serve("status", "--json", config=master.config).stdout)
        assert snapshot["apps"][0]["binds"] == [f"127.0.0.1:{new}"]
        assert master.stop() == 0, master.output


def test_a_reload_naming_a_missing_user_is_refused_and_the_old_workers_serve(tmp_path: Path) -> None:
    (tmp_path / "chat.py").write_text(CHAT_CODE)
    port = free_port()
    text = server_table() + chat_table(tmp_path, port)
    with serve_up(tmp_path, text, {"chat": 1}) as master:
        master.config.write_text(text + 'user = "serve-no-such-user"\n')
        reloaded = serve("reload", config=master.config)
        assert reloaded.returncode == 1, reloaded
        assert "apps.chat.user" in reloaded.stderr, reloaded.stderr
        assert "serve-no-such-user" in reloaded.stderr, reloaded.stderr
        assert app_row(master.config, "chat")["generation"] == 1  # nothing was forked to crash-loop
        assert get(("127.0.0.1", port))[1] == "chat v1"
        assert master.stop() == 0, master.output
