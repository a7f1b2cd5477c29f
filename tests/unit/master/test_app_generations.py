"""master/apps.py keeps the settings of the generations something can still use, and forgets the rest."""

from __future__ import annotations

from fleet import Fleet

from supervisor.config.schema import AppConfig
from supervisor.master.actions import PoolLimits
from supervisor.master.apps import AppRuntime, _forget_generations


def settings(generation: int) -> AppConfig:
    return AppConfig(name="api", app=f"v{generation}:app")


def test_a_generation_goes_once_no_worker_is_left_and_it_is_neither_serving_nor_a_fallback() -> None:
    fleet = Fleet(PoolLimits(workers=1))
    fleet.start()
    runtime = AppRuntime(fleet.pool, {1: settings(1)})
    for generation in range(2, 62):  # sixty reloads, each ready and the old worker gone before the next
        fleet.pool.reload()
        runtime.generations[generation] = settings(generation)
        _forget_generations(runtime, ())
        assert set(runtime.generations) == {generation - 1, generation}  # the fallback is kept while it rolls
        fleet.tick()
        fleet.ready(*fleet.spawned)
        (old,) = fleet.pids(generation=generation - 1)
        fleet.exit(old)
        _forget_generations(runtime, ())
        assert set(runtime.generations) == {generation}


def test_reloads_superseded_before_they_were_ready_keep_only_what_their_workers_use() -> None:
    fleet = Fleet(PoolLimits(workers=1))
    fleet.start()
    runtime = AppRuntime(fleet.pool, {1: settings(1)})
    fleet.pool.reload()
    runtime.generations[2] = settings(2)
    fleet.tick()  # generation 2's worker starts
    fleet.pool.reload()
    runtime.generations[3] = settings(3)
    fleet.pool.reload()  # generation 3 never forked anything
    runtime.generations[4] = settings(4)
    _forget_generations(runtime, ())
    assert set(runtime.generations) == {1, 2, 4}  # fallback, a starting worker's, the newest


def test_a_live_worker_the_pool_no_longer_lists_keeps_its_generation() -> None:
    fleet = Fleet(PoolLimits(workers=1))
    fleet.start()
    fleet.pool.reload()
    fleet.tick()
    runtime = AppRuntime(fleet.pool, {1: settings(1), 2: settings(2)})
    fleet.pool.stop()
    _forget_generations(runtime, [1])  # the arbiter's records: a worker of 1 still running
    assert set(runtime.generations) == {1, 2}
