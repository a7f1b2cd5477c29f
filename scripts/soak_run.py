"""A long run of `serve up` under mixed load and operator chaos: does the master hold? (Not run in CI.)

May import: the standard library, psutil, soak_clients (beside this file), supervisor.client and
supervisor.control (the control socket's client).

Three apps from tests/apps (`api` and `edge` answer `PID ok`, on TCP and on a unix socket;
`chat` echoes WebSocket messages), loaded by keep-alive and close HTTP clients and WebSocket
echo clients, while an operator reloads (`serve reload`), rescales (`serve scale`), polls
status at `serve top`'s rate and /metrics and /readyz, and SIGKILLs a random worker. The
report ends with the verdict on the master's promises: one master pid throughout, no failed
request beyond those on killed workers' connections, no process left after the stop, and
as many descriptors in the master at the end as at the start. docs/operations.md ("Soak
test") has the usage and the figures of a run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from soak_clients import Client, Failure, HttpClient, Tally, WebSocketClient

from supervisor.client import request
from supervisor.control import Status
from supervisor.errors import ControlError

ROOT = Path(__file__).resolve().parent.parent
APPS_DIR = ROOT / "tests" / "apps"
HOST = "127.0.0.1"
WORKERS = {"api": 2, "chat": 2, "edge": 1}
SCALE_STEPS = (("api", 3), ("chat", 1), ("api", 2), ("chat", 2))  # cycled; ends where it started
KILL_WINDOW_S = 1.0  # a connection error this soon after a kill is put down to the kill
STATUS_PERIOD_S = 0.25  # `serve top` redraws at most 4 times a second
PROBE_PERIOD_S = 1.0
PROGRESS_PERIOD_S = 30.0
READY_TIMEOUT_S = 30.0
SETTLE_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 60.0
FD_TOLERANCE = 2


@dataclass
class Layout:
    """Where everything of one run lives."""

    directory: Path
    api: int
    chat: int
    health: int
    metrics: int

    @property
    def config(self) -> Path:
        return self.directory / "serve.toml"

    @property
    def control(self) -> str:
        return str(self.directory / "serve.sock")

    @property
    def edge(self) -> str:
        return str(self.directory / "edge.sock")

    @property
    def log(self) -> Path:
        return self.directory / "master.log"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def write_config(layout: Layout) -> None:
    apps = str(APPS_DIR)
    layout.config.write_text(
        f"[server]\ngraceful_timeout = 10\nhealthcheck_timeout = 10\nstartup_timeout = 30\n"
        f'health_bind = "{HOST}:{layout.health}"\nmetrics_bind = "{HOST}:{layout.metrics}"\n\n'
        f'[apps.api]\napp = "fault_apps:app"\napp_dir = "{apps}"\nbind = ["{HOST}:{layout.api}"]\n'
        f"workers = {WORKERS['api']}\naccess_log = false\n\n"
        f'[apps.chat]\napp = "ws_apps:app"\napp_dir = "{apps}"\nbind = ["{HOST}:{layout.chat}"]\n'
        f"workers = {WORKERS['chat']}\naccess_log = false\n\n"
        f'[apps.edge]\napp = "fault_apps:app"\napp_dir = "{apps}"\nbind = ["unix:{layout.edge}"]\n'
        f"workers = {WORKERS['edge']}\n",
        encoding="utf-8",
    )


def serve(layout: Layout, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """`serve ARGS -c CONFIG`, its output captured; a timeout is reported as exit code 124."""
    command = [sys.executable, "-m", "supervisor", *args, "-c", str(layout.config)]
    try:
        return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(command, 124, "", f"no answer within {timeout:g} s")


def status(layout: Layout, timeout: float = 5.0) -> dict[str, Any]:
    reply = request(layout.control, Status(), config_path=str(layout.config), timeout=timeout)
    if not reply.ok or not isinstance(reply.result, dict):
        raise ControlError(f"status refused: {reply.error}")
    return reply.result


def probe(port: int, path: str, timeout: float = 5.0) -> int:
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n".encode())
        head = sock.recv(64)
        while True:  # read to the end: the master closes after its reply
            if not sock.recv(65536):
                break
    return int(head.split(b" ", 2)[1])


def wait_until(what: str, condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError, ControlError, KeyError, ValueError, IndexError):
            if condition():
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout:g} s")
        time.sleep(0.2)


def settled(layout: Layout, workers: dict[str, int]) -> bool:
    """Each app has exactly its workers, all ready, none starting or retiring."""
    apps = {app["name"]: app for app in status(layout)["apps"]}
    return all(
        apps[name]["workers_desired"] == count
        and apps[name]["workers_ready"] == count
        and all(worker["state"] == "ready" for worker in apps[name]["workers"])
        and len(apps[name]["workers"]) == count
        for name, count in workers.items()
    )


# --- watching the master -----------------------------------------------------------------------


@dataclass
class Watch:
    """What the observer saw of the master while the run went on."""

    pid: int
    status_calls: int = 0
    status_failures: list[str] = field(default_factory=list)
    probe_calls: int = 0
    probe_failures: list[str] = field(default_factory=list)
    not_ready: int = 0  # /readyz answers other than 200 (an app with no ready worker for a moment)
    other_pids: set[int] = field(default_factory=set)
    died_at: float | None = None


class Observer(threading.Thread):
    """Polls status at `serve top`'s rate and /metrics and /readyz once a second; notices a new master."""

    def __init__(self, layout: Layout, watch: Watch, stop: threading.Event) -> None:
        super().__init__(name="observer", daemon=True)
        self.layout = layout
        self.watch = watch
        self.stop = stop
        self.master = psutil.Process(watch.pid)

    def run(self) -> None:
        next_probe = 0.0
        while not self.stop.is_set():
            if not self.master.is_running() or self.master.status() == psutil.STATUS_ZOMBIE:
                self.watch.died_at = time.monotonic()
                return
            self._status()
            if time.monotonic() >= next_probe:
                next_probe = time.monotonic() + PROBE_PERIOD_S
                self._probe()
            self.stop.wait(STATUS_PERIOD_S)

    def _status(self) -> None:
        self.watch.status_calls += 1
        try:
            pid = status(self.layout)["master_pid"]
        except (OSError, ControlError) as error:
            self.watch.status_failures.append(f"{time.monotonic():.1f}: {error}")
            return
        if pid != self.watch.pid:
            self.watch.other_pids.add(pid)

    def _probe(self) -> None:
        for port, path in ((self.layout.metrics, "/metrics"), (self.layout.health, "/readyz")):
            self.watch.probe_calls += 1
            try:
                code = probe(port, path)
            except (OSError, ValueError, IndexError) as error:
                self.watch.probe_failures.append(f"{time.monotonic():.1f} {path}: {error!r}")
                continue
            if path == "/readyz" and code != 200:
                self.watch.not_ready += 1
            elif code != 200:
                self.watch.probe_failures.append(f"{time.monotonic():.1f} {path}: status {code}")


