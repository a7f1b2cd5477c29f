"""Fault injection against `serve up`: what operators, probes, disks and apps do to the master (issue 10).

Each test reproduces one finding with real processes, loopback clients and real signals, and
holds the master to its promise: it stays the same process, keeps answering `serve status`
and its endpoints, and the apps keep serving. Status polls talk to the control socket
in-process (supervisor.client), so they can poll faster than a `serve status` process starts.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import psutil
import pytest
from master_support import (
    LINE_START,
    Address,
    Master,
    app_table,
    connect,
    free_port,
    get,
    request_bytes,
    serve_up,
    server_table,
)
from support import ROOT, read_response, serve_status

from supervisor.client import request
from supervisor.control import Status
from supervisor.errors import ControlError

pytestmark = pytest.mark.system

CONTROL_SOCKET = "serve.sock"  # the default: beside the TOML file
STATUS_TIMEOUT_S = 5.0
PROBE_TIMEOUT_S = 2.0
RECOVERY_S = 15.0  # how long idle clients may hold the master's descriptors before they expire
# A line of the master's own (not a worker's `app[pid] ...`) that speaks of lines for full.log dropped.
DROPPED_LINE = re.compile(LINE_START + r"(?!\w[\w-]*\[\d+\] )(?=.*full\.log).*drop", re.IGNORECASE)
# What a client of the master or of an app sees go wrong: refused, reset, timed out, no master, a bad answer.
FAILURES = (OSError, AssertionError, ControlError)


# --- talking to the master --------------------------------------------------------------------


def status(config: Path, timeout: float = STATUS_TIMEOUT_S) -> dict[str, Any]:
    """A status snapshot over the control socket; ControlError when the master does not answer in time."""
    reply = request(str(config.parent / CONTROL_SOCKET), Status(), config_path=str(config), timeout=timeout)
    if not reply.ok or not isinstance(reply.result, dict):
        raise ControlError(f"status refused: {reply.error}")
    return reply.result


def serve_cli(*args: str, config: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """`serve ARGS -c CONFIG`; AssertionError when it has not answered within `timeout`."""
    try:
        return subprocess.run(
            [sys.executable, "-m", "supervisor", *args, "-c", str(config)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise AssertionError(f"`serve {' '.join(args)}` did not answer within {timeout:g} s") from None


def probe(address: Address, path: str, timeout: float = PROBE_TIMEOUT_S) -> int:
    """The status code of one GET on a new connection (an endpoint of the master, or an app)."""
    with connect(address, timeout) as sock:
        sock.sendall(request_bytes(path, close=True))
        code, _, _ = read_response(sock, timeout)
    return code


def eventually(
    what: str, attempt: Callable[[], object], timeout: float = RECOVERY_S, master: Master | None = None
) -> object:
    """`attempt()` again every 0.2 s until it returns without raising; AssertionError after `timeout`,
    or at once when `master` has exited (nothing will change any more)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return attempt()
        except FAILURES as error:
            if master is not None:
                assert_alive(master)
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: still failing after {timeout:g} s: {error!r}") from error
        time.sleep(0.2)


def tail(master: Master, count: int = 40) -> str:
    """The master's last lines, without the filler some tests make workers print, each cut short."""
    lines = [line[:300] for line in master.lines if "xxxxxxxxxx" not in line]
    return "\n".join(lines[-count:])


def assert_alive(master: Master) -> None:
    code = master.process.proc.poll()
    assert code is None, f"the master exited with code {code}:\n{tail(master)}"


