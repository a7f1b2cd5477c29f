"""serve.toml.example, as `scripts/up` serves it: a valid file whose every app imports as an ASGI 3 app."""

from __future__ import annotations

import inspect
import pkgutil
import sys
from pathlib import Path

import pytest

import supervisor.demo
from supervisor.asgi.loader import detect_interface, load_app
from supervisor.config.loader import load_file
from supervisor.config.schema import ServeFile

EXAMPLE = Path(__file__).resolve().parents[2] / "serve.toml.example"


@pytest.fixture(scope="module")
def example() -> ServeFile:
    return load_file(EXAMPLE)  # ConfigError, listing every problem, if the file went stale


def test_the_example_is_valid_and_anchored_where_it_lies(example: ServeFile) -> None:
    assert example.path == str(EXAMPLE)
    assert example.apps, "the example serves no app"
    assert Path(example.server.control_socket) == EXAMPLE.parent / "serve.sock"  # relative to the file


def test_every_app_target_imports_as_an_asgi3_app(example: ServeFile, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))  # an app_dir would go first on it
    for name, app in example.apps.items():
        assert isinstance(app.app, str), name
        loaded = load_app(app.app, factory=app.factory, interface=app.interface, app_dir=app.app_dir)
        assert detect_interface(loaded) == "asgi3", name
        assert inspect.iscoroutinefunction(loaded) or inspect.iscoroutinefunction(type(loaded).__call__), name


def test_the_example_shows_every_demo_app(example: ServeFile) -> None:
    demos = {f"supervisor.demo.{module.name}" for module in pkgutil.iter_modules(supervisor.demo.__path__)}
    targets = {str(app.app).partition(":")[0] for app in example.apps.values()}
    assert targets == demos
