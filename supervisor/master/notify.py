"""systemd's notification protocol (sd_notify): READY, RELOADING, STOPPING, STATUS and the watchdog.

When systemd starts the master as a `Type=notify` (or `notify-reload`) service it sets
NOTIFY_SOCKET, a unix datagram socket (a path, or an abstract name written with a leading
"@"). Each message is one datagram of `KEY=VALUE` lines. The variables are removed from the
environment so that workers, and anything they start, do not report for the master.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import MutableMapping


class Notifier:
    """Sends state changes to systemd; does nothing when not started by it."""

    def __init__(self, environ: MutableMapping[str, str]) -> None:
        address = environ.pop("NOTIFY_SOCKET", "")
        watchdog_usec = environ.pop("WATCHDOG_USEC", "")
        watchdog_pid = environ.pop("WATCHDOG_PID", "")
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self.sock: socket.socket | None = None
        if self.address:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.sock.setblocking(False)
        # sd_watchdog_enabled(3): the watchdog is ours only if WATCHDOG_PID is unset or names us.
        ours = not watchdog_pid or watchdog_pid == str(os.getpid())
        self.watchdog_interval_s = int(watchdog_usec) / 2e6 if watchdog_usec.isdigit() and ours else None
        self.next_watchdog = 0.0
        self.last_status = ""

    @property
    def enabled(self) -> bool:
        return self.sock is not None

    def send(self, **fields: str | int) -> None:
        """One datagram of KEY=VALUE lines (keys upper-cased: ready=1 -> READY=1)."""
        if self.sock is None:
            return
        message = "\n".join(f"{key.upper()}={value}" for key, value in fields.items())
        with contextlib.suppress(OSError):  # systemd gone or its queue full: a later message will do
            self.sock.sendto(message.encode(), self.address)

    def ready(self, status: str) -> None:
        self.send(ready=1, status=status)

    def reloading(self) -> None:
        # RELOADING=1 must carry the time of the reload request (systemd's notify-reload).
        self.send(reloading=1, monotonic_usec=time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)

    def stopping(self) -> None:
        self.send(stopping=1)

    def status(self, text: str) -> None:
        if text != self.last_status:
            self.last_status = text
            self.send(status=text)

    def watchdog(self, now: float) -> None:
        """Pet the watchdog at half its interval; called from every turn of the master's loop."""
        if self.watchdog_interval_s is not None and now >= self.next_watchdog:
            self.next_watchdog = now + self.watchdog_interval_s
            self.send(watchdog=1)

    def next_deadline(self) -> float | None:
        return self.next_watchdog if self.watchdog_interval_s is not None else None

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
