"""A gunicorn worker class running serve's protocol core: `gunicorn app:app -k supervisor.workers.Worker`.

gunicorn keeps doing what it does (its arbiter forks, restarts and reaps workers, counts
max_requests with its jitter, murders workers whose heartbeat stops); inside each worker,
serve's `Server` speaks HTTP/1.1 and ASGI on the sockets gunicorn bound. The server's
clock tick is the heartbeat (gunicorn's `notify`). Subclass and set CONFIG_KWARGS to choose
other serve options, e.g. `{"loop": "asyncio", "http": "h11"}`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Any, ClassVar

from gunicorn.workers.base import Worker as GunicornWorker

from supervisor.config.schema import AppConfig
from supervisor.server.server import Server
from supervisor.server.state import ServerState

__all__ = ["H11Worker", "Worker"]

SERVE_LOGGERS = ("serve", "serve.error", "serve.access")
logger = logging.getLogger("serve.error")


class _Heartbeat:
    """Tells gunicorn's arbiter the worker's loop is alive, on every server clock tick."""

    def __init__(self, worker: GunicornWorker) -> None:
        self.worker = worker
        self.server: Server | None = None

    def ready(self, state: ServerState) -> None:
        self.worker.notify()

    def tick(self, state: ServerState) -> None:
        self.worker.notify()
        if self.server is not None and os.getppid() != self.worker.ppid and not self.server.should_exit:
            # gunicorn's arbiter is gone (as its own workers check): nobody would ever stop this one.
            self.worker.log.info("Parent changed, shutting down: %s", self.worker)
            self.server.should_exit = True

    def draining(self, state: ServerState) -> None:
        self.worker.notify()


class _GunicornServer(Server):
    """serve's server as a gunicorn worker: Ctrl-C drains, as TERM does, lifespan shutdown included.

    A Ctrl-C sends SIGINT to the whole process group: the worker drains (a second one stops at
    once, as in uvicorn), and gunicorn's arbiter, taking its own SIGINT as a quick shutdown,
    sends each worker QUIT a moment later. That QUIT is the same keypress told again: taken as
    "at once" it would cut the drain and skip the app's lifespan shutdown, so it is not.
    A QUIT on its own (`kill -QUIT` to the arbiter) still stops at once.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.interrupted = False

    async def serve(self, sockets: list[Any] | None = None) -> None:  # gunicorn's listening sockets
        # The server takes only TERM and QUIT as a worker (serve's master ignores SIGINT in its
        # workers); gunicorn leaves SIGINT at its default, which would kill the worker outright.
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, self.handle_exit, signal.SIGINT)
        try:
            await super().serve(sockets)
        finally:
            loop.remove_signal_handler(signal.SIGINT)

    def handle_exit(self, sig: int) -> None:
        if sig == signal.SIGQUIT and self.interrupted and not self.force_exit:
            logger.info("QUIT after Ctrl-C: still draining (Ctrl-C again stops at once).")
            return
        if sig == signal.SIGINT:
            self.interrupted = True
        super().handle_exit(sig)


class Worker(GunicornWorker):  # type: ignore[misc]  # gunicorn ships no type hints
    """gunicorn worker running serve's core (uvloop and httptools when installed)."""

    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {"loop": "auto", "http": "auto"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._route_logs()

    def _route_logs(self) -> None:
        """serve's loggers write through gunicorn's error and access logs, at gunicorn's level."""
        error_handlers = self.log.error_log.handlers
        for name in ("serve", "serve.error"):
            logger = logging.getLogger(name)
            logger.handlers = list(error_handlers)
            logger.setLevel(self.log.error_log.level)
            logger.propagate = False
        access = logging.getLogger("serve.access")
        access.handlers = list(self.log.access_log.handlers) if self.cfg.accesslog else []
        access.setLevel(logging.INFO)
        access.propagate = False

    def init_signals(self) -> None:
        # The server takes TERM and INT (drain) and QUIT (at once) in its loop; gunicorn's own
        # Python handlers would only set a flag nobody reads. USR1 keeps gunicorn's log reopening.
        for sig in self.SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGUSR1, self.handle_usr1)
        signal.siginterrupt(signal.SIGUSR1, False)

    def app_config(self) -> AppConfig:
        """serve's settings from gunicorn's (keepalive, max_requests with jitter, TLS, proxies)."""
        cfg = self.cfg
        ssl: dict[str, Any] = {}
        if cfg.is_ssl:
            options = cfg.ssl_options
            ssl = {
                "ssl_keyfile": options.get("keyfile"),
                "ssl_certfile": options.get("certfile"),
                "ssl_version": options.get("ssl_version"),
                "ssl_cert_reqs": options.get("cert_reqs"),
                "ssl_ca_certs": options.get("ca_certs"),
                "ssl_ciphers": options.get("ciphers"),
            }
        allowed = cfg.forwarded_allow_ips
        return AppConfig(
            name="gunicorn",
            app=self.wsgi,
            timeout_keep_alive=float(cfg.keepalive),
            max_requests=self.max_requests if cfg.max_requests else 0,
            graceful_timeout=float(cfg.graceful_timeout),
            forwarded_allow_ips=tuple(allowed if isinstance(allowed, list) else str(allowed).split(",")),
            access_log=bool(cfg.accesslog),
            **{key: value for key, value in ssl.items() if value is not None},
            **self.CONFIG_KWARGS,
        )

    def run(self) -> None:
        """Serve on gunicorn's sockets until told to stop or max_requests is reached."""
        tick = max(0.25, min(1.0, self.timeout / 4)) if self.timeout else 1.0
        heartbeat = _Heartbeat(self)
        server = _GunicornServer(self.app_config(), worker=True, observer=heartbeat, tick_interval=tick)
        heartbeat.server = server
        server.run(sockets=[listener.sock for listener in self.sockets])


class H11Worker(Worker):
    """The same on the pure-Python path: asyncio and h11 (no compiled dependencies used)."""

    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {"loop": "asyncio", "http": "h11"}
