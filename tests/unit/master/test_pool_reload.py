"""master/pool.py: generations. A reload rolls one for one; a new generation that cannot start is abandoned."""

from __future__ import annotations

from fleet import Fleet, kills, notes, retired, spawns

from supervisor.master.actions import PoolLimits
from supervisor.status.snapshot import AppState, EventKind


def test_reload_rolls_one_for_one_and_never_drops_capacity() -> None:
    fleet = Fleet(PoolLimits(workers=3))
    old = fleet.start()
    fleet.pool.reload()
    actions = fleet.tick()
    assert notes(actions, EventKind.RELOAD) == ["api: starting generation 2 (3 workers)"]
    assert spawns(actions) == [2, 2, 2]
    assert fleet.pool.state is AppState.RELOADING
    assert fleet.pool.generation == 2
    new = list(fleet.spawned)
    assert retired(fleet.later(1)) == []  # nothing retires before a new worker is ready
    for i, pid in enumerate(new):
        actions = fleet.ready(pid)
        assert retired(actions) == [(old[i], "reload")], "the oldest old worker goes first, one for one"
        assert fleet.pool.ready_count == 3
    assert notes(actions, EventKind.READY) == ["api: 3 workers of generation 2 ready"]
    assert fleet.pool.state is AppState.RELOADING  # until the old ones have exited
    fleet.exit(old[0])
    fleet.exit(old[1])
    actions = fleet.exit(old[2])
    assert notes(actions, EventKind.RELOAD) == ["api: generation 2 serving; every older worker has exited"]
    assert fleet.pool.state is AppState.RUNNING
    assert fleet.pool.restarts == 0


def test_a_new_worker_failing_at_startup_abandons_the_reload_and_keeps_the_old_generation() -> None:
    fleet = Fleet(PoolLimits(workers=2))
    old = fleet.start()
    fleet.pool.reload()
    fleet.tick()
    broken, other = fleet.spawned
    actions = fleet.exit(broken, code=3)
    assert notes(actions, EventKind.RELOAD_FAILED) == [
        f"api: generation 2 abandoned: api[{broken}] exited with code 3 during startup; generation 1 serves on"
    ]
    assert kills(actions) == [(other, "SIGKILL", "reload_failed")]
    assert retired(actions) == []
    assert spawns(actions) == []
    assert fleet.pool.generation == 1
    assert fleet.pool.state is AppState.RUNNING
    assert fleet.pool.last_error == f"api[{broken}] exited with code 3 during startup"
    assert sorted(fleet.pids("ready", generation=1)) == old
    assert fleet.exit(other, code=None, signal="SIGKILL") == []
    assert fleet.pool.restarts == 0  # a failed reload: nothing crashed, nothing was restarted
    # The next reload gets a number of its own.
    fleet.pool.reload()
    assert spawns(fleet.tick()) == [3, 3]


def test_a_failed_reload_names_the_workers_own_error_and_counts_no_restart() -> None:
    fleet = Fleet(PoolLimits(workers=1))
    fleet.start()
    fleet.pool.reload()
    fleet.tick()
    (broken,) = fleet.spawned
    assert fleet.pool.on_trial(2)
    assert not fleet.pool.on_trial(1)
    why = "SyntaxError: invalid syntax (/srv/chat.py, line 8)"
    actions = fleet.exit(broken, code=3, reason=why)
    assert notes(actions, EventKind.RELOAD_FAILED) == [
        f"api: generation 2 abandoned: api[{broken}] could not start: {why}; generation 1 serves on"
    ]
    assert notes(actions, EventKind.CRASH) == []
    assert fleet.pool.last_error == f"api[{broken}] could not start: {why}"
    assert fleet.pool.restarts == 0
    assert not fleet.pool.on_trial(2)


def test_an_app_never_ready_has_nothing_to_fall_back_to_so_its_failures_count() -> None:
    fleet = Fleet(PoolLimits(workers=1))
    fleet.tick()
    (first,) = fleet.spawned
    fleet.exit(first, code=3, reason="ModuleNotFoundError: No module named 'chatt'")
    assert fleet.pool.restarts == 1
    assert fleet.pool.last_error == f"api[{first}] could not start: ModuleNotFoundError: No module named 'chatt'"


def test_a_new_worker_that_reports_ready_after_its_generation_was_abandoned_is_killed() -> None:
    fleet = Fleet(PoolLimits(workers=2))
    fleet.start()
    fleet.pool.reload()
    fleet.tick()
    broken, late = fleet.spawned
    fleet.pool.exited(broken, fleet.now, code=1)
    fleet.pool.ready(late, fleet.now)
    assert kills(fleet.tick()) == [(late, "SIGKILL", "reload_failed")]
    assert fleet.pool.ready_count == 2


