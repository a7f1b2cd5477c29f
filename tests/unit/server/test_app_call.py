"""ServerState.start_app_call: the Task each request's app call runs in."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine, Generator
from typing import Any

from supervisor.server.state import ConnectionLimits, ServerState

MARK: contextvars.ContextVar[str] = contextvars.ContextVar("mark", default="unset")


async def _app(scope: Any, receive: Any, send: Any) -> None:  # never called: only a state needs an app
    return None


async def read_mark(into: list[str]) -> None:
    into.append(MARK.get())


def _state(loop: asyncio.AbstractEventLoop, *, reset: bool = False) -> ServerState:
    return ServerState(app=_app, loop=loop, limits=ConnectionLimits(), http="httptools", reset_contextvars=reset)


def _run(loop: asyncio.AbstractEventLoop, state: ServerState) -> tuple[asyncio.Task[None], str]:
    async def main() -> tuple[asyncio.Task[None], str]:
        MARK.set("ours")
        seen: list[str] = []
        task = state.start_app_call(read_mark(seen))
        await task
        return task, seen[0]

    return loop.run_until_complete(main())


def test_without_a_task_factory_the_call_runs_in_a_task_with_a_copy_of_our_context() -> None:
    loop = asyncio.new_event_loop()
    try:
        task, seen = _run(loop, _state(loop))
        assert isinstance(task, asyncio.Task)
        assert seen == "ours"
    finally:
        loop.close()


def test_a_task_factory_set_by_the_app_is_used() -> None:
    # An app may set one (tracing, instrumentation) at startup: every request goes through it.
    made: list[Coroutine[Any, Any, Any] | Generator[Any, None, Any]] = []

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        made.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop = asyncio.new_event_loop()
    try:
        loop.set_task_factory(factory)
        _, seen = _run(loop, _state(loop))
        assert len(made) == 2  # main() and the app call
        assert seen == "ours"
    finally:
        loop.close()


def test_reset_contextvars_gives_the_call_a_fresh_context() -> None:
    loop = asyncio.new_event_loop()
    try:
        _, seen = _run(loop, _state(loop, reset=True))
        assert seen == "unset"
    finally:
        loop.close()
