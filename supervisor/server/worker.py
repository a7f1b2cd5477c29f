"""A worker process of the master: one `Server` on inherited sockets, reporting through its status slot.

The master allocates the slot and forks; `run_worker` runs in the child, after the
master's bootstrap (signals, file descriptors, environment) in `master/spawn.py`.
Everything the master learns about the worker comes from the slot: STARTING until the app
is imported and its lifespan started, READY once every socket accepts, RETIRING while it
drains. Each clock tick flushes the counters, and that flush is the heartbeat.

The worker enforces its own limits, given at fork: `max_requests` (jitter included, drawn by
the master) and `max_memory`. At either it stops accepting at once and drains, so the count
and the memory stay close to the limit whatever the master's polling rate; the master has
started the replacement ahead, when the worker neared the limit.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

import psutil

from supervisor.asgi.loader import failure_line
from supervisor.config.schema import AppConfig, ServerSection
from supervisor.errors import EXIT_OK, EXIT_STARTUP, AppLoadError, StartupError
from supervisor.hooks import HookContext, HookError, call, call_logged
from supervisor.server.loops import new_event_loop, resolve_http
from supervisor.server.server import Server, configure_logging
from supervisor.server.state import ServerState
from supervisor.status.slots import SlotState, SlotTable, SlotWriter, WorkerCounters

logger = logging.getLogger("serve.error")

HEARTBEAT_INTERVAL_S = 0.25  # a few flushes a second: fresh figures, a heartbeat the master can trust
EXIT_CRASH = 1
# After the drain's own timeout, lifespan shutdown's moment before an orphan exits regardless.
ORPHAN_EXIT_GRACE_S = 2.0
# The drain limit of a worker given none (`serve run --workers N` without --timeout-graceful-shutdown):
# the master's own default, after which it would have killed the worker.
DEFAULT_GRACEFUL_TIMEOUT_S = ServerSection().graceful_timeout


class SlotObserver:
    """Writes the worker's counters, state and heartbeat into its slot on every server tick.

    Also the worker's own guard: it retires the server when RSS passes `max_memory`, and
    when the master is gone it drains and leaves within the graceful timeout, stuck requests or not.
    """

    def __init__(
        self,
        writer: SlotWriter,
        counters: WorkerCounters,
        *,
        max_memory: int = 0,
        graceful_timeout: float = DEFAULT_GRACEFUL_TIMEOUT_S,
    ) -> None:
        self.writer = writer
        self.counters = counters
        self.max_memory = max_memory  # bytes of RSS; 0: no limit
        self.graceful_timeout = graceful_timeout
        self.process = psutil.Process()
        self.master = os.getppid()
        self.server: Server | None = None  # told to stop (retire) by the checks below
        self.orphan_exit: threading.Timer | None = None
        self._rss_failed = False
        self.rss_at_ready: int | None = None  # the app's baseline, as this worker measured it once ready

    def ready(self, state: ServerState) -> None:
        self._flush(state, SlotState.READY)
        self.rss_at_ready = self.counters.rss_bytes

    def tick(self, state: ServerState) -> None:
        if os.getppid() != self.master:
            self._orphaned()
        self._flush(state, None)
        if self.max_memory and self.counters.rss_bytes > self.max_memory and self._grew_past_baseline():
            self._over_memory()

    def _grew_past_baseline(self) -> bool:
        """Whether being over max_memory is this worker's own growth, not the app's baseline (which
        its replacement would have too, so replacing it would loop): it served HTTP requests (the
        master applies that rule to the same figures), holds WebSockets, or grew since it was
        ready by a tenth of the limit (a leak in a background task, with no traffic at all)."""
        counters = self.counters
        if counters.requests or counters.websockets:
            return True
        baseline = self.rss_at_ready
        return baseline is not None and counters.rss_bytes - baseline > self.max_memory // 10

    def draining(self, state: ServerState) -> None:
        self._flush(state, SlotState.RETIRING)

    def _flush(self, state: ServerState, new_state: SlotState | None) -> None:
        counters = self.counters
        counters.active_connections = len(state.connections)
        counters.active_requests = state.active_requests
        counters.websockets = state.websockets
        counters.h2_connections = state.h2_connections
        counters.h2_streams = state.h2_streams
        counters.h2_limits_exceeded = state.h2_limits_exceeded
        times = os.times()
        counters.cpu_seconds = times.user + times.system
        counters.rss_bytes = self._rss(counters.rss_bytes)
        self.writer.flush(counters, state=new_state)  # the heartbeat: never skipped for a missing figure

    def _rss(self, last: int) -> int:
        """This process's RSS, or `last` when it cannot be read (EMFILE: psutil opens /proc/self/statm)."""
        try:
            rss = int(self.process.memory_info().rss)
        except (OSError, psutil.Error) as error:
            if not self._rss_failed:
                logger.warning("%d: cannot read resident memory (%s): the last reading stands", os.getpid(), error)
            self._rss_failed = True
            return last
        self._rss_failed = False
        return rss

    def _over_memory(self) -> None:
        server = self.server
        if server is None or server.should_exit:
            return
        logger.warning(
            "%d: %d MiB resident, over max_memory (%d MiB): retiring.",
            os.getpid(),
            self.counters.rss_bytes >> 20,
            self.max_memory >> 20,
        )
        server.retire()

    def _orphaned(self) -> None:
        # The master died (SIGKILL, OOM killer): nobody supervises this worker any more, and
        # its sockets would serve on unseen; drain and leave, as gunicorn's workers do. Nobody
        # will SIGKILL it after graceful_timeout either, so it does that part itself: a request
        # that never ends must not keep the port (a thread, because the loop may be stuck too).
        if self.orphan_exit is not None:
            return
        logger.warning(
            "%d: the master %d is gone: stopping (exiting regardless in %g s).",
            os.getpid(),
            self.master,
            self.graceful_timeout + ORPHAN_EXIT_GRACE_S,
        )
        self.orphan_exit = threading.Timer(self.graceful_timeout + ORPHAN_EXIT_GRACE_S, _exit_orphan)
        self.orphan_exit.daemon = True
        self.orphan_exit.start()
        if self.server is not None:
            self.server.should_exit = True


