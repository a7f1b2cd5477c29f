"""The one rule for an app's environment: the shell wins over env_file, the TOML env table over both."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisor.asgi import environment
from supervisor.asgi.environment import apply_environment


@pytest.fixture(autouse=True)
def environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """os.environ as it was, after each test (dotenv writes it directly), and nothing settled."""
    monkeypatch.setattr(environment, "_settled_in", None)
    saved = dict(os.environ)
    for name in ("ENV_SHELL", "ENV_FILE", "ENV_TABLE", "ENV_LATER"):
        os.environ.pop(name, None)
    yield
    os.environ.clear()
    os.environ.update(saved)


def _env_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "app.env"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_the_shell_wins_over_env_file_and_env_wins_over_both(tmp_path: Path) -> None:
    os.environ["ENV_SHELL"] = "shell"
    os.environ["ENV_TABLE"] = "shell"
    env_file = _env_file(tmp_path, "ENV_SHELL=file\nENV_FILE=file\nENV_TABLE=file\n")
    apply_environment(env_file, {"ENV_TABLE": "table"})
    assert (os.environ["ENV_SHELL"], os.environ["ENV_FILE"], os.environ["ENV_TABLE"]) == ("shell", "file", "table")


def test_without_a_file_only_the_table_is_set() -> None:
    apply_environment(None, {"ENV_TABLE": "table"})
    assert os.environ["ENV_TABLE"] == "table"
    assert "ENV_FILE" not in os.environ


def test_a_file_variable_may_refer_to_the_shell(tmp_path: Path) -> None:
    os.environ["ENV_SHELL"] = "shell"
    apply_environment(_env_file(tmp_path, "ENV_FILE=${ENV_SHELL}-and-file\n"), {})
    assert os.environ["ENV_FILE"] == "shell-and-file"


def test_once_settled_by_a_worker_bootstrap_later_calls_change_nothing(tmp_path: Path) -> None:
    env_file = _env_file(tmp_path, "ENV_FILE=first\n")
    apply_environment(env_file, {"ENV_TABLE": "table"}, settle=True)
    # The server's call after the privilege drop: the file may be unreadable by now; it is not read.
    Path(env_file).write_text("ENV_LATER=second\n", encoding="utf-8")
    os.environ["ENV_TABLE"] = "changed by the app's own bootstrap code"
    apply_environment(env_file, {"ENV_TABLE": "table"})
    assert "ENV_LATER" not in os.environ
    assert os.environ["ENV_TABLE"] == "changed by the app's own bootstrap code"


def test_unsettled_calls_apply_again(tmp_path: Path) -> None:
    env_file = _env_file(tmp_path, "ENV_FILE=first\n")
    apply_environment(env_file, {})
    Path(env_file).write_text("ENV_LATER=second\n", encoding="utf-8")
    apply_environment(env_file, {})
    assert os.environ["ENV_LATER"] == "second"


def test_a_settlement_belongs_to_the_process_that_made_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(environment, "_settled_in", os.getpid() + 1)  # the parent of a forked child
    apply_environment(_env_file(tmp_path, "ENV_FILE=file\n"), {})
    assert os.environ["ENV_FILE"] == "file"
