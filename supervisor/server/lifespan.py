"""Run the app's ASGI lifespan protocol: startup before the first request, shutdown after the last.

The app's lifespan call runs as one task for the worker's whole life, fed through a
queue. With mode "auto", an app that raises (or returns) before completing startup is
taken not to speak lifespan and serving goes on, as in uvicorn; with "on" that is a
startup failure; "off" never calls the app with a lifespan scope. A
`lifespan.startup.failed` message always fails startup.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from supervisor._types import ASGIApp, Message
from supervisor.errors import LifespanStartupError

LIFESPAN_MODES = ("auto", "on", "off")
# How long the app's lifespan task may run on after lifespan.shutdown.complete before it
# is cancelled; apps return right after sending it, so this only bounds a misbehaving one.
EXIT_GRACE_S = 1.0

UNSUPPORTED = "ASGI 'lifespan' protocol appears unsupported."


class Lifespan:
    """One app's lifespan: `await startup()` before serving, `await shutdown()` after draining.

    `state` is the lifespan scope's "state" dict; the connection gives each request a
    shallow copy of it, as the ASGI spec asks.
    """

    def __init__(self, app: ASGIApp, mode: str, logger: logging.Logger) -> None:
        if mode not in LIFESPAN_MODES:
            raise ValueError(f'lifespan must be one of {", ".join(LIFESPAN_MODES)}; got "{mode}"')
        self.app = app
        self.mode = mode
        self.logger = logger
        self.state: dict[str, Any] = {}
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._started = asyncio.Event()  # startup complete or failed, or the app ended
        self._finished = asyncio.Event()  # shutdown complete or failed, or the app ended
        self._task: asyncio.Task[None] | None = None
        self._startup_failed: str | None = None
        self._shutdown_failed: str | None = None
        self._error: Exception | None = None
        self._returned_early = False

    async def startup(self) -> None:
        """Send lifespan.startup and wait for the app's answer.

        Raises:
            LifespanStartupError: the app sent lifespan.startup.failed, or (mode "on")
                raised before completing startup.
        """
        if self.mode == "off":
            return
        self.logger.info("Waiting for application startup.")
        self._task = asyncio.get_running_loop().create_task(self._run())
        await self._inbox.put({"type": "lifespan.startup"})
        await self._started.wait()
        if self._startup_failed is not None:
            # The app is not asked to shut down after a failed startup (nor does uvicorn ask it).
            await self._cancel(self._task)
            raise LifespanStartupError(_failure_summary("lifespan startup failed", self._startup_failed))
        if self._error is not None:
            if self.mode == "on":
                error = self._error
                raise LifespanStartupError(
                    f"the app raised during lifespan startup: {type(error).__name__}: {error}"
                ) from error
            return  # "auto": already logged as unsupported
        if self._returned_early:
            if self.mode == "on":
                self.logger.warning("The app returned without completing lifespan startup; serving anyway.")
            else:
                self.logger.info(UNSUPPORTED)
            return
        self.logger.info("Application startup complete.")

    async def shutdown(self) -> None:
        """Send lifespan.shutdown and wait for the app; failures are logged, never raised.

        Nothing happens when the lifespan task has already ended (lifespan unsupported, or
        the app failed at startup), or when mode is "off".
        """
        task = self._task
        if task is None or task.done():
            return
        self.logger.info("Waiting for application shutdown.")
        await self._inbox.put({"type": "lifespan.shutdown"})
        await self._finished.wait()
        if self._shutdown_failed is not None:
            self.logger.error("Application shutdown failed.")
        elif self._error is None:
            self.logger.info("Application shutdown complete.")
        await self._let_task_end(task)

    async def _run(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}
        try:
            await self.app(scope, self._receive, self._send)
        except Exception as exc:
            self._error = exc
            self._report(exc)
        else:
            self._returned_early = not self._started.is_set()
        finally:
            self._started.set()
            self._finished.set()

    def _report(self, exc: Exception) -> None:
        if self._startup_failed is not None or self._shutdown_failed is not None:
            return  # the app reported it already, and is re-raising (Starlette does)
        if self._started.is_set():
            self.logger.error("Exception in 'lifespan' protocol", exc_info=exc)
        elif self.mode == "auto":
            self.logger.info(UNSUPPORTED)
            self.logger.debug("The app raised on the lifespan scope", exc_info=exc)
        else:
            self.logger.error("Exception in 'lifespan' protocol during startup", exc_info=exc)

    async def _receive(self) -> Message:
        return await self._inbox.get()

    async def _send(self, message: Message) -> None:
        kind = message["type"]
        if kind in ("lifespan.startup.complete", "lifespan.startup.failed"):
            if self._started.is_set():
                raise RuntimeError(f"ASGI lifespan: {kind} sent after startup was already answered")
            if kind == "lifespan.startup.failed":
                self._startup_failed = self._log_message(message)
            self._started.set()
        elif kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            if not self._started.is_set() or self._finished.is_set():
                raise RuntimeError(f"ASGI lifespan: {kind} sent out of order")
            if kind == "lifespan.shutdown.failed":
                self._shutdown_failed = self._log_message(message)
            self._finished.set()
        else:
            raise RuntimeError(f"ASGI lifespan: unexpected message type {kind!r}")

    def _log_message(self, message: Message) -> str:
        text = str(message.get("message") or "")
        if text:
            self.logger.error(text)
        return text

    async def _let_task_end(self, task: asyncio.Task[None]) -> None:
        await asyncio.wait({task}, timeout=EXIT_GRACE_S)
        await self._cancel(task)

    @staticmethod
    async def _cancel(task: asyncio.Task[None]) -> None:
        if not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=EXIT_GRACE_S)


def _failure_summary(prefix: str, message: str) -> str:
    # Frameworks put a whole traceback in the message (already logged); its last line names the error.
    lines = [line for line in message.strip().splitlines() if line.strip()]
    return f"{prefix}: {lines[-1].strip()}" if lines else prefix
