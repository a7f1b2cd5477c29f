"""HTTP/2 limits for unit tests: the schema's defaults (the one place they are declared), with overrides."""

from __future__ import annotations

import dataclasses
from typing import Any

from supervisor.config.schema import AppConfig
from supervisor.protocol.h2_limits import H2Limits
from supervisor.server.h2_connection import h2_limits


def default_limits(**overrides: Any) -> H2Limits:
    """What an app with no h2_* keys gets, changed by `overrides` (H2Limits field names)."""
    return dataclasses.replace(h2_limits(AppConfig(app="tests:app")), **overrides)