def test_a_new_generation_not_ready_in_time_is_abandoned() -> None:
    fleet = Fleet(PoolLimits(workers=2, startup_timeout_s=60, kill_grace_s=5))
    old = fleet.start()
    fleet.pool.reload()
    fleet.tick()
    slow, slower = fleet.spawned
    fleet.now = 60.0
    fleet.beat()
    actions = fleet.tick()
    assert kills(actions) == [(slow, "SIGABRT", "startup_timeout"), (slower, "SIGKILL", "reload_failed")]
    assert notes(actions, EventKind.RELOAD_FAILED) == [
        f"api: generation 2 abandoned: api[{slow}] not ready after 60 s (startup_timeout); generation 1 serves on"
    ]
    assert fleet.pool.generation == 1
    assert sorted(fleet.pids("ready")) == old
    fleet.now = 65.0
    fleet.beat()
    assert kills(fleet.tick()) == [(slow, "SIGKILL", "startup_timeout")]


def test_a_new_generation_that_cannot_be_forked_is_abandoned() -> None:
    fleet = Fleet(PoolLimits(workers=2))
    old = fleet.start()
    fleet.pool.reload()
    fleet.fail_spawns = True
    fleet.tick()
    actions = fleet.tick()
    assert notes(actions, EventKind.RELOAD_FAILED) == [
        "api: generation 2 abandoned: could not start a worker: fork: resource temporarily unavailable;"
        " generation 1 serves on"
    ]
    assert sorted(fleet.pids("ready")) == old
    assert fleet.pool.generation == 1


def test_once_a_new_worker_was_ready_later_startup_failures_are_ordinary_crashes() -> None:
    fleet = Fleet(PoolLimits(workers=2))
    old = fleet.start()
    fleet.pool.reload()
    fleet.tick()
    good, flaky = fleet.spawned
    assert retired(fleet.ready(good)) == [(old[0], "reload")]
    actions = fleet.exit(flaky, code=1)
    assert notes(actions, EventKind.RELOAD_FAILED) == []
    assert notes(actions, EventKind.CRASH) == [f"api[{flaky}] exited with code 1 during startup; next start in 0.5 s"]
    assert fleet.pool.generation == 2
    assert spawns(fleet.later(0.5)) == [2]
    actions = fleet.ready(*fleet.spawned)
    assert retired(actions) == [(old[1], "reload")]


def test_a_reload_with_a_new_worker_count_uses_it_and_a_failed_one_restores_the_old() -> None:
    fleet = Fleet(PoolLimits(workers=2, max_requests=0))
    fleet.start()
    fleet.pool.reload(PoolLimits(workers=3, max_requests=100))
    actions = fleet.tick()
    assert spawns(actions) == [2, 2, 2]
    assert fleet.pool.desired == 3
    fleet.exit(fleet.spawned[0], code=1)
    assert fleet.pool.desired == 2
    fleet.pool.scale(4)
    # Same worker count in the settings: the count scaled at run time stays.
    fleet.pool.reload(PoolLimits(workers=2, max_requests=100))
    assert fleet.pool.desired == 4


def test_a_reload_during_a_reload_that_never_got_ready_falls_back_to_the_last_good_generation() -> None:
    fleet = Fleet(PoolLimits(workers=1))
    (good,) = fleet.start()
    fleet.pool.reload(PoolLimits(workers=2))
    fleet.tick()
    first_attempt = list(fleet.spawned)
    fleet.pool.reload(PoolLimits(workers=2))
    actions = fleet.tick()
    assert spawns(actions) == [3, 3]
    broken = fleet.spawned[0]
    actions = fleet.exit(broken, code=1)
    assert notes(actions, EventKind.RELOAD_FAILED)[0].endswith("generation 1 serves on")
    assert fleet.pool.generation == 1
    assert fleet.pool.desired == 1
    # Generation 2's workers, still starting, belong to neither: generation 1 is at full
    # strength, so they are retired.
    assert sorted(retired(actions)) == [(pid, "reload") for pid in first_attempt]
    assert fleet.pids("ready") == [good]


def test_a_reload_during_a_rolling_reload_falls_back_to_the_generation_already_proven() -> None:
    fleet = Fleet(PoolLimits(workers=2))
    old = fleet.start()
    fleet.pool.reload()
    fleet.tick()
    second = list(fleet.spawned)
    fleet.ready(second[0])
    fleet.pool.reload()
    fleet.tick()
    third = list(fleet.spawned)
    actions = fleet.exit(third[0], code=1)
    assert notes(actions, EventKind.RELOAD_FAILED)[0].endswith("generation 2 serves on")
    assert fleet.pool.generation == 2
    # Generation 2 finishes the job it had started: its second worker replaces the last old one.
    assert retired(fleet.ready(second[1])) == [(old[1], "reload")]