# --- the operator ------------------------------------------------------------------------------


@dataclass
class Chaos:
    """The operator's actions, each recorded: (monotonic time, what, outcome)."""

    layout: Layout
    master_pid: int
    rng: random.Random
    started: float = field(default_factory=time.monotonic)
    actions: list[tuple[float, str]] = field(default_factory=list)  # each as it begins: (at, what)
    kills: list[tuple[float, int, str]] = field(default_factory=list)
    reloads: list[tuple[float, int, float, str]] = field(default_factory=list)  # at, code, seconds, output
    scales: list[tuple[float, str, int, int]] = field(default_factory=list)  # at, app, workers, code
    step: int = 0

    def reload(self) -> None:
        started = self._begin("reload")
        result = serve(self.layout, "reload")
        said = (result.stdout + result.stderr).strip().replace("\n", " | ")
        self.reloads.append((started, result.returncode, time.monotonic() - started, said))

    def scale(self) -> None:
        app, workers = SCALE_STEPS[self.step % len(SCALE_STEPS)]
        self.step += 1
        self._begin(f"scale {app} {workers}")
        result = serve(self.layout, "scale", app, str(workers), timeout=30)
        self.scales.append((time.monotonic(), app, workers, result.returncode))

    def kill(self) -> None:
        """SIGKILL one ready worker, chosen at random, after checking it is this master's child."""
        try:
            apps = status(self.layout)["apps"]
        except (OSError, ControlError):
            return
        ready = [(app["name"], w["pid"]) for app in apps for w in app["workers"] if w["state"] == "ready"]
        if not ready:
            return
        app, pid = self.rng.choice(ready)
        with contextlib.suppress(psutil.NoSuchProcess):
            if psutil.Process(pid).ppid() == self.master_pid:
                self._begin(f"kill {app}[{pid}]")
                os.kill(pid, signal.SIGKILL)
                self.kills.append((time.monotonic(), pid, app))

    def when(self, at: float) -> str:
        """`+T s` into the run, and the operator's last action before it (where to look in master.log)."""
        before = [(t, what) for t, what in self.actions if t <= at]
        last = f"{before[-1][1]} at +{before[-1][0] - self.started:.1f} s" if before else "no action yet"
        return f"+{at - self.started:.1f} s (after {last})"

    def _begin(self, what: str) -> float:
        now = time.monotonic()
        self.actions.append((now, what))
        return now

    def restore_scale(self) -> None:
        """Back to the starting worker counts, so the descriptor counts compare like with like."""
        for app, workers in WORKERS.items():
            serve(self.layout, "scale", app, str(workers), timeout=30)


