"""Measure `serve run` against uvicorn (and granian, when installed) in one interleaved, pinned run.

May import: the standard library, psutil, and beside this file bench_apps, bench_ws_client and
(in main, as it imports this module) bench_report, bench_workers, bench_idle.

Method (docs/benchmarks.md explains why): every (round, scenario, server) starts a fresh
server pinned to CPU 0 and drives it with wrk pinned to CPU 1; which server goes first
rotates, and a scenario's ratio is the median of the per-round ratios serve/uvicorn (and
granian/uvicorn), so drift of the shared machine cancels within a round.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import bench_apps
import bench_ws_client
import psutil

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
VENV_BIN = ROOT / ".venv" / "bin"
DOC = ROOT / "docs" / "benchmarks.md"
START_MARK = "<!-- bench:start -->"
END_MARK = "<!-- bench:end -->"
WRK = "/usr/bin/wrk"
HOST = "127.0.0.1"
SERVER_CPU = "0"
CLIENT_CPU = "1"
WARMUP_SECONDS = 1
READY_TIMEOUT = 15.0
READY_POLL = 0.01
STOP_TIMEOUT = 10.0
# The machine is shared: before each run wait (bounded) until neither CPU is busy with
# someone else's work, and measure once more a run the hypervisor stole from.
QUIET_BUSY_PCT = 15.0
QUIET_WAIT = 20.0
QUIET_SAMPLE = 0.5
NOISY_STEAL_PCT = 5.0
REDOS = 1
MAX_ROUNDS = 20
MAX_DURATION = 60
POST_SIZE = 4096
MiB = 1024 * 1024

# wrk computes the Content-Length of a body set here.
POST_LUA = f"""wrk.method = "POST"
wrk.body = string.rep("x", {POST_SIZE})
wrk.headers["Content-Type"] = "application/octet-stream"
"""


class BenchError(Exception):
    """A run that cannot be trusted: a server that did not start, answered wrongly, or wrk failed."""


# ---------------------------------------------------------------- checks: one correct answer first


def _get(port: int, method: str = "GET", body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        connection.request(method, "/", body=body)
        response = connection.getresponse()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return response.status, headers, response.read()
    finally:
        connection.close()


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise BenchError(what)


def check_hello(port: int) -> None:
    status, _, body = _get(port)
    _expect(status == 200 and body == bench_apps.HELLO_BODY, f"hello answered {status} {body[:40]!r}")


def check_close(port: int) -> None:
    # wrk keeps reusing a connection the server leaves open, so a server ignoring
    # `Connection: close` would post a keep-alive figure in this row: refuse to measure it.
    with socket.create_connection((HOST, port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            raise BenchError("the server kept the connection open after `Connection: close`") from None
    head, _, body = received.partition(b"\r\n\r\n")
    _expect(head.startswith(b"HTTP/1.1 200"), f"hello-close answered {head[:40]!r}")
    _expect(b"\r\nconnection: close" in head.lower(), "no `connection: close` in the response head")
    _expect(body == bench_apps.HELLO_BODY, f"hello-close body {body[:40]!r}")


def check_big(port: int) -> None:
    status, _, body = _get(port)
    _expect(status == 200 and len(body) == bench_apps.BIG_SIZE, f"big answered {status}, {len(body)} bytes")


def check_echo(port: int) -> None:
    sent = os.urandom(POST_SIZE // 2).hex().encode()
    status, _, body = _get(port, "POST", sent)
    _expect(status == 200 and body == sent, f"echo answered {status}, {len(body)} bytes, equal={body == sent}")


def check_stream(port: int) -> None:
    status, headers, body = _get(port)
    _expect(status == 200 and body == bench_apps.STREAM_BODY, f"stream answered {status}, {len(body)} bytes")
    _expect(headers.get("transfer-encoding") == "chunked", f"stream not chunked: {headers}")


def check_ws_echo(port: int) -> None:
    with socket.create_connection((HOST, port), timeout=5) as sock:
        sock.sendall(bench_ws_client.handshake_request(HOST, port))
        received = bytearray()
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            _expect(bool(chunk), f"connection closed during the WebSocket handshake: {bytes(received[:80])!r}")
            received += chunk
        head, _, rest = bytes(received).partition(b"\r\n\r\n")
        _expect(head.startswith(b"HTTP/1.1 101"), f"ws_echo answered the upgrade with {head[:40]!r}")
        sock.sendall(bench_ws_client.masked_frame(bench_ws_client.TEXT, bench_ws_client.MESSAGE))
        buffer = bytearray(rest)
        frames: list[tuple[int, bytes]] = []
        while not frames:
            frames = bench_ws_client.parse_frames(buffer)
            if not frames:
                chunk = sock.recv(65536)
                _expect(bool(chunk), "connection closed before the echo")
                buffer += chunk
        expected = (bench_ws_client.TEXT, bench_ws_client.MESSAGE)
        _expect(frames[0] == expected, f"ws_echo echoed {frames[0]!r}, expected {expected!r}")


# ---------------------------------------------------------------- load: wrk pinned to the client CPU


@dataclass
class Load:
    """What one measured load run reports."""

    rate: float
    requests: int
    errors: int
    non_2xx: int
    p99_ms: float


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(output: str) -> Load:
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    total = re.search(r"^\s*(\d+) requests in", output, re.MULTILINE)
    if rate is None or total is None:
        raise BenchError(f"unreadable wrk output:\n{output}")
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\b", output, re.MULTILINE)
    return Load(
        rate=float(rate.group(1)),
        requests=int(total.group(1)),
        errors=sum(int(n) for n in errors.groups()) if errors else 0,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        p99_ms=float(p99.group(1)) * _UNITS_MS[p99.group(2)] if p99 else float("nan"),
    )


def run_wrk(scenario: Scenario, port: int, seconds: int, workdir: Path) -> Load:
    argv = ["taskset", "-c", CLIENT_CPU, WRK, "-t1", f"-c{scenario.connections}", f"-d{seconds}s", "--latency"]
    for header in scenario.headers:
        argv += ["-H", header]
    if scenario.lua is not None:
        script = workdir / f"{scenario.name}.lua"
        script.write_text(scenario.lua)
        argv += ["-s", str(script)]
    argv.append(f"http://{HOST}:{port}/")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=False)
    if done.returncode != 0:
        raise BenchError(f"wrk exited {done.returncode}: {done.stderr.strip()}")
    return parse_wrk(done.stdout)


def run_ws_client(scenario: Scenario, port: int, seconds: int, workdir: Path) -> Load:
    """The WebSocket echo client (scripts/bench_ws_client.py) pinned to the client CPU, as wrk is."""
    argv = [
        "taskset",
        "-c",
        CLIENT_CPU,
        sys.executable,
        str(SCRIPTS / "bench_ws_client.py"),
        "--host",
        HOST,
        "--port",
        str(port),
        "--connections",
        str(scenario.connections),
        "--seconds",
        str(seconds),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=False)
    if done.returncode != 0:
        raise BenchError(f"bench_ws_client exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    try:
        result = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise BenchError(f"unreadable bench_ws_client output:\n{done.stdout}") from None
    return Load(
        rate=result["messages"] / result["seconds"],
        requests=result["messages"],
        errors=result["errors"],
        non_2xx=0,
        p99_ms=result["p99_ms"],
    )


def ws_implementation() -> str:
    """uvicorn's sans-I/O websockets protocol when this uvicorn has it (serve takes the name as an alias)."""
    try:
        sansio = importlib.util.find_spec("uvicorn.protocols.websockets.websockets_sansio_impl")
    except ModuleNotFoundError:  # no uvicorn at all: preflight says so
        sansio = None
    return "websockets-sansio" if sansio is not None else "websockets"


