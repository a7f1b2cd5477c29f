"""Many workers: `serve up` with two workers against the other servers' two-worker modes, nothing pinned.

May import: the standard library, psutil, bench (scripts/bench.py) and bench_apps.

Run by `scripts/bench --workers` (docs/benchmarks.md, "Many workers"). Each round starts
every contestant fresh, in an order that rotates round by round, and drives it with
`wrk -t2 -c64` (keep-alive hello) on both CPUs, sharing them with the server as a real
deployment on a two-core machine would. Ratios are paired per round against uvicorn
--workers 2. For serve, the master's status snapshot (`serve status --json`) says how many
of the measured requests each worker answered: how evenly the shared listening socket
spreads connections.

Contestants that are not installed are skipped and named: granian, and gunicorn with
uvicorn-worker's UvicornWorker, are looked up in the project's .venv and then in
`--extra-venv` (a scratch virtualenv, so the project's own stays as pinned).
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import bench

WORKERS = 2
CONNECTIONS = 64
WRK_THREADS = 2
WARMUP_SECONDS = 2  # every worker of every contestant has started and answered by then
STATUS_TIMEOUT = 10.0


@dataclass(frozen=True)
class MultiContestant:
    """A server in its many-worker mode: its name and how to build its command line."""

    name: str
    argv: Callable[[int, Path], list[str]]
    note: str = ""


@dataclass
class MultiRun:
    round: int
    server: str
    rate: float
    requests: int
    errors: int
    cpu_us: float
    per_worker: list[int] = field(default_factory=list)  # serve only: measured requests per worker


def _has_module(python: Path, module: str) -> bool:
    probe = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True, check=False, timeout=60)
    return probe.returncode == 0


def _gunicorn(extra_venv: Path | None) -> tuple[Path | None, str | None]:
    """A gunicorn whose Python has uvicorn-worker's UvicornWorker, else uvicorn's own (deprecated) one."""
    candidates = [d / "gunicorn" for d in (bench.VENV_BIN, extra_venv / "bin" if extra_venv else None) if d is not None]
    installed = [g for g in candidates if g.exists()]
    for module, worker_class in (
        ("uvicorn_worker", "uvicorn_worker.UvicornWorker"),
        ("uvicorn.workers", "uvicorn.workers.UvicornWorker"),
    ):
        for gunicorn in installed:
            if _has_module(gunicorn.parent / "python", module):
                return gunicorn, worker_class
    return None, None


def serve_config(port: int, workdir: Path) -> Path:
    config = workdir / f"serve-workers-{port}.toml"
    config.write_text(
        f"""[server]
control_socket = "{workdir / f"serve-{port}.sock"}"
tui = "off"
log_level = "warning"

