"""server/worker.py: the slot observer's own guards (RSS read, max_memory, a vanished master) and exit codes."""

from __future__ import annotations

import errno
import logging
import os
from types import SimpleNamespace
from typing import Any

import pytest

from supervisor.config.schema import AppConfig
from supervisor.errors import EXIT_OK, EXIT_STARTUP, StartupError
from supervisor.server import worker as worker_module
from supervisor.server.server import Server
from supervisor.server.state import ConnectionLimits, ServerState
from supervisor.server.worker import EXIT_CRASH, ORPHAN_EXIT_GRACE_S, SlotObserver, run_worker
from supervisor.status.slots import SlotState, SlotTable, SlotWriter, WorkerCounters


class FakeServer:
    def __init__(self) -> None:
        self.should_exit = False
        self.retired = 0

    def retire(self) -> None:
        self.retired += 1
        self.should_exit = True


class Process:
    """psutil.Process stand-in: an RSS to report, or an error to raise."""

    def __init__(self, rss: int) -> None:
        self.rss = rss
        self.error: Exception | None = None

    def memory_info(self) -> Any:
        if self.error is not None:
            raise self.error
        return SimpleNamespace(rss=self.rss)


def observer_for(table: SlotTable, *, max_memory: int = 0, rss: int = 10 << 20) -> tuple[SlotObserver, FakeServer]:
    slot = table.allocate(generation=1, started_at=0.0)
    observer = SlotObserver(SlotWriter(table, slot), WorkerCounters(), max_memory=max_memory, graceful_timeout=3)
    observer.process = Process(rss)  # type: ignore[assignment]
    server = FakeServer()
    observer.server = server  # type: ignore[assignment]
    return observer, server


def state() -> ServerState:
    return ServerState(app=None, loop=None, limits=ConnectionLimits(), http="h11")  # type: ignore[arg-type]


def test_a_failed_rss_read_still_flushes_the_heartbeat_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    table = SlotTable(1)
    observer, _ = observer_for(table)
    observer.tick(state())
    before = table.read(0).heartbeat
    observer.process.error = OSError(errno.EMFILE, "Too many open files")  # type: ignore[attr-defined]
    with caplog.at_level(logging.WARNING, logger="serve.error"):
        observer.tick(state())
        observer.tick(state())
    sample = table.read(0)
    assert sample.heartbeat > before
    assert sample.rss_bytes == 10 << 20  # the last reading stands
    warnings = [r.getMessage() for r in caplog.records if "resident memory" in r.getMessage()]
    assert len(warnings) == 1
    assert "Too many open files" in warnings[0]


def test_over_max_memory_the_worker_retires_itself_once() -> None:
    observer, server = observer_for(SlotTable(1), max_memory=100 << 20, rss=101 << 20)
    observer.tick(state())
    assert server.retired == 0  # served nothing yet: at the app's baseline, which a replacement would have too
    observer.counters.requests = 1
    observer.process.rss = 100 << 20  # type: ignore[attr-defined]
    observer.tick(state())
    assert server.retired == 0  # at the limit is not over it
    observer.process.rss = 101 << 20  # type: ignore[attr-defined]
    observer.tick(state())
    observer.tick(state())
    assert server.retired == 1


def test_over_max_memory_without_http_requests_retires_on_websockets_or_growth_since_ready() -> None:
    table = SlotTable(1)
    observer, server = observer_for(table, max_memory=100 << 20, rss=95 << 20)
    observer.ready(state())  # its baseline: 95 MiB
    observer.process.rss = 101 << 20  # type: ignore[attr-defined]
    observer.tick(state())
    assert server.retired == 0  # 6 MiB over its baseline: within a tenth of the limit
    holding = state()
    holding.websockets = 1  # a WebSocket held open: the growth is its own
    observer.tick(holding)
    assert server.retired == 1

    observer, server = observer_for(SlotTable(1), max_memory=100 << 20, rss=80 << 20)
    observer.tick(state())  # before it is ready, the app's start is its baseline: not judged
    observer.process.rss = 101 << 20  # type: ignore[attr-defined]
    observer.tick(state())
    assert server.retired == 0
    observer.process.rss = 80 << 20  # type: ignore[attr-defined]
    observer.ready(state())
    observer.process.rss = 101 << 20  # type: ignore[attr-defined]  # a background task's leak: +21 MiB
    observer.tick(state())
    assert server.retired == 1


def test_no_memory_limit_never_retires() -> None:
    observer, server = observer_for(SlotTable(1), rss=1 << 40)
    observer.tick(state())
    assert server.retired == 0


def test_an_orphan_stops_and_arms_its_own_deadline_once(monkeypatch: pytest.MonkeyPatch) -> None:
    observer, server = observer_for(SlotTable(1))
    monkeypatch.setattr(os, "getppid", lambda: observer.master + 1)
    observer.tick(state())
    timer = observer.orphan_exit
    try:
        assert server.should_exit
        assert timer is not None
        assert timer.daemon
        assert timer.interval == 3 + ORPHAN_EXIT_GRACE_S
        observer.tick(state())
        assert observer.orphan_exit is timer
    finally:
        if timer is not None:
            timer.cancel()


def test_the_master_still_there_changes_nothing() -> None:
    observer, server = observer_for(SlotTable(1))
    observer.tick(state())
    assert observer.orphan_exit is None
    assert not server.should_exit


class Run:
    """Server.run stand-ins for run_worker's exit codes."""

    def __init__(self, error: BaseException | None, *, started: bool) -> None:
        self.error = error
        self.started = started

    def __call__(self, server: Any, sockets: Any) -> None:
        server.started = self.started
        if self.error is not None:
            raise self.error


@pytest.mark.parametrize(
    ("error", "started", "code"),
    [
        (None, True, EXIT_OK),
        (StartupError("no such module"), False, EXIT_STARTUP),
        (StartupError("raised after the start"), True, EXIT_CRASH),  # 3 means "could not start", only that
        (OSError(errno.EMFILE, "Too many open files"), True, EXIT_CRASH),
        (OSError(errno.EADDRINUSE, "in use"), False, EXIT_CRASH),
    ],
)
def test_run_worker_exit_codes(
    monkeypatch: pytest.MonkeyPatch, error: BaseException | None, started: bool, code: int
) -> None:
    fake = Run(error, started=started)
    monkeypatch.setattr(Server, "run", lambda server, sockets: fake(server, sockets))
    monkeypatch.setattr(worker_module, "configure_logging", lambda config: None)
    table = SlotTable(1)
    slot = table.allocate(generation=1, started_at=0.0)
    assert run_worker(AppConfig(app="m:a", name="api"), [], table, slot) == code
    assert table.read(slot).state is SlotState.EXITED
    assert table.read(slot).pid == os.getpid()
