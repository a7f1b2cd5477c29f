"""A worker process of the master: one `Server` on inherited sockets, reporting through its status slot.

May import: status/, config/, logs, errors, the standard library, other server/ modules.

The master allocates the slot and forks; `run_worker` runs in the child, after the
master's bootstrap (signals, file descriptors, environment) in `master/spawn.py`.
Everything the master learns about the worker comes from the slot: STARTING until the app
is imported and its lifespan started, READY once every socket accepts, RETIRING while it
drains. Each clock tick flushes the counters, and that flush is the heartbeat.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket

import psutil

from supervisor.config.schema import AppConfig
from supervisor.errors import EXIT_OK, EXIT_STARTUP, StartupError
from supervisor.server.loops import new_event_loop, resolve_http
from supervisor.server.server import Server, configure_logging
from supervisor.server.state import ServerState
from supervisor.status.slots import SlotState, SlotTable, SlotWriter, WorkerCounters

logger = logging.getLogger("serve.error")

HEARTBEAT_INTERVAL_S = 0.25  # a few flushes a second: fresh figures, a heartbeat the master can trust
EXIT_CRASH = 1


class SlotObserver:
    """Writes the worker's counters, state and heartbeat into its slot on every server tick."""

    def __init__(self, writer: SlotWriter, counters: WorkerCounters) -> None:
        self.writer = writer
        self.counters = counters
        self.process = psutil.Process()
        self.master = os.getppid()
        self.server: Server | None = None  # told to stop when the master is gone

    def ready(self, state: ServerState) -> None:
        self._flush(state, SlotState.READY)

    def tick(self, state: ServerState) -> None:
        self._flush(state, None)
        if os.getppid() != self.master and self.server is not None and not self.server.should_exit:
            # The master died (SIGKILL, OOM killer): nobody supervises this worker any more,
            # and its sockets would serve on unseen; drain and leave, as gunicorn's workers do.
            logger.warning("%d: the master %d is gone: stopping.", os.getpid(), self.master)
            self.server.should_exit = True

    def draining(self, state: ServerState) -> None:
        self._flush(state, SlotState.RETIRING)

    def _flush(self, state: ServerState, new_state: SlotState | None) -> None:
        counters = self.counters
        counters.active_connections = len(state.connections)
        counters.active_requests = state.active_requests
        counters.websockets = state.websockets
        times = os.times()
        counters.cpu_seconds = times.user + times.system
        counters.rss_bytes = self.process.memory_info().rss
        self.writer.flush(counters, state=new_state)


def prepare(config: AppConfig) -> None:
    """Import what this worker will use while the process is still privileged.

    After `user`/`group` drop privileges only the app is imported, as that user: serve and
    its dependencies may be installed where only their owner can read. The WebSocket
    machinery is imported up front only then; otherwise it waits for the first upgrade.
    """
    new_event_loop(config.loop).close()  # imports uvloop when it is the loop
    if resolve_http(config.http) == "h11":
        import supervisor.protocol.front_h11
    if (config.user or config.group) and config.ws != "none":
        import supervisor.server.ws_connection  # noqa: F401


def run_worker(config: AppConfig, sockets: list[socket.socket], table: SlotTable, slot: int) -> int:
    """Serve `config` on `sockets` until told to stop; return the process exit code.

    Returns:
        0 after a clean stop, 3 when the app could not start (the master counts it toward a
        crash loop), 1 after an unexpected error.
    """
    configure_logging(config)
    # The master retires workers for max_requests (make before break); the worker must not stop itself.
    config = dataclasses.replace(config, max_requests=0)
    writer = SlotWriter(table, slot)
    counters = WorkerCounters()
    writer.flush(counters, state=SlotState.STARTING)
    observer = SlotObserver(writer, counters)
    server = Server(config, worker=True, observer=observer, counters=counters, tick_interval=HEARTBEAT_INTERVAL_S)
    observer.server = server
    try:
        server.run(sockets)
    except StartupError as error:
        logger.error("%s: %s", config.name, error)
        return EXIT_STARTUP
    except Exception:
        logger.exception("%s: worker %d failed", config.name, os.getpid())
        return EXIT_CRASH
    finally:
        writer.flush(counters, state=SlotState.EXITED)
    return EXIT_OK