# ---------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Scenario:
    """One workload: which app both servers load, how they parse, and how the client drives it.

    `load` is the client; a scenario with another client (the WebSocket echo) supplies its
    own function with run_wrk's signature and reports through Load (messages as requests).
    `options` go to uvicorn's and serve's command lines; `granian` is what granian's gets
    instead, or None where granian has nothing to compare (no h11 parser, another FastAPI).
    """

    name: str
    title: str
    app: str
    check: Callable[[int], None]
    target: float
    goal: float
    http: str = "httptools"
    connections: int = 64
    headers: tuple[str, ...] = ()
    lua: str | None = None
    load: Callable[[Scenario, int, int, Path], Load] = run_wrk
    options: tuple[str, ...] = ()
    granian: tuple[str, ...] | None = ()


SCENARIOS = (
    Scenario("hello", "hello, keep-alive, 64 conns", "hello", check_hello, target=1.3, goal=1.8),
    # 16 connections, as in the anchor measurements the goals come from, so the ratios compare.
    Scenario(
        "hello-close",
        "hello, `Connection: close`, 16 conns",
        "hello",
        check_close,
        target=1.0,
        goal=1.6,
        connections=16,
        headers=("Connection: close",),
    ),
    Scenario("big", "64 KiB body, 64 conns", "big", check_big, target=1.0, goal=1.2),
    Scenario("echo", "4 KiB POST echo, 64 conns", "echo", check_echo, target=1.0, goal=1.2, lua=POST_LUA),
    Scenario("stream", "chunked, 10 chunks, 64 conns", "stream", check_stream, target=1.0, goal=1.5),
    Scenario(
        "h11", "hello, keep-alive, h11 parser", "hello", check_hello, target=1.2, goal=1.2, http="h11", granian=None
    ),
    # The hello app through FastAPI: the framework's cost per request sits on top of both servers'.
    # Not for granian: it would import the FastAPI of its own virtualenv, maybe another version.
    Scenario(
        "fastapi",
        "FastAPI hello, keep-alive, 64 conns",
        "bench_fastapi:app",
        check_hello,
        target=1.0,
        goal=1.0,
        granian=None,
    ),
    Scenario(
        "ws",
        "WebSocket echo, 50 conns (messages/s)",
        "ws_echo",
        check_ws_echo,
        target=1.2,
        goal=1.2,
        connections=50,
        load=run_ws_client,
        options=("--ws", ws_implementation()),
        granian=("--ws",),
    ),
)
SCENARIO_NAMES = tuple(s.name for s in SCENARIOS)


