"""Restart pacing for one app: exponential backoff after failures, and crash-loop detection.

Pure: the time is a parameter.

A failure is a worker exit nobody asked for (or a worker that could not start). After the
k-th failure in a row no worker is started for initial * 2**(k-1) seconds, at most `cap_s`.
After `crashloop_after` failures *at start* in a row (exits before the worker was ever ready)
the app is in a crash loop and every retry waits the full cap. A worker becoming ready clears
everything: one success proves the app can start (supervisord gives up after three tries,
gunicorn halts the whole server; we keep trying at the cap and say so).

A fork the kernel refuses is none of that (`ForkRetry`): the app did nothing wrong, so it counts
toward neither the backoff nor the crash loop, and is tried again after a second or a few.
"""

from __future__ import annotations

from dataclasses import dataclass

# 2**30 * 0.5 s is decades: past this exponent every delay is the cap anyway, and a float
# cannot hold 2**1024.
_MAX_EXPONENT = 30


@dataclass(slots=True)
class Backoff:
    """When the next worker of a failing app may start."""

    initial_s: float  # the policy's numbers (PoolLimits), never restated here
    cap_s: float
    crashloop_after: int
    failures: int = 0  # in a row, since a worker was last ready
    start_failures: int = 0  # in a row, each before the worker was ready
    crashloop: bool = False
    resume_at: float = 0.0  # while failing, no worker starts before this time

    @property
    def failing(self) -> bool:
        """A failure happened since a worker was last ready."""
        return self.failures > 0

    def delay_s(self) -> float:
        """The wait after the latest failure."""
        if self.crashloop:
            return self.cap_s
        return min(self.cap_s, self.initial_s * 2.0 ** min(self.failures - 1, _MAX_EXPONENT))

    def fail(self, now: float, *, at_start: bool) -> float:
        """Count a failure at `now`; returns the wait before the next start.

        Args:
            now: when it happened.
            at_start: the worker exited (or was killed, or could not be forked) before it was ready.
        """
        self.failures += 1
        self.start_failures = self.start_failures + 1 if at_start else 0
        if self.start_failures >= self.crashloop_after:
            self.crashloop = True
        delay = self.delay_s()
        self.resume_at = now + delay
        return delay

    def succeed(self) -> bool:
        """A worker became ready: forget every failure. Returns True if that ended a crash loop."""
        ended = self.crashloop
        self.failures = self.start_failures = 0
        self.crashloop = False
        return ended

    def may_start(self, now: float) -> bool:
        """A worker may be started at `now`."""
        return now >= self.resume_at or not self.failing


# A fork the kernel refuses (EAGAIN at RLIMIT_NPROC, ENOMEM, EMFILE for its pipe) is the master's
# own want of a resource, not a fault of the app: it is tried again soon, at a pace of its own
# that never grows past a few seconds, so workers start as soon as the resource is back.
FORK_RETRY_S = 1.0
FORK_RETRY_CAP_S = 4.0


@dataclass(slots=True)
class ForkRetry:
    """When the master may try again to fork an app's workers after the kernel refused a fork."""

    failures: int = 0  # turns of the loop in a row in which a fork failed
    failed_at: float | None = None  # the turn (its `now`) of the latest failure
    resume_at: float | None = None  # no fork before this; None once that time was reached

    def fail(self, now: float) -> float | None:
        """A fork failed at `now`; returns the wait before the next try, or None when this turn already
        counted one (every Spawn of a turn is answered with the turn's `now`)."""
        if now == self.failed_at:
            return None
        self.failures += 1
        self.failed_at = now
        delay = min(FORK_RETRY_CAP_S, FORK_RETRY_S * 2.0 ** min(self.failures - 1, _MAX_EXPONENT))
        self.resume_at = now + delay
        return delay

    def succeed(self) -> None:
        """A fork worked: the next failure waits the shortest time again."""
        self.failures = 0

    def may_fork(self, now: float) -> bool:
        """A fork may be tried at `now`; the wait, once over, is forgotten (it is no deadline any more)."""
        if self.resume_at is not None and now < self.resume_at:
            return False
        self.resume_at = None
        return True
