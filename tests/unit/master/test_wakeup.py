"""master/wakeup.py: signals recorded in order, the selector woken, handlers put back (real signals to this process)."""

from __future__ import annotations

import os
import selectors
import signal
from collections import Counter
from collections.abc import Iterator

import pytest

from supervisor.master.wakeup import MASTER_SIGNALS, Wakeup

WAIT_S = 5.0


@pytest.fixture
def wakeup() -> Iterator[Wakeup]:
    with Wakeup() as installed:
        yield installed


def wait_for(wakeup: Wakeup, *wanted: int) -> list[int]:
    """Every signal drained, waking on the selector, until each of `wanted` (with repeats) has come."""
    received: list[int] = []
    with selectors.DefaultSelector() as selector:
        selector.register(wakeup.fileno(), selectors.EVENT_READ)
        for _ in range(50):
            if not Counter(wanted) - Counter(received):
                break
            assert selector.select(WAIT_S), f"no wake-up within {WAIT_S} s; got {received}"
            received += wakeup.drain()
    return received


def test_every_master_signal_gets_a_recording_handler_and_gets_its_old_one_back() -> None:
    before = {signum: signal.getsignal(signum) for signum in MASTER_SIGNALS}
    with Wakeup() as wakeup:
        assert wakeup.signals == MASTER_SIGNALS
        for signum in MASTER_SIGNALS:
            assert signal.getsignal(signum) not in (before[signum], signal.SIG_DFL, signal.SIG_IGN)
    assert {signum: signal.getsignal(signum) for signum in MASTER_SIGNALS} == before


def test_signals_wake_the_selector_and_drain_in_the_order_received(wakeup: Wakeup) -> None:
    assert wakeup.drain() == []
    sent = [signal.SIGUSR1, signal.SIGHUP, signal.SIGTTIN, signal.SIGUSR1, signal.SIGTTOU]
    for signum in sent:
        os.kill(os.getpid(), signum)
    assert wait_for(wakeup, *sent) == sent
    assert wakeup.drain() == []


def test_a_child_exit_wakes_the_loop(wakeup: Wakeup) -> None:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child exits at once
        os._exit(0)
    try:
        assert signal.SIGCHLD in wait_for(wakeup, signal.SIGCHLD)
    finally:
        os.waitpid(pid, 0)


def test_only_the_chosen_signals_are_handled() -> None:
    before = signal.getsignal(signal.SIGHUP)
    with Wakeup([signal.SIGUSR2]) as wakeup:
        assert wakeup.signals == (signal.SIGUSR2,)
        assert signal.getsignal(signal.SIGHUP) == before
        os.kill(os.getpid(), signal.SIGUSR2)
        assert wait_for(wakeup, signal.SIGUSR2) == [signal.SIGUSR2]


def test_a_signal_that_cannot_be_handled_leaves_nothing_installed() -> None:
    before = signal.getsignal(signal.SIGUSR1)
    with pytest.raises(OSError):
        Wakeup([signal.SIGUSR1, signal.SIGKILL])
    assert signal.getsignal(signal.SIGUSR1) == before
    assert signal.set_wakeup_fd(-1) == -1


def test_restore_puts_back_the_previous_wakeup_descriptor_and_is_idempotent() -> None:
    outer = Wakeup([signal.SIGUSR2])
    try:
        inner = Wakeup([signal.SIGUSR1])
        inner.restore()
        inner.restore()
        # The outer object's descriptor is the active one again: its signal still wakes it.
        os.kill(os.getpid(), signal.SIGUSR2)
        assert wait_for(outer, signal.SIGUSR2) == [signal.SIGUSR2]
    finally:
        outer.restore()
    assert signal.set_wakeup_fd(-1) == -1
