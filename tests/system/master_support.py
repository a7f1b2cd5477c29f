"""Running `serve up` masters for the system tests, and the clients that talk to their workers.

Readiness is the master's own "<app>: N workers of generation G ready" line, never a sleep.
"""

from __future__ import annotations

import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from support import APPS_DIR, ROOT, InheritingServeProcess, ServeProcess, read_response

# Short enough that the whole suite stays well under its time budget, long enough for a loaded 2-core box.
SERVER_TABLE = """\
[server]
healthcheck_timeout = {healthcheck_timeout}
graceful_timeout = {graceful_timeout}
startup_timeout = 10
"""
READY_TIMEOUT_S = 20.0
# Where a worker's line starts: after the local time, under [server] log_timestamps (serve up's default).
LINE_START = r"^(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}[+-]\d{4} )?"

# A TCP address (host, port) or a unix socket path.
Address = tuple[str, int] | str


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on right now (bound, read, closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_table(*, healthcheck_timeout: float = 2, graceful_timeout: float = 3) -> str:
    return SERVER_TABLE.format(healthcheck_timeout=healthcheck_timeout, graceful_timeout=graceful_timeout)


def app_table(
    name: str,
    *,
    bind: Sequence[str],
    workers: int,
    target: str = "master_apps:app",
    version_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    extra: str = "",
) -> str:
    """An [apps.NAME] table serving tests/apps/master_apps.py."""
    variables = dict(env or {})
    if version_file is not None:
        variables["MASTER_APPS_VERSION_FILE"] = str(version_file)
    env_text = ", ".join(f"{key} = {_quoted(value)}" for key, value in variables.items())
    binds = ", ".join(_quoted(item) for item in bind)
    return (
        f"[apps.{name}]\n"
        f"app = {_quoted(target)}\n"
        f"app_dir = {_quoted(str(APPS_DIR))}\n"
        f"bind = [{binds}]\n"
        f"workers = {workers}\n"
        f"env = {{ {env_text} }}\n"
        f"{extra}"
    )


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def ready_line(app: str, workers: int, generation: int = 1) -> str:
    noun = "worker" if workers == 1 else "workers"
    return rf"\b{re.escape(app)}: {workers} {noun} of generation {generation} ready"


class Master:
    """A running `serve up -c FILE` and what its log says about its workers."""

    def __init__(self, process: ServeProcess, config: Path) -> None:
        self.process = process
        self.config = config

    @property
    def pid(self) -> int:
        return self.process.proc.pid

    @property
    def lines(self) -> list[str]:
        return list(self.process.lines)

    @property
    def output(self) -> str:
        return self.process.output

    def mark(self) -> int:
        """The index of the next log line: pass it as `start` to wait only for what happens after now."""
        return len(self.process.lines)

    def wait_for_line(self, pattern: str, timeout: float = READY_TIMEOUT_S, start: int = 0) -> re.Match[str]:
        return self.process.wait_for_line(pattern, timeout, start)

    def wait_ready(self, workers: Mapping[str, int], generation: int = 1, start: int = 0) -> None:
        """Until the master says each app's workers are ready, and each of them said so in the log.

        The master can read a worker's READY status before that worker's own "serve running on"
        line comes through its pipe, so the master's line alone does not mean every pid is known.
        """
        deadline = time.monotonic() + READY_TIMEOUT_S
        for app, count in workers.items():
            self.wait_for_line(ready_line(app, count, generation), start=start)
            while True:
                seen = self.mark()
                if len(self.worker_pids(app, start, seen)) >= count:
                    break
                self.worker_started(app, start=seen, timeout=max(deadline - time.monotonic(), 0.1))

    def worker_started(self, app: str, start: int = 0, timeout: float = READY_TIMEOUT_S) -> int:
        """The pid of the first worker of `app` to start serving at or after log line `start`."""
        pattern = LINE_START + rf"{re.escape(app)}\[(\d+)\] .*serve running on"
        return int(self.wait_for_line(pattern, timeout, start).group(1))

    def worker_pids(self, app: str, start: int = 0, end: int | None = None) -> set[int]:
        """Pids of `app`'s workers that started serving between log lines `start` and `end`."""
        pattern = re.compile(LINE_START + rf"{re.escape(app)}\[(\d+)\] .*serve running on")
        return {int(m.group(1)) for line in self.lines[start:end] if (m := pattern.search(line))}

    def send_signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        return self.process.stop(sig, timeout)

    def wait_exit(self, timeout: float = 20.0) -> int:
        return self.process.wait_exit(timeout)


def write_config(directory: Path, text: str) -> Path:
    path = directory / "serve.toml"
    path.write_text(text, encoding="utf-8")
    return path


def start_master(
    config: Path, *, pass_fds: Sequence[int] = (), env: Mapping[str, str] | None = None, args: Sequence[str] = ()
) -> Master:
    """`serve up -c CONFIG` without waiting for anything."""
    command = ["up", "-c", str(config), "--no-tui", *args]
    # Workers import master_apps from a source file that tests rewrite: no stale bytecode.
    full_env = {"PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
    if pass_fds:
        process: ServeProcess = InheritingServeProcess(command, pass_fds=pass_fds, env=full_env, cwd=ROOT)
    else:
        process = ServeProcess(command, env=full_env, cwd=ROOT)
    return Master(process, config)


@contextmanager
def serve_up(
    directory: Path,
    config_text: str,
    ready: Mapping[str, int],
    *,
    pass_fds: Sequence[int] = (),
    env: Mapping[str, str] | None = None,
) -> Iterator[Master]:
    """Write `config_text` to DIRECTORY/serve.toml, start `serve up`, wait until every app in `ready` has
    that many workers ready; stop it (SIGTERM, then SIGKILL) afterwards if the test did not."""
    master = start_master(write_config(directory, config_text), pass_fds=pass_fds, env=env)
    try:
        master.wait_ready(ready)
        yield master
    finally:
        if master.process.proc.poll() is None:
            try:
                master.stop()
            finally:
                _kill_leftover_workers(master)


def _kill_leftover_workers(master: Master) -> None:
    """A master that had to be SIGKILLed leaves its workers behind: end them, by pid, if they are still its forks."""
    pattern = re.compile(LINE_START + r"\w[\w-]*\[(\d+)\] ")
    for pid in {int(m.group(1)) for line in master.lines if (m := pattern.search(line))}:
        with suppress(psutil.Error):  # exited already
            worker = psutil.Process(pid)
            if str(master.config) in worker.cmdline():
                worker.kill()


def serve_command(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    """`serve ARGS -c CONFIG` from the repository root, its output captured (bounded: 60 s)."""
    return subprocess.run(
        [sys.executable, "-m", "supervisor", *args, "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )


def serve_check(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "supervisor", "check", "-c", str(config)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
        check=False,
    )


# --- clients ----------------------------------------------------------------------------------


def connect(address: Address, timeout: float = 10.0) -> socket.socket:
    if isinstance(address, str):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except BaseException:
            sock.close()
            raise
        return sock
    return socket.create_connection(address, timeout=timeout)


def request_bytes(path: str, *, close: bool = False) -> bytes:
    connection = b"Connection: close\r\n" if close else b""
    return b"GET %s HTTP/1.1\r\nHost: master-test\r\n%s\r\n" % (path.encode(), connection)


def get(address: Address, path: str = "/", timeout: float = 10.0) -> tuple[int, str]:
    """One request on a new connection: (pid of the worker that answered, the rest of the body)."""
    with connect(address, timeout) as sock:
        sock.sendall(request_bytes(path, close=True))
        status, _, body = read_response(sock, timeout)
    if status != 200:
        raise AssertionError(f"GET {path} on {address}: status {status}, body {body!r}")
    pid, _, rest = body.decode().partition(" ")
    return int(pid), rest


def pids_answering(address: Address, want: int, timeout: float = 15.0) -> set[int]:
    """Pids of the workers answering on `address`, until `want` different ones were seen (bounded by `timeout`).

    Each round sends `want` concurrent requests that block their worker's event loop for a
    moment, so a worker busy with one cannot take the next connection and the others must.
    """
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    with ThreadPoolExecutor(want) as pool:
        while len(seen) < want and time.monotonic() < deadline:
            answers = [pool.submit(get, address, "/block?seconds=0.1") for _ in range(want)]
            seen.update(answer.result()[0] for answer in answers)
    return seen


# --- load -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One request of the load: when it was sent, who answered, what."""

    sent_at: float  # time.monotonic()
    pid: int
    text: str


@dataclass
class LoadReport:
    answers: list[Answer] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # every request that got no 200, with what happened
    refused: list[str] = field(default_factory=list)  # connections refused or reset at connect
    connections: int = 0

    def pids(self) -> list[int]:
        """Pids in the order they first answered."""
        return list(dict.fromkeys(answer.pid for answer in self.answers))

    def sent_after(self, moment: float) -> list[Answer]:
        return [answer for answer in self.answers if answer.sent_at > moment]


class Load:
    """`threads` clients, each sending requests on a keep-alive connection, and opening a new
    connection every `per_connection` requests or when the server says `Connection: close`.
    With `think_s`, every other client pauses up to that long between requests, leaving its
    connection idle the way browsers and pooled clients do (well under the server's drain grace).

    Bounded: it stops after `max_seconds` even if nobody calls `stop()`. A request that fails
    for any reason (connection closed or reset under it, bad status, timeout) is recorded
    with the details, never retried.
    """

    def __init__(
        self,
        address: Address,
        *,
        threads: int = 4,
        per_connection: int = 20,
        think_s: float = 0.0,
        max_seconds: float = 40.0,
    ) -> None:
        self.address = address
        self.think_s = think_s
        self.per_connection = per_connection
        self.deadline = time.monotonic() + max_seconds
        self.report = LoadReport()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(threads)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> LoadReport:
        self._stopping.set()
        for thread in self._threads:
            thread.join(20)
        return self.report

    def wait_for(self, predicate: Callable[[LoadReport], bool], timeout: float = 20.0) -> None:
        """Until `predicate(report)` is true; AssertionError after `timeout` (a bounded poll of the client's tally)."""
        deadline = time.monotonic() + timeout
        while not predicate(self.report):
            if time.monotonic() > deadline or self._stopping.is_set():
                raise AssertionError(f"load condition not met within {timeout}s: {self.summary()}")
            self._stopping.wait(0.05)

    def summary(self) -> str:
        report = self.report
        return (
            f"{len(report.answers)} answers over {report.connections} connections from pids {report.pids()}, "
            f"{len(report.failures)} failures {report.failures[:20]}, {len(report.refused)} refused {report.refused[:20]}"
        )

    def _running(self) -> bool:
        return not self._stopping.is_set() and time.monotonic() < self.deadline

    def _client(self, number: int) -> None:
        while self._running():
            try:
                sock = connect(self.address, timeout=10)
            except OSError as error:
                with self._lock:
                    self.report.refused.append(f"client {number}: connect: {error!r}")
                continue
            with self._lock:
                self.report.connections += 1
            with sock:
                self._use(number, sock)

    def _use(self, number: int, sock: socket.socket) -> None:
        """Send requests on `sock` until it is time for a new connection or the server closes it."""
        served_by = None
        for index in range(self.per_connection):
            if not self._running():
                return
            last = index == self.per_connection - 1
            sent_at = time.monotonic()
            try:
                sock.sendall(request_bytes("/", close=last))
                status, headers, body = read_response(sock, timeout=10)
            except (OSError, AssertionError) as error:
                with self._lock:
                    self.report.failures.append(
                        f"client {number}: request {index + 1} on a connection to pid {served_by} "
                        f"at {sent_at:.3f}: {error!r}"
                    )
                return
            if status != 200:
                with self._lock:
                    self.report.failures.append(f"client {number}: status {status} from pid {served_by}: {body!r}")
                return
            pid, _, text = body.decode().partition(" ")
            served_by = int(pid)
            with self._lock:
                self.report.answers.append(Answer(sent_at, served_by, text))
            if headers.get("connection", "").lower() == "close":
                return
            if self.think_s and number % 2:
                self._stopping.wait(random.uniform(0, self.think_s))  # pacing, bounded by stop()
