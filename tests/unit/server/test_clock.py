"""The server clock (Server._tick) and Server.retire, on an in-process Server without sockets."""

from __future__ import annotations

import asyncio
import errno
import itertools
import logging
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from supervisor._types import Receive, Scope, Send
from supervisor.config.schema import AppConfig
from supervisor.server import server as server_module
from supervisor.server.server import Server
from supervisor.server.state import ServerState

STEP_TIMEOUT_S = 5


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    raise AssertionError("no request reaches this app")


class Observer:
    """Counts ticks, keeps each tick's Date line, and fails every tick as an EMFILE would."""

    def __init__(self, *, fail: bool) -> None:
        self.fail = fail
        self.dates: list[bytes] = []
        self.started = asyncio.Event()

    def ready(self, state: ServerState) -> None:
        self.started.set()

    def tick(self, state: ServerState) -> None:
        self.dates.append(state.default_headers.split(b"\r\n", 1)[0])
        if self.fail:
            raise OSError(errno.EMFILE, "Too many open files")

    def draining(self, state: ServerState) -> None:
        pass


class StuckConnection:
    """A connection whose timeout check fails: the clock must sweep the others and go on."""

    task = None

    def sweep(self, now: float) -> None:
        raise RuntimeError("sweep failed")

    def abort(self) -> None:
        pass


def run(scenario: Callable[[], Any]) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(scenario(), timeout=STEP_TIMEOUT_S)

    return asyncio.run(bounded())


def new_server(observer: Observer, **settings: Any) -> Server:
    config = AppConfig(app=app, lifespan="off", **settings)
    return Server(config, install_signal_handlers=False, observer=observer, tick_interval=0.05)


async def until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.01)


def clock_failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("server clock:")]


def test_the_clock_goes_on_through_failing_steps_and_logs_each_kind_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    seconds = itertools.count(1_700_000_000)
    fake_time = SimpleNamespace(time=lambda: float(next(seconds)), monotonic=time.monotonic)
    monkeypatch.setattr(server_module, "time", fake_time)  # every tick a new second for the Date line
    observer = Observer(fail=True)
    server = new_server(observer)

    async def scenario() -> None:
        serving = asyncio.ensure_future(server.serve(sockets=[]))
        await observer.started.wait()
        assert server.state is not None
        server.state.connections.add(StuckConnection())
        await until(lambda: len(observer.dates) >= 5)
        server.state.connections.clear()
        server.should_exit = True
        await serving

    with caplog.at_level(logging.ERROR, logger="serve.error"):
        run(scenario)
    assert len(set(observer.dates)) == len(observer.dates)  # the Date header moved on at every tick
    failures = clock_failures(caplog)
    assert len(failures) == 2, failures
    assert any("the observer failed" in text and "Too many open files" in text for text in failures)
    assert any("a connection's timeouts failed" in text for text in failures)


def test_one_clock_only_after_the_drain_switches_its_interval() -> None:
    observer = Observer(fail=False)
    server = new_server(observer)

    async def scenario() -> int:
        serving = asyncio.ensure_future(server.serve(sockets=[]))
        await observer.started.wait()
        server._tick()
        server._tick()  # an extra tick replaces the pending one instead of starting a second clock
        before = len(observer.dates)
        await asyncio.sleep(0.26)  # about five intervals of 0.05 s
        ticks = len(observer.dates) - before
        server.should_exit = True
        await serving
        return ticks

    assert run(scenario) <= 7


def test_retire_stops_accepting_at_once_and_marks_the_drain() -> None:
    observer = Observer(fail=False)
    server = new_server(observer, max_requests=3)
    closed: list[str] = []

    async def scenario() -> None:
        serving = asyncio.ensure_future(server.serve(sockets=[]))
        await observer.started.wait()
        server.servers.append(SimpleNamespace(close=lambda: closed.append("closed")))  # type: ignore[arg-type]
        assert server.state is not None
        server.state.max_requests_reached()  # what the connection calls at the third response
        assert closed == ["closed"]  # synchronously: nothing more is accepted
        assert server.state.draining  # heads not written yet say Connection: close
        assert server.should_exit
        await serving

    run(scenario)
