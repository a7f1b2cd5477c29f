"""uvicorn-compatible programmatic entry points: `run(app, **options)` and `run_config(config)`.

May import: anything below it (server/, config/, errors).
"""

from __future__ import annotations

from typing import Any

from supervisor.config.options import Config
from supervisor.errors import EXIT_OK, SupervisorError
from supervisor.server.server import Server

__all__ = ["Config", "Server", "run", "run_config"]


def run(app: Any, **options: Any) -> None:
    """Serve `app` (an ASGI callable or "module:attr") with uvicorn's keyword options until stopped.

    Raises:
        StartupError: the app could not be imported, bound or started.
        ConfigError: an option is invalid.
    """
    Server(Config(app, **options)).run()


def run_config(config: Config) -> int:
    """What `serve run` does once its flags are parsed; returns the process exit code.

    Raises:
        SupervisorError: with the exit code to use (1 configuration, 3 startup).
    """
    app_config = config.app_config
    if app_config.workers > 1 or app_config.reload:
        what = "--reload" if app_config.reload else f"--workers {app_config.workers}"
        raise SupervisorError(
            f"{what} needs serve's master process, which this version does not have yet; "
            "run without it, or one `serve run` per port behind a load balancer"
        )
    Server(config).run()
    return EXIT_OK
