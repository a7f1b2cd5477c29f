"""How a reload ends (master/reloads.py), on a fake clock: every answer within its bound."""

from __future__ import annotations

import dataclasses

import pytest

from supervisor.master.reloads import (
    RELOAD_ANSWER_GRACE_S,
    RELOAD_NEVER_READY_WAIT_S,
    Outcome,
    Progress,
    Waiting,
    describe,
    outcome,
    restart_needed,
)

ROLLING = Progress(generation=2, desired=2, ready=1, restarts=0, ever_ready=True, stopped=False, last_error=None)
WAITING = Waiting.begin({"api": 2}, {"api": 0}, now=100.0, startup_timeout=60.0)


def test_the_deadline_is_startup_timeout_plus_the_grace() -> None:
    assert WAITING.deadline == 100.0 + 60.0 + RELOAD_ANSWER_GRACE_S


def test_success_once_the_new_generation_is_at_full_strength() -> None:
    assert outcome(WAITING, {"api": ROLLING}, 101.0) is None
    done = dataclasses.replace(ROLLING, ready=2)
    assert outcome(WAITING, {"api": done}, 101.0) == Outcome(True, {"api": 2})


def test_an_abandoned_generation_fails_with_its_reason() -> None:
    back = dataclasses.replace(ROLLING, generation=1, last_error="api[7] exited with code 3 during startup")
    result = outcome(WAITING, {"api": back}, 101.0)
    assert result == Outcome(False, {"api": 2}, "reload failed: api: api[7] exited with code 3 during startup")


def test_an_app_gone_or_stopped_fails() -> None:
    assert outcome(WAITING, {"api": None}, 101.0) == Outcome(False, {"api": 2}, "reload failed: api: stopped")
    stopped = dataclasses.replace(ROLLING, stopped=True)
    assert outcome(WAITING, {"api": stopped}, 101.0) == Outcome(False, {"api": 2}, "reload failed: api: stopped")


def test_a_new_worker_failing_in_an_app_that_cannot_fall_back_is_told_at_once() -> None:
    failing = dataclasses.replace(ROLLING, ready=0, restarts=1, ever_ready=False, last_error="no module named 'x'")
    result = outcome(WAITING, {"api": failing}, 100.5)
    assert result is not None
    assert result.error == "reload failed: api: not ready: no module named 'x' (still retrying)"


def test_a_never_ready_app_is_waited_for_a_short_while_only() -> None:
    starting = dataclasses.replace(ROLLING, ready=0, ever_ready=False)
    assert outcome(WAITING, {"api": starting}, 100.0 + RELOAD_NEVER_READY_WAIT_S - 0.1) is None
    result = outcome(WAITING, {"api": starting}, 100.0 + RELOAD_NEVER_READY_WAIT_S)
    assert result is not None
    assert result.error == (
        "reload failed: api: has never been ready; generation 2 is starting (its workers are still starting)"
    )


def test_any_app_still_rolling_at_the_deadline_is_reported_as_it_stands() -> None:
    assert outcome(WAITING, {"api": ROLLING}, WAITING.deadline - 0.1) is None
    result = outcome(WAITING, {"api": ROLLING}, WAITING.deadline)
    assert result is not None
    assert result.error == "reload failed: api: 1 of 2 workers of generation 2 ready: its workers are still starting"


def test_one_app_rolling_keeps_the_answer_even_when_another_failed() -> None:
    waiting = Waiting.begin({"api": 2, "web": 5}, {"api": 0, "web": 0}, now=0.0, startup_timeout=60.0)
    assert outcome(waiting, {"api": ROLLING, "web": None}, 1.0) is None
    done = dataclasses.replace(ROLLING, ready=2)
    assert outcome(waiting, {"api": done, "web": None}, 1.0) == Outcome(
        False, {"api": 2, "web": 5}, "reload failed: web: stopped"
    )


@pytest.mark.parametrize(
    ("added", "removed", "rolled", "said"),
    [
        ((), (), (), "nothing to do"),
        (("b",), (), ("a",), "added b; rolling a"),
        ((), ("c",), ("a", "b"), "removed c; rolling a, b"),
    ],
)
def test_describe(added: tuple[str, ...], removed: tuple[str, ...], rolled: tuple[str, ...], said: str) -> None:
    assert describe(added, removed, rolled) == said


def test_only_the_pool_timeouts_and_the_pid_file_change_at_reload() -> None:
    changes = ("graceful_timeout", "control_socket", "pid_file", "metrics_bind", "startup_timeout")
    assert restart_needed(changes) == ["control_socket", "metrics_bind"]


def test_a_superseded_reload_succeeds_with_the_newer_generation() -> None:
    newer = dataclasses.replace(ROLLING, generation=3, ready=1, last_error="an error of an earlier reload")
    assert outcome(WAITING, {"api": newer}, 101.0) is None  # follows generation 3, still rolling
    done = dataclasses.replace(newer, ready=2)
    assert outcome(WAITING, {"api": done}, 101.0) == Outcome(True, {"api": 3})


def test_a_superseded_reload_fails_as_the_newer_one_and_says_it_was_superseded() -> None:
    newer = dataclasses.replace(ROLLING, generation=3, ready=0, restarts=1, last_error="api[9] exited with code 1")
    result = outcome(WAITING, {"api": newer}, 101.0)
    assert result == Outcome(
        False,
        {"api": 3},
        "reload failed: api: generation 2 superseded by generation 3 (a newer reload): not ready:"
        " api[9] exited with code 1 (still retrying)",
    )
    late = dataclasses.replace(newer, ready=1, restarts=0, last_error=None)
    result = outcome(WAITING, {"api": late}, WAITING.deadline)
    assert result is not None
    assert result.error == (
        "reload failed: api: generation 2 superseded by generation 3 (a newer reload): 1 of 2 workers of"
        " generation 3 ready: its workers are still starting"
    )
