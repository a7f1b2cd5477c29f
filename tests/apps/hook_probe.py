"""Hook functions for tests/system/test_hooks.py and tests/unit/test_hook_calls.py.

Each hook that succeeds leaves a JSON file in $HOOK_PROBE_DIR saying what it was told, so
the test reads what happened in the master or in each worker. `fail` raises, as a broken
hook would.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

APP_MODULE = "master_apps"  # the app the system tests serve: post_fork runs before it is imported


def _write(name: str, context: Any, **extra: object) -> None:
    directory = Path(os.environ["HOOK_PROBE_DIR"])
    fields = {
        "app": context.app,
        "worker": context.worker,
        "pid": context.pid,
        "generation": context.generation,
        "apps": list(context.apps),
        "getpid": os.getpid(),
        **extra,
    }
    temporary = directory / f".{name}.tmp"
    temporary.write_text(json.dumps(fields), encoding="utf-8")
    temporary.replace(directory / name)  # whole or absent: the test polls for it


def post_fork(context: Any) -> None:
    _write(f"post_fork-{context.worker}-{context.pid}", context, app_imported=APP_MODULE in sys.modules)


def worker_exit(context: Any) -> None:
    _write(f"worker_exit-{context.pid}", context)


def when_ready(context: Any) -> None:
    directory = Path(os.environ["HOOK_PROBE_DIR"])
    workers = sorted(path.name for path in directory.glob("post_fork-*"))
    with (directory / "when_ready").open("a", encoding="utf-8") as calls:  # one line per call
        calls.write(json.dumps({"pid": context.pid, "app": context.app, "post_forks": workers}) + "\n")


def on_reload(context: Any) -> None:
    _write(f"on_reload-{len(list(Path(os.environ['HOOK_PROBE_DIR']).glob('on_reload-*')))}", context)


def fail(context: Any) -> None:
    raise RuntimeError("hook says no")


def leave(context: Any) -> None:
    raise SystemExit(2)


async def asynchronous(context: Any) -> None:
    """Hooks are plain functions: this one's coroutine is never run."""


not_callable = 42


def forks(context: Any) -> None:
    """A hook that forks and lets its child return, as a careless one might; it waits for that child."""
    child = os.fork()
    if child:
        os.waitpid(child, 0)