# --- the run -----------------------------------------------------------------------------------


@dataclass
class Outcome:
    tally: Tally
    watch: Watch
    chaos: Chaos
    seconds: float
    fds_start: int
    fds_end: int | None
    exit_code: int | None
    leaked: list[str]
    log_counts: dict[str, int]


def start_clients(layout: Layout, tally: Tally, stop: threading.Event, think_s: float) -> list[Client]:
    def http(name: str, address: tuple[str, int] | str, keep_alive: bool) -> Client:
        return HttpClient(name, tally, stop, think_s, address, keep_alive=keep_alive)

    api, edge = (HOST, layout.api), layout.edge
    clients: list[Client] = [
        http("api-keepalive-1", api, True),
        http("api-keepalive-2", api, True),
        http("api-close", api, False),
        http("edge-keepalive", edge, True),
        http("edge-close", edge, False),
        WebSocketClient("chat-ws-1", tally, stop, think_s, HOST, layout.chat),
        WebSocketClient("chat-ws-2", tally, stop, think_s, HOST, layout.chat),
    ]
    for client in clients:
        client.start()
    return clients


def operate(args: argparse.Namespace, chaos: Chaos, tally: Tally, watch: Watch) -> float:
    """Run the schedule until the time is up or the master died; returns the seconds it ran."""
    started = chaos.started
    end = started + args.minutes * 60
    due = {"reload": args.reload_every, "scale": args.scale_every, "kill": args.kill_every}
    actions = {"reload": chaos.reload, "scale": chaos.scale, "kill": chaos.kill}
    next_at = {name: started + every for name, every in due.items()}
    next_progress = started + PROGRESS_PERIOD_S
    while time.monotonic() < end and watch.died_at is None:
        now = time.monotonic()
        for name, at in next_at.items():
            if now >= at:
                actions[name]()
                next_at[name] = time.monotonic() + due[name] * chaos.rng.uniform(0.8, 1.2)
        if now >= next_progress:
            next_progress = now + PROGRESS_PERIOD_S
            print(
                f"  {now - started:5.0f} s: {tally.ok} ok, {len(tally.failures)} failed, "
                f"{len(chaos.reloads)} reloads, {len(chaos.scales)} scales, {len(chaos.kills)} kills",
                flush=True,
            )
        time.sleep(0.1)
    return time.monotonic() - started


