"""master/pool.py and roster.py: each worker's own request and memory limits, drawn at Spawn time and
enforced by the worker; replacements started ahead; a worker stopping itself is a planned retirement."""

from __future__ import annotations

import itertools

from fleet import Fleet, kills, notes, retired, spawns

from supervisor.config.schema import AppConfig, ServerSection
from supervisor.master.actions import PoolLimits, Reason, Spawn
from supervisor.master.pool import Pool
from supervisor.master.roster import STANDBY_S
from supervisor.status.snapshot import EventKind, WorkerState


def state_of(fleet: Fleet, pid: int) -> WorkerState:
    (view,) = [view for view in fleet.pool.workers() if view.pid == pid]
    return view.state


def test_each_spawn_carries_its_own_drawn_limit_and_the_worker_keeps_it() -> None:
    draws = itertools.count(3)
    pool = Pool("api", PoolLimits(workers=3, max_requests=100, max_requests_jitter=10), jitter=lambda most: next(draws))
    actions = pool.tick(0.0)
    assert [a.max_requests for a in actions if isinstance(a, Spawn)] == [103, 104, 105]
    pool.spawn_failed(1, 0.0, "fork: no memory")  # answers the first: its limit goes with it
    pool.spawned(200, 1, 0.0)
    pool.spawned(201, 1, 0.0)
    for pid in (200, 201):
        pool.ready(pid, 0.1)
    pool.observe(200, heartbeat_at=0.2, requests=104, rss_bytes=0)  # the second Spawn's limit
    pool.observe(201, heartbeat_at=0.2, requests=104, rss_bytes=0)
    assert [(v.pid, v.state) for v in pool.workers()] == [(200, WorkerState.RETIRING), (201, WorkerState.READY)]


def test_no_limit_means_a_spawn_without_one() -> None:
    pool = Pool("api", PoolLimits(workers=1))
    (_, spawn) = pool.tick(0.0)
    assert spawn == Spawn("api", 1, max_requests=0)


def test_a_fast_worker_is_replaced_by_what_it_serves_in_two_seconds() -> None:
    fleet = Fleet(PoolLimits(workers=1, max_requests=1000))
    (pid,) = fleet.start()
    for second in range(1, 7):  # 150 requests a second: 300 in the window, far more than 10 %
        fleet.now = float(second)
        fleet.serve(pid, 150 * second)
        actions = fleet.tick()
        if second < 5:
            assert spawns(actions) == [], second  # 1000 - 600 = 400 left at 4 s: more than 300
    assert state_of(fleet, pid) is WorkerState.READY
    assert [view.reason for view in fleet.pool.workers() if view.pid == pid] == [Reason.MAX_REQUESTS]
    assert len(fleet.pids("starting")) == 1


def test_a_slow_starting_app_is_replaced_earlier_by_its_start_time() -> None:
    """Its worker took 3 s to be ready: its successor is started 2 + 3 s of requests ahead, not 2."""
    fleet = Fleet(PoolLimits(workers=1, max_requests=1000))
    fleet.tick()
    (pid,) = fleet.spawned
    fleet.now = 3.0
    fleet.ready(pid)
    due_at = None
    for second in range(1, 7):  # 150 requests a second: 750 in the 5 s lead
        fleet.now = 3.0 + second
        fleet.serve(pid, 150 * second)
        if spawns(fleet.tick()) and due_at is None:
            due_at = second
    # Second 2: 700 left, within the 750 of a 5 s lead (the rate counts from ready, not from the
    # fork). A 2 s lead (300) would wait until 250 left: second 5.
    assert due_at == 2
    assert [view.reason for view in fleet.pool.workers() if view.pid == pid] == [Reason.MAX_REQUESTS]


def test_sparse_readings_are_scaled_to_the_window() -> None:
    fleet = Fleet(PoolLimits(workers=1, max_requests=1000))
    (pid,) = fleet.start()
    fleet.now = 20.0
    fleet.serve(pid, 880)  # 880 over 20 s counts as 88 in two seconds: 120 left is more
    assert spawns(fleet.tick()) == []
    fleet.now = 22.0
    fleet.serve(pid, 900)  # 20 in the last 2 s: 10 % (100) is the headroom, and 100 are left
    assert spawns(fleet.tick()) == [1]


