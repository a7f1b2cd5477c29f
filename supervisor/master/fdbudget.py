"""The master's descriptor budget: how many more descriptors it may open.

The master forks every worker through a pipe (two descriptors) and must always be able to
accept its own control socket's clients; a crowd of idle probes on `health_bind` or
`metrics_bind` must not use those descriptors up. `FdBudget` says how many descriptors the
process may still open, so the side servers (master/side_server.py) can keep a reserve.
"""

from __future__ import annotations

import errno
import logging
import os
import resource
import time
from collections.abc import Callable

logger = logging.getLogger("serve.error")

MEASURE_INTERVAL_S = 1.0

_FD_DIR = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"


class FdBudget:
    """How many more descriptors this process may open, measured at most once per `interval`.

    Between measurements each descriptor the caller reports with `spent()` is subtracted,
    and descriptors closed meanwhile are not added back: the estimate errs towards refusing.
    """

    def __init__(self, *, interval: float = MEASURE_INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._left = 0
        self._measured_at: float | None = None

    def remaining(self) -> int:
        now = self.clock()
        if self._measured_at is None or now - self._measured_at >= self.interval:
            self._left = descriptors_left()
            self._measured_at = now
        return self._left

    def spent(self, count: int = 1) -> None:
        self._left -= count


def descriptors_left() -> int:
    """RLIMIT_NOFILE's soft limit minus the descriptors open below it (0 when even listing them fails)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20  # no limit: the kernel's nr_open caps it near there
    try:
        names = os.listdir(_FD_DIR)
    except OSError as error:
        if error.errno in (errno.EMFILE, errno.ENFILE):  # the listing itself needs a descriptor: none is left
            return 0
        # ENOMEM (an address-space limit) says nothing of descriptors: not reported as short of them.
        return soft
    # A descriptor numbered at or above the soft limit (opened before it was lowered) does not
    # stand in the way of a new one; the listing's own descriptor, closed by now, is not counted.
    open_below = sum(1 for name in names if name.isdigit() and int(name) < soft) - 1
    return max(soft - open_below, 0)
