"""HttptoolsFront.release: a closed connection's front, parser and sink are freed without the garbage collector."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from protocol_recorder import Recorder

from supervisor.protocol.front_httptools import HttptoolsFront

GET = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"


@pytest.fixture
def collector_off() -> Iterator[None]:
    """Only reference counting frees objects while a test runs: what it keeps alive, a cycle holds."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.parametrize("released", [True, False])
def test_a_released_front_lets_go_of_its_sink(collector_off: None, released: bool) -> None:
    sink = Recorder()
    front = HttptoolsFront(sink, max_head_size=8192)
    front.feed(GET)
    assert len(sink.requests) == 1
    alive = weakref.ref(sink)
    if released:
        front.release()
    del front, sink
    # Without release, llhttp's parser and the front point at each other and keep the sink.
    assert (alive() is None) is released


def test_releasing_twice_does_nothing_more() -> None:
    front = HttptoolsFront(Recorder(), max_head_size=8192)
    front.release()
    front.release()