def test_a_replaced_worker_that_slows_down_is_retired_after_its_standby() -> None:
    fleet = Fleet(PoolLimits(workers=1, max_requests=100, graceful_timeout_s=30))
    (old,) = fleet.start()
    fleet.serve(old, 95)
    fleet.tick()
    (new,) = fleet.spawned
    fleet.now = 1.0
    assert retired(fleet.ready(new)) == []  # standby begins
    assert fleet.pool.next_deadline() == 1.0 + STANDBY_S
    fleet.now = 1.0 + STANDBY_S - 0.01
    assert retired(fleet.tick()) == []
    fleet.now = 1.0 + STANDBY_S
    actions = fleet.tick()
    assert retired(actions) == [(old, "max_requests")]
    assert notes(actions, EventKind.RETIRE) == [f"api[{old}] retiring after 95 requests"]


def test_an_older_generation_is_retired_at_once_without_standby() -> None:
    fleet = Fleet(PoolLimits(workers=1, max_requests=100))
    (old,) = fleet.start()
    fleet.serve(old, 95)
    fleet.pool.reload()
    fleet.tick()
    (new,) = fleet.spawned
    assert retired(fleet.ready(new)) == [(old, "max_requests")]


def test_a_burst_to_the_limit_is_a_planned_retirement_and_is_replaced_at_once() -> None:
    fleet = Fleet(PoolLimits(workers=2, max_requests=50, graceful_timeout_s=30))
    first, _ = fleet.start()
    fleet.serve(first, 53)  # past its limit before the master saw it near: it drains
    actions = fleet.tick()
    assert retired(actions) == []
    assert spawns(actions) == [1]
    assert notes(actions, EventKind.RETIRE) == [f"api[{first}] retiring after 53 requests (its limit: 50)"]
    assert state_of(fleet, first) is WorkerState.RETIRING
    assert fleet.pool.next_deadline() == 30.0
    fleet.now = 30.0
    fleet.beat()
    assert kills(fleet.tick()) == [(first, "SIGKILL", "graceful_timeout")]  # a drain that never ends


def test_a_worker_that_served_was_ready_even_if_its_ready_state_was_missed() -> None:
    fleet = Fleet(PoolLimits(workers=1, max_requests=10))
    fleet.tick()
    (pid,) = fleet.spawned
    fleet.now = 0.5
    fleet.serve(pid, 12)  # its slot went READY -> RETIRING between two polls
    actions = fleet.tick()
    assert notes(actions, EventKind.RETIRE) == [f"api[{pid}] retiring after 12 requests (its limit: 10)"]
    assert fleet.exit(pid, code=0) == []
    assert fleet.pool.restarts == 0
    assert fleet.pool.last_error is None


def test_a_clean_exit_at_a_limit_nobody_saw_is_still_planned() -> None:
    fleet = Fleet(PoolLimits(workers=2, max_requests=10))
    first, second = fleet.start()
    actions = fleet.exit(first, code=0)
    assert notes(actions, EventKind.RETIRE) == [f"api[{first}] exited at its own limit (max_requests)"]
    assert spawns(actions) == [1]  # no backoff: not a failure
    assert fleet.pool.restarts == 0
    crash = notes(fleet.exit(second, code=1), EventKind.CRASH)  # any other code is a crash, as before
    assert crash == [f"api[{second}] exited with code 1; next start in 0.5 s"]


def test_a_clean_exit_near_a_memory_limit_is_a_memory_retirement() -> None:
    fleet = Fleet(PoolLimits(workers=1, max_memory=100 << 20))
    (pid,) = fleet.start()
    fleet.serve(pid, 1, rss_bytes=95 << 20)
    fleet.tick()
    actions = fleet.exit(pid, code=0)
    assert notes(actions, EventKind.MEMORY_RETIRE) == [f"api[{pid}] exited at its own limit (memory)"]
    assert fleet.pool.restarts == 0


