"""Fixtures of the system tests: files the test apps wait on, and short unix socket paths."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def release_file(tmp_path: Path) -> Path:
    """A path that does not exist yet; system_apps' /hold route answers once the test creates it."""
    return tmp_path / "release"


@pytest.fixture
def uds_path() -> Iterator[Path]:
    """A unix socket path short enough for AF_UNIX's 108-byte limit, whatever pytest's tmp_path is."""
    with tempfile.TemporaryDirectory(prefix="serve-") as directory:
        yield Path(directory) / "serve.sock"