[apps.hello]
app = "bench_apps:hello"
app_dir = "{bench.SCRIPTS}"
bind = ["{bench.HOST}:{port}"]
workers = {WORKERS}
loop = "uvloop"
http = "httptools"
access_log = false
log_level = "warning"
"""
    )
    return config


def _granian_command(granian: str) -> Callable[[int, Path], list[str]]:
    def command(port: int, _: Path) -> list[str]:
        return bench.granian_argv(granian, "bench_apps:hello", port, WORKERS, ("--no-ws",))

    return command


def contestants(extra_venv: Path | None) -> tuple[list[MultiContestant], list[str]]:
    """Who can run here, and a note for each one skipped or substituted."""
    host, scripts = bench.HOST, str(bench.SCRIPTS)
    found = [
        MultiContestant(
            "uvicorn",
            lambda port, _: [
                str(bench.VENV_BIN / "uvicorn"),
                "bench_apps:hello",
                "--app-dir",
                scripts,
                "--host",
                host,
                "--port",
                str(port),
                "--workers",
                str(WORKERS),
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
        ),
        MultiContestant(
            "serve",
            lambda port, workdir: [str(bench.VENV_BIN / "serve"), "up", "-c", str(serve_config(port, workdir))],
        ),
    ]
    notes: list[str] = []
    gunicorn, worker_class = _gunicorn(extra_venv)
    if worker_class == "uvicorn.workers.UvicornWorker":
        notes.append("gunicorn ran uvicorn.workers.UvicornWorker: uvicorn-worker is not installed")
    if gunicorn is not None and worker_class is not None:
        found.append(
            MultiContestant(
                "gunicorn+uvicorn",
                lambda port, _, g=gunicorn, k=worker_class: [
                    str(g),
                    "-w",
                    str(WORKERS),
                    "-k",
                    k,
                    "--chdir",
                    scripts,
                    "-b",
                    f"{host}:{port}",
                    "--log-level",
                    "warning",
                    "bench_apps:hello",
                ],
                note=worker_class,
            )
        )
    else:
        notes.append("gunicorn with a UvicornWorker skipped: not installed (pip install gunicorn uvicorn-worker)")
    granian = bench.find_tool("granian", extra_venv)
    if granian is not None:
        found.append(MultiContestant("granian", _granian_command(str(granian))))
    else:
        notes.append("granian skipped: not installed (pip install granian uvloop in --extra-venv)")
    return found, notes


def serve_worker_requests(port: int, workdir: Path) -> list[int]:
    """Requests answered so far by each live worker of serve's hello app, from the master's status."""
    sock = workdir / f"serve-{port}.sock"
    done = subprocess.run(
        [str(bench.VENV_BIN / "serve"), "status", "--json", "--socket", str(sock)],
        capture_output=True,
        text=True,
        check=False,
        timeout=STATUS_TIMEOUT,
    )
    if done.returncode != 0:
        raise bench.BenchError(f"serve status --json failed: {done.stderr.strip()[-500:]}")
    snapshot = json.loads(done.stdout)
    (app,) = (a for a in snapshot["apps"] if a["name"] == "hello")
    return [w["requests"] for w in sorted(app["workers"], key=lambda w: w["slot"])]


def wait_workers_ready(port: int, workdir: Path) -> None:
    deadline = time.monotonic() + bench.READY_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if len(serve_worker_requests(port, workdir)) == WORKERS:
                return
        except (bench.BenchError, json.JSONDecodeError, ValueError, KeyError):
            pass
        time.sleep(bench.READY_POLL)  # poll interval between status probes, not a readiness signal
    raise bench.BenchError(f"serve up: {WORKERS} workers not ready within {bench.READY_TIMEOUT:.0f} s")


def wrk(port: int, seconds: int) -> bench.Load:
    argv = [
        bench.WRK,
        f"-t{WRK_THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "--latency",
        f"http://{bench.HOST}:{port}/",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=False)
    if done.returncode != 0:
        raise bench.BenchError(f"wrk exited {done.returncode}: {done.stderr.strip()}")
    return bench.parse_wrk(done.stdout)


def measure(contestant: MultiContestant, round_index: int, seconds: int, workdir: Path) -> MultiRun:
    port = bench.free_port()
    log = workdir / f"workers-{contestant.name}-{round_index}.log"
    with bench.running(contestant.argv(port, workdir), log, cpus=None) as server:
        server.wait_ready(port)
        if contestant.name == "serve":
            wait_workers_ready(port, workdir)
        bench.check_hello(port)
        wrk(port, WARMUP_SECONDS)
        before = serve_worker_requests(port, workdir) if contestant.name == "serve" else []
        cpu_before = server.cpu_seconds()
        load = wrk(port, seconds)
        cpu = server.cpu_seconds() - cpu_before
        after = serve_worker_requests(port, workdir) if contestant.name == "serve" else []
    return MultiRun(
        round=round_index,
        server=contestant.name,
        rate=load.rate,
        requests=load.requests,
        errors=load.errors + load.non_2xx,
        cpu_us=1e6 * cpu / load.requests if load.requests else float("nan"),
        per_worker=[b - a for a, b in zip(before, after, strict=False)],
    )


def spread(counts: list[int]) -> str:
    total = sum(counts)
    if not total:
        return "-"
    return " / ".join(f"{100 * c / total:.0f} %" for c in counts)


def report(runs: list[MultiRun], names: list[str], notes: list[str], rounds: int, seconds: int) -> str:
    base = {r.round: r for r in runs if r.server == "uvicorn"}
    lines = [
        f"{rounds} interleaved round(s) x {seconds} s, `wrk -t{WRK_THREADS} -c{CONNECTIONS}` keep-alive hello, "
        f"{WORKERS} workers each, nothing pinned.",
        "",
        "| server | req/s (median) | / uvicorn --workers 2 | per round | server CPU µs/req (all processes) |",
        "|---|--:|--:|---|--:|",
    ]
    for name in names:
        mine = {r.round: r for r in runs if r.server == name}
        ratios = [mine[k].rate / base[k].rate for k in sorted(mine) if k in base and base[k].rate > 0]
        lines.append(
            f"| {name} | {statistics.median(r.rate for r in mine.values()):,.0f} "
            f"| **{statistics.median(ratios):.2f}x** | {' '.join(f'{x:.2f}' for x in ratios)} "
            f"| {statistics.median(r.cpu_us for r in mine.values()):.1f} |"
        )
    serve_runs = [r for r in runs if r.server == "serve" and r.per_worker]
    if serve_runs:
        lines += [
            "",
            "Requests answered by each of serve's workers during the measured run (from `serve status --json`):",
        ]
        lines += [
            f"- round {r.round + 1}: {spread(r.per_worker)} ({', '.join(map(str, r.per_worker))})" for r in serve_runs
        ]
    errors = [r for r in runs if r.errors]
    lines += [f"- {r.server}, round {r.round + 1}: {r.errors} socket errors or non-2xx" for r in errors]
    if notes:
        lines += ["", *(f"Note: {n}." for n in notes)]
    return "\n".join(lines)


def main(rounds: int, seconds: int, workdir: Path, extra_venv: Path | None) -> str:
    if shutil.which("wrk") is None and not Path(bench.WRK).exists():
        raise bench.BenchError("wrk not found")
    found, notes = contestants(extra_venv)
    runs: list[MultiRun] = []
    for round_index in range(rounds):
        shift = round_index % len(found)
        for contestant in found[shift:] + found[:shift]:
            bench.wait_quiet()
            run = measure(contestant, round_index, seconds, workdir)
            runs.append(run)
            print(
                f"round {round_index + 1}/{rounds}  workers  {run.server:<17} {run.rate:>10,.0f} req/s"
                f"  {run.cpu_us:6.1f} us/req  {spread(run.per_worker) if run.per_worker else ''}",
                file=sys.stderr,
                flush=True,
            )
    return report(runs, [c.name for c in found], notes, rounds, seconds)