def test_each_worker_keeps_the_memory_limit_it_was_forked_with() -> None:
    fleet = Fleet(PoolLimits(workers=1, max_memory=100 << 20))
    (old,) = fleet.start()
    fleet.pool.reload(PoolLimits(workers=1, max_memory=300 << 20))
    fleet.tick()
    (new,) = fleet.spawned
    fleet.serve(old, 1, rss_bytes=150 << 20)
    fleet.serve(new, 0, rss_bytes=150 << 20)
    actions = fleet.tick()
    assert notes(actions, EventKind.MEMORY_RETIRE) == [f"api[{old}] retiring: 150 MiB resident, over 100 MiB"]
    assert state_of(fleet, new) is WorkerState.STARTING
    assert fleet.exit(old, code=0) == []
    assert fleet.pool.restarts == 0


def test_a_worker_replaced_for_memory_that_stays_below_is_retired_after_its_standby() -> None:
    fleet = Fleet(PoolLimits(workers=1, max_memory=100 << 20))
    (old,) = fleet.start()
    fleet.serve(old, 1, rss_bytes=95 << 20)
    fleet.tick()
    fleet.ready(*fleet.spawned)
    fleet.now = STANDBY_S
    actions = fleet.tick()
    assert retired(actions) == [(old, "memory")]
    assert notes(actions, EventKind.MEMORY_RETIRE) == [f"api[{old}] retiring: 95 MiB resident, near 100 MiB"]


def test_the_same_flush_read_twice_is_one_reading() -> None:
    fleet = Fleet(PoolLimits(workers=1, max_requests=1000))
    (pid,) = fleet.start()
    fleet.now = 5.0
    for requests in (10, 10, 10):
        fleet.serve(pid, requests)
    fleet.pool.observe(pid, heartbeat_at=4.0, requests=5, rss_bytes=0)  # an older flush: ignored for the rate
    fleet.now = 6.0
    fleet.serve(pid, 20)
    assert spawns(fleet.tick()) == []
    assert [view.reason for view in fleet.pool.workers()] == [None]


def test_a_worker_over_its_memory_limit_retires_even_if_its_ready_state_was_missed() -> None:
    fleet = Fleet(PoolLimits(workers=1, max_memory=1 << 20))
    fleet.tick()
    (pid,) = fleet.spawned
    fleet.serve(pid, 0, rss_bytes=30 << 20)  # served nothing: at the app's baseline, not judged
    assert fleet.tick() == []
    fleet.serve(pid, 2, rss_bytes=30 << 20)  # it served, and is over: it stopped itself
    actions = fleet.tick()
    assert notes(actions, EventKind.MEMORY_RETIRE) == [f"api[{pid}] retiring: 30 MiB resident, over 1 MiB"]
    assert spawns(actions) == [1]
    fleet.serve(pid, 3, rss_bytes=31 << 20)  # a retiring worker's figures still count for the status
    assert [(v.requests, v.rss_bytes) for v in fleet.pool.workers() if v.pid == pid] == [(3, 31 << 20)]
    assert fleet.exit(pid) == []
    assert fleet.pool.restarts == 0


def test_an_idle_worker_near_its_memory_limit_is_not_replaced() -> None:
    fleet = Fleet(PoolLimits(workers=1, max_memory=100 << 20))
    (pid,) = fleet.start()
    fleet.serve(pid, 0, rss_bytes=99 << 20)
    assert spawns(fleet.tick()) == []


def test_pool_limits_default_to_the_schemas_defaults() -> None:
    assert PoolLimits() == PoolLimits.of(AppConfig(app="m:a"), ServerSection())


def test_a_fresh_worker_under_a_limit_of_one_request_is_not_replaced_before_it_serves() -> None:
    # Found while mending leftover helpers (stop 20): ceil(10 % of 1) is 1, so a worker with
    # max_requests = 1 counted as near its limit at 0 requests and was replaced, without end.
    fleet = Fleet(PoolLimits(workers=1, max_requests=1))
    (pid,) = fleet.start()
    fleet.now = 1.0
    fleet.serve(pid, 0)
    assert spawns(fleet.tick()) == []
    assert state_of(fleet, pid) is WorkerState.READY
