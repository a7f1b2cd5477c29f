"""Fixtures: each test taking `make_front` runs once per parser front."""

from __future__ import annotations

from typing import Any

import pytest
from protocol_recorder import FRONT_TYPES, MakeFront, Recorder

from supervisor.protocol.base import Front


@pytest.fixture(params=sorted(FRONT_TYPES))
def front_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_front(front_kind: str) -> MakeFront:
    """`make_front(max_head_size=..., **recorder_options)` -> (front, recorder) of the parametrized kind."""

    def make(max_head_size: int = 65536, **options: Any) -> tuple[Front, Recorder]:
        recorder = Recorder(**options)
        return FRONT_TYPES[front_kind](recorder, max_head_size=max_head_size), recorder

    return make