def assert_master_survived(master: Master, workers: dict[str, int]) -> None:
    """Same pid, alive, answering; every app back to its workers, each alive and answering."""
    assert_alive(master)
    snapshot: dict[str, Any] = {}

    def settled() -> None:
        nonlocal snapshot
        snapshot = status(master.config)
        ready = {app["name"]: app["workers_ready"] for app in snapshot["apps"]}
        assert all(ready.get(name, 0) >= count for name, count in workers.items()), ready

    eventually("every app back to its workers", settled, timeout=20, master=master)
    assert snapshot["master_pid"] == master.pid
    # The serving workers: a worker of an older generation (a reload's leftover) may exit at any moment.
    pids = [
        worker["pid"]
        for app in snapshot["apps"]
        for worker in app["workers"]
        if worker["state"] == "ready" and worker["generation"] == app["generation"]
    ]
    assert pids, snapshot
    assert all(psutil.pid_exists(pid) for pid in pids), pids
    assert "Traceback" not in master.output, tail(master)


class Poller:
    """Runs `action` every `period` seconds on a thread until stopped (bounded by `max_seconds`),
    recording each failure; what an operator's `serve top` or an orchestrator's probe does."""

    def __init__(self, action: Callable[[], object], period: float, max_seconds: float = 80.0) -> None:
        self.action = action
        self.period = period
        self.deadline = time.monotonic() + max_seconds
        self.calls = 0
        self.failures: list[str] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        self._thread.join(STATUS_TIMEOUT_S + 5)

    def _run(self) -> None:
        while not self._stopping.is_set() and time.monotonic() < self.deadline:
            try:
                self.action()
            except FAILURES as error:
                self.failures.append(f"{time.monotonic():.2f}: {error!r}")
            self.calls += 1
            self._stopping.wait(self.period)


def endpoints(health: int, metrics: int) -> str:
    """[server] keys to append right after server_table()."""
    return f'health_bind = "127.0.0.1:{health}"\nmetrics_bind = "127.0.0.1:{metrics}"\n'


def fault_app(name: str, port: int, *, workers: int = 1, target: str = "fault_apps:app", extra: str = "") -> str:
    return app_table(name, bind=[f"127.0.0.1:{port}"], workers=workers, target=target, extra=extra)


# --- 1. reloads while anyone talks to the master ----------------------------------------------


@pytest.mark.timeout(90)
def test_reloads_while_status_polls_and_probes_hit_the_endpoints(tmp_path: Path) -> None:
    """Finding 1: ten `serve reload` in a row, `serve status` every 0.2 s, /readyz and /metrics probed."""
    api, side, health, metrics = free_port(), free_port(), free_port(), free_port()
    config = server_table() + endpoints(health, metrics) + fault_app("api", api, workers=2) + fault_app("side", side)
    with serve_up(tmp_path, config, {"api": 2, "side": 1}) as master:
        answers = []
        with (
            Poller(lambda: status(master.config), 0.2) as statuses,
            Poller(lambda: probe(("127.0.0.1", health), "/readyz"), 0.1) as readiness,
            Poller(lambda: probe(("127.0.0.1", metrics), "/metrics"), 0.1) as scrapes,
        ):
            for _ in range(10):
                result = serve_cli("reload", config=master.config, timeout=60)
                answers.append((result.returncode, (result.stdout + result.stderr).strip()))
                if master.process.proc.poll() is not None:
                    break
        assert_master_survived(master, {"api": 2, "side": 1})
        assert [code for code, _ in answers] == [0] * 10, answers
        assert statuses.calls > 10, statuses.calls
        assert (statuses.failures, readiness.failures, scrapes.failures) == ([], [], [])
        assert get(("127.0.0.1", api))[1] == "ok"


@pytest.mark.timeout(90)
def test_a_sighup_every_half_second_while_status_polls(tmp_path: Path) -> None:
    """Finding 1, by signal: reloads overlap one another while `serve status` polls every 0.2 s."""
    api, health = free_port(), free_port()
    config = server_table() + f'health_bind = "127.0.0.1:{health}"\n' + fault_app("api", api, workers=2)
    with serve_up(tmp_path, config, {"api": 2}) as master:
        with (
            Poller(lambda: status(master.config), 0.2) as statuses,
            Poller(lambda: probe(("127.0.0.1", health), "/livez"), 0.2) as liveness,
        ):
            for _ in range(12):
                master.send_signal(signal.SIGHUP)
                time.sleep(0.5)  # the operator's pace, not a wait for readiness
                if master.process.proc.poll() is not None:
                    break

            def rolled() -> None:
                [app] = status(master.config)["apps"]
                generations = {worker["generation"] for worker in app["workers"]}
                assert (app["workers_ready"], generations) == (2, {app["generation"]}), app

            eventually("the last generation alone serving", rolled, timeout=30, master=master)
        assert_master_survived(master, {"api": 2})
        assert (statuses.failures, liveness.failures) == ([], [])