@contextlib.contextmanager
def running_master(layout: Layout) -> Iterator[subprocess.Popen[bytes]]:
    """`serve up --no-tui`, its output in a file (a pipe the script stops reading would stall it)."""
    with layout.log.open("wb") as log:
        master = subprocess.Popen(
            [sys.executable, "-m", "supervisor", "up", "-c", str(layout.config), "--no-tui"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    try:
        yield master
    finally:
        if master.poll() is None:  # the run broke off: stop what it started, whatever state it is in
            stop_master(layout, master)


def stop_master(layout: Layout, master: subprocess.Popen[bytes]) -> tuple[int | None, list[str]]:
    """`serve stop`, then: the exit code, and every process of this run still alive afterwards (killed)."""
    family = {p.pid: p for p in _run_processes(layout, master.pid)}
    if master.poll() is None:
        serve(layout, "stop", timeout=30)
    try:
        code: int | None = master.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        code = None
    for process in _run_processes(layout, master.pid):
        family.setdefault(process.pid, process)
    _, alive = psutil.wait_procs([p for pid, p in family.items() if pid != master.pid], timeout=5)
    leaked = []
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            leaked.append(f"{process.pid} {' '.join(process.cmdline())[:120]}")
            process.kill()
    return code, leaked


def _run_processes(layout: Layout, master_pid: int) -> list[psutil.Process]:
    """The master's descendants, and any process whose command line names this run's file (orphans)."""
    found = {}
    with contextlib.suppress(psutil.NoSuchProcess):
        found = {p.pid: p for p in psutil.Process(master_pid).children(recursive=True)}
    for process in psutil.process_iter(["cmdline"]):
        if str(layout.config) in " ".join(process.info["cmdline"] or ()):
            found.setdefault(process.pid, process)
    return [p for pid, p in found.items() if pid != os.getpid()]


def count_log(path: Path) -> dict[str, int]:
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.splitlines()
    return {
        "lines": len(lines),
        "tracebacks": text.count("Traceback"),
        "master warnings": sum(1 for line in lines if line.startswith("WARNING")),
        "master errors": sum(1 for line in lines if line.startswith(("ERROR", "CRITICAL"))),
    }


def soak(args: argparse.Namespace, layout: Layout) -> Outcome:
    write_config(layout)
    with running_master(layout) as master:
        wait_until("every app ready", lambda: master.poll() is None and settled(layout, WORKERS), READY_TIMEOUT_S)
        process = psutil.Process(master.pid)
        fds_start = process.num_fds()
        tally, stop, watch = Tally(), threading.Event(), Watch(master.pid)
        chaos = Chaos(layout, master.pid, random.Random(args.seed))
        observer = Observer(layout, watch, stop)
        observer.start()
        clients = start_clients(layout, tally, stop, args.think_ms / 1000)
        try:
            seconds = operate(args, chaos, tally, watch)
        finally:
            stop.set()
            for thread in [observer, *clients]:
                thread.join(15)
        fds_end = None
        if master.poll() is None:
            chaos.restore_scale()
            with contextlib.suppress(RuntimeError):
                wait_until("back to the starting workers", lambda: settled(layout, WORKERS), SETTLE_TIMEOUT_S)
            with contextlib.suppress(psutil.NoSuchProcess):
                fds_end = process.num_fds()
        exit_code, leaked = stop_master(layout, master)
    return Outcome(tally, watch, chaos, seconds, fds_start, fds_end, exit_code, leaked, count_log(layout.log))


# --- the report --------------------------------------------------------------------------------


def split_failures(failures: list[Failure], kills: list[tuple[float, int, str]]) -> tuple[int, int, list[Failure]]:
    """(on a killed worker's connection, within KILL_WINDOW_S after a kill, the rest)."""
    killed = {pid for _, pid, _ in kills}
    on_killed, near, rest = 0, 0, []
    for failure in failures:
        if failure.pid in killed:
            on_killed += 1
        elif any(0 <= failure.at - at <= KILL_WINDOW_S for at, _, _ in kills):
            near += 1
        else:
            rest.append(failure)
    return on_killed, near, rest


def report(outcome: Outcome) -> bool:
    """Print the figures; True when every promise held."""
    watch, chaos, tally = outcome.watch, outcome.chaos, outcome.tally
    on_killed, near, rest = split_failures(tally.failures, chaos.kills)
    restarts = len(watch.other_pids) + (1 if watch.died_at is not None else 0)
    failed_reloads = [r for r in chaos.reloads if r[1] != 0]
    fd_growth = None if outcome.fds_end is None else outcome.fds_end - outcome.fds_start
    print(f"\nsoak: {outcome.seconds / 60:.1f} min against master {watch.pid}")
    print(f"  master restarts:       {restarts}" + (" (the master died)" if watch.died_at is not None else ""))
    print(f"  master exit code:      {outcome.exit_code} after `serve stop`")
    print(f"  requests and messages: {tally.ok + len(tally.failures)} sent, {len(tally.failures)} failed")
    print(f"    on killed workers:   {on_killed} (their connection's last answer came from the killed pid)")
    print(f"    within {KILL_WINDOW_S:g} s of a kill: {near}")
    print(f"    unexplained:         {len(rest)}")
    print(f"    clean server closes: {tally.clean_closes} (draining workers' `Connection: close` or close frame)")
    print(f"  reloads:               {len(chaos.reloads)} ({len(failed_reloads)} failed)")
    print(f"  scale changes:         {len(chaos.scales)} ({sum(1 for s in chaos.scales if s[3] != 0)} failed)")
    print(f"  workers killed:        {len(chaos.kills)}")
    print(f"  status polls:          {watch.status_calls} ({len(watch.status_failures)} unanswered)")
    print(
        f"  endpoint probes:       {watch.probe_calls} ({len(watch.probe_failures)} failed, {watch.not_ready} not ready)"
    )
    print(f"  master descriptors:    {outcome.fds_start} at start, {outcome.fds_end} at end")
    print(f"  leaked processes:      {len(outcome.leaked)}")
    print("  master log:            " + ", ".join(f"{v} {k}" for k, v in outcome.log_counts.items()))
    for label, items in (
        ("unexplained failures", [f"{chaos.when(f.at)} {f.client} pid={f.pid}: {f.error}" for f in rest]),
        ("failed reloads", [f"code {r[1]} after {r[2]:.1f} s: {r[3]}" for r in failed_reloads]),
        ("unanswered status", watch.status_failures),
        ("failed probes", watch.probe_failures),
        ("leaked", outcome.leaked),
    ):
        for item in items[:5]:
            print(f"  {label}: {item[:200]}")
    return (
        restarts == 0
        and outcome.exit_code == 0
        and not rest
        and not failed_reloads
        and not watch.status_failures
        and not watch.probe_failures
        and not outcome.leaked
        and fd_growth is not None
        and fd_growth <= FD_TOLERANCE
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/soak", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the load and chaos last (10)")
    parser.add_argument("--reload-every", type=float, default=20.0, help="seconds between `serve reload` (20)")
    parser.add_argument("--scale-every", type=float, default=25.0, help="seconds between `serve scale` (25)")
    parser.add_argument("--kill-every", type=float, default=30.0, help="seconds between worker SIGKILLs (30)")
    parser.add_argument("--think-ms", type=float, default=5.0, help="mean pause between a client's requests (5)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the random choices (victims, timing)")
    parser.add_argument("--keep", action="store_true", help="keep the run's directory (config, master.log)")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    directory = Path(tempfile.mkdtemp(prefix="serve-soak-"))
    layout = Layout(directory, free_port(), free_port(), free_port(), free_port())
    print(f"soak: {args.minutes:g} min; run directory {directory}", flush=True)
    held = False
    try:
        held = report(soak(args, layout))
    finally:
        if args.keep or not held:
            print(f"  kept {directory} (serve.toml, master.log)")
        else:
            shutil.rmtree(directory, ignore_errors=True)
    print("soak: PASS" if held else "soak: FAIL")
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