# ---------------------------------------------------------------- servers


@dataclass(frozen=True)
class Contestant:
    """A server under test with uvicorn's command line: its name in the tables and what precedes APP."""

    name: str
    argv: tuple[str, ...]

    def serves(self, scenario: Scenario) -> bool:
        return True

    def command(self, scenario: Scenario, port: int) -> list[str]:
        return [
            *self.argv,
            app_target(scenario),
            "--app-dir",
            str(SCRIPTS),
            "--host",
            HOST,
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--http",
            scenario.http,
            "--no-access-log",
            "--log-level",
            "warning",
            *scenario.options,
        ]


@dataclass(frozen=True)
class Granian(Contestant):
    """granian, one worker, with the flags that match uvicorn's (docs/benchmarks.md, "Method").

    It always forks one worker process beside its main one: both are pinned and measured.
    """

    def serves(self, scenario: Scenario) -> bool:
        return scenario.granian is not None

    def command(self, scenario: Scenario, port: int) -> list[str]:
        return granian_argv(self.argv[0], app_target(scenario), port, 1, scenario.granian or ())


def app_target(scenario: Scenario) -> str:
    return scenario.app if ":" in scenario.app else f"bench_apps:{scenario.app}"


def granian_argv(granian: str, app: str, port: int, workers: int, options: tuple[str, ...]) -> list[str]:
    """granian serving APP from scripts/ over HTTP/1.1 only (as uvicorn), uvloop, no access log."""
    return [
        granian,
        "--interface",
        "asgi",
        "--working-dir",
        str(SCRIPTS),
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
        *options,
        app,
    ]


def find_tool(name: str, extra_venv: Path | None) -> Path | None:
    """An executable of the project's .venv, else of the scratch virtualenv given by --extra-venv."""
    for directory in (VENV_BIN, extra_venv / "bin" if extra_venv else None):
        if directory is not None and (directory / name).exists():
            return directory / name
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """One server started by this script, in its own process group, pinned to the server CPU."""

    def __init__(self, argv: list[str], log: Path, cpus: str | None = SERVER_CPU) -> None:
        self.log = log
        self.started = time.perf_counter()
        pin = ["taskset", "-c", cpus] if cpus is not None else []
        with log.open("wb") as stderr:
            self.popen = subprocess.Popen(
                [*pin, *argv],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )

    def wait_ready(self, port: int) -> float:
        """Seconds from spawn to the first answered HTTP request; a bound port is not enough."""
        deadline = self.started + READY_TIMEOUT
        while time.perf_counter() < deadline:
            if self.popen.poll() is not None:
                raise BenchError(f"server exited {self.popen.returncode}: {self.stderr_tail()}")
            try:
                _get(port)
            except (OSError, http.client.HTTPException):
                time.sleep(READY_POLL)  # poll interval between probes, not a readiness signal
                continue
            return time.perf_counter() - self.started
        raise BenchError(f"no HTTP answer within {READY_TIMEOUT:.0f} s: {self.stderr_tail()}")

    def tree(self) -> list[psutil.Process]:
        leader = psutil.Process(self.popen.pid)
        return [leader, *leader.children(recursive=True)]

    def rss(self) -> tuple[int, int]:
        processes = self.tree()
        return sum(p.memory_info().rss for p in processes), len(processes)

    def cpu_seconds(self) -> float:
        total = 0.0
        for process in self.tree():
            with contextlib.suppress(psutil.NoSuchProcess):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def stderr_tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:].strip() or "(no output)"

    def stop(self) -> None:
        """SIGTERM the group this script created, SIGKILL it if it lingers."""
        pgid = self.popen.pid  # start_new_session made the server its group leader
        for sig, grace in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, STOP_TIMEOUT)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(grace)
                return


