"""Interface adapters that present ASGI2 and WSGI applications as ASGI3 callables, and the trace wrapper.

`TracedApp` is what `log_level = "trace"` puts around the app: every call's scope and every
message in and out, logged at TRACE on serve.error, as uvicorn's trace level does.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from supervisor._types import ASGI2App, ASGIApp, Receive, Scope, Send, WSGIApp

# a2wsgi's own default; each WSGI request occupies one thread while the view runs.
WSGI_THREADS = 10
TRACE = 5  # logs.TRACE, below DEBUG: the level --log-level trace sets

logger = logging.getLogger("serve.error")


class ASGI2Adapter:
    """Runs a class-style ASGI2 app (`app(scope)` returns a coroutine callable) as ASGI3."""

    __slots__ = ("app",)

    def __init__(self, app: ASGI2App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Told the version it speaks, as uvicorn tells it. A new dict: the lifespan scope's may be shared.
        scope["asgi"] = {**scope.get("asgi", {}), "version": "2.0"}
        instance = self.app(scope)
        await instance(receive, send)


class TracedApp:
    """An app whose calls are logged at TRACE: the scope, each message received and sent, the end.

    Put around the app only when TRACE is enabled (server/state.py), so the trace costs a
    request nothing otherwise. Bodies and WebSocket payloads are shown as their length.
    """

    __slots__ = ("app", "calls")

    def __init__(self, app: Any) -> None:
        self.app = app
        self.calls = 0  # numbers the calls, so the lines of concurrent requests can be told apart

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        call, peer = self.calls, _peer(scope.get("client"))
        logger.log(TRACE, "%s - ASGI [%d] started, scope %s", peer, call, _shown(scope))

        async def traced_receive() -> Any:
            message = await receive()
            logger.log(TRACE, "%s - ASGI [%d] received %s", peer, call, _shown(message))
            return message

        async def traced_send(message: Any) -> None:
            logger.log(TRACE, "%s - ASGI [%d] sent %s", peer, call, _shown(message))
            await send(message)

        try:
            await self.app(scope, traced_receive, traced_send)
        except BaseException as error:
            logger.log(TRACE, "%s - ASGI [%d] raised %s", peer, call, type(error).__name__)
            raise
        logger.log(TRACE, "%s - ASGI [%d] completed", peer, call)


def _peer(client: object) -> str:
    """ "host:port" of a scope's client, as the trace lines start; "-" when unknown (a unix socket)."""
    if isinstance(client, (tuple, list)) and len(client) == 2:
        return f"{client[0]}:{client[1]}"
    return "-"


def _shown(message: Any) -> dict[str, Any]:
    """`message` with bytes and text payloads replaced by their length (headers and the rest as they are)."""
    shown = dict(message)
    for key in ("body", "bytes", "text"):
        value = shown.get(key)
        if isinstance(value, (bytes, bytearray, memoryview, str)):
            unit = "chars" if isinstance(value, str) else "bytes"
            shown[key] = f"<{len(value)} {unit}>"
    return shown


def wrap_wsgi(app: WSGIApp, *, threads: int = WSGI_THREADS) -> ASGIApp:
    """Wrap a WSGI callable with a2wsgi's middleware, which runs it in a thread pool.

    Args:
        app: a PEP 3333 callable, `app(environ, start_response)`.
        threads: size of the pool running WSGI calls.

    Returns:
        An ASGI3 callable. It answers lifespan events itself and closes WebSocket scopes.
    """
    # Imported here so that ASGI apps never pay for a2wsgi's import.
    from a2wsgi import WSGIMiddleware

    # a2wsgi types environ and messages as TypedDicts; ours are the looser ASGI aliases.
    wrapped: Any = WSGIMiddleware(cast("Any", app), workers=threads)
    return cast("ASGIApp", wrapped)
