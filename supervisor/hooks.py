"""Hooks: the user's "module:function" callables that the master and the workers call at set moments.

[server.hooks] run in the master (on_starting, when_ready, on_reload); [apps.NAME.hooks] in
each worker (post_fork, worker_exit). The file's values were checked for syntax when it was
read (config/kinds.py `Hooks`); each is imported here, in the process where it runs, so a
post_fork hook is imported by the worker, as the worker's user, like the app. Every hook is
called with one `HookContext`. A hook that cannot be imported or raises is logged with its
name and traceback and raised as a `HookError`; what the failure means (startup stops, a
reload is refused, a worker's start failed) is the caller's decision.

A master hook is imported with the directory the master started in first on sys.path: under
the `serve` console script sys.path[0] is the script's bin directory, not the working one.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from supervisor.asgi.loader import failure_line, import_target
from supervisor.errors import EXIT_CONFIG, AppLoadError, SupervisorError

logger = logging.getLogger("serve.error")


def _working_directory() -> str:
    try:
        return os.getcwd()
    except OSError:  # started in a directory removed since: nothing to import from there
        return ""


# Read once, when the master imports this module at start: the master never changes directory,
# and a `serve upgrade` successor inherits the same one.
STARTED_IN = _working_directory()


@dataclass(frozen=True, slots=True)
class HookContext:
    """What a hook is told about where it runs (its one argument).

    Attributes:
        app: the app's name, in a worker's hooks; None in the master's.
        worker: the worker's index in its app, 0..workers-1 (SERVE_WORKER_ID); None in the master.
        pid: the process the hook runs in.
        generation: the worker's generation (1, then one more for each reload); None in the master.
        apps: for on_starting, every app of the file; for on_reload, the apps the reload starts or
            rolls to a new generation; else empty.
    """

    app: str | None
    worker: int | None
    pid: int
    generation: int | None
    apps: tuple[str, ...] = ()


def master_context(apps: Iterable[str] = ()) -> HookContext:
    """The context of a [server.hooks] hook, called in this process (the master)."""
    return HookContext(app=None, worker=None, pid=os.getpid(), generation=None, apps=tuple(apps))


class HookError(SupervisorError):
    """A hook could not be imported, or raised. `str()` is one line: the hook, its target and why.

    Its exit code is a configuration error's: on_starting failing stops `serve up` before
    anything started, as an invalid file does.
    """

    exit_code = EXIT_CONFIG

    def __init__(self, hook: str, target: str, error: BaseException) -> None:
        self.hook = hook
        self.target = target
        super().__init__(f"{hook} hook {target} failed: {_reason(error)}")


def _reason(error: BaseException) -> str:
    """The error as Python names it, with where the hook's own code raised it (asgi/loader.py's line)."""
    if isinstance(error, AppLoadError):  # the import: serve's words, or the module's own error
        return failure_line(error)
    carrier = AppLoadError(str(error))
    carrier.__cause__ = error
    return failure_line(carrier)


def resolve(target: str, *, path: str = "") -> Callable[[HookContext], object]:
    """Import "module:function", with `path` (made absolute) first on sys.path when given.

    Raises:
        AppLoadError: the module is missing or fails on import, the attribute is missing or not callable.
    """
    if path:
        where = os.path.abspath(path)  # absolute: a later chdir must not change what imports
        if where not in sys.path:
            sys.path.insert(0, where)
    function = import_target(target)
    if not callable(function):
        raise AppLoadError(f'"{target}" is not callable (got {type(function).__name__})')
    return function  # type: ignore[no-any-return]


def call(hooks: Mapping[str, str], hook: str, context: HookContext, *, path: str = "") -> None:
    """Call `hook` when `hooks` (a [server.hooks] or [apps.NAME.hooks] table) names a function for it.

    `path` is where the hook's module is imported from (an app's app_dir); "" for a master hook:
    the directory the master started in.

    Raises:
        HookError: the hook could not be imported, raised (SystemExit included) or was a coroutine
            function; its traceback is logged first.
    """
    target = hooks.get(hook)
    if target is None:
        return
    caller = os.getpid()
    try:
        result = resolve(target, path=path or STARTED_IN)(context)
        if os.getpid() != caller:
            # The hook forked and its child came back here: it must not go on as a second master
            # (or worker) sharing the first one's descriptors.
            os._exit(0)
        if inspect.iscoroutine(result):
            result.close()  # never awaited: closed, so Python does not warn about it as well
            raise TypeError("a hook is a plain function; this one is async and its coroutine was never run")
    except (Exception, SystemExit) as error:
        failure = HookError(hook, target, error)
        logger.error("%s", failure, exc_info=error)
        raise failure from error


def call_logged(hooks: Mapping[str, str], hook: str, context: HookContext, *, path: str = "") -> HookError | None:
    """`call`, for a hook whose failure changes nothing: the failure (logged already) is returned, not raised."""
    try:
        call(hooks, hook, context, path=path)
    except HookError as failure:
        return failure
    return None