@contextlib.contextmanager
def running(argv: list[str], log: Path, cpus: str | None = SERVER_CPU) -> Iterator[ServerProcess]:
    server = ServerProcess(argv, log, cpus)
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------- one measured run


@dataclass
class Run:
    """One server measured in one scenario in one round."""

    round: int
    scenario: str
    server: str
    rate: float
    requests: int
    errors: int
    non_2xx: int
    p99_ms: float
    cpu_us: float
    startup_s: float
    rss: int
    processes: int
    steal_pct: float
    quiet: bool

    @property
    def noisy(self) -> bool:
        return self.steal_pct > NOISY_STEAL_PCT or not self.quiet


def _steal_counters() -> list[tuple[float, float]]:
    cpus = psutil.cpu_times(percpu=True)
    return [(getattr(c, "steal", 0.0), sum(c)) for c in (cpus[int(SERVER_CPU)], cpus[int(CLIENT_CPU)])]


def _steal_pct(before: list[tuple[float, float]], after: list[tuple[float, float]]) -> float:
    shares = [
        100.0 * (s1 - s0) / (t1 - t0) if t1 > t0 else 0.0 for (s0, t0), (s1, t1) in zip(before, after, strict=True)
    ]
    return max(shares)


def wait_quiet() -> bool:
    """Wait until both benchmark CPUs are idle enough; False if they never were within QUIET_WAIT."""
    cpus = (int(SERVER_CPU), int(CLIENT_CPU))
    deadline = time.monotonic() + QUIET_WAIT
    while time.monotonic() < deadline:
        busy = psutil.cpu_percent(interval=QUIET_SAMPLE, percpu=True)
        if all(busy[cpu] < QUIET_BUSY_PCT for cpu in cpus):
            return True
    return False


def measure_gated(contestant: Contestant, scenario: Scenario, round_index: int, options: Options) -> Run:
    run = measure(contestant, scenario, round_index, options, wait_quiet())
    for _ in range(REDOS):
        if not run.noisy:
            break
        print(progress_line(run, options.rounds) + "  (noisy: measuring again)", file=sys.stderr, flush=True)
        again = measure(contestant, scenario, round_index, options, wait_quiet())
        # Chosen by noise alone, never by throughput, so the choice favours no server.
        run = min(run, again, key=lambda r: (not r.quiet, r.steal_pct))
    return run


def measure(contestant: Contestant, scenario: Scenario, round_index: int, options: Options, quiet: bool) -> Run:
    port = free_port()
    log = options.workdir / f"{contestant.name}-{scenario.name}-{round_index}.log"
    with running(contestant.command(scenario, port), log) as server:
        startup = server.wait_ready(port)
        rss, processes = server.rss()
        scenario.check(port)
        scenario.load(scenario, port, WARMUP_SECONDS, options.workdir)
        cpu_before, steal_before = server.cpu_seconds(), _steal_counters()
        load = scenario.load(scenario, port, options.duration, options.workdir)
        cpu = server.cpu_seconds() - cpu_before
        steal = _steal_pct(steal_before, _steal_counters())
    return Run(
        round=round_index,
        scenario=scenario.name,
        server=contestant.name,
        rate=load.rate,
        requests=load.requests,
        errors=load.errors,
        non_2xx=load.non_2xx,
        p99_ms=load.p99_ms,
        cpu_us=1e6 * cpu / load.requests if load.requests else float("nan"),
        startup_s=startup,
        rss=rss,
        processes=processes,
        steal_pct=steal,
        quiet=quiet,
    )


@dataclass
class Options:
    rounds: int
    duration: int
    scenarios: tuple[Scenario, ...]
    workdir: Path
    seats: tuple[Contestant, ...]  # the baseline (uvicorn), the candidate (serve), then granian if found
    runs: list[Run] = field(default_factory=list)


