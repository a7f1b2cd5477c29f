"""Shared fixtures: both HTTP fronts, and tests/ importable as a package root."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

HTTP_FRONTS = ("httptools", "h11")


@pytest.fixture(params=HTTP_FRONTS)
def http(request: pytest.FixtureRequest) -> str:
    """Every test taking `http` runs once per parser front."""
    return str(request.param)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """For tests that configure logging for real: the serve loggers, root and logs.py's switches put back."""
    from supervisor import logs

    names = [*logs.SERVE_LOGGERS, ""]
    saved = {}
    for name in names:
        logger = logging.getLogger(name)
        saved[name] = (list(logger.handlers), logger.level, logger.propagate, logger.disabled)
    yield
    for name in names:
        logger = logging.getLogger(name)
        handlers, level, propagate, disabled = saved[name]
        for handler in logger.handlers:
            if handler not in handlers:
                handler.close()
        logger.handlers = handlers
        logger.setLevel(level)
        logger.propagate = propagate
        logger.disabled = disabled
    logs._access_on = True
    logs._access_format = None
