"""uvicorn-compatible programmatic entry points: `run(app, **options)` and `run_config(config)`."""

from __future__ import annotations

import dataclasses
from typing import Any

from supervisor import logs
from supervisor.config.options import Config
from supervisor.config.schema import ServeFile, server_for_one_app
from supervisor.errors import EXIT_OK, StartupError
from supervisor.server.server import Server

__all__ = ["Config", "Server", "run", "run_config", "run_pool"]


def run(app: Any, **options: Any) -> None:
    """Serve `app` (an ASGI callable or "module:attr") with uvicorn's keyword options until stopped.

    `workers=N` or `reload=True` run serve's master for the app, as `serve run` does.

    Raises:
        StartupError: the app could not be imported, bound or started.
        ConfigError: an option is invalid.
    """
    code = run_config(Config(app, **options))
    if code != EXIT_OK:
        raise StartupError(f"the app could not start (exit code {code}); its workers' log says why")


def run_config(config: Config) -> int:
    """What `serve run` does once its flags are parsed; returns the process exit code.

    Raises:
        SupervisorError: with the exit code to use (1 configuration, 3 startup).
    """
    if config.app_config.workers > 1 or config.app_config.reload:
        return run_pool(config)
    Server(config).run()
    return EXIT_OK


def run_pool(config: Config) -> int:
    """`serve run --workers N` or `--reload`: the master, supervising one app (named after its module).

    With --reload the master watches the app's files and rolls it to a new generation on a
    change, like SIGHUP, so its socket stays bound and no connection is refused meanwhile.
    """
    from supervisor.master.arbiter import run_master  # only the master path needs it
    from supervisor.master.output import PlainLog
    from supervisor.server.server import configure_logging

    app_config = config.app_config
    configure_logging(app_config)  # the master's own lines, as serve run's options ask
    name = app_config.app.split(":", 1)[0] if isinstance(app_config.app, str) else app_config.name
    server = server_for_one_app(app_config)
    app = dataclasses.replace(app_config, name=name)
    sink = PlainLog()  # the master's own lines, like its workers', never block on a stalled stderr
    try:
        with logs.stderr_diverted(sink.master_line):
            return run_master(ServeFile(path="serve run", server=server, apps={name: app}), sink=sink, from_file=False)
    finally:
        sink.close()
