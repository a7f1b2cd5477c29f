"""Why a worker went, and when the master gives up (master/exits.py)."""

from __future__ import annotations

from supervisor.master.actions import Reason, WorkerView
from supervisor.master.exits import exit_reason, failed_at_start, no_app_can_start
from supervisor.status.snapshot import WorkerState


def view(pid: int, state: WorkerState, reason: Reason | None) -> WorkerView:
    return WorkerView(pid, 1, state, 0.0, None, 0, 0, reason)


def test_a_retired_worker_went_for_the_reason_it_was_retired() -> None:
    workers = [view(1, WorkerState.READY, None), view(2, WorkerState.RETIRING, Reason.MAX_REQUESTS)]
    assert exit_reason(2, workers, stopping=False, on_trial=False) == "max_requests"


def test_a_worker_nobody_retired_crashed_unless_the_master_stops() -> None:
    workers = [view(1, WorkerState.READY, None)]
    assert exit_reason(1, workers, stopping=False, on_trial=False) == "crash"
    assert exit_reason(1, workers, stopping=True, on_trial=False) == "stop"
    assert exit_reason(9, workers, stopping=False, on_trial=False) == "crash"  # unknown to its pool


def test_a_worker_of_a_reload_on_trial_that_fails_to_start_is_a_failed_reload_not_a_crash() -> None:
    workers = [view(1, WorkerState.STARTING, None), view(2, WorkerState.READY, None)]
    assert exit_reason(1, workers, stopping=False, on_trial=True) == "reload_failed"
    assert exit_reason(2, workers, stopping=False, on_trial=True) == "crash"  # it had served: a crash
    assert exit_reason(1, workers, stopping=True, on_trial=True) == "stop"


def test_exit_code_3_before_ever_being_ready_is_a_failure_at_start() -> None:
    assert failed_at_start(3, "crash", was_ready=False, app_ever_ready=False)
    assert not failed_at_start(3, "crash", was_ready=True, app_ever_ready=True)
    assert not failed_at_start(3, "crash", was_ready=False, app_ever_ready=True)  # the app is known to start


def test_the_app_s_own_exit_or_a_hung_startup_before_ever_being_ready_is_a_failure_at_start() -> None:
    assert failed_at_start(1, "crash", was_ready=False, app_ever_ready=False)  # os._exit(1) at import
    assert failed_at_start(-6, "startup_timeout", was_ready=False, app_ever_ready=False)  # killed: it hung
    assert not failed_at_start(-9, "crash", was_ready=False, app_ever_ready=False)  # the OOM killer: retried
    assert not failed_at_start(0, "crash", was_ready=False, app_ever_ready=False)
    assert not failed_at_start(1, "scale", was_ready=False, app_ever_ready=False)  # the master asked it to go
    assert not failed_at_start(1, "crash", was_ready=False, app_ever_ready=True)


def test_the_master_gives_up_only_when_every_app_failed_at_start() -> None:
    assert no_app_can_start([True, True])
    assert not no_app_can_start([True, False])
    assert not no_app_can_start([])
