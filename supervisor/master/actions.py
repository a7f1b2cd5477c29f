"""The vocabulary between the arbiter and the pool policy: limits in, actions out, worker views for status.

Pure data.

The arbiter carries out actions in the order given:
    Spawn  fork a worker of `app` for `generation` with `max_requests` as its own request
           limit (its config's max_requests: the worker enforces it) and `index` as its
           SERVE_WORKER_ID, then answer with
           Pool.spawned(pid, ...) or Pool.spawn_failed(...), in order, before the next tick;
    Retire send SIGTERM: the worker stops accepting, drains, runs lifespan shutdown, exits;
    Kill   send the named signal (SIGABRT: dump the stack and die; SIGQUIT: stop at once;
           SIGKILL);
    Note   record a status event (the arbiter stamps it with the wall-clock time).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TypeAlias

from supervisor.config.schema import APP_DEFAULTS, SERVER_DEFAULTS, AppConfig, ServerSection
from supervisor.status.snapshot import EventKind, WorkerState

KILL_GRACE_S = 5.0  # between SIGABRT or SIGQUIT and SIGKILL: time to write a stack dump and exit
# Restart pacing (master/backoff.py): the first wait after a failure, the longest, and how many
# failures at start in a row make a crash loop. The policy's own numbers, not settings.
BACKOFF_INITIAL_S = 0.5
BACKOFF_CAP_S = 30.0
CRASHLOOP_AFTER = 5


class Reason(str, Enum):
    """Why a worker is retired or killed."""

    MAX_REQUESTS = "max_requests"
    MEMORY = "memory"
    SCALE = "scale"
    RELOAD = "reload"  # replaced by a newer generation
    RELOAD_FAILED = "reload_failed"  # its generation was abandoned
    STOP = "stop"
    HEALTH = "health"  # heartbeat older than healthcheck_timeout
    STARTUP_TIMEOUT = "startup_timeout"
    GRACEFUL_TIMEOUT = "graceful_timeout"  # retired, and still there after graceful_timeout
    RESTART = "restart"  # the operator asked for a fresh worker


@dataclass(frozen=True, slots=True)
class Spawn:
    """Fork a new worker of `app`, running the code and settings of `generation`."""

    app: str
    generation: int
    max_requests: int  # this worker's own limit, jitter included; 0: none. The worker stops itself there.
    index: int = 0  # its place in the app, 0..workers-1, taken over from the worker it replaces


@dataclass(frozen=True, slots=True)
class Retire:
    """Ask worker `pid` to drain and exit (SIGTERM)."""

    pid: int
    reason: Reason


@dataclass(frozen=True, slots=True)
class Kill:
    """Send worker `pid` the signal named `signal` ("SIGABRT", "SIGQUIT" or "SIGKILL")."""

    pid: int
    signal: str
    reason: Reason


@dataclass(frozen=True, slots=True)
class Note:
    """Something worth an event in the status and the log."""

    app: str
    kind: EventKind
    message: str


Action: TypeAlias = Spawn | Retire | Kill | Note


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolLimits:
    """The numbers the pool policy of one app works with: its settings and the [server] table's.

    A setting's field defaults to the schema's default for it; the rest are the policy's own.
    """

    workers: int = APP_DEFAULTS["workers"]
    max_requests: int = APP_DEFAULTS["max_requests"]  # 0: never retire for requests served
    max_requests_jitter: int = APP_DEFAULTS["max_requests_jitter"]
    max_memory: int = APP_DEFAULTS["max_memory"]  # bytes of RSS; 0: no limit
    graceful_timeout_s: float = SERVER_DEFAULTS["graceful_timeout"]
    healthcheck_timeout_s: float = SERVER_DEFAULTS["healthcheck_timeout"]
    startup_timeout_s: float = SERVER_DEFAULTS["startup_timeout"]
    kill_grace_s: float = KILL_GRACE_S
    backoff_initial_s: float = BACKOFF_INITIAL_S
    backoff_cap_s: float = BACKOFF_CAP_S
    crashloop_after: int = CRASHLOOP_AFTER

    @classmethod
    def of(cls, app: AppConfig, server: ServerSection) -> PoolLimits:
        """The limits an app's settings and the [server] table give."""
        return cls(
            workers=app.workers,
            max_requests=app.max_requests,
            max_requests_jitter=app.max_requests_jitter,
            max_memory=app.max_memory,
            graceful_timeout_s=server.graceful_timeout,
            healthcheck_timeout_s=server.healthcheck_timeout,
            startup_timeout_s=server.startup_timeout,
        )


@dataclass(frozen=True, slots=True)
class WorkerView:
    """One worker as the pool sees it (the arbiter adds the slot's figures for the status)."""

    pid: int
    generation: int
    state: WorkerState
    spawned_at: float
    ready_at: float | None
    requests: int
    rss_bytes: int
    reason: Reason | None  # why it is retiring, or why it will be replaced
    index: int = 0  # its place in the app (SERVE_WORKER_ID), 0..workers-1
