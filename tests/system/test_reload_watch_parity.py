"""Development reload watches what uvicorn's does: the working directory under `serve run
--app-dir`, and --reload-include / --reload-exclude patterns that name a directory ("sub/*.txt").

Each test writes a small project into tmp_path and watches the master's "changed" lines: a
file is written again every half second until its change is reported (the watcher process may
still be starting), bounded by CHANGE_WAIT_S.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from support import ServeProcess

pytestmark = pytest.mark.system

APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})
"""
CHANGE_WAIT_S = 10.0


def reload_run(directory: Path, app_dir: Path, *options: str) -> ServeProcess:
    (app_dir / "devapp.py").write_text(APP)
    process = ServeProcess(
        ["run", "devapp:app", "--uds", str(directory / "app.sock"), "--reload", "--app-dir", str(app_dir), *options],
        cwd=directory,
    )
    process.wait_for_line(r"devapp: 1 worker of generation 1 ready")
    return process


def touch_until_reported(process: ServeProcess, path: Path) -> str:
    """Write `path` until the master reports it changed; the line that says so."""
    pattern = re.compile(rf"changed: .*{re.escape(path.name)}")
    deadline = time.monotonic() + CHANGE_WAIT_S
    while time.monotonic() < deadline:
        mark = len(process.lines)
        path.write_text(str(time.monotonic()))
        try:
            return process.wait_for_line(pattern, timeout=0.5, start=mark).string
        except AssertionError:
            continue
    raise AssertionError(f"a change to {path} was never reported:\n{process.output}")


def test_serve_run_with_an_app_dir_watches_the_working_directory(tmp_path: Path) -> None:
    # uvicorn --reload --app-dir src watches the directory it was started in, src included.
    (tmp_path / "src").mkdir()
    process = reload_run(tmp_path, tmp_path / "src")
    try:
        assert process.wait_for_line(r"Watching devapp's files: (.*)").group(1) == str(tmp_path)
        touch_until_reported(process, tmp_path / "settings.py")
        touch_until_reported(process, tmp_path / "src" / "devapp.py")
    finally:
        assert process.stop() == 0


def test_an_include_with_a_directory_triggers(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    process = reload_run(tmp_path, tmp_path, "--reload-include", "sub/*.txt")
    try:
        touch_until_reported(process, tmp_path / "sub" / "c.txt")
    finally:
        assert process.stop() == 0


def test_an_exclude_with_a_directory_excludes(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    process = reload_run(tmp_path, tmp_path, "--reload-exclude", "sub/*")
    try:
        # The excluded file is written before each write of the included one: the watcher sees
        # the two in that order, so a report of the included file follows any of the excluded.
        excluded = tmp_path / "sub" / "d.py"
        deadline = time.monotonic() + CHANGE_WAIT_S
        reported = ""
        while not reported and time.monotonic() < deadline:
            mark = len(process.lines)
            excluded.write_text(str(time.monotonic()))
            (tmp_path / "top.py").write_text(str(time.monotonic()))
            try:
                reported = process.wait_for_line(r"changed: .*top\.py", timeout=0.5, start=mark).string
            except AssertionError:
                continue
        assert reported, process.output
        assert not [line for line in process.lines if "changed" in line and "d.py" in line]
    finally:
        assert process.stop() == 0
