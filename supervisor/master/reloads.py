"""How a reload ends, and what it tells whoever waits for it: pure rules, a fake clock in the tests.

A reload (SIGHUP, `serve reload`, a watcher) rolls every targeted app to a new generation.
`serve reload` and systemd's `ExecReload` wait for the outcome, and always get it within a
bound (SPEC §3, Reload):

- success, once every target runs its new generation at full strength;
- failure, for an app whose new generation was abandoned (it could not start, the old one
  serves on) or that stopped meanwhile;
- for an app a newer reload rolled on to a newer generation before this one was ready (it is
  superseded): the newer generation's outcome, success or failure, told as superseded;
- failure, at once, for an app that was never ready (so has nothing to fall back to and is
  never abandoned) when one of its new workers fails, or RELOAD_NEVER_READY_WAIT_S on;
- failure, for any app still not at full strength at the deadline (startup_timeout plus a
  grace: by then a generation that cannot start has been abandoned).

The arbiter reads each target's `Progress` from its pool on every turn and asks `outcome`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# `serve reload` answers within a bound. An app that was ready before falls back (abandons
# the new generation) by its startup_timeout; this grace covers the turn that notices it.
RELOAD_ANSWER_GRACE_S = 5.0
# An app that has never been ready has nothing to fall back to and may go on starting for
# its whole startup_timeout (or forever, failing): the reply waits this long for it at most.
RELOAD_NEVER_READY_WAIT_S = 10.0

# [server] settings a reload applies: the pool timeouts (taken by every rolled generation)
# and the pid file (moved). Any other [server] change needs the master restarted.
APPLIED_AT_RELOAD = frozenset({"graceful_timeout", "healthcheck_timeout", "startup_timeout", "pid_file", "hooks"})


@dataclass(frozen=True, slots=True)
class Progress:
    """Where one targeted app stands now, as its pool tells."""

    generation: int  # the pool's current generation (it went back if the new one was abandoned)
    desired: int
    ready: int  # ready workers of the pool's current generation
    restarts: int  # the pool's restart count (crashes, failures at start)
    ever_ready: bool  # the app has had a ready worker since the master started
    stopped: bool
    last_error: str | None


@dataclass(frozen=True, slots=True)
class Waiting:
    """A reload someone waits for, from the moment it began."""

    targets: Mapping[str, int]  # app -> the generation it is rolling to
    restarts: Mapping[str, int]  # app -> its restart count when the reload began
    started: float
    deadline: float  # the answer is due by then, whatever the apps are doing

    @classmethod
    def begin(
        cls, targets: Mapping[str, int], restarts: Mapping[str, int], *, now: float, startup_timeout: float
    ) -> Waiting:
        """A reload that began at `now`; its answer is due startup_timeout + RELOAD_ANSWER_GRACE_S later."""
        return cls(dict(targets), dict(restarts), now, now + startup_timeout + RELOAD_ANSWER_GRACE_S)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a reload ended: `ok` with the generations now serving, else `error` says why, app by app."""

    ok: bool
    generations: Mapping[str, int]
    error: str | None = None


def outcome(waiting: Waiting, progress: Mapping[str, Progress | None], now: float) -> Outcome | None:
    """The reload's outcome at `now`, or None while it is still rolling within its bound.

    Args:
        waiting: the reload, as it began.
        progress: each target's progress now; None for an app no longer run at all.
        now: the same clock as `waiting.started`.
    """
    failed, rolling = [], False
    serving = dict(waiting.targets)
    for name, generation in waiting.targets.items():
        app = progress.get(name)
        if app is not None and app.generation > generation:
            serving[name] = app.generation  # superseded: this reload ends as the newer one does
        why = _why_not(name, generation, app, waiting, now)
        if why is _ROLLING:
            rolling = True
        elif why is not None:
            failed.append(why)
    if rolling:
        return None
    if failed:
        return Outcome(False, serving, "reload failed: " + "; ".join(failed))
    return Outcome(True, serving)


_ROLLING = "rolling"  # _why_not's answer for an app still within its bound


def _why_not(name: str, generation: int, app: Progress | None, waiting: Waiting, now: float) -> str | None:
    """Why `name` failed this reload; None once it runs its new generation at full strength; _ROLLING until then."""
    if app is None or app.stopped:
        return f"{name}: stopped"
    if app.generation < generation:
        return f"{name}: {app.last_error or 'the new generation was abandoned'}"
    label = name
    if app.generation > generation:
        label = f"{name}: generation {generation} superseded by generation {app.generation} (a newer reload)"
        generation = app.generation
    if app.ready >= app.desired:
        return None
    if app.restarts > waiting.restarts.get(name, 0):
        return f"{label}: not ready: {app.last_error or 'a new worker failed'} (still retrying)"
    if not app.ever_ready and now >= waiting.started + RELOAD_NEVER_READY_WAIT_S:
        why = app.last_error or "its workers are still starting"
        return f"{label}: has never been ready; generation {generation} is starting ({why})"
    if now >= waiting.deadline:
        why = app.last_error or "its workers are still starting"
        return f"{label}: {app.ready} of {app.desired} workers of generation {generation} ready: {why}"
    return _ROLLING


def describe(added: Sequence[str], removed: Sequence[str], rolled: Sequence[str]) -> str:
    """The reload's one-line summary: "added x; removed y; rolling a, b" (or "nothing to do")."""
    parts = [
        f"{label} {', '.join(names)}"
        for label, names in (("added", added), ("removed", removed), ("rolling", rolled))
        if names
    ]
    return "; ".join(parts) or "nothing to do"


def restart_needed(server_changes: Sequence[str]) -> list[str]:
    """The [server] settings that changed but take effect only when the master restarts."""
    return [name for name in server_changes if name not in APPLIED_AT_RELOAD]