def seat_order(seats: tuple[Contestant, ...], round_index: int, position: int) -> tuple[Contestant, ...]:
    """Rotate who goes first, across rounds and across scenarios, so no server always meets
    the machine right after another one has warmed it (with two seats: they alternate)."""
    shift = (round_index + position) % len(seats)
    return seats[shift:] + seats[:shift]


def run_all(options: Options) -> list[Run]:
    for round_index in range(options.rounds):
        for position, scenario in enumerate(options.scenarios):
            for contestant in seat_order(options.seats, round_index, position):
                if not contestant.serves(scenario):
                    continue
                run = measure_gated(contestant, scenario, round_index, options)
                options.runs.append(run)
                print(progress_line(run, options.rounds), file=sys.stderr, flush=True)
    return options.runs


def progress_line(run: Run, rounds: int) -> str:
    flags = f"  errors {run.errors} non-2xx {run.non_2xx}" if run.errors or run.non_2xx else ""
    flags += "" if run.quiet else "  (CPUs busy before start)"
    return (
        f"round {run.round + 1}/{rounds}  {run.scenario:<12} {run.server:<10} {run.rate:>10,.0f} req/s"
        f"  {run.cpu_us:6.1f} us/req  p99 {run.p99_ms:6.2f} ms  startup {run.startup_s:.2f} s"
        f"  rss {run.rss / MiB:.1f} MiB  steal {run.steal_pct:.0f}%{flags}"
    )


# ---------------------------------------------------------------- report (the tables: bench_report.py)


def write_doc(section: str, name: str = "bench") -> None:
    """Replace what lies between `<!-- {name}:start -->` and `<!-- {name}:end -->` in docs/benchmarks.md."""
    start_mark, end_mark = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = DOC.read_text()
    start, end = text.find(start_mark), text.find(end_mark)
    if start < 0 or end < start:
        raise BenchError(f"{DOC}: markers {start_mark} … {end_mark} not found; nothing written")
    DOC.write_text(f"{text[: start + len(start_mark)]}\n{section}\n{text[end:]}")


# ---------------------------------------------------------------- command line


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        description="serve run vs uvicorn: interleaved rounds, server on CPU 0, wrk on CPU 1.",
    )
    parser.add_argument("--rounds", type=int, default=3, help=f"rounds per scenario (1..{MAX_ROUNDS}, default 3)")
    parser.add_argument("--duration", type=int, default=5, help=f"seconds per measured run (1..{MAX_DURATION})")
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIO_NAMES),
        help=f"comma-separated subset of: {', '.join(SCENARIO_NAMES)}",
    )
    parser.add_argument("--quick", action="store_true", help="1 round x 2 s: a smoke run, not a result")
    parser.add_argument("--no-write", action="store_true", help=f"print the table only; leave {DOC.name} alone")
    parser.add_argument(
        "--aa",
        action="store_true",
        help="A/A calibration: uvicorn in both seats, to see this machine's noise (implies --no-write)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every run as JSON to PATH")
    parser.add_argument(
        "--workers",
        action="store_true",
        help="instead: serve up with 2 workers against uvicorn --workers 2, gunicorn+UvicornWorker and granian, unpinned",
    )
    parser.add_argument(
        "--extra-venv",
        type=Path,
        metavar="DIR",
        help="a virtualenv to find granian in (and, with --workers, gunicorn+uvicorn-worker) when .venv lacks them",
    )
    parser.add_argument(
        "--idle-connections",
        type=int,
        metavar="N",
        help="instead: RSS of one worker holding N idle keep-alive connections, serve against uvicorn",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration = 1, 2
    if not 1 <= args.rounds <= MAX_ROUNDS or not 1 <= args.duration <= MAX_DURATION:
        parser.error(f"--rounds must be 1..{MAX_ROUNDS} and --duration 1..{MAX_DURATION}")
    unknown = set(args.scenarios.split(",")) - set(SCENARIO_NAMES)
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(sorted(unknown))}; choose from {', '.join(SCENARIO_NAMES)}")
    return args


def compile_package() -> None:
    """Compile serve (and the bench apps) to bytecode, as an installed package is.

    A tree edited since its last run, with PYTHONDONTWRITEBYTECODE set, is compiled at every
    start: startup would measure the compiler (about 20 ms here), not serve.
    """
    argv = [str(VENV_BIN / "python"), "-m", "compileall", "-q", str(ROOT / "supervisor"), str(SCRIPTS)]
    subprocess.run(argv, capture_output=True, check=False, timeout=120)


