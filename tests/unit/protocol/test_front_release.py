"""Front.release: a closed connection's front, parser and sink are freed without the garbage collector."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from protocol_recorder import Recorder

from supervisor.protocol.base import Front
from supervisor.protocol.front_h11 import H11Front
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


FRONTS = [HttptoolsFront, H11Front]
CHUNKED_START = b"POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"


@pytest.mark.parametrize("released", [True, False])
@pytest.mark.parametrize("kind", FRONTS)
def test_a_released_front_lets_go_of_its_sink(collector_off: None, released: bool, kind: type[Front]) -> None:
    sink = Recorder()
    front = kind(sink, max_head_size=8192)  # type: ignore[call-arg]
    front.feed(GET)
    assert len(sink.requests) == 1
    alive = weakref.ref(sink)
    if released:
        front.release()
    del front, sink
    # Without release, the front (and llhttp's parser) and the sink point at each other.
    # Recorder does not point back at the front, so only llhttp's parser makes a cycle here.
    assert (alive() is None) is (released or kind is H11Front)


@pytest.mark.parametrize("kind", FRONTS)
def test_a_front_released_inside_a_chunked_body_lets_go_of_its_sink(collector_off: None, kind: type[Front]) -> None:
    sink = Recorder()
    front = kind(sink, max_head_size=8192)  # type: ignore[call-arg]
    front.feed(CHUNKED_START)  # the body reader holds the sink's on_body
    alive = weakref.ref(sink)
    front.release()
    del sink
    assert alive() is None
    del front


@pytest.mark.parametrize("kind", FRONTS)
def test_releasing_twice_does_nothing_more(kind: type[Front]) -> None:
    front = kind(Recorder(), max_head_size=8192)  # type: ignore[call-arg]
    front.release()
    front.release()
