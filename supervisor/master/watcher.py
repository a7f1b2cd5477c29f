"""Watching files for development reload (`reload = true`) and for `[server] watch_config`.

Each watcher is a small process forked from the master's loop, not a thread: the master
forks its workers, and watchfiles' Rust side runs threads of its own, which must not be
in a process that forks. The watcher reports each debounced batch of changes as one
line (the changed paths, tab-separated) on a pipe the master's selector watches; it exits
when the master closes that pipe or dies.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

from supervisor.master import child

# uvicorn's defaults for --reload-include / --reload-exclude (watchfiles reloader).
DEFAULT_INCLUDES = ("*.py",)
DEFAULT_EXCLUDES = (".*", ".py[cod]", ".sw.*", "~*")
POLL_PARENT_MS = 500
EXIT_WATCHER_FAILED = 4


@dataclass(frozen=True)
class WatchSpec:
    """What one watcher looks at: directories (or files), patterns, and the debounce delay."""

    name: str  # the app it reloads, or "" for the configuration file
    paths: tuple[str, ...]
    includes: tuple[str, ...]
    excludes: tuple[str, ...]
    delay_s: float  # reload_delay


def default_dirs(app_dir: str, cwd: str, *, with_cwd: bool) -> tuple[str, ...]:
    """What an app with no reload_dirs watches: the directory its code is imported from (app_dir,
    else the working directory). `serve run` watches the working directory as well, as uvicorn
    does, so `--app-dir src` still sees a settings file beside src; `serve up` does not, since it
    may be started from anywhere (/ under systemd) and its file's app_dir says where the code is."""
    if not app_dir:
        return (cwd,)
    where = os.path.normpath(os.path.join(cwd, app_dir))  # a relative app_dir is below cwd
    if not with_cwd:
        return (where,)
    return (cwd,) if PurePath(where).is_relative_to(cwd) else (cwd, where)


def relevant(path: str, roots: Sequence[str], includes: Sequence[str], excludes: Sequence[str]) -> bool:
    """Whether a change to `path` matters: it matches an include, and neither it nor a directory
    between it and the watched root matches an exclude (uvicorn's rules).

    A plain pattern ("*.py", ".git") is matched against single names; a pattern with a "/"
    ("static/*.css") against the path below the watched root, from the right as uvicorn's
    Path.match does, so it may name the directories a file is in."""
    candidate = PurePath(path)
    if any(PurePath(root) == candidate for root in roots):
        return True  # a watched file itself (the TOML file of watch_config)
    below = _below_root(candidate, roots)
    if not below.parts or not any(_matches(candidate, below, pattern) for pattern in includes):
        return False
    # Each directory on the way down is checked too: an excluded directory excludes all it holds.
    steps = [PurePath(*below.parts[:n]) for n in range(1, len(below.parts) + 1)]
    return not any(_matches(candidate, step, pattern) for step in steps for pattern in excludes)


def _below_root(candidate: PurePath, roots: Sequence[str]) -> PurePath:
    for root in roots:
        if candidate.is_relative_to(root):
            return candidate.relative_to(root)
    return candidate  # outside every root: the whole path is checked


def _matches(candidate: PurePath, below: PurePath, pattern: str) -> bool:
    if "/" not in pattern:
        return fnmatch.fnmatch(below.name, pattern)
    if pattern.startswith("/"):
        return candidate.match(pattern)  # an absolute pattern: the whole path
    return below.match(pattern)


class Watcher:
    """The master's side of one watcher process."""

    def __init__(self, spec: WatchSpec) -> None:
        self.spec = spec
        master = os.getpid()
        pid, read_fd, write_fd = child.fork_with_pipe()
        if pid == 0:  # pragma: no cover - the child; measured through the system tests
            code = EXIT_WATCHER_FAILED
            try:
                child.detach_from_master(keep=[write_fd])
                _watch(spec, write_fd, master)
                code = 0
            except BaseException as error:
                print(f"watcher for {spec.name or 'the configuration'} failed: {error!r}", file=sys.stderr, flush=True)
            finally:
                os._exit(code)
        os.close(write_fd)
        os.set_blocking(read_fd, False)
        self.pid = pid
        self.fd = read_fd
        self._partial = b""

    def fileno(self) -> int:
        return self.fd

    def read(self) -> list[str] | None:
        """The paths changed since the last read ([] when nothing complete yet); None once the watcher is gone."""
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return []
        if not data:
            return None
        *lines, self._partial = (self._partial + data).split(b"\n")
        return [path for line in lines for path in os.fsdecode(line).split("\t") if path]

    def stop(self) -> None:
        """Close the pipe (the watcher exits on its next write or parent check) and signal it."""
        with contextlib.suppress(OSError):
            os.close(self.fd)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)


def _watch(spec: WatchSpec, out: int, master: int) -> None:  # pragma: no cover - the child
    import watchfiles

    roots = [str(Path(p).resolve()) for p in spec.paths]
    watched = sorted({root if Path(root).is_dir() else str(Path(root).parent) for root in roots})
    changes = watchfiles.watch(
        *watched,
        watch_filter=lambda _change, path: relevant(path, roots, spec.includes, spec.excludes),
        debounce=max(int(spec.delay_s * 1000), 50),
        step=50,
        rust_timeout=POLL_PARENT_MS,
        yield_on_timeout=True,
        raise_interrupt=False,
    )
    for batch in changes:
        if os.getppid() != master:
            return  # the master is gone
        if batch:
            os.write(out, "\t".join(sorted(path for _, path in batch)).encode() + b"\n")