# --- 2. idle and slow clients of the side endpoints -------------------------------------------


def open_idle(address: Address) -> socket.socket | None:
    """A connection that sends nothing, opened without waiting (the backlog may be full)."""
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    error = sock.connect_ex(address)
    if error not in (0, errno.EINPROGRESS):  # the kernel finishes the handshake on its own
        sock.close()
        return None
    return sock


def settle_fds(process: psutil.Process, timeout: float = 10.0) -> None:
    """Until the process's descriptor count has not changed for a second (or it exited)."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    with contextlib.suppress(psutil.NoSuchProcess):
        while time.monotonic() < deadline:
            count = process.num_fds()
            if count != last:
                last, since = count, time.monotonic()
            elif time.monotonic() - since >= 1.0:
                return
            time.sleep(0.1)


@pytest.mark.timeout(90)
def test_idle_clients_of_every_endpoint_cannot_exhaust_the_masters_descriptors(tmp_path: Path) -> None:
    """Finding 2: ~320 idle connections to health, metrics and control at RLIMIT_NOFILE 256."""
    api, health, metrics = free_port(), free_port(), free_port()
    config = server_table() + endpoints(health, metrics) + fault_app("api", api)
    with serve_up(tmp_path, config, {"api": 1}) as master:
        process = psutil.Process(master.pid)
        process.rlimit(psutil.RLIMIT_NOFILE, (256, 256))  # prlimit(2) on the running master
        baseline = process.num_fds()
        health_address: Address = ("127.0.0.1", health)
        metrics_address: Address = ("127.0.0.1", metrics)
        control_address: Address = str(master.config.parent / CONTROL_SOCKET)
        targets = [health_address] * 150 + [metrics_address] * 150 + [control_address] * 20
        idle = [sock for sock in map(open_idle, targets) if sock is not None]
        try:
            settle_fds(process)
            assert_alive(master)
            eventually("serve status", lambda: status(master.config), master=master)
            eventually("/livez", lambda: _expect(probe(("127.0.0.1", health), "/livez"), 200), master=master)
            assert get(("127.0.0.1", api))[1] == "ok"
            assert_alive(master)
        finally:
            for sock in idle:
                sock.close()
        # Every descriptor the clients cost comes back.
        eventually(
            "the master's descriptors back", lambda: _expect_at_most(process.num_fds(), baseline + 2), master=master
        )
        assert_master_survived(master, {"api": 1})


@pytest.mark.timeout(60)
def test_metrics_clients_that_never_read_their_reply_stall_nothing(tmp_path: Path) -> None:
    """Finding 2, slow readers: /metrics requested on 50 connections whose reader never reads.

    On loopback the kernel takes a whole /metrics reply into its send buffer, so this cannot
    show a blocking write; it holds the non-blocking writer to its promises instead: the loop
    answers at once, and a client that never reads costs a descriptor only until it expires.
    """
    api, health, metrics = free_port(), free_port(), free_port()
    config = server_table() + endpoints(health, metrics) + fault_app("api", api, workers=2)
    with serve_up(tmp_path, config, {"api": 2}) as master:
        process = psutil.Process(master.pid)
        baseline = process.num_fds()
        stalled = []
        try:
            for _ in range(50):
                sock = socket.socket()
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)  # the smallest window the kernel allows
                sock.connect(("127.0.0.1", metrics))
                sock.sendall(request_bytes("/metrics"))
                stalled.append(sock)
            for _ in range(10):
                started = time.monotonic()
                assert probe(("127.0.0.1", health), "/livez") == 200
                status(master.config, timeout=2.0)
                assert time.monotonic() - started < 3.0  # generous: a blocked master would take the 5 s reply timeout
            eventually(
                "slow readers expired",
                lambda: _expect_at_most(process.num_fds(), baseline + 2),
                timeout=30,
                master=master,
            )
        finally:
            for sock in stalled:
                sock.close()
        assert_master_survived(master, {"api": 2})


def _expect(value: object, expected: object) -> None:
    assert value == expected, f"{value!r} != {expected!r}"


def _expect_at_most(value: int, limit: int) -> None:
    assert value <= limit, f"{value} > {limit}"


# --- 3. a full disk under one app's log_file --------------------------------------------------


@contextlib.contextmanager
def tiny_tmpfs(directory: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs mounted on `directory` (root only), lazily unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a 1 MiB tmpfs needs root")
    directory.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs on {directory}: {mounted.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], capture_output=True, timeout=10, check=False)


@pytest.mark.timeout(90)
def test_a_full_disk_under_one_apps_log_file_costs_only_that_apps_lines(tmp_path: Path) -> None:
    """Finding 3: app `full` logs into a 1 MiB tmpfs and fills it; `other` has no log file."""
    full, other = free_port(), free_port()
    with tiny_tmpfs(tmp_path / "logs") as logs:
        extra = f'log_file = "{logs / "full.log"}"\naccess_log = true\n'
        config = server_table() + fault_app("full", full, extra=extra) + fault_app("other", other)
        with serve_up(tmp_path, config, {"full": 1, "other": 1}) as master:
            # 24 requests of 8 lines of 8000 bytes: about 1.5 MB for a 1 MiB file system.
            for number in range(24):
                try:
                    get(("127.0.0.1", full), "/say?lines=8&size=8000")
                except (OSError, AssertionError) as error:
                    raise AssertionError(f"request {number} to `full`: {error!r}\n{tail(master)}") from error
            deadline = time.monotonic() + 10
            while not any(DROPPED_LINE.search(line) for line in master.lines) and time.monotonic() < deadline:
                assert_alive(master)
                time.sleep(0.1)
            assert_alive(master)
            assert any(DROPPED_LINE.search(line) for line in master.lines), f"no word of lines dropped:\n{tail(master)}"
            assert get(("127.0.0.1", other))[1] == "ok"
            assert get(("127.0.0.1", full))[1] == "ok"
            # Counted, and only for the file that failed.
            dropped = serve_status(master.config)["lines_dropped"]
            assert set(dropped) == {str(logs / "full.log")}, dropped
            assert dropped[str(logs / "full.log")] > 0
            assert_master_survived(master, {"full": 1, "other": 1})


# --- 5. a helper process holding a dead worker's output ---------------------------------------


@pytest.mark.timeout(60)
def test_a_helper_holding_a_dead_workers_output_does_not_stall_the_master(tmp_path: Path) -> None:
    """Finding 5: the worker's `sleep 30` keeps its stdout open after the worker is SIGKILLed."""
    api = free_port()
    config = server_table() + fault_app("api", api)
    with serve_up(tmp_path, config, {"api": 1}) as master:
        answered_by, helper_pid = get(("127.0.0.1", api), "/spawn?seconds=30")
        [worker] = status(master.config)["apps"][0]["workers"]
        assert worker["pid"] == answered_by
        [helper] = [child for child in psutil.Process(answered_by).children() if child.pid == int(helper_pid)]
        try:
            os.kill(answered_by, signal.SIGKILL)
            supervisor = psutil.Process(master.pid)
            supervisor.cpu_percent(None)
            time.sleep(2.0)  # the measuring window
            cpu = supervisor.cpu_percent(None)
            assert cpu < 50, f"the master used {cpu:.0f} % of a CPU while the helper held the pipe"
            status(master.config)

            def replaced() -> None:
                [app] = status(master.config)["apps"]
                pids = [w["pid"] for w in app["workers"] if w["state"] == "ready"]
                assert len(pids) == 1, app["workers"]
                assert answered_by not in pids, app["workers"]

            eventually("a replacement worker", replaced, master=master)
            assert get(("127.0.0.1", api))[0] != answered_by
            assert_alive(master)
        finally:
            with contextlib.suppress(psutil.NoSuchProcess):
                helper.kill()


