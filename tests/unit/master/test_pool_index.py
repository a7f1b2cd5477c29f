"""master/pool.py: each worker's index (SERVE_WORKER_ID) stays in 0..workers-1, and a replacement takes over its index."""

from __future__ import annotations

from fleet import Fleet

from supervisor.master.actions import Action, PoolLimits, Spawn
from supervisor.master.roster import STANDBY_S


def indexes(fleet: Fleet, state: str | None = None) -> dict[int, int]:
    """pid -> index of the workers (in `state`)."""
    return {view.pid: view.index for view in fleet.pool.workers() if state is None or view.state.value == state}


def spawned_indexes(actions: list[Action]) -> list[int]:
    return [action.index for action in actions if isinstance(action, Spawn)]


def test_the_first_workers_take_0_to_n_minus_1() -> None:
    fleet = Fleet(PoolLimits(workers=3))
    assert spawned_indexes(fleet.tick()) == [0, 1, 2]
    first, second, third = fleet.spawned
    assert indexes(fleet) == {first: 0, second: 1, third: 2}


def test_a_crashed_workers_replacement_takes_its_index() -> None:
    fleet = Fleet(PoolLimits(workers=3))
    _, middle, _ = fleet.start()
    assert spawned_indexes(fleet.exit(middle, code=None, signal="SIGKILL")) == []  # backoff first
    assert spawned_indexes(fleet.later(0.5)) == [1]
    assert sorted(indexes(fleet).values()) == [0, 1, 2]


def test_a_worker_nearing_max_requests_is_replaced_at_its_index() -> None:
    fleet = Fleet(PoolLimits(workers=2, max_requests=100))
    first, second = fleet.start()
    fleet.serve(second, 95)
    assert spawned_indexes(fleet.tick()) == [1]
    (replacement,) = fleet.spawned
    fleet.ready(replacement)
    fleet.later(STANDBY_S)
    fleet.exit(second)
    assert indexes(fleet) == {first: 0, replacement: 1}


def test_a_reload_starts_the_same_indexes_in_the_new_generation() -> None:
    fleet = Fleet(PoolLimits(workers=2))
    fleet.start()
    fleet.pool.reload()
    assert spawned_indexes(fleet.tick()) == [0, 1]
    new = fleet.spawned
    fleet.ready(*new)
    for pid in fleet.pids("retiring"):
        fleet.exit(pid)
    assert indexes(fleet) == {new[0]: 0, new[1]: 1}


def test_scale_down_frees_the_highest_indexes_and_scale_up_takes_them_again() -> None:
    fleet = Fleet(PoolLimits(workers=4))
    fleet.start()
    fleet.pool.scale(2)
    fleet.tick()
    for pid in fleet.pids("retiring"):
        fleet.exit(pid)
    assert sorted(indexes(fleet).values()) == [0, 1]
    fleet.pool.scale(3)
    assert spawned_indexes(fleet.tick()) == [2]


def test_a_hung_workers_replacement_takes_its_index() -> None:
    fleet = Fleet(PoolLimits(workers=2, healthcheck_timeout_s=10))
    first, _ = fleet.start()
    fleet.now = 11.0
    fleet.beat(skip=(first,))
    assert spawned_indexes(fleet.tick()) == [0]
    assert indexes(fleet, "retiring") == {first: 0}
