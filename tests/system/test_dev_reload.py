"""Development reload: edit a file under a running server and the app serves the new code.

Each test writes a small project into tmp_path, changes its files while a bounded client
keeps requesting, and watches the responses switch, with no failed request.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from support import ServeProcess

pytestmark = pytest.mark.system

APP = """
import os
VERSION = "{version}"


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = f"{{VERSION}} {{os.getpid()}}".encode()
    await send({{"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}})
    await send({{"type": "http.response.body", "body": body}})
"""
SWITCH_WAIT_S = 20.0


def write_app(directory: Path, module: str, version: str) -> None:
    (directory / f"{module}.py").write_text(APP.format(version=version))


class Traffic:
    """A bounded client hammering one unix socket in a thread, recording answers and failures."""

    def __init__(self, sock: Path) -> None:
        self.sock = sock
        self.answers: list[str] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(self.sock)), timeout=10) as client:
            for _ in range(100_000):  # bounded; stopped much earlier by the test
                if self._stop.is_set():
                    return
                try:
                    self.answers.append(client.get("http://app/").text)
                except httpx.HTTPError as error:
                    self.failures.append(repr(error))
                time.sleep(0.005)

    def wait_for(self, version: str) -> None:
        deadline = time.monotonic() + SWITCH_WAIT_S
        while time.monotonic() < deadline:
            if self.answers and self.answers[-1].startswith(version + " "):
                return
            time.sleep(0.05)
        raise AssertionError(f"never answered {version}; last answers: {self.answers[-3:]}")

    @contextmanager
    def running(self) -> Iterator[Traffic]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(15)


def test_serve_run_reload_switches_code_without_a_failed_request(tmp_path: Path) -> None:
    write_app(tmp_path, "devapp", "v1")
    sock = tmp_path / "app.sock"
    process = ServeProcess(
        ["run", "devapp:app", "--uds", str(sock), "--reload", "--reload-dir", str(tmp_path), "--no-access-log"],
        cwd=tmp_path,
    )
    try:
        process.wait_for_line(r"devapp: 1 worker of generation 1 ready")
        with Traffic(sock).running() as traffic:
            traffic.wait_for("v1")
            write_app(tmp_path, "devapp", "v2")
            traffic.wait_for("v2")
            (tmp_path / "notes.txt").write_text("not code")  # excluded: *.py only
            (tmp_path / ".hidden.py").write_text("x = 1")  # excluded: dot files
            mark = len(process.lines)
            time.sleep(1.0)  # deliberately let time pass: nothing may reload
            assert not any("changed" in line for line in process.lines[mark:])
        assert traffic.failures == []
    finally:
        assert process.stop() == 0


def test_a_syntax_error_leaves_the_old_code_serving_and_is_reported(tmp_path: Path) -> None:
    write_app(tmp_path, "devapp", "v1")
    sock = tmp_path / "app.sock"
    process = ServeProcess(
        ["run", "devapp:app", "--uds", str(sock), "--reload", "--reload-dir", str(tmp_path), "--workers", "2"],
        cwd=tmp_path,
    )
    try:
        process.wait_for_line(r"devapp: 2 workers of generation 1 ready")
        with Traffic(sock).running() as traffic:
            traffic.wait_for("v1")
            (tmp_path / "devapp.py").write_text("def broken(:\n")
            process.wait_for_line(r"devapp\.py.*line 1|line 1.*devapp\.py")  # where the error is
            process.wait_for_line(r"devapp: generation 2 abandoned")
            time.sleep(0.3)  # deliberately: answers after the abandonment must still be the old code
            assert traffic.answers[-1].startswith("v1 ")
            write_app(tmp_path, "devapp", "v3")
            traffic.wait_for("v3")
        assert traffic.failures == []
    finally:
        assert process.stop() == 0


def test_only_the_app_whose_files_changed_rolls(tmp_path: Path) -> None:
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        write_app(tmp_path / name, f"{name}app", "v1")
    config = tmp_path / "serve.toml"
    config.write_text(
        '[server]\ncontrol_socket = "control.sock"\ngraceful_timeout = 3\n\n'
        + "".join(
            f'[apps.{name}]\napp = "{name}app:app"\napp_dir = "{tmp_path / name}"\nbind = ["unix:{tmp_path / name}.sock"]\n'
            f'workers = 1\nreload = true\nreload_dirs = ["{tmp_path / name}"]\n\n'
            for name in ("one", "two")
        )
    )
    process = ServeProcess(["up", "-c", str(config)])
    try:
        process.wait_for_line(r"one: 1 worker of generation 1 ready")
        process.wait_for_line(r"two: 1 worker of generation 1 ready")
        with Traffic(tmp_path / "one.sock").running() as one, Traffic(tmp_path / "two.sock").running() as two:
            one.wait_for("v1")
            two.wait_for("v1")
            two_pid = two.answers[-1].split()[1]
            write_app(tmp_path / "one", "oneapp", "v2")
            one.wait_for("v2")
            time.sleep(0.5)  # deliberately: "two" keeps answering meanwhile, from the same worker
            assert {answer.split()[1] for answer in two.answers} == {two_pid}
            assert two.answers[-1].startswith("v1 ")
        assert one.failures == two.failures == []
    finally:
        assert process.stop() == 0


def test_watch_config_reloads_when_the_toml_file_changes(tmp_path: Path) -> None:
    write_app(tmp_path, "cfgapp", "v1")
    sock = tmp_path / "app.sock"
    config = tmp_path / "serve.toml"
    text = (
        '[server]\ncontrol_socket = "control.sock"\ngraceful_timeout = 3\nwatch_config = true\n\n'
        f'[apps.app]\napp = "cfgapp:app"\napp_dir = "{tmp_path}"\nbind = ["unix:{sock}"]\nworkers = 1\n'
    )
    config.write_text(text)
    process = ServeProcess(["up", "-c", str(config)])
    try:
        process.wait_for_line(r"app: 1 worker of generation 1 ready")
        config.write_text(text.replace("workers = 1", "workers = 2"))
        process.wait_for_line(r"app: 2 workers of generation 2 ready")
        assert re.search(r"changed: .*serve\.toml", process.output)
    finally:
        assert process.stop() == 0
