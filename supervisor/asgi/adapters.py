"""Interface adapters that present ASGI2 and WSGI applications as ASGI3 callables."""

from __future__ import annotations

from typing import Any, cast

from supervisor._types import ASGI2App, ASGIApp, Receive, Scope, Send, WSGIApp

# a2wsgi's own default; each WSGI request occupies one thread while the view runs.
WSGI_THREADS = 10


class ASGI2Adapter:
    """Runs a class-style ASGI2 app (`app(scope)` returns a coroutine callable) as ASGI3."""

    __slots__ = ("app",)

    def __init__(self, app: ASGI2App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        instance = self.app(scope)
        await instance(receive, send)


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