def _exit_orphan() -> None:
    # No logging here: the stuck main thread may hold the handler's lock, and nobody reads the pipe.
    os._exit(EXIT_CRASH)


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


def run_worker(
    config: AppConfig, sockets: list[socket.socket], table: SlotTable, slot: int, *, index: int | None = None
) -> int:
    """Serve `config` on `sockets` until told to stop; return the process exit code.

    `config.max_requests` is this worker's own limit (the master drew its jitter), and
    `config.max_memory` its RSS limit: at either it stops accepting and drains by itself.
    `index` is its place in the app, told to its hooks: post_fork runs before the app is
    imported (a failure is a failed start), worker_exit after the server stopped (a failure is
    only logged).

    Returns:
        0 after a clean stop (asked to, or at its own limit), 3 when the app could not start
        (the master counts it toward a crash loop), 1 after an unexpected error.
    """
    configure_logging(config)
    writer = SlotWriter(table, slot)
    counters = WorkerCounters(http2=config.http2)  # said from the first flush: the status shows HTTP/2 figures
    writer.flush(counters, state=SlotState.STARTING)
    observer = SlotObserver(
        writer,
        counters,
        max_memory=config.max_memory,
        graceful_timeout=DEFAULT_GRACEFUL_TIMEOUT_S if config.graceful_timeout is None else config.graceful_timeout,
    )
    server = Server(config, worker=True, observer=observer, counters=counters, tick_interval=HEARTBEAT_INTERVAL_S)
    observer.server = server
    context = HookContext(config.name, index, os.getpid(), table.read(slot).generation)
    try:
        call(config.hooks, "post_fork", context, path=config.app_dir or ".")
        server.run(sockets)
    except HookError as error:  # its traceback is logged; the master reports the line, as for an import error
        writer.write_reason(str(error))
        return EXIT_STARTUP
    except StartupError as error:
        if server.started:  # 3 means "could not start" to the master and in the docs, nothing else
            logger.error("%s: worker %d failed: %s", config.name, os.getpid(), error)
            return EXIT_CRASH
        # The log has the whole story (a SyntaxError's caret, full paths) at any level; lifespan
        # logged its own. The master reports the one line left in the slot.
        traceback = error.__cause__ if isinstance(error, AppLoadError) else None
        logger.error("%s: %s", config.name, error, exc_info=traceback)
        writer.write_reason(failure_line(error))
        return EXIT_STARTUP
    except Exception:
        logger.exception("%s: worker %d failed", config.name, os.getpid())
        return EXIT_CRASH
    finally:
        call_logged(config.hooks, "worker_exit", context, path=config.app_dir or ".")
        writer.flush(counters, state=SlotState.EXITED)
    return EXIT_OK
