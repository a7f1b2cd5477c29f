"""What `serve up` would trip over in a valid file (supervisor/preflight.py): each problem at its key and line."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest

from supervisor import preflight, registry
from supervisor.config.loader import load_file
from supervisor.config.schema import ServeFile
from supervisor.errors import Problem


def load(tmp_path: Path, text: str) -> ServeFile:
    config = tmp_path / "serve.toml"
    config.write_text(textwrap.dedent(text))
    return load_file(config)


def told(problems: Sequence[Problem]) -> list[str]:
    return [str(problem).split(": ", 1)[1] for problem in problems]


def test_a_key_from_defaults_is_located_there(tmp_path: Path) -> None:
    serve_file = load(
        tmp_path,
        """\
        [defaults]
        group = "no-such-group-of-serve"

        [apps.web]
        app = "m:app"
        user = "0"
        """,
    )
    assert [str(p) for p in preflight.startup_problems(serve_file)] == [
        f'{serve_file.path}:2: defaults.group: no such group: "no-such-group-of-serve"'
    ]


def test_switching_users_needs_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serve_file = load(tmp_path, '[apps.web]\napp = "m:app"\nuser = "0"\ngroup = "0"\n')
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert told(preflight.startup_problems(serve_file)) == [
        "apps.web.user: switching user needs root; serve runs as uid 1000"
    ]


def test_an_unwritable_directory_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serve_file = load(tmp_path, '[server]\npid_file = "serve.pid"\n[apps.web]\napp = "m:app"\n')
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert told(preflight.startup_problems(serve_file))[0].startswith("server.control_socket: directory not writable")


def test_binds_that_differ_only_in_spelling_clash(tmp_path: Path) -> None:
    serve_file = load(
        tmp_path,
        """\
        [server]
        metrics_bind = "unix:m.sock"
        health_bind = "[::1]:18240"

        [apps.web]
        app = "m:app"
        bind = ["127.0.0.1:18241", "[0:0::1]:18240", "127.0.0.1:0", "fd://3"]

        [apps.api]
        app = "m:app"
        bind = ["localhost:18241", "unix:./m.sock", "0.0.0.0:18242", "127.0.0.1:0"]
        """,
    )
    assert told(preflight.check_problems(serve_file)) == [
        "apps.web.bind[1]: [::1]:18240 is already bound by server.health_bind = [::1]:18240",
        "apps.api.bind[0]: localhost:18241 is already bound by apps.web.bind[0] = 127.0.0.1:18241"
        " (both are 127.0.0.1:18241)",
        "apps.api.bind[1]: unix:./m.sock is already bound by server.metrics_bind = unix:m.sock"
        f" (both are unix:{os.getcwd()}/m.sock)",
    ]


def test_a_bind_failure_names_the_key_and_the_running_master(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serve_file = load(tmp_path, '[apps.web]\napp = "m:app"\nbind = ["127.0.0.1:18243"]\n')
    monkeypatch.setattr(registry, "live_masters", lambda: [registry.Entry(77, "/x.sock", serve_file.path)])
    assert preflight.explain_bind_failure(serve_file, "127.0.0.1:18243: address already in use").splitlines() == [
        f"{serve_file.path}:3: apps.web.bind[0]: 127.0.0.1:18243: address already in use",
        f"this file's own master is already running (pid 77): `serve reload -c {serve_file.path}` applies changes"
        " to it; `serve stop` it first to start another",
    ]
    socket_error = f"unix:{tmp_path}/serve.sock: permission denied"
    assert preflight.explain_bind_failure(serve_file, socket_error) == (
        f"{serve_file.path}: server.control_socket: {socket_error}"
    )
    monkeypatch.setattr(registry, "live_masters", list)
    assert preflight.explain_bind_failure(serve_file, "10.0.0.1:1: address already in use") == (
        "10.0.0.1:1: address already in use"
    )


def test_a_file_changed_since_it_was_loaded_still_reports_without_lines(tmp_path: Path) -> None:
    serve_file = load(tmp_path, '[apps.web]\napp = "m:app"\nuser = "no-such-user-of-serve"\n')
    Path(serve_file.path).write_text("not = [toml")
    assert [str(p) for p in preflight.startup_problems(serve_file)] == [
        f'{serve_file.path}: apps.web.user: no such user: "no-such-user-of-serve"'
    ]
    os.unlink(serve_file.path)
    assert len(preflight.startup_problems(serve_file)) == 1
