"""master/pool.py: capacity, retirement, scaling, health, crashes and stop, driven by a fake clock."""

from __future__ import annotations

import math

import pytest
from fleet import Fleet, kills, notes, retired, spawns

from supervisor.config.convert import TcpBind
from supervisor.config.schema import AppConfig, ServerSection
from supervisor.master.actions import PoolLimits, Reason, Spawn
from supervisor.master.pool import Pool, draw_jitter
from supervisor.status.snapshot import AppState, EventKind, WorkerState


def test_first_tick_spawns_the_desired_workers_and_says_so() -> None:
    fleet = Fleet(PoolLimits(workers=3))
    actions = fleet.tick()
    assert spawns(actions) == [1, 1, 1]
    assert notes(actions, EventKind.START) == ["api: starting 3 workers (generation 1)"]
    assert fleet.pool.state is AppState.STARTING
    assert fleet.pool.desired == 3
    assert fleet.pool.generation == 1
    # Nothing more to spawn while they start.
    assert spawns(fleet.later(1)) == []


def test_app_runs_once_a_worker_is_ready_and_announces_full_strength_once() -> None:
    fleet = Fleet(PoolLimits(workers=2))
    fleet.tick()
    first, second = fleet.spawned
    assert notes(fleet.ready(first), EventKind.READY) == []
    assert fleet.pool.state is AppState.RUNNING
    assert notes(fleet.ready(second), EventKind.READY) == ["api: 2 workers of generation 1 ready"]
    assert notes(fleet.later(1), EventKind.READY) == []
    assert fleet.pool.ready_count == 2


def test_one_worker_is_spelled_in_the_singular() -> None:
    fleet = Fleet(PoolLimits(workers=1))
    assert notes(fleet.tick(), EventKind.START) == ["api: starting 1 worker (generation 1)"]


def test_every_spawn_must_be_answered_before_the_next_tick() -> None:
    pool = Pool("api", PoolLimits(workers=1))
    pool.tick(0.0)
    with pytest.raises(RuntimeError, match="1 Spawn action"):
        pool.tick(1.0)


def test_an_answer_without_a_spawn_is_a_bug() -> None:
    pool = Pool("api", PoolLimits(workers=1))
    with pytest.raises(ValueError, match="no Spawn of generation 1"):
        pool.spawned(100, 1, 0.0)
    with pytest.raises(ValueError, match="no Spawn of generation 1"):
        pool.spawn_failed(1, 0.0, "boom")


def test_news_of_unknown_workers_is_ignored() -> None:
    fleet = Fleet()
    fleet.start()
    fleet.pool.ready(999, fleet.now)
    fleet.pool.observe(999, heartbeat_at=0.0, requests=5, rss_bytes=5)
    fleet.pool.exited(999, fleet.now, code=1)
    assert fleet.tick() == []
    assert fleet.pool.restarts == 0


def test_ready_twice_changes_nothing() -> None:
    fleet = Fleet(PoolLimits(workers=1))
    (pid,) = fleet.start()
    (view,) = fleet.pool.workers()
    fleet.now += 3
    fleet.pool.ready(pid, fleet.now)
    assert fleet.pool.workers() == (view,)


