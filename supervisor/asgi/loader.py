"""Turn an app target ("MODULE:ATTR" or an object) into an ASGI3 callable, or say precisely why not.

Steps, each with its own error message: import the module (a module that is missing is
told apart from one that fails while importing), walk the dotted attribute, call the
factory, then pick the interface (asgi3, asgi2 or wsgi) and wrap it.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import logging
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, cast

from supervisor._types import ASGIApp
from supervisor.asgi.adapters import ASGI2Adapter, wrap_wsgi
from supervisor.errors import AppLoadError

INTERFACES = ("auto", "asgi3", "asgi2", "wsgi")

logger = logging.getLogger("serve.error")

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
# serve's own source and the import machinery: frames there are how the app was reached, not
# where it failed ("<frozen importlib._bootstrap>" and the like start with "<").
_NOT_THE_APP = (
    "<",
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep,
    os.path.dirname(os.path.abspath(importlib.__file__)) + os.sep,
)


def failure_line(error: BaseException) -> str:
    """The one line that says why an app could not start, for the master's events and replies.

    The app's own error when there is one, as Python names it, with where it was raised:
    "SyntaxError: invalid syntax (/srv/chat.py, line 8)", "ModuleNotFoundError: No module
    named 'chatt'", "RuntimeError: no database (/srv/app.py:12)". serve's own refusals (no
    such attribute, not callable, lifespan.startup.failed) are told in serve's words.
    """
    original = error.__cause__
    if original is None and isinstance(error.__context__, ImportError):
        original = error.__context__  # a missing module, re-raised `from None`: Python's words name it
    if original is None:
        return str(error)
    if isinstance(original, SyntaxError):
        where = f" ({original.filename}, line {original.lineno})" if original.filename else ""
        return f"{type(original).__name__}: {original.msg}{where}"
    frames = [
        frame for frame in traceback.extract_tb(original.__traceback__) if not frame.filename.startswith(_NOT_THE_APP)
    ]
    where = f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(original).__name__}: {original}{where}"


def load_app(
    target: str | Callable[..., Any],
    *,
    factory: bool = False,
    interface: str = "auto",
    app_dir: str = "",
) -> ASGIApp:
    """Import and prepare the application a worker will serve.

    Args:
        target: "MODULE:ATTR" (ATTR may be dotted, e.g. "main:api.app") or the app object itself.
        factory: call the target with no arguments and serve what it returns. Without it, a
            target that can be called with no arguments is still taken as a factory, with a
            warning, as uvicorn does.
        interface: "auto", "asgi3", "asgi2" or "wsgi"; see `detect_interface` for "auto".
        app_dir: a directory put first on `sys.path` before importing; "" leaves `sys.path` alone.

    Returns:
        An ASGI3 callable (ASGI2 and WSGI apps come back wrapped).

    Raises:
        AppLoadError: the target is malformed, missing, not callable, or its factory failed.
    """
    if interface not in INTERFACES:
        raise AppLoadError(f'interface must be one of {", ".join(INTERFACES)}; got "{interface}"')
    if isinstance(target, str):
        if app_dir:
            _put_first_on_path(app_dir)
        obj = import_target(target)
        label = target
    else:
        obj = target
        label = getattr(target, "__qualname__", type(target).__qualname__)
    if not callable(obj):
        raise AppLoadError(f'"{label}" is not callable (got {type(obj).__name__})')
    if factory:
        obj = _call_factory(obj, label)
    elif looks_like_factory(obj):
        logger.warning(
            'App factory detected: "%s" takes no arguments, so serving what it returns. '
            "Set factory = true (or pass --factory) to say so explicitly.",
            label,
        )
        obj = _call_factory(obj, label)
    kind = detect_interface(obj) if interface == "auto" else interface
    if kind == "asgi2":
        return ASGI2Adapter(obj)
    if kind == "wsgi":
        return wrap_wsgi(obj)
    return cast("ASGIApp", obj)


def import_target(target: str) -> Any:
    """Import "MODULE:ATTR" and return the attribute.

    Raises:
        AppLoadError: bad format, module missing, module failing on import, attribute missing.
    """
    module_name, _, attr_path = target.partition(":")
    attrs = attr_path.split(".")
    if not module_name or not all(attrs) or module_name.startswith("."):
        raise AppLoadError(f'expected "module:attribute", got "{target}"')
    module = _import_module(module_name)
    obj: Any = module
    for depth, name in enumerate(attrs):
        try:
            obj = getattr(obj, name)
        except AttributeError:
            raise AppLoadError(_missing_attribute(module, module_name, attrs, depth)) from None
    return obj


def looks_like_factory(obj: Callable[..., Any]) -> bool:
    """True when `obj` is a plain callable that accepts a call with no arguments.

    A coroutine function is an app (or a broken async factory), never taken as a factory; a
    `*args` callable is ambiguous (often a generic wrapper) and is left alone; so is a
    callable whose signature cannot be read.
    """
    if _is_coroutine_callable(obj):
        return False
    signature = _signature(obj)
    if signature is None:
        return False
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in signature.parameters.values()):
        return False
    try:
        signature.bind()
    except TypeError:
        return False
    return True


def detect_interface(obj: Callable[..., Any]) -> str:
    """Guess which interface `obj` speaks: "asgi3", "asgi2" or "wsgi".

    - a class: "asgi2" (instantiated per scope), unless instances are awaitable (`__await__`),
      which makes the class itself an ASGI3 callable;
    - a coroutine function, or an object whose `__call__` is one: "asgi3";
    - otherwise by the number of positional parameters: one (`scope`) is "asgi2", two
      (`environ, start_response`) is "wsgi", anything else "asgi3" (a plain function that
      returns an awaitable, for instance).
    """
    if inspect.isclass(obj):
        return "asgi3" if hasattr(obj, "__await__") else "asgi2"
    if _is_coroutine_callable(obj):
        return "asgi3"
    signature = _signature(obj)
    if signature is None:
        return "asgi3"
    params = signature.parameters.values()
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return "asgi3"
    positional = sum(1 for p in params if p.kind in _POSITIONAL)
    return {1: "asgi2", 2: "wsgi"}.get(positional, "asgi3")


def _import_module(module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and _is_same_or_parent(exc.name, module_name):
            raise AppLoadError(f'could not import module "{module_name}": no module named "{exc.name}"') from None
        raise AppLoadError(_failed_import(module_name, exc)) from exc
    except (Exception, SystemExit) as exc:
        raise AppLoadError(_failed_import(module_name, exc)) from exc


def _is_same_or_parent(missing: str, module_name: str) -> bool:
    return module_name == missing or module_name.startswith(missing + ".")


def _failed_import(module_name: str, exc: BaseException) -> str:
    """Describe an exception raised by the module's own code, pointing at where it was raised."""
    message = f'error while importing "{module_name}": {type(exc).__name__}: {exc}'
    if isinstance(exc, SyntaxError):
        return message  # its str() already names the file and line
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<frozen ")]
    if frames:
        message += f" (at {frames[-1].filename}:{frames[-1].lineno})"
    return message


