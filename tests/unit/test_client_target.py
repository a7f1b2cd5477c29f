"""client.find_target with -c FILE: the socket the file names, else (the file mid-save, or unreadable)
the one its running master registered for that very file (registry.master_of)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisor import registry
from supervisor.client import find_target
from supervisor.errors import ConfigError

GOOD = '[server]\ncontrol_socket = "run/serve.sock"\n\n[apps.api]\napp = "app:app"\n'


@pytest.fixture
def listening(tmp_path: Path) -> Iterator[str]:
    """A unix socket at tmp_path/run/serve.sock, listening, as the master's control socket."""
    (tmp_path / "run").mkdir()
    path = str(tmp_path / "run" / "serve.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(path)
        sock.listen()
        yield path


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "runtime"
    directory.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(directory))
    return directory


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "names {default}, where there is no socket"),  # an editor truncated the file
        (GOOD[:20], "is not valid TOML right now"),  # the first bytes written
        (GOOD.replace('"run/serve.sock"', '"run/serve.sock'), "is not valid TOML right now"),  # mid-typing
        (GOOD.replace("run/serve.sock", "run/new.sock"), "names {new}, where there is no socket"),  # not yet moved
    ],
)
def test_a_file_mid_save_leads_to_the_master_registered_for_it(
    tmp_path: Path, listening: str, runtime: Path, text: str, why: str
) -> None:
    config = tmp_path / "serve.toml"
    registry.register(listening, str(config))  # this process is the "master": alive, and the socket accepts
    config.write_text(text)
    target, note = find_target(str(config), None)
    assert target.control_socket == listening
    assert target.doubt is None
    expected = why.format(default=tmp_path / "serve.sock", new=tmp_path / "run" / "new.sock")
    assert note is not None
    assert expected in note
    assert f"using the master registered for it (pid {os.getpid()}, control socket {listening})" in note


def test_the_file_is_matched_by_its_resolved_path_and_may_even_be_unreadable(
    tmp_path: Path, listening: str, runtime: Path
) -> None:
    real = tmp_path / "real.toml"
    real.write_text(GOOD)
    link = tmp_path / "serve.toml"
    link.symlink_to(real)
    registry.register(listening, str(real))
    real.write_text("")
    target, note = find_target(str(link), None)  # registered under the file the link points to
    assert (target.control_socket, note is not None) == (listening, True)
    real.unlink()  # a dangling link: nothing to read at all
    target, note = find_target(str(link), None)
    assert target.control_socket == listening
    assert f"{link} cannot be read: using the master registered for it" in str(note)


def test_the_files_own_socket_wins_and_without_a_registered_master_nothing_changes(
    tmp_path: Path, listening: str, runtime: Path
) -> None:
    config = tmp_path / "serve.toml"
    config.write_text(GOOD)
    registry.register(str(tmp_path / "other.sock"), str(config))  # listens on nothing: not a live master
    target, note = find_target(str(config), None)
    assert (target.control_socket, note) == (listening, None)
    config.write_text("")
    target, note = find_target(str(config), None)
    assert (target.control_socket, note) == (str(tmp_path / "serve.sock"), None)
    with pytest.raises(ConfigError, match="cannot read the file"):
        find_target(str(tmp_path / "missing.toml"), None)
