"""The control socket, pid file and addresses of a TOML file, found while the file is valid, invalid or mid-edit."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from supervisor.config.convert import TcpBind, UnixBind
from supervisor.config.loader import load_file
from supervisor.config.peek import ControlTarget, control_target, scan_lines
from supervisor.errors import ConfigError

APP = '[apps.web]\napp = "main:app"\nbind = ["127.0.0.1:8100", "unix:/tmp/web.sock"]\n'


def target_of(tmp_path: Path, text: str, name: str = "serve.toml") -> ControlTarget:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return control_target(path)


@pytest.mark.parametrize(
    "server",
    [
        "",
        "[server]\n",
        '[server]\ncontrol_socket = "run/ctl.sock"\npid_file = "serve.pid"\n',
        '[server]\ncontrol_socket = "/tmp/abs.sock"\npid_file = "/tmp/abs.pid"\n',
        '[server]\npid_file = ""\n',
        '[server]\ncontrol_socket = "../up.sock"\n',
    ],
)
def test_a_valid_file_gives_what_the_loader_gives(tmp_path: Path, server: str) -> None:
    path = tmp_path / "conf" / "serve.toml"
    path.parent.mkdir()
    path.write_text(server + APP, encoding="utf-8")
    loaded = load_file(path).server
    target = control_target(path)
    assert (target.control_socket, target.pid_file, target.doubt) == (loaded.control_socket, loaded.pid_file, None)


def test_a_relative_file_path_is_resolved_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "serve.toml").write_text(APP, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    target = control_target(os.path.join("site", "serve.toml"))
    assert target.config_path == os.path.join("site", "serve.toml")  # as the operator wrote it, for messages
    assert target.control_socket == str(tmp_path / "site" / "serve.sock")


def test_a_file_that_does_not_validate_still_names_its_socket(tmp_path: Path) -> None:
    target = target_of(
        tmp_path,
        """\
        [server]
        control_socket = "ctl.sock"
        pid_file = "serve.pid"
        log_level = 7

        [apps.web]
        app = "main:app"
        workers = "four"
        bind = ["127.0.0.1:8100"]
        """,
    )
    assert target.control_socket == str(tmp_path / "ctl.sock")
    assert target.pid_file == str(tmp_path / "serve.pid")
    assert target.binds == (TcpBind("127.0.0.1", 8100),)
    assert target.doubt is None  # the keys it needs are valid: no guess was made


def test_a_file_with_a_syntax_error_is_read_line_by_line(tmp_path: Path) -> None:
    target = target_of(
        tmp_path,
        """\
        [ server ]   # the master
        control_socket = 'run/ctl.sock'  # a literal string
        pid_file = "serve.pid"

        [apps.web]
        app = "main:app"
        workers =
        bind = ["127.0.0.1:8100"]
        """,
    )
    assert target.control_socket == str(tmp_path / "run" / "ctl.sock")
    assert target.pid_file == str(tmp_path / "serve.pid")
    assert target.binds == (TcpBind("127.0.0.1", 8100),)
    assert (
        target.doubt
        == f"{tmp_path / 'serve.toml'} is not valid TOML right now, so control_socket was read line by line"
    )


def test_an_invalid_control_socket_falls_back_to_the_default_and_says_so(tmp_path: Path) -> None:
    target = target_of(tmp_path, "[server]\ncontrol_socket = 5\n" + APP)
    assert target.control_socket == str(tmp_path / "serve.sock")
    assert (
        target.doubt == f"control_socket in {tmp_path / 'serve.toml'} is not valid right now, so its default was used"
    )


def test_a_file_that_cannot_be_read_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"serve\.toml: cannot read the file: No such file or directory$"):
        control_target(tmp_path / "serve.toml")
    with pytest.raises(ConfigError, match=r": cannot read the file: Is a directory$"):
        control_target(tmp_path)


def test_bytes_that_are_not_utf8_elsewhere_do_not_hide_the_socket(tmp_path: Path) -> None:
    path = tmp_path / "serve.toml"
    path.write_bytes(b'[server]\ncontrol_socket = "ctl.sock"\n\n[apps.web]\napp = "caf\xe9:app"\n')
    assert control_target(path).control_socket == str(tmp_path / "ctl.sock")


def test_binds_come_master_first_then_each_app_with_its_defaults(tmp_path: Path) -> None:
    target = target_of(
        tmp_path,
        """\
        [server]
        health_bind = "127.0.0.1:9101"
        metrics_bind = ""

        [defaults]
        bind = ["127.0.0.1:8200"]

        [apps.own]
        app = "a:app"
        bind = ["unix:/tmp/own.sock", "127.0.0.1:9101"]

        [apps.inherits]
        app = "b:app"

        [apps.broken]
        app = "c:app"
        bind = ["nowhere"]

        [apps.empty]
        """,
    )
    assert target.binds == (TcpBind("127.0.0.1", 9101), UnixBind("/tmp/own.sock"), TcpBind("127.0.0.1", 8200))


def test_an_app_without_any_bind_has_the_default_one(tmp_path: Path) -> None:
    assert target_of(tmp_path, '[apps.web]\napp = "a:app"\napps = 1\n').binds == (TcpBind("127.0.0.1", 8000),)


def test_tables_that_are_not_tables_are_ignored(tmp_path: Path) -> None:
    target = target_of(tmp_path, 'server = "x"\napps = 3\ndefaults = []\n')
    assert target.control_socket == str(tmp_path / "serve.sock")
    assert target.binds == ()
    assert target_of(tmp_path, "apps = { web = 1 }\n").binds == ()


def test_an_invalid_pid_file_is_left_out(tmp_path: Path) -> None:
    target = target_of(tmp_path, '[server]\ncontrol_socket = "ctl.sock"\npid_file = 5\n' + APP)
    assert (target.control_socket, target.pid_file, target.doubt) == (str(tmp_path / "ctl.sock"), None, None)


def test_the_line_scan_follows_toml_keys_and_tables() -> None:
    text = """\
server.control_socket = "first.sock"
server.control_socket = "second.sock"
server.pid_file = "serve.pid"
workers = = 3
[apps.web]
control_socket = "not the server's"
bind = [
  "127.0.0.1:1",
]
[[arrays]]
control_socket = "inside an array of tables"
[server.nested]
depth = 2
["apps"."api"]
bind = ["127.0.0.1:8300"]
"""
    assert scan_lines(text) == {
        "server": {"control_socket": "first.sock", "pid_file": "serve.pid", "nested": {"depth": 2}},
        "apps": {"web": {"control_socket": "not the server's"}, "api": {"bind": ["127.0.0.1:8300"]}},
    }


def test_the_line_scan_reads_an_inline_server_table_and_skips_headers_under_values() -> None:
    text = 'server = { control_socket = "inline.sock" }\nname = 1\n[name.sub]\nkey = 2\n[broken\n'
    assert scan_lines(text) == {"server": {"control_socket": "inline.sock"}, "name": 1}
