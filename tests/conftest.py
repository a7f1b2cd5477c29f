"""Shared fixtures: both HTTP fronts, and tests/ importable as a package root."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

HTTP_FRONTS = ("httptools", "h11")


@pytest.fixture(params=HTTP_FRONTS)
def http(request: pytest.FixtureRequest) -> str:
    """Every test taking `http` runs once per parser front."""
    return str(request.param)
