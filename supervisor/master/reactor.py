"""The master's descriptor registry: one owner per watched descriptor, and handlers that cannot kill the loop.

Every descriptor the master's loop watches (signal wake-ups, worker output pipes, the
control socket and its clients, the health and metrics endpoints and theirs, watcher
pipes, the dashboard's keys) is registered here with the handler that reads or writes it.
Two rules keep the loop alive:

- A descriptor is unregistered before it is closed (`close`). epoll registers the open
  file *description*, not the number: closed first, `epoll_ctl(DEL)` fails, the kernel
  keeps the registration alive as long as any forked child still holds a copy, and the
  stale entry later fires under a reused number, dispatching one key twice.
- A handler that raises is logged with its traceback and counted, and the loop goes on:
  one bad event must not take every app down. Its `on_error` callback then cleans up (a
  client connection is typically closed through it, since a handler that failed once on
  a connection will fail again); without one the registration stays, which is what the
  master's own descriptors (signal wake-ups, listening sockets) need. Their handlers
  consume what made them readable before doing anything that can fail, so a failure
  cannot turn into a busy loop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

logger = logging.getLogger("serve.error")

READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE

# Called with the ready events (READ, WRITE or both).
Handler = Callable[[int], None]


class Watch(Protocol):
    """What a component needs to have its descriptors watched by the master's loop."""

    def watch(
        self, fd: int, events: int, handler: Handler, *, name: str, on_error: Callable[[], None] | None = None
    ) -> None:
        """Call `handler(events)` whenever `fd` is ready; replaces any earlier registration of `fd`.

        If the handler raises, the error is logged and counted, then `on_error()` runs (to
        close a client, say); without `on_error` the registration stays as it is.
        """

    def modify(self, fd: int, events: int) -> None:
        """Watch `fd` for other events (READ, WRITE or both); 0 pauses it without forgetting it."""

    def forget(self, fd: int) -> None:
        """Stop watching `fd` (nothing happens if it is not watched). Does not close it."""

    def close(self, fd: int) -> None:
        """Forget `fd`, then close it; closing an already closed descriptor is not an error."""


@dataclass
class _Entry:
    handler: Handler
    name: str
    events: int
    on_error: Callable[[], None] | None


class Reactor:
    """A selector whose entries are (descriptor, handler) pairs, with failures contained."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.entries: dict[int, _Entry] = {}
        self.failures = 0  # handlers that raised
        self.on_failure: Callable[[str, BaseException], None] | None = None

    def watch(
        self, fd: int, events: int, handler: Handler, *, name: str, on_error: Callable[[], None] | None = None
    ) -> None:
        self.forget(fd)
        entry = _Entry(handler, name, events, on_error)
        self.entries[fd] = entry
        if events:
            self.selector.register(fd, events, entry)

    def modify(self, fd: int, events: int) -> None:
        entry = self.entries.get(fd)
        if entry is None or entry.events == events:
            return
        if entry.events and events:
            self.selector.modify(fd, events, entry)
        elif events:
            self.selector.register(fd, events, entry)
        else:
            self._unregister(fd)
        entry.events = events

    def forget(self, fd: int) -> None:
        entry = self.entries.pop(fd, None)
        if entry is not None and entry.events:
            self._unregister(fd)

    def close(self, fd: int) -> None:
        self.forget(fd)
        with contextlib.suppress(OSError):
            os.close(fd)

    def watched(self, fd: int) -> bool:
        return fd in self.entries

    def poll(self, timeout: float) -> int:
        """Wait up to `timeout` seconds and run the handler of every ready descriptor; returns how many ran."""
        ran = 0
        for key, events in self.selector.select(max(timeout, 0.0)):
            entry: _Entry = key.data
            # A handler earlier in this batch may have forgotten this descriptor, or replaced
            # its entry with another one's: run only the entry still registered under it.
            if self.entries.get(key.fd) is not entry:
                continue
            ran += 1
            try:
                entry.handler(events)
            except Exception as error:  # one event must not stop supervision
                self._failed(key.fd, entry, error)
        return ran

    def _failed(self, fd: int, entry: _Entry, error: Exception) -> None:
        self.failures += 1
        logger.error("The master's handler for %s failed; supervision goes on.", entry.name, exc_info=error)
        if entry.on_error is not None:
            try:
                entry.on_error()
            except Exception:  # the clean-up of a failed handler failing too
                logger.exception("Cleaning up after %s failed as well.", entry.name)
        if self.on_failure is not None:
            self.on_failure(entry.name, error)

    def _unregister(self, fd: int) -> None:
        # KeyError: never registered with events; ValueError/OSError: already closed elsewhere.
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.selector.unregister(fd)

    def close_selector(self) -> None:
        self.entries.clear()
        self.selector.close()