def test_a_reload_before_any_worker_was_ready_has_nothing_to_fall_back_to() -> None:
    fleet = Fleet(PoolLimits(workers=1))
    fleet.tick()
    (never,) = fleet.spawned
    fleet.pool.reload()
    actions = fleet.tick()
    assert spawns(actions) == [2]
    (fixed,) = fleet.spawned
    actions = fleet.exit(fixed, code=1)
    assert notes(actions, EventKind.RELOAD_FAILED) == []
    assert notes(actions, EventKind.CRASH) == [f"api[{fixed}] exited with code 1 during startup; next start in 0.5 s"]
    assert fleet.pool.generation == 2
    # The old generation's starting worker failing as well is only reported.
    actions = fleet.exit(never, code=1)
    assert notes(actions, EventKind.CRASH) == [
        f"api[{never}] exited with code 1 during startup (generation 1, being replaced)"
    ]
    assert fleet.pool.state is AppState.RELOADING


def test_a_reload_clears_a_crash_loop_and_tries_at_once() -> None:
    fleet = Fleet(PoolLimits(workers=1, crashloop_after=2))
    fleet.tick()
    for _ in range(2):
        fleet.exit(fleet.spawned[0], code=1)
        fleet.now = fleet.pool.next_deadline() or 0.0
        fleet.tick()
    assert fleet.pool.state is AppState.CRASHLOOP
    (old_probe,) = fleet.spawned
    fleet.pool.reload()
    actions = fleet.tick()
    assert spawns(actions) == [2]
    assert fleet.pool.state is AppState.RELOADING
    (probe,) = fleet.spawned
    # Generation 1's own probe, still starting, is no longer needed.
    assert retired(fleet.ready(probe)) == [(old_probe, "reload")]
    fleet.exit(old_probe)
    assert fleet.pool.state is AppState.RUNNING


def test_old_starting_workers_retire_once_the_new_generation_is_at_full_strength() -> None:
    fleet = Fleet(PoolLimits(workers=2))
    fleet.start()
    fleet.pool.scale(3)
    fleet.tick()
    (late_old,) = fleet.spawned
    fleet.pool.reload()
    fleet.tick()
    new = list(fleet.spawned)
    fleet.ready(new[0])
    fleet.ready(new[1])
    actions = fleet.ready(new[2])
    assert (late_old, "reload") in retired(actions)


def test_an_old_worker_becoming_ready_during_a_reload_serves_until_replaced() -> None:
    fleet = Fleet(PoolLimits(workers=2))
    first, second = fleet.start()
    fleet.pool.scale(3)
    fleet.tick()
    (late_old,) = fleet.spawned
    fleet.pool.reload()
    fleet.tick()
    new = list(fleet.spawned)
    assert retired(fleet.ready(late_old)) == []
    assert fleet.pool.ready_count == 3
    assert retired(fleet.ready(new[0])) == [(first, "reload")]
    assert retired(fleet.ready(new[1])) == [(second, "reload")]
    assert retired(fleet.ready(new[2])) == [(late_old, "reload")]


def test_reload_is_ignored_while_stopping() -> None:
    fleet = Fleet(PoolLimits(workers=1))
    fleet.start()
    fleet.pool.stop()
    fleet.pool.reload()
    assert fleet.pool.generation == 1
    assert spawns(fleet.tick()) == []


def test_an_old_worker_that_hangs_during_a_reload_is_killed_like_any_other() -> None:
    fleet = Fleet(PoolLimits(workers=1, healthcheck_timeout_s=10))
    (old,) = fleet.start()
    fleet.pool.reload()
    fleet.tick()
    (new,) = fleet.spawned
    fleet.now = 10.0
    fleet.beat(skip=(old,))
    assert kills(fleet.tick()) == [(old, "SIGABRT", "health")]
    fleet.ready(new)
    assert fleet.pool.ready_count == 1


def test_the_last_error_is_cleared_once_a_later_generation_is_at_full_strength() -> None:
    fleet = Fleet(PoolLimits(workers=2))
    fleet.start()
    fleet.pool.reload()
    fleet.tick()
    broken, other = fleet.spawned
    fleet.exit(broken, code=3)
    fleet.exit(other, code=None, signal="SIGKILL")
    assert fleet.pool.last_error == f"api[{broken}] exited with code 3 during startup"
    fleet.pool.reload()
    fleet.tick()
    first, second = fleet.spawned
    fleet.ready(first)
    assert fleet.pool.last_error is not None  # one of two ready: not yet at full strength
    fleet.ready(second)
    assert fleet.pool.last_error is None