def test_max_requests_replaces_the_worker_ahead_and_it_retires_itself_at_its_limit() -> None:
    drawn: list[int] = []

    def jitter(most: int) -> int:
        drawn.append(most)
        return 5

    fleet = Fleet(PoolLimits(workers=2, max_requests=100, max_requests_jitter=10), jitter=jitter)
    first, second = fleet.start()
    assert drawn == [10, 10]
    fleet.serve(first, 90)
    fleet.later(10)  # then slow: 10 % is more than what it serves in 2 s
    fleet.serve(first, 93)
    assert spawns(fleet.tick()) == []  # 12 left of 105: more than 10 % (11 requests)
    fleet.serve(first, 94)
    actions = fleet.tick()
    assert spawns(actions) == [1]  # its replacement starts ahead
    assert retired(actions) == []  # while it serves on
    assert fleet.pool.ready_count == 2
    (replacement,) = fleet.spawned
    assert retired(fleet.ready(replacement)) == []  # it may still reach its limit by itself
    fleet.serve(first, 105)
    actions = fleet.tick()
    assert retired(actions) == []  # it stopped itself: no signal
    assert notes(actions, EventKind.RETIRE) == [f"api[{first}] retiring after 105 requests (its limit: 105)"]
    assert [view.state for view in fleet.pool.workers() if view.pid == first] == [WorkerState.RETIRING]
    assert fleet.pool.ready_count == 2
    assert fleet.exit(first) == []
    assert fleet.pool.restarts == 0
    assert sorted(fleet.pids("ready")) == [second, replacement]


