"""master/pool.py: restarting one worker (the dashboard's x key, the control socket's restart) makes before it breaks."""

from __future__ import annotations

from fleet import Fleet, notes, retired, spawns

from supervisor.master.actions import PoolLimits, Reason
from supervisor.master.exits import exit_reason
from supervisor.master.roster import STANDBY_S
from supervisor.status.snapshot import EventKind


def test_a_restarted_worker_serves_until_its_replacement_is_ready_then_drains() -> None:
    fleet = Fleet(PoolLimits(workers=2))
    old, other = fleet.start()
    assert fleet.pool.restart(old) is None
    actions = fleet.tick()
    assert notes(actions, EventKind.RETIRE) == [f"api[{old}] restarting: its replacement starts first"]
    assert spawns(actions) == [1]  # the replacement, at once
    assert retired(actions) == []  # and nothing retired while it starts
    replacement = fleet.spawned[0]
    assert fleet.pool.ready_count == 2
    assert retired(fleet.later(1)) == []
    fleet.ready(replacement)
    assert fleet.pool.ready_count == 3  # capacity never dipped: one more for a moment
    assert retired(fleet.later(STANDBY_S)) == [(old, "restart")]
    assert fleet.pids("retiring") == [old]
    assert (
        exit_reason(old, fleet.pool.workers(), stopping=False, on_trial=False) == "restart"
    )  # counted as such in `exits`
    fleet.exit(old)
    assert sorted(fleet.pids("ready")) == sorted([other, replacement])
    assert fleet.pool.restarts == 0  # asked for: not a crash
    assert spawns(fleet.later(1)) == []


def test_a_worker_that_cannot_be_restarted_says_why_and_nothing_happens() -> None:
    fleet = Fleet(PoolLimits(workers=1))
    fleet.tick()
    (starting,) = fleet.spawned
    assert fleet.pool.restart(starting) == f"api[{starting}] is still starting"
    assert fleet.pool.restart(999) == "api has no worker 999"
    fleet.ready(starting)
    assert fleet.pool.restart(starting) is None
    assert fleet.pool.restart(starting) == f"api[{starting}] is already being replaced"
    fleet.tick()
    fleet.ready(*fleet.spawned)
    fleet.later(STANDBY_S)
    assert fleet.pool.restart(starting) == f"api[{starting}] is already leaving"
    fleet.pool.stop()
    (replacement,) = fleet.pids("ready")
    assert fleet.pool.restart(replacement) == "api is stopping"


def test_an_older_generations_worker_is_already_on_its_way_out() -> None:
    fleet = Fleet(PoolLimits(workers=1))
    (old,) = fleet.start()
    fleet.pool.reload()
    fleet.tick()
    assert fleet.pool.restart(old) == f"api[{old}] is already being replaced"
    assert Reason.RESTART.value == "restart"