# --- 6. a stderr pipe nobody reads ------------------------------------------------------------


def drive(addresses: Sequence[Address], path: str, total: int, threads: int = 4) -> list[str]:
    """`total` keep-alive requests for `path` spread over `threads` clients and `addresses`; every
    failure, each ending its client (a stalled server costs one timeout per client, not one per request)."""
    failures: list[str] = []

    def client(number: int) -> None:
        address = addresses[number % len(addresses)]
        sock: socket.socket | None = None
        answered = 0
        try:
            while answered < total // threads:
                if sock is None:
                    sock = connect(address, timeout=5)
                sock.sendall(request_bytes(path))
                code, headers, _ = read_response(sock, timeout=5)
                assert code == 200, code
                answered += 1
                if headers.get("connection", "").lower() == "close":
                    sock.close()
                    sock = None
        except (OSError, AssertionError) as error:
            failures.append(f"client {number} to {address}, after {answered} answers: {error!r}")
        finally:
            if sock is not None:
                sock.close()

    workers = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(60)
    return failures


@pytest.mark.timeout(90)
def test_a_stderr_pipe_nobody_reads_stalls_neither_supervision_nor_the_apps(tmp_path: Path) -> None:
    """Finding 6: `serve up --no-tui` writes to pipes the test never reads; access log on, ~2000 requests."""
    api, side, health = free_port(), free_port(), free_port()
    config_path = tmp_path / "serve.toml"
    config_path.write_text(
        server_table()
        + f'health_bind = "127.0.0.1:{health}"\n'
        + fault_app("api", api, workers=2, extra="access_log = true\n")
        + fault_app("side", side, extra="access_log = true\n"),
        encoding="utf-8",
    )
    master = subprocess.Popen(
        [sys.executable, "-m", "supervisor", "up", "-c", str(config_path), "--no-tui"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    children: list[psutil.Process] = []
    try:
        eventually("/readyz", lambda: _expect(probe(("127.0.0.1", health), "/readyz"), 200), timeout=20)
        children = psutil.Process(master.pid).children(recursive=True)
        with (
            Poller(lambda: status(config_path), 0.2) as statuses,
            Poller(lambda: probe(("127.0.0.1", health), "/livez"), 0.2) as liveness,
        ):
            # An access line and a 200-byte line per request: about 600 kB, several times what the pipes hold.
            failures = drive([("127.0.0.1", api), ("127.0.0.1", side)], "/say?lines=1&size=200", total=2000)
            assert master.poll() is None, f"the master exited with code {master.returncode}"
            status(config_path)
            assert probe(("127.0.0.1", health), "/livez") == 200
        assert failures == []
        assert (statuses.failures, liveness.failures) == ([], [])
    finally:
        _stop_unread_master(master, children)


def _stop_unread_master(master: subprocess.Popen[bytes], children: list[psutil.Process]) -> None:
    """Drain the pipes (the master may be blocked on them), check it lived, stop it and its workers."""
    drains = [threading.Thread(target=stream.read, daemon=True) for stream in (master.stdout, master.stderr) if stream]
    for drain in drains:
        drain.start()
    alive = master.poll() is None
    master.terminate()
    try:
        master.wait(20)
    except subprocess.TimeoutExpired:
        master.kill()
        master.wait(5)
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    for drain in drains:
        drain.join(5)
    for stream in (master.stdout, master.stderr):
        if stream is not None:
            stream.close()
    assert alive, f"the master exited with code {master.returncode} before its pipes were drained"


# --- 7. reload while a targeted app has never been ready --------------------------------------


@pytest.mark.timeout(60)
def test_reload_answers_while_a_targeted_app_has_never_been_ready(tmp_path: Path) -> None:
    """Finding 7: `never`'s lifespan startup never completes (startup_timeout 300 s); `serve reload` answers."""
    api, never = free_port(), free_port()
    server = server_table().replace("startup_timeout = 10", "startup_timeout = 300")
    assert "startup_timeout = 300" in server
    config = server + fault_app("api", api) + fault_app("never", never, target="fault_apps:never_ready")
    with serve_up(tmp_path, config, {"api": 1}) as master:
        master.wait_for_line(r"\bnever\[\d+\] .*Waiting for application startup")
        started = time.monotonic()
        result = serve_cli("reload", config=master.config, timeout=30)
        said = (result.stdout + result.stderr).strip()
        assert result.returncode == 0 or "never" in said, said
        assert time.monotonic() - started < 30
        assert get(("127.0.0.1", api))[1] == "ok"
        assert_alive(master)


# --- 12. smaller findings ---------------------------------------------------------------------


def test_reload_binds_again_a_unix_socket_whose_path_was_removed(tmp_path: Path, uds_path: Path) -> None:
    """Finding 12: the socket file was deleted (a tmp cleaner, a careless deploy); `serve reload` restores it."""
    config = server_table() + app_table("api", bind=[f"unix:{uds_path}"], workers=1, target="fault_apps:app")
    with serve_up(tmp_path, config, {"api": 1}) as master:
        assert get(str(uds_path))[1] == "ok"
        uds_path.unlink()
        with pytest.raises(FileNotFoundError):
            get(str(uds_path))
        result = serve_cli("reload", config=master.config, timeout=30)
        assert result.returncode == 0, result.stdout + result.stderr
        assert get(str(uds_path))[1] == "ok", tail(master)


def test_a_never_ready_apps_port_refuses_or_answers_503(tmp_path: Path) -> None:
    """Finding 12: connections to an app with no ready worker are refused or answered 503, never left hanging."""
    never = free_port()
    server = server_table().replace("startup_timeout = 10", "startup_timeout = 300")
    config = server + fault_app("never", never, target="fault_apps:never_ready")
    with serve_up(tmp_path, config, {}) as master:
        master.wait_for_line(r"\bnever\[\d+\] .*Waiting for application startup")
        try:
            with connect(("127.0.0.1", never), timeout=3) as sock:
                sock.sendall(request_bytes("/", close=True))
                code, _, _ = read_response(sock, timeout=3)
        except (ConnectionRefusedError, ConnectionResetError):
            return
        except TimeoutError:
            pytest.fail(f"a connection to `never` was accepted and left hanging:\n{tail(master)}")
        assert code == 503


def test_the_watcher_does_not_keep_the_masters_sigquit_handler(tmp_path: Path) -> None:
    """Finding 12: SIGQUIT to the `reload = true` watcher process ends it, as SIGQUIT's default does."""
    api, watched = free_port(), tmp_path / "src"
    watched.mkdir()
    extra = f'reload = true\nreload_dirs = ["{watched}"]\n'
    config = server_table() + fault_app("api", api, extra=extra)
    with serve_up(tmp_path, config, {"api": 1}) as master:
        master.wait_for_line(r"Watching api's files")
        workers = {worker["pid"] for worker in status(master.config)["apps"][0]["workers"]}
        [watcher] = [child for child in psutil.Process(master.pid).children() if child.pid not in workers]
        try:
            watcher.send_signal(signal.SIGQUIT)
            try:
                watcher.wait(5)
            except psutil.TimeoutExpired:
                pytest.fail(f"the watcher {watcher.pid} ignored SIGQUIT for 5 s")
            assert_alive(master)
        finally:
            with contextlib.suppress(psutil.NoSuchProcess):
                watcher.kill()