def preflight() -> None:
    if not Path(WRK).exists():
        raise BenchError(f"{WRK} not found: apt-get install -y wrk")
    if shutil.which("taskset") is None:
        raise BenchError("taskset not found: apt-get install -y util-linux")
    if len(os.sched_getaffinity(0)) < 2:
        raise BenchError("needs two CPUs: the server runs on CPU 0 and wrk on CPU 1")
    if not (VENV_BIN / "uvicorn").exists():
        raise BenchError(f"{VENV_BIN / 'uvicorn'} not found: install the bench extra (pip install -e '.[bench]')")


def _version(executable: Path) -> str | None:
    probe = subprocess.run([str(executable), "--version"], capture_output=True, text=True, check=False, timeout=30)
    return probe.stdout.strip().split(" (", 1)[0] if probe.returncode == 0 else None  # serve names its libraries


def contestants(aa: bool) -> tuple[Contestant, Contestant, str]:
    uvicorn = Contestant("uvicorn", (str(VENV_BIN / "uvicorn"),))
    if aa:
        return uvicorn, Contestant("uvicorn-B", uvicorn.argv), "(A/A: uvicorn against itself)"
    serve = VENV_BIN / "serve"
    version = _version(serve)
    if version is None:
        raise BenchError(f"`{serve} --version` failed; --aa measures uvicorn against itself meanwhile")
    return uvicorn, Contestant("serve", (str(serve), "run")), version or "serve"


def seats(aa: bool, extra_venv: Path | None) -> tuple[tuple[Contestant, ...], list[str]]:
    """Who runs, in seat order, and their versions: granian joins serve and uvicorn when installed."""
    uvicorn, candidate, candidate_version = contestants(aa)
    granian = None if aa else find_tool("granian", extra_venv)
    if granian is None:
        if not aa:
            print("bench: granian not found in .venv or --extra-venv: serve against uvicorn only", file=sys.stderr)
        return (uvicorn, candidate), [candidate_version]
    rival = Granian("granian", (str(granian),))
    return (uvicorn, candidate, rival), [candidate_version, _version(granian) or "granian"]


def main_other(args: argparse.Namespace, argv: list[str]) -> int:
    """The scenarios outside the pairwise table: many workers (bench_workers), idle connections (bench_idle)."""
    import bench_idle
    import bench_workers

    try:
        preflight()
        compile_package()
        with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
            if args.workers:
                name = "bench-workers"
                section = bench_workers.main(args.rounds, args.duration, Path(workdir), args.extra_venv)
            else:
                name = "bench-idle"
                uvicorn, serve, _ = contestants(aa=False)
                section = bench_idle.main(args.rounds, args.idle_connections, Path(workdir), (uvicorn, serve))
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted; every server it started has been stopped", file=sys.stderr)
        return 130
    section = (
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC with `{' '.join(['scripts/bench', *argv])}`.\n\n"
        + section
    )
    print(section)
    if not args.no_write:
        write_doc(section, name)
        print(f"\nwritten to {DOC.relative_to(ROOT)}", file=sys.stderr)
    return 0


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through `running`, which stops the servers


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    chosen = args.scenarios.split(",")
    if args.workers or args.idle_connections:
        return main_other(args, argv)
    try:
        preflight()
        if "fastapi" in chosen and importlib.util.find_spec("fastapi") is None:
            raise BenchError("the fastapi scenario needs FastAPI in .venv: pip install -e '.[bench]'")
        compile_package()
        chairs, server_versions = seats(args.aa, args.extra_venv)
        with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
            options = Options(
                rounds=args.rounds,
                duration=args.duration,
                scenarios=tuple(s for s in SCENARIOS if s.name in chosen),
                workdir=Path(workdir),
                seats=chairs,
            )
            budget = options.rounds * len(options.scenarios) * len(chairs) * (options.duration + WARMUP_SECONDS + 2)
            print(
                f"about {budget} s (more while the machine is busy): {len(options.scenarios)} scenario(s) x {options.rounds} round(s)",
                file=sys.stderr,
            )
            run_all(options)
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted; every server it started has been stopped", file=sys.stderr)
        return 130
    import bench_report

    command = " ".join(["scripts/bench", *argv])
    section = bench_report.report(options, command, server_versions)
    print(section)
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(r) for r in options.runs], indent=1))
    if not (args.no_write or args.aa):
        write_doc(section)
        print(f"\nwritten to {DOC.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.modules.setdefault("bench", sys.modules[__name__])  # bench_report, _workers and _idle import it by that name
    sys.exit(main(sys.argv[1:]))
