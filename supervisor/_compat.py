"""Differences between the Python versions we support, kept in one place."""

from __future__ import annotations

import importlib
import sys
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the test machines run 3.11; tomli is the same parser, published for 3.10
    tomllib = importlib.import_module("tomli")

TOMLDecodeError: type[ValueError] = tomllib.TOMLDecodeError


def parse_toml(text: str) -> dict[str, Any]:
    """Parse TOML text into plain Python values (tomllib below 3.11's name: tomli).

    Raises:
        TOMLDecodeError: the text is not valid TOML; the message ends with "(at line L, column C)".
    """
    document: dict[str, Any] = tomllib.loads(text)
    return document