def _missing_attribute(module: Any, module_name: str, attrs: list[str], depth: int) -> str:
    dotted = ".".join(attrs)
    if depth > 0:
        owner = ".".join(attrs[:depth])
        return f'attribute "{dotted}" not found in module "{module_name}": "{owner}" has no attribute "{attrs[depth]}"'
    message = f'attribute "{dotted}" not found in module "{module_name}"'
    public = [name for name in dir(module) if not name.startswith("_")]
    close = difflib.get_close_matches(attrs[0], public, n=1)
    if close:
        message += f'; did you mean "{close[0]}"?'
    return message


def _call_factory(factory: Callable[..., Any], label: str) -> Any:
    try:
        app = factory()
    except Exception as exc:
        raise AppLoadError(f'app factory "{label}" raised {type(exc).__name__}: {exc}') from exc
    if inspect.iscoroutine(app):
        app.close()  # never awaited: close it so Python does not warn about it
        raise AppLoadError(f'app factory "{label}" is a coroutine function; a factory must return the app directly')
    if not callable(app):
        raise AppLoadError(f'app factory "{label}" returned {type(app).__name__}, which is not callable')
    return app


def _is_coroutine_callable(obj: Callable[..., Any]) -> bool:
    # For an instance, `inspect.iscoroutinefunction(obj)` is False even when its
    # class defines `async def __call__`; the class attribute answers for it.
    return inspect.iscoroutinefunction(obj) or inspect.iscoroutinefunction(type(obj).__call__)


def _signature(obj: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(obj)
    except (TypeError, ValueError):  # builtins and some C extensions have none
        return None


def _put_first_on_path(app_dir: str) -> None:
    # Absolute, so that a later chdir (daemonising, a test) does not change what imports.
    path = os.path.abspath(app_dir)
    if path not in sys.path:
        sys.path.insert(0, path)
