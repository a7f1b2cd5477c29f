"""`[server] pid_file`: written at start, moved when a reload names another path, removed at exit."""

from __future__ import annotations

import contextlib
import os


def write(path: str | None) -> None:
    """Write this process's pid to `path` (nothing when unset).

    Raises:
        OSError: the file cannot be written (at start: the master does not start).
    """
    if path:
        with open(path, "w", encoding="ascii") as handle:
            handle.write(f"{os.getpid()}\n")


def remove(path: str | None) -> None:
    """Remove the pid file, if it is still there and still names this process."""
    if not path:
        return
    with contextlib.suppress(OSError, ValueError):
        with open(path, encoding="ascii") as handle:
            if int(handle.read().strip()) != os.getpid():
                return  # another master's by now: not ours to remove
        os.unlink(path)


def move(old: str | None, new: str | None) -> None:
    """A reload changed `pid_file`: write the new one first, then remove the old one.

    Raises:
        OSError: the new file cannot be written (the old one stays).
    """
    if old == new:
        return
    write(new)
    remove(old)
