"""`serve --version` and `serve check` say so when the import package `supervisor` is not serve's alone."""

from __future__ import annotations

import importlib.metadata

import pytest

import supervisor
from supervisor import cli


def test_serves_own_package_reports_nothing() -> None:
    assert cli.package_clash() is None
    assert "\n" not in cli.version_line()


def test_a_replaced_init_is_reported_and_the_version_still_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervisor, "__doc__", "# this is a package")  # supervisord's __init__.py
    monkeypatch.delattr(supervisor, "__version__")
    clash = cli.package_clash()
    assert clash is not None
    assert f"{supervisor.__file__} is not serve's (another package replaced it)" in clash
    first, warning = cli.version_line().splitlines()
    assert first.startswith(f"serve {importlib.metadata.version('serve-supervisor')} (")
    assert warning == f"warning: {clash}"
