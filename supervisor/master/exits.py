"""Why a worker went, and when the master gives up: pure rules the arbiter asks, unit-tested.

- A reaped worker's exit reason (counted per app in `serve status`, `exits`): the reason it
  was retired or killed for, as its pool recorded it (max_requests, memory, scale, reload,
  health, ...); "stop" for one that went while the master stops; "reload_failed" for one
  of a generation a reload was trying that went before it was ready (the reload failed, the
  app did not crash); else "crash".
- A worker that went before it was ever ready, in an app that was never ready, failed at
  start when its own code said so: exit code 3 (its import or lifespan startup failed), any
  other exit status nobody asked for (an `os._exit` at import), or killed at
  `startup_timeout` (a startup that hangs). A signal from elsewhere (the OOM killer) is a
  crash, retried: it says nothing about the app's code.
- The master gives up (exit code 3) only when every app failed at start: while any app
  serves, a failing one is retried with backoff instead (SPEC §1, §3).
"""

from __future__ import annotations

from collections.abc import Iterable

from supervisor.errors import EXIT_STARTUP
from supervisor.master.actions import Reason, WorkerView
from supervisor.status.snapshot import WorkerState


def exit_reason(pid: int, workers: Iterable[WorkerView], *, stopping: bool, on_trial: bool) -> str:
    """Why worker `pid`, just reaped, went (its pool's view of it, taken before the pool hears of the exit).

    `on_trial`: its generation is one a reload is trying, with an older one to fall back to.
    """
    for view in workers:
        if view.pid == pid:
            if view.state == WorkerState.RETIRING and view.reason is not None:
                return view.reason.value
            if stopping:
                return "stop"
            return Reason.RELOAD_FAILED.value if on_trial and view.state == WorkerState.STARTING else "crash"
    return "crash"


def failed_at_start(code: int, why: str, *, was_ready: bool, app_ever_ready: bool) -> bool:
    """A worker's exit `code` (negative: the signal) and reason `why` say its app cannot start."""
    if was_ready or app_ever_ready:
        return False
    return code == EXIT_STARTUP or why == Reason.STARTUP_TIMEOUT.value or (why == "crash" and code > 0)


def no_app_can_start(failed: Iterable[bool]) -> bool:
    """Every app (there is at least one) failed at start: nothing will serve, the master exits 3."""
    flags = list(failed)
    return bool(flags) and all(flags)
