"""master/backoff.py: the restart delays of a failing app."""

from __future__ import annotations

from supervisor.master.backoff import Backoff, ForkRetry


def test_delays_double_from_the_first_step_to_the_cap() -> None:
    backoff = Backoff(initial_s=0.5, cap_s=30.0, crashloop_after=100)
    assert not backoff.failing
    assert backoff.may_start(0.0)
    assert [backoff.fail(0.0, at_start=False) for _ in range(9)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert not backoff.crashloop


def test_failures_at_start_in_a_row_make_a_crash_loop_retried_at_the_cap() -> None:
    backoff = Backoff(initial_s=0.5, cap_s=30.0, crashloop_after=3)
    assert backoff.fail(10.0, at_start=True) == 0.5
    assert backoff.fail(10.0, at_start=True) == 1.0
    assert not backoff.crashloop
    assert backoff.fail(10.0, at_start=True) == 30.0
    assert backoff.crashloop
    assert backoff.resume_at == 40.0
    assert not backoff.may_start(39.9)
    assert backoff.may_start(40.0)
    assert backoff.succeed() is True
    assert (backoff.failures, backoff.start_failures, backoff.crashloop) == (0, 0, False)
    assert backoff.succeed() is False


def test_a_crash_after_ready_breaks_a_run_of_start_failures() -> None:
    backoff = Backoff(initial_s=0.5, cap_s=30.0, crashloop_after=2)
    backoff.fail(0.0, at_start=True)
    backoff.fail(0.0, at_start=False)
    backoff.fail(0.0, at_start=True)
    assert not backoff.crashloop
    assert backoff.failures == 3


def test_a_very_long_failing_streak_stays_at_the_cap() -> None:
    backoff = Backoff(initial_s=0.5, cap_s=30.0, crashloop_after=10**9)
    for _ in range(5000):
        delay = backoff.fail(0.0, at_start=False)
    assert delay == 30.0


def test_a_failed_fork_waits_a_second_doubling_to_four_counted_once_a_turn() -> None:
    forks = ForkRetry()
    assert forks.may_fork(0.0)
    assert forks.fail(10.0) == 1.0
    assert forks.fail(10.0) is None  # another Spawn of the same turn
    assert not forks.may_fork(10.5)
    assert forks.may_fork(11.0)
    assert forks.resume_at is None  # reached: no deadline any more
    assert [forks.fail(t) for t in (11.0, 13.0, 17.0, 21.0)] == [2.0, 4.0, 4.0, 4.0]
    forks.succeed()
    assert forks.fail(30.0) == 1.0
