"""The per-user runtime directory where masters register their control sockets (supervisor/registry.py)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

from supervisor import registry


def test_xdg_runtime_dir_is_used_when_writable(tmp_path: Path) -> None:
    folder = registry.runtime_dir({"XDG_RUNTIME_DIR": str(tmp_path)})
    assert folder == str(tmp_path / "serve")
    assert os.stat(folder).st_mode & 0o777 == 0o700


def test_without_xdg_a_private_directory_in_tmp_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    for environ in ({}, {"XDG_RUNTIME_DIR": str(tmp_path / "missing")}, {"XDG_RUNTIME_DIR": "relative"}):
        assert registry.runtime_dir(environ) == str(tmp_path / f"serve-{os.getuid()}")


def test_a_directory_others_may_write_or_a_symlink_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "serve"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(registry.RegistryError, match="may be written by other users"):
        registry.runtime_dir({"XDG_RUNTIME_DIR": str(tmp_path)})
    shared.rmdir()
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    shared.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(registry.RegistryError, match="is not a directory"):
        registry.runtime_dir({"XDG_RUNTIME_DIR": str(tmp_path)})


def test_a_directory_that_cannot_be_created_is_refused(tmp_path: Path) -> None:
    (tmp_path / "serve").mkdir(mode=0o700)
    with pytest.raises(registry.RegistryError, match="cannot create"):
        registry._private(str(tmp_path / "no" / "such" / "place"))


def test_register_writes_one_entry_named_by_pid_and_unregister_removes_only_its_own(tmp_path: Path) -> None:
    path = registry.register("ctl.sock", "serve.toml", pid=4242, directory=str(tmp_path))
    assert path == str(tmp_path / "4242")
    assert json.loads(Path(path).read_text()) == {
        "control_socket": os.path.abspath("ctl.sock"),
        "config": os.path.abspath("serve.toml"),
    }
    registry.unregister("other.sock", pid=4242, directory=str(tmp_path))  # another master's socket by now
    assert Path(path).exists()
    registry.unregister("ctl.sock", pid=4242, directory=str(tmp_path))
    assert not Path(path).exists()
    registry.unregister("ctl.sock", pid=4242, directory=str(tmp_path))  # already gone: nothing to undo


def test_stale_and_unreadable_entries_are_ignored_and_removed(tmp_path: Path) -> None:
    # This process is alive but listens on nothing; the other entries are not entries at all.
    registry.register(str(tmp_path / "nothing.sock"), "serve.toml", directory=str(tmp_path))
    (tmp_path / "12345678").write_text("not json")
    (tmp_path / "notes.txt").write_text("left alone: not named by a pid")
    assert registry.live_masters(str(tmp_path)) == []
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]
    assert registry.live_masters(str(tmp_path / "missing")) == []