def test_capacity_never_drops_during_rolling_max_requests_retirements() -> None:
    limits = PoolLimits(workers=4, max_requests=50, max_requests_jitter=20)
    fleet = Fleet(limits, jitter=lambda most: most // 2)
    fleet.start()
    served: dict[int, int] = {}
    stopped: set[int] = set()  # at their limit: they drain, then exit a step later
    retirements = 0
    for step in range(400):
        fleet.now += 0.25
        for pid in stopped:
            fleet.pool.exited(pid, fleet.now, code=0)
        stopped = set()
        for view in fleet.pool.workers():
            if view.state is WorkerState.READY:
                served[view.pid] = min(served.get(view.pid, 0) + 1 + (view.pid + step) % 3, 60)
                stopped.update([view.pid] if served[view.pid] == 60 else [])
            fleet.pool.observe(view.pid, heartbeat_at=fleet.now, requests=served.get(view.pid, 0), rss_bytes=0)
        actions = fleet.tick()
        retirements += len(notes(actions, EventKind.RETIRE))
        for pid, _ in retired(actions):
            stopped.add(pid)
        if step % 2:  # replacements take half a second to start
            for pid in fleet.pids("starting"):
                fleet.pool.ready(pid, fleet.now)
        assert fleet.pool.ready_count >= 4, f"capacity dropped at step {step}"
    assert retirements > 20
    assert fleet.pool.restarts == 0
    assert len(fleet.pool.workers()) <= 8


def test_no_max_requests_draws_no_jitter() -> None:
    def jitter(most: int) -> int:
        raise AssertionError("no jitter without max_requests")

    fleet = Fleet(PoolLimits(workers=1, max_requests_jitter=10), jitter=jitter)
    (pid,) = fleet.start()
    fleet.serve(pid, 10**9)
    assert spawns(fleet.tick()) == []


def test_default_jitter_stays_in_range() -> None:
    assert {draw_jitter(3) for _ in range(200)} <= {0, 1, 2, 3}
    assert draw_jitter(0) == 0


def test_memory_near_the_limit_starts_a_replacement_and_over_it_the_worker_retires_itself() -> None:
    fleet = Fleet(PoolLimits(workers=1, max_memory=500 << 20))
    (pid,) = fleet.start()
    fleet.serve(pid, 10, rss_bytes=440 << 20)
    fleet.later(10)
    fleet.serve(pid, 10, rss_bytes=449 << 20)
    assert spawns(fleet.tick()) == []  # more than 10 % below the limit
    fleet.serve(pid, 11, rss_bytes=450 << 20)
    assert spawns(fleet.tick()) == [1]
    (view,) = [v for v in fleet.pool.workers() if v.pid == pid]
    assert view.reason is Reason.MEMORY
    assert retired(fleet.ready(*fleet.spawned)) == []
    fleet.serve(pid, 12, rss_bytes=500 << 20)
    assert retired(fleet.tick()) == []  # at the limit is not over it
    fleet.serve(pid, 13, rss_bytes=600 << 20)
    actions = fleet.tick()
    assert retired(actions) == []  # it stopped accepting by itself
    assert notes(actions, EventKind.MEMORY_RETIRE) == [f"api[{pid}] retiring: 600 MiB resident, over 500 MiB"]
    assert fleet.exit(pid) == []
    assert fleet.pool.restarts == 0


def test_scale_up_spawns_and_says_so() -> None:
    fleet = Fleet(PoolLimits(workers=2))
    fleet.start()
    fleet.pool.scale(4)
    actions = fleet.tick()
    assert spawns(actions) == [1, 1]
    assert notes(actions, EventKind.SCALE) == ["api: 2 -> 4 workers"]
    fleet.pool.scale(4)
    assert fleet.tick() == []


def test_scale_down_retires_the_highest_indexes_first() -> None:
    fleet = Fleet(PoolLimits(workers=3))
    oldest, middle, newest = fleet.start()
    fleet.pool.scale(5)
    fleet.tick()
    starting_first, starting_second = fleet.spawned
    fleet.pool.scale(2)
    actions = fleet.tick()
    assert retired(actions) == [(starting_second, "scale"), (starting_first, "scale"), (newest, "scale")]
    assert notes(actions, EventKind.RETIRE)[-1] == f"api[{newest}] retiring: scaled down to 2"
    assert sorted(fleet.pids("ready")) == [oldest, middle]


def test_scale_by_never_goes_below_one_and_scale_rejects_zero() -> None:
    fleet = Fleet(PoolLimits(workers=2))
    fleet.start()
    fleet.pool.scale_by(-5)
    assert fleet.pool.desired == 1
    fleet.pool.scale_by(+2)
    assert fleet.pool.desired == 3
    with pytest.raises(ValueError, match="at least one worker, got 0"):
        fleet.pool.scale(0)


def test_a_silent_ready_worker_is_aborted_then_killed_and_replaced_at_once() -> None:
    fleet = Fleet(PoolLimits(workers=2, healthcheck_timeout_s=30, kill_grace_s=5))
    hung, healthy = fleet.start()
    fleet.now = 29.0
    fleet.beat(skip=(hung,))
    assert fleet.tick() == []
    fleet.now = 30.0
    fleet.beat(skip=(hung,))
    actions = fleet.tick()
    assert kills(actions) == [(hung, "SIGABRT", "health")]
    assert spawns(actions) == [1]
    assert notes(actions, EventKind.HEALTH_KILL) == [
        f"api[{hung}] event loop silent for 30 s (healthcheck_timeout 30 s): SIGABRT, replacing it"
    ]
    assert fleet.pool.last_error == f"api[{hung}] event loop silent for 30 s (healthcheck_timeout 30 s)"
    assert fleet.pool.restarts == 1
    assert fleet.pool.next_deadline() == 35.0
    fleet.now = 35.0
    actions = fleet.tick()
    assert kills(actions) == [(hung, "SIGKILL", "health")]
    assert notes(actions, EventKind.HEALTH_KILL) == [f"api[{hung}] still running 5 s after a signal: SIGKILL"]
    (replacement,) = fleet.pids("starting")
    # The healthy worker's next health check; the killed one (SIGKILL due at 35) has no timer left.
    assert fleet.pool.next_deadline() == 60.0
    fleet.ready(replacement)
    assert fleet.later(10) == []  # nothing more happens to a killed worker
    assert fleet.exit(hung, code=None, signal="SIGKILL") == []
    assert fleet.pool.restarts == 1
    assert sorted(fleet.pids("ready")) == [healthy, replacement]


def test_heartbeats_keep_a_worker_alive() -> None:
    fleet = Fleet(PoolLimits(workers=1, healthcheck_timeout_s=10))
    fleet.start()
    for _ in range(10):
        assert kills(fleet.later(5)) == []


def test_a_worker_not_ready_in_time_is_killed_and_counts_as_a_start_failure() -> None:
    fleet = Fleet(PoolLimits(workers=1, startup_timeout_s=60, kill_grace_s=5))
    fleet.tick()
    (slow,) = fleet.spawned
    assert fleet.pool.next_deadline() == 60.0
    fleet.now = 60.0
    actions = fleet.tick()
    assert kills(actions) == [(slow, "SIGABRT", "startup_timeout")]
    assert spawns(actions) == []  # the backoff comes first
    assert notes(actions, EventKind.HEALTH_KILL) == [f"api[{slow}] not ready after 60 s (startup_timeout): SIGABRT"]
    assert notes(actions, EventKind.CRASH) == [
        f"api[{slow}] not ready after 60 s (startup_timeout); next start in 0.5 s"
    ]
    assert fleet.pool.next_deadline() == 60.5
    assert spawns(fleet.later(0.5)) == [1]
    fleet.now = 65.0
    assert kills(fleet.tick()) == [(slow, "SIGKILL", "startup_timeout")]
    fleet.exit(slow, code=None, signal="SIGKILL")
    assert fleet.pool.restarts == 1


def test_a_retired_worker_still_draining_after_graceful_timeout_is_killed() -> None:
    fleet = Fleet(PoolLimits(workers=2, graceful_timeout_s=30))
    _, second = fleet.start()
    fleet.pool.scale(1)
    assert retired(fleet.tick()) == [(second, "scale")]
    assert fleet.pool.next_deadline() == 30.0
    fleet.now = 30.0
    fleet.beat()
    actions = fleet.tick()
    assert kills(actions) == [(second, "SIGKILL", "graceful_timeout")]
    assert notes(actions, EventKind.RETIRE) == [f"api[{second}] still draining after 30 s: SIGKILL"]


def test_a_crash_is_respawned_after_the_first_backoff_step() -> None:
    fleet = Fleet(PoolLimits(workers=2))
    crashed, _ = fleet.start()
    fleet.now = 10.0
    fleet.beat()
    actions = fleet.exit(crashed, code=None, signal="SIGSEGV")
    assert spawns(actions) == []
    assert notes(actions, EventKind.CRASH) == [f"api[{crashed}] was killed by SIGSEGV; next start in 0.5 s"]
    assert fleet.pool.restarts == 1
    assert fleet.pool.last_error == f"api[{crashed}] was killed by SIGSEGV"
    assert fleet.pool.next_deadline() == 10.5
    assert spawns(fleet.later(0.4)) == []
    assert spawns(fleet.later(0.1)) == [1]


def test_an_unasked_clean_exit_is_an_exit_event_and_an_unknown_signal_is_still_reported() -> None:
    fleet = Fleet(PoolLimits(workers=2))
    first, second = fleet.start()
    assert notes(fleet.exit(first, code=0), EventKind.EXIT) == [f"api[{first}] exited with code 0; next start in 0.5 s"]
    crash = notes(fleet.exit(second, code=None, signal=None), EventKind.CRASH)
    assert crash == [f"api[{second}] was killed by a signal; next start in 1 s"]


def test_crash_loop_backoff_sequence_and_recovery() -> None:
    fleet = Fleet(PoolLimits(workers=2, backoff_initial_s=0.5, backoff_cap_s=30, crashloop_after=5))
    fleet.tick()
    first, second = fleet.spawned
    fleet.pool.exited(first, fleet.now, code=3)
    fleet.pool.exited(second, fleet.now, code=3)
    delays = []
    actions = fleet.tick()
    for _ in range(7):
        assert spawns(actions) == []
        deadline = fleet.pool.next_deadline()
        assert deadline is not None
        delays.append(deadline - fleet.now)
        fleet.now = deadline
        actions = fleet.tick()
        assert spawns(actions) == [1], "one probe at a time while failing"
        (probe,) = fleet.spawned
        actions = fleet.exit(probe, code=3)
    assert delays == [1.0, 2.0, 4.0, 30.0, 30.0, 30.0, 30.0]
    assert fleet.pool.state is AppState.CRASHLOOP
    assert notes(actions, EventKind.CRASH)[0].endswith("next start in 30 s (crash loop)")
    fleet.now = fleet.pool.next_deadline() or 0.0
    fleet.tick()
    (probe,) = fleet.spawned
    actions = fleet.ready(probe)
    assert notes(actions, EventKind.READY)[0] == f"api[{probe}] is ready: the crash loop is over"
    assert spawns(actions) == [1]  # the rest start at once again
    assert fleet.pool.state is AppState.RUNNING


def test_a_failed_fork_is_no_crash_and_is_tried_again_a_second_later() -> None:
    fleet = Fleet(PoolLimits(workers=1))
    fleet.fail_spawns = True
    actions = fleet.tick()
    assert spawns(actions) == [1]
    assert fleet.pool.restarts == 0
    assert fleet.pool.last_error == "could not start a worker: fork: resource temporarily unavailable"
    messages = notes(fleet.tick(), EventKind.MASTER_ERROR)
    assert messages == ["api: could not start a worker: fork: resource temporarily unavailable; next try in 1 s"]
    assert fleet.pool.next_deadline() == 1.0
    assert spawns(fleet.later(0.5)) == []
    fleet.fail_spawns = False
    assert spawns(fleet.later(0.5)) == [1]
    assert fleet.pool.state is AppState.STARTING
    assert fleet.pool.restarts == 0


def test_forks_failing_in_one_turn_are_told_once_with_the_wait_really_applied() -> None:
    fleet = Fleet(PoolLimits(workers=4))
    fleet.fail_spawns = True
    waits = []
    for _ in range(12):  # a minute and more of a kernel refusing every fork
        actions = fleet.tick()
        told = notes(actions, EventKind.MASTER_ERROR)
        waits += [message.rsplit("next try in ", 1)[1] for message in told]
        assert len(told) <= 1
        assert not notes(actions, EventKind.CRASH)
        assert fleet.pool.state is AppState.STARTING  # never a crash loop
        deadline = fleet.pool.next_deadline()
        assert deadline is not None
        assert deadline > fleet.now
        fleet.now = deadline
    assert waits[:5] == ["1 s", "2 s", "4 s", "4 s", "4 s"]
    assert fleet.pool.restarts == 0
    fleet.fail_spawns = False
    assert spawns(fleet.tick()) == [1, 1, 1, 1]  # every missing worker at once when forks work again
    assert fleet.pool.next_deadline() == fleet.now + 60  # their startup timeout: no fork wait is left


def test_a_fork_that_works_again_resets_the_wait() -> None:
    fleet = Fleet(PoolLimits(workers=2))
    fleet.fail_spawns = True
    fleet.tick()
    fleet.now = 1.0
    fleet.tick()  # the second failure in a row: 2 s
    fleet.fail_spawns = False
    fleet.now = 3.0
    fleet.tick()
    first, _ = fleet.spawned
    fleet.ready(*fleet.spawned)
    fleet.exit(first, code=1)  # a crash of a ready worker: the crash backoff, as ever
    fleet.now = 3.5
    fleet.fail_spawns = True
    messages = notes(fleet.tick() + fleet.tick(), EventKind.MASTER_ERROR)
    assert messages == ["api: could not start a worker: fork: resource temporarily unavailable; next try in 1 s"]
    assert fleet.pool.restarts == 1  # the crash alone


def test_a_failed_fork_and_a_crash_backoff_wait_for_the_later_of_the_two() -> None:
    fleet = Fleet(PoolLimits(workers=1))
    (pid,) = fleet.start()
    fleet.exit(pid, code=1)  # a crash of a ready worker: the next start waits 0.5 s
    assert fleet.pool.next_deadline() == 0.5
    fleet.now = 0.5
    fleet.fail_spawns = True
    fleet.tick()  # the probe's fork fails: a second more, past the crash backoff (no busy loop on 0.5)
    assert fleet.pool.next_deadline() == 1.5
    assert fleet.pool.restarts == 1
    fleet.fail_spawns = False
    fleet.now = 1.5
    fleet.tick()
    (probe,) = fleet.spawned
    assert fleet.pool.next_deadline() == 61.5  # the probe's startup timeout: its own news comes first
    fleet.exit(probe, code=3)  # a start failure: the crash backoff again, now longer than a fork's wait
    fleet.fail_spawns = True
    assert fleet.pool.next_deadline() == 2.5


def test_a_fork_failure_of_a_generation_abandoned_in_the_same_turn_is_dropped() -> None:
    fleet = Fleet(PoolLimits(workers=2))
    old = fleet.start()
    fleet.pool.reload()
    fleet.fail_spawns = True
    fleet.tick()  # both Spawns fail: the first abandons generation 2, the second has nothing left to start
    assert fleet.pool.generation == 1
    assert fleet.pool.last_error == "could not start a worker: fork: resource temporarily unavailable"
    assert notes(fleet.tick(), EventKind.MASTER_ERROR) == []
    assert sorted(fleet.pids("ready")) == old


def test_a_crash_of_a_worker_being_replaced_changes_nothing_else() -> None:
    fleet = Fleet(PoolLimits(workers=1, max_requests=10))
    (old,) = fleet.start()
    fleet.serve(old, 9)
    fleet.tick()
    (replacement,) = fleet.spawned
    actions = fleet.exit(old, code=1)
    assert notes(actions, EventKind.CRASH) == [f"api[{old}] exited with code 1; next start in 0.5 s"]
    assert spawns(actions) == []  # its replacement is already starting
    assert fleet.pids() == [replacement]


def test_a_stop_without_a_drain_limit_says_it_waits_until_they_finish() -> None:
    fleet = Fleet(PoolLimits(workers=1, graceful_timeout_s=math.inf))  # serve run --workers, uvicorn's way
    fleet.start()
    fleet.pool.stop()
    assert notes(fleet.tick(), EventKind.STOP) == ["api: stopping draining until they finish"]


def test_graceful_stop_retires_everything_and_kills_stragglers() -> None:
    fleet = Fleet(PoolLimits(workers=2, graceful_timeout_s=30))
    first, second = fleet.start()
    fleet.pool.scale(3)
    fleet.tick()
    (starting,) = fleet.spawned
    fleet.pool.stop()
    actions = fleet.tick()
    assert notes(actions, EventKind.STOP) == ["api: stopping draining for up to 30 s"]
    assert sorted(retired(actions)) == [(first, "stop"), (second, "stop"), (starting, "stop")]
    assert fleet.pool.state is AppState.STOPPING
    fleet.pool.stop()  # again: nothing new
    fleet.pool.scale(5)
    fleet.pool.reload()
    assert fleet.tick() == []
    assert fleet.exit(first, code=1) == []  # exits while stopping are expected
    assert fleet.pool.restarts == 0
    fleet.now = 30.0
    assert sorted(kills(fleet.tick())) == [
        (second, "SIGKILL", "graceful_timeout"),
        (starting, "SIGKILL", "graceful_timeout"),
    ]
    assert not fleet.pool.stopped
    fleet.exit(second, code=None, signal="SIGKILL")
    fleet.exit(starting, code=None, signal="SIGKILL")
    assert fleet.pool.stopped
    assert fleet.pool.next_deadline() is None


def test_immediate_stop_sends_sigquit_then_sigkill_and_overrides_a_graceful_stop() -> None:
    fleet = Fleet(PoolLimits(workers=2, graceful_timeout_s=30, kill_grace_s=5))
    first, second = fleet.start()
    fleet.pool.stop()
    fleet.tick()
    fleet.now = 1.0
    fleet.pool.stop(immediate=True)
    actions = fleet.tick()
    assert notes(actions, EventKind.STOP) == ["api: stopping now"]
    assert sorted(kills(actions)) == [(first, "SIGQUIT", "stop"), (second, "SIGQUIT", "stop")]
    fleet.pool.stop(immediate=True)
    fleet.pool.stop()
    assert fleet.tick() == []
    assert fleet.pool.next_deadline() == 6.0
    fleet.now = 6.0
    assert sorted(kills(fleet.tick())) == [(first, "SIGKILL", "stop"), (second, "SIGKILL", "stop")]
    assert fleet.tick() == []


def test_immediate_stop_spares_no_worker_already_killed() -> None:
    fleet = Fleet(PoolLimits(workers=1, healthcheck_timeout_s=10, kill_grace_s=1))
    (hung,) = fleet.start()
    fleet.now = 10.0
    fleet.tick()
    (replacement,) = fleet.spawned
    fleet.now = 11.0
    assert kills(fleet.tick()) == [(hung, "SIGKILL", "health")]
    fleet.pool.stop(immediate=True)
    assert kills(fleet.tick()) == [(replacement, "SIGQUIT", "stop")]


def test_next_deadline_is_the_earliest_timer() -> None:
    fleet = Fleet(PoolLimits(workers=2, startup_timeout_s=60, healthcheck_timeout_s=30))
    assert fleet.pool.next_deadline() is None
    fleet.tick()
    first, second = fleet.spawned
    assert fleet.pool.next_deadline() == 60.0
    fleet.now = 10.0
    fleet.ready(first)
    assert fleet.pool.next_deadline() == 40.0
    fleet.serve(first, 1)
    fleet.pool.observe(first, heartbeat_at=12.0, requests=1, rss_bytes=0)
    assert fleet.pool.next_deadline() == 42.0
    fleet.pool.observe(first, heartbeat_at=11.0, requests=1, rss_bytes=0)  # an older reading does not go back
    assert fleet.pool.next_deadline() == 42.0
    fleet.ready(second)
    assert fleet.pool.next_deadline() == 40.0


def test_worker_views_are_oldest_first_and_carry_their_reason() -> None:
    fleet = Fleet(PoolLimits(workers=1, max_requests=5))
    (old,) = fleet.start()
    fleet.now = 1.0
    fleet.serve(old, 4, rss_bytes=123)
    fleet.tick()
    (new,) = fleet.spawned
    views = fleet.pool.workers()
    assert [(v.pid, v.state, v.reason, v.requests, v.rss_bytes) for v in views] == [
        (old, WorkerState.READY, Reason.MAX_REQUESTS, 4, 123),
        (new, WorkerState.STARTING, None, 0, 0),
    ]
    assert views[0].ready_at == 0.0
    assert views[1].spawned_at == 1.0
    assert views[1].generation == 1


def test_limits_come_from_the_app_and_server_settings() -> None:
    app = AppConfig(
        name="api",
        app="examples.api:app",
        bind=(TcpBind("127.0.0.1", 8000),),
        workers=4,
        max_requests=1000,
        max_requests_jitter=50,
        max_memory=512 << 20,
    )
    server = ServerSection(graceful_timeout=20.0, healthcheck_timeout=15.0, startup_timeout=90.0)
    assert PoolLimits.of(app, server) == PoolLimits(
        workers=4,
        max_requests=1000,
        max_requests_jitter=50,
        max_memory=512 << 20,
        graceful_timeout_s=20.0,
        healthcheck_timeout_s=15.0,
        startup_timeout_s=90.0,
    )


def test_a_spawn_waiting_for_a_free_slot_is_asked_for_again_and_counts_nothing() -> None:
    pool = Pool("api", PoolLimits(workers=1))
    (spawn,) = [a for a in pool.tick(0.0) if isinstance(a, Spawn)]
    pool.spawn_deferred(spawn.generation)
    assert [a for a in pool.tick(0.25) if isinstance(a, Spawn)] == [spawn]  # asked for again at once
    pool.spawned(100, spawn.generation, 0.25)
    assert pool.restarts == 0
    assert pool.last_error is None
    with pytest.raises(ValueError, match="no Spawn of generation 1"):
        pool.spawn_deferred(1)
