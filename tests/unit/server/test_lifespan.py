"""Lifespan: startup and shutdown against small in-test ASGI apps, in every mode."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from supervisor._types import Message, Receive, Scope, Send
from supervisor.errors import LifespanStartupError
from supervisor.server import lifespan as lifespan_module
from supervisor.server.lifespan import UNSUPPORTED, Lifespan

LOGGER = "test.lifespan"
STEP_TIMEOUT_S = 5


Logged = Callable[[], list[tuple[int, str]]]


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[Logged]:
    """A function returning (level, message) of every record the Lifespan has logged so far."""
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        yield lambda: [(r.levelno, r.getMessage()) for r in caplog.records if r.name == LOGGER]


def messages(logs: Logged) -> list[str]:
    return [text for _, text in logs()]


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(scenario(), timeout=STEP_TIMEOUT_S)

    return asyncio.run(bounded())


def new(app: Callable[[Scope, Receive, Send], Awaitable[None]], mode: str = "auto") -> Lifespan:
    return Lifespan(app, mode, logging.getLogger(LOGGER))


class RecordingApp:
    """A well-behaved lifespan app that records what it received."""

    def __init__(self) -> None:
        self.received: list[Message] = []
        self.scope: Scope | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        message = await receive()
        self.received.append(message)
        scope["state"]["db"] = "connected"
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        self.received.append(message)
        await send({"type": "lifespan.shutdown.complete"})


# -- the happy path ---------------------------------------------------------------------------


def test_startup_and_shutdown(logs: Logged) -> None:
    app = RecordingApp()
    lifespan = new(app)

    async def scenario() -> None:
        await lifespan.startup()
        assert lifespan.state == {"db": "connected"}
        assert app.received == [{"type": "lifespan.startup"}]
        await lifespan.shutdown()

    run(scenario)
    assert app.received == [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    assert app.scope is not None
    assert app.scope["type"] == "lifespan"
    assert app.scope["asgi"] == {"version": "3.0", "spec_version": "2.0"}
    assert app.scope["state"] is lifespan.state
    assert messages(logs) == [
        "Waiting for application startup.",
        "Application startup complete.",
        "Waiting for application shutdown.",
        "Application shutdown complete.",
    ]


@pytest.mark.parametrize("mode", ["auto", "on"])
def test_modes_auto_and_on_run_a_supporting_app(mode: str) -> None:
    app = RecordingApp()
    lifespan = new(app, mode)

    async def scenario() -> None:
        await lifespan.startup()
        await lifespan.shutdown()

    run(scenario)
    assert len(app.received) == 2


def test_mode_off_never_calls_the_app(logs: Logged) -> None:
    app = RecordingApp()
    lifespan = new(app, "off")

    async def scenario() -> None:
        await lifespan.startup()
        await lifespan.shutdown()

    run(scenario)
    assert app.scope is None
    assert logs() == []


def test_unknown_mode() -> None:
    with pytest.raises(ValueError, match='lifespan must be one of auto, on, off; got "maybe"'):
        new(RecordingApp(), "maybe")


def test_shutdown_without_startup_does_nothing(logs: Logged) -> None:
    run(new(RecordingApp()).shutdown)
    assert logs() == []


# -- apps without lifespan support ------------------------------------------------------------


async def http_only_app(scope: Scope, receive: Receive, send: Send) -> None:
    assert scope["type"] == "http"


async def returns_at_once(scope: Scope, receive: Receive, send: Send) -> None:
    return


async def raises_after_receive(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    raise RuntimeError("cannot reach the database")


@pytest.mark.parametrize("app", [http_only_app, raises_after_receive])
def test_auto_mode_takes_an_exception_as_unsupported(app: Any, logs: Logged) -> None:
    lifespan = new(app, "auto")

    async def scenario() -> None:
        await lifespan.startup()
        await lifespan.shutdown()

    run(scenario)
    assert messages(logs)[:2] == ["Waiting for application startup.", UNSUPPORTED]
    assert logs()[1][0] == logging.INFO
    assert "Application startup complete." not in messages(logs)
    assert "Waiting for application shutdown." not in messages(logs)
    assert all(level < logging.WARNING for level, _ in logs())


@pytest.mark.parametrize("app", [http_only_app, raises_after_receive])
def test_on_mode_takes_an_exception_as_a_startup_failure(app: Any, logs: Logged) -> None:
    lifespan = new(app, "on")
    with pytest.raises(LifespanStartupError, match="the app raised during lifespan startup: ") as info:
        run(lifespan.startup)
    assert isinstance(info.value.__cause__, (AssertionError, RuntimeError))
    assert info.value.exit_code == 3
    assert (logging.ERROR, "Exception in 'lifespan' protocol during startup") in logs()


def test_auto_mode_app_returning_at_once_is_unsupported(logs: Logged) -> None:
    lifespan = new(returns_at_once, "auto")

    async def scenario() -> None:
        await lifespan.startup()
        await lifespan.shutdown()

    run(scenario)
    assert messages(logs) == ["Waiting for application startup.", UNSUPPORTED]


def test_on_mode_app_returning_at_once_is_warned_about(logs: Logged) -> None:
    run(new(returns_at_once, "on").startup)
    assert logs()[-1] == (logging.WARNING, "The app returned without completing lifespan startup; serving anyway.")


# -- failures the app reports -----------------------------------------------------------------


def failing_startup(message: Message, *, then_raise: bool = False) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(message)
        if then_raise:
            raise RuntimeError("re-raised after reporting")  # what Starlette does
        await receive()

    return app


@pytest.mark.parametrize("mode", ["auto", "on"])
def test_startup_failed_always_fails(mode: str, logs: Logged) -> None:
    lifespan = new(failing_startup({"type": "lifespan.startup.failed", "message": "no database"}), mode)

    async def scenario() -> None:
        with pytest.raises(LifespanStartupError) as info:
            await lifespan.startup()
        assert str(info.value) == "lifespan startup failed: no database"
        await lifespan.shutdown()  # startup failed: the app is not asked to shut down

    run(scenario)
    assert (logging.ERROR, "no database") in logs()
    assert "Waiting for application shutdown." not in messages(logs)


def test_startup_failed_with_a_traceback_summarises_its_last_line(logs: Logged) -> None:
    traceback_text = 'Traceback (most recent call last):\n  File "app.py", line 3\nValueError: bad setting\n\n'
    app = failing_startup({"type": "lifespan.startup.failed", "message": traceback_text}, then_raise=True)
    with pytest.raises(LifespanStartupError, match=r"^lifespan startup failed: ValueError: bad setting$"):
        run(new(app).startup)
    errors = [text for level, text in logs() if level >= logging.ERROR]
    assert errors == [traceback_text]  # logged once; the re-raise is not logged again


def test_startup_failed_without_a_message(logs: Logged) -> None:
    with pytest.raises(LifespanStartupError, match=r"^lifespan startup failed$"):
        run(new(failing_startup({"type": "lifespan.startup.failed"})).startup)
    assert all(level < logging.ERROR for level, _ in logs())


def shutdown_app(ending: Callable[[Send], Awaitable[None]]) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await ending(send)

    return app


def test_shutdown_failed_is_logged(logs: Logged) -> None:
    async def fail(send: Send) -> None:
        await send({"type": "lifespan.shutdown.failed", "message": "could not flush"})

    lifespan = new(shutdown_app(fail))

    async def scenario() -> None:
        await lifespan.startup()
        await lifespan.shutdown()

    run(scenario)
    assert logs()[-2:] == [(logging.ERROR, "could not flush"), (logging.ERROR, "Application shutdown failed.")]


def test_exception_during_shutdown_is_logged_with_its_traceback(logs: Logged, caplog: pytest.LogCaptureFixture) -> None:
    async def crash(send: Send) -> None:
        raise OSError("disk gone")

    lifespan = new(shutdown_app(crash))

    async def scenario() -> None:
        await lifespan.startup()
        await lifespan.shutdown()

    run(scenario)
    assert logs()[-1] == (logging.ERROR, "Exception in 'lifespan' protocol")
    assert "Application shutdown complete." not in messages(logs)
    [record] = [r for r in caplog.records if r.getMessage() == "Exception in 'lifespan' protocol"]
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], OSError)


def test_app_crashing_while_serving_is_logged_and_shutdown_is_skipped(logs: Logged) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        raise RuntimeError("background job died")

    lifespan = new(app)

    async def scenario() -> None:
        await lifespan.startup()
        for _ in range(100):  # bounded: the task needs a few loop turns to reach its raise
            if lifespan._task is not None and lifespan._task.done():
                break
            await asyncio.sleep(0)
        await lifespan.shutdown()

    run(scenario)
    assert (logging.ERROR, "Exception in 'lifespan' protocol") in logs()
    assert "Waiting for application shutdown." not in messages(logs)


def test_app_that_lingers_after_shutdown_complete_is_cancelled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lifespan_module, "EXIT_GRACE_S", 0.05)
    cancelled: list[bool] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})
        try:
            await receive()  # nothing more will ever come
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    lifespan = new(app)

    async def scenario() -> None:
        await lifespan.startup()
        await lifespan.shutdown()
        assert lifespan._task is not None
        assert lifespan._task.done()

    run(scenario)
    assert cancelled == [True]


# -- protocol misuse --------------------------------------------------------------------------


def misbehaving(
    messages_to_send: list[Message], seen: list[BaseException]
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        try:
            for message in messages_to_send:
                await send(message)
        except RuntimeError as exc:
            seen.append(exc)
            raise
        await receive()

    return app


@pytest.mark.parametrize(
    ("sent", "error"),
    [
        (
            [{"type": "lifespan.startup.complete"}, {"type": "lifespan.startup.complete"}],
            "lifespan.startup.complete sent after startup was already answered",
        ),
        (
            [{"type": "lifespan.startup.complete"}, {"type": "lifespan.startup.failed"}],
            "lifespan.startup.failed sent after startup was already answered",
        ),
        ([{"type": "lifespan.shutdown.complete"}], "lifespan.shutdown.complete sent out of order"),
        (
            [
                {"type": "lifespan.startup.complete"},
                {"type": "lifespan.shutdown.complete"},
                {"type": "lifespan.shutdown.failed"},
            ],
            "lifespan.shutdown.failed sent out of order",
        ),
        ([{"type": "http.response.start"}], "unexpected message type 'http.response.start'"),
    ],
)
def test_out_of_order_messages_raise_in_the_app(sent: list[Message], error: str, logs: Logged) -> None:
    seen: list[BaseException] = []
    lifespan = new(misbehaving(sent, seen))

    async def scenario() -> None:
        await lifespan.startup()
        for _ in range(100):
            if lifespan._task is not None and lifespan._task.done():
                break
            await asyncio.sleep(0)
        await lifespan.shutdown()

    run(scenario)
    assert [str(exc) for exc in seen] == [f"ASGI lifespan: {error}"]
