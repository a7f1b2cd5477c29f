"""Event-loop selection (`loop = auto | asyncio | uvloop`) and running a coroutine on a fresh loop."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Coroutine
from typing import Any, TypeVar

from supervisor.errors import StartupError

T = TypeVar("T")


def resolve_loop(kind: str) -> str:
    """Turn `auto` into the loop we will use: uvloop when installed, else asyncio."""
    if kind == "auto":
        return "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"
    return kind


def new_event_loop(kind: str) -> asyncio.AbstractEventLoop:
    """A new event loop of the requested kind.

    Raises:
        StartupError: `uvloop` was asked for and is not installed.
    """
    if resolve_loop(kind) == "uvloop":
        try:
            import uvloop
        except ImportError as error:
            raise StartupError("loop = uvloop, but uvloop is not installed (pip install uvloop)") from error
        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        return loop
    return asyncio.new_event_loop()


def run_on_new_loop(main: Coroutine[Any, Any, T], kind: str) -> T:
    """Run `main` to completion on a fresh loop of `kind`, then close the loop."""
    try:
        loop = new_event_loop(kind)
    except BaseException:
        main.close()  # never started: close it, so Python does not warn it was never awaited
        raise
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main)
    finally:
        try:
            _cancel_leftovers(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    leftovers = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in leftovers:
        task.cancel()
    if leftovers:
        loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))


def resolve_http(kind: str) -> str:
    """Turn `auto` into the parser front we will use: httptools when installed, else h11."""
    if kind == "auto":
        return "httptools" if importlib.util.find_spec("httptools") is not None else "h11"
    return kind
