"""What the master tells systemd, when systemd started it: readiness, reloads, stopping, a status line, the watchdog.

The arbiter calls `turn` once per turn of its loop with what it sees; this decides what
systemd hears (master/notify.py speaks the protocol):

- READY=1 once every app has its desired workers ready, the first time;
- RELOADING=1 when a reload begins, then READY=1 again when it has an outcome (success or
  not: the old generation serving is a ready service too);
- STOPPING=1 at the first stop command;
- STATUS= every STATUS_NOTIFY_S, a one-line summary;
- WATCHDOG=1 as often as WatchdogSec= asks;
- MAINPID= of the new master when `serve upgrade` hands over, after which this master tells
  systemd nothing more (not even STOPPING=1: the service goes on). systemd accepts MAINPID=
  and the new master's messages only with NotifyAccess=all in the unit.
"""

from __future__ import annotations

from collections.abc import Callable

from supervisor.master.notify import Notifier
from supervisor.master.reloads import Waiting
from supervisor.status.snapshot import Snapshot

STATUS_NOTIFY_S = 2.0  # how often systemd's STATUS= line is refreshed


def summary(snapshot: Snapshot) -> str:
    """One line for systemd's STATUS=: "3 apps, 9/9 workers ready, 1.2k req/s"."""
    ready = sum(app.workers_ready for app in snapshot.apps)
    desired = sum(app.workers_desired for app in snapshot.apps)
    rate = snapshot.requests_per_s
    shown = f"{rate / 1000:.1f}k" if rate >= 1000 else f"{rate:.0f}"
    return f"{len(snapshot.apps)} apps, {ready}/{desired} workers ready, {shown} req/s"


class SystemdLink:
    """The master's side of sd_notify: what to announce, and when."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self.announced_ready = False
        self.reload: Waiting | None = None  # the reload systemd waits on (RELOADING sent)
        self.next_status_at = 0.0
        self.handed_over = False  # `serve upgrade`: the new master speaks for the service now

    @property
    def enabled(self) -> bool:
        return self.notifier.enabled

    def reloading(self, waiting: Waiting) -> None:
        """A reload began: RELOADING=1 now, READY=1 once `settled(waiting)` says it has an outcome."""
        if self.enabled:
            self.notifier.reloading()
            self.reload = waiting

    def stopping(self) -> None:
        if not self.handed_over:
            self.notifier.stopping()

    def successor_environment(self) -> dict[str, str]:
        """What a new master started by `serve upgrade` needs to speak to systemd in this one's place."""
        notifier = self.notifier
        if not self.enabled:
            return {}
        address = notifier.address
        env = {"NOTIFY_SOCKET": "@" + address[1:] if address.startswith("\0") else address}
        if notifier.watchdog_interval_s is not None:
            env["WATCHDOG_USEC"] = str(round(notifier.watchdog_interval_s * 2e6))
        return env

    def hand_over(self, pid: int) -> None:
        """The new master `pid` serves: systemd follows it from now on (MAINPID=); this one falls silent."""
        if self.enabled:
            self.notifier.send(mainpid=pid, status=f"upgraded: new master {pid}")
        self.handed_over = True

    def next_deadline(self) -> float | None:
        return self.notifier.next_deadline()

    def turn(
        self,
        now: float,
        *,
        stopping: bool,
        all_ready: bool,
        settled: Callable[[Waiting], bool],
        snapshot: Callable[[], Snapshot],
    ) -> None:
        """Once per turn of the loop: the watchdog, and whatever there is to announce."""
        if not self.enabled or self.handed_over:
            return
        self.notifier.watchdog(now)
        if stopping:
            return
        if not self.announced_ready and all_ready:
            self.announced_ready = True
            self.notifier.ready(summary(snapshot()))
        if self.reload is not None and settled(self.reload):
            self.reload = None
            self.notifier.ready(summary(snapshot()))
        if now >= self.next_status_at:
            self.next_status_at = now + STATUS_NOTIFY_S
            self.notifier.status(summary(snapshot()))

    def close(self) -> None:
        self.notifier.close()
