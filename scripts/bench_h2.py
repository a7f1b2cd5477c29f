"""HTTP/2: `serve run --http2` against uvicorn (zttp) and hypercorn, h2load, interleaved rounds.

May import: the standard library, psutil, and bench (beside this file) for its server runner.

Every (round, server) starts a fresh server pinned to CPU 0 and drives it with
`h2load -c 32 -m 8` (32 connections, 8 streams in flight on each, cleartext prior
knowledge) pinned to CPU 1, on the hello app of scripts/bench_apps.py. The servers take
turns going first. A ratio is the median of the per-round ratios, printed with its spread;
CPU time per request (the server's user + system time over the measured run) is printed too,
since it is what the other processes on a shared machine disturb least.

uvicorn runs with `--http zttp --http2` from its own virtualenv (`--zttp-venv`, or
$SERVE_BENCH_ZTTP_VENV): zttp is no dependency of serve's. `--install` creates that
virtualenv; without it a missing one is skipped with the reason. hypercorn comes from .venv.
hypercorn resets connections past about 1,000 streams, so it gets fewer requests (`-n` per
connection stays below that).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import bench

ROOT = bench.ROOT
SCRIPTS = bench.SCRIPTS
VENV_BIN = bench.VENV_BIN
H2LOAD = "h2load"
CONNECTIONS = 32
STREAMS = 8
HYPERCORN_MAX_REQUESTS = 24_000  # 750 streams per connection: below its reset point
ZTTP_PACKAGES = ("uvicorn[standard]>=0.54", "zttp")
DEFAULT_ZTTP_VENV = Path(os.environ.get("SERVE_BENCH_ZTTP_VENV", Path.home() / ".cache" / "serve-bench-zttp"))


@dataclass(frozen=True)
class Contestant:
    name: str
    argv: tuple[str, ...]  # everything but the port
    max_requests: int = 0  # 0: the run's -n

    def command(self, port: int) -> list[str]:
        return [arg.replace("{port}", str(port)) for arg in self.argv]


@dataclass
class Run:
    round: int
    server: str
    rate: float
    requests: int
    failed: int
    cpu_us: float
    steal_pct: float
    quiet: bool


def serve_contestant() -> Contestant:
    argv = (str(VENV_BIN / "serve"), "run", "bench_apps:hello", "--app-dir", str(SCRIPTS), "--http2")
    return Contestant("serve", (*argv, *_common_options()))


def uvicorn_contestant(venv: Path) -> Contestant:
    argv = (str(venv / "bin" / "uvicorn"), "bench_apps:hello", "--app-dir", str(SCRIPTS), "--http", "zttp", "--http2")
    return Contestant("uvicorn-zttp", (*argv, *_common_options()))


def hypercorn_contestant() -> Contestant:
    argv = (str(VENV_BIN / "hypercorn"), "--bind", f"{bench.HOST}:{{port}}", "--worker-class", "uvloop")
    return Contestant("hypercorn", (*argv, "--log-level", "warning", "bench_apps:hello"), HYPERCORN_MAX_REQUESTS)


def _common_options() -> tuple[str, ...]:
    return ("--host", bench.HOST, "--port", "{port}", "--loop", "uvloop", "--no-access-log", "--log-level", "warning")


# ---------------------------------------------------------------- h2load


@dataclass
class Load:
    rate: float
    requests: int
    failed: int
    protocol: str


def run_h2load(port: int, requests: int) -> Load:
    argv = ["taskset", "-c", bench.CLIENT_CPU, H2LOAD, f"-c{CONNECTIONS}", f"-m{STREAMS}", f"-n{requests}"]
    done = subprocess.run(
        [*argv, f"http://{bench.HOST}:{port}/"], capture_output=True, text=True, timeout=300, check=False
    )
    return parse_h2load(done.stdout + done.stderr)


def parse_h2load(output: str) -> Load:
    rate = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", output)
    counts = re.search(r"requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed", output)
    protocol = re.search(r"Application protocol: (\S+)", output)
    if rate is None or counts is None:
        raise bench.BenchError(f"unreadable h2load output:\n{output[-2000:]}")
    total, succeeded = int(counts.group(1)), int(counts.group(2))
    return Load(float(rate.group(1)), succeeded, total - succeeded, protocol.group(1) if protocol else "?")


def check_h2(port: int) -> None:
    load = run_h2load(port, CONNECTIONS)
    if load.protocol != "h2c" or load.failed:
        raise bench.BenchError(f"no HTTP/2 answer: protocol {load.protocol}, {load.failed} failed")


# ---------------------------------------------------------------- one measured run


def measure(contestant: Contestant, round_index: int, requests: int, workdir: Path) -> Run:
    quiet = bench.wait_quiet()
    port = bench.free_port()
    wanted = min(requests, contestant.max_requests or requests)
    with bench.running(contestant.command(port), workdir / f"{contestant.name}-{round_index}.log") as server:
        server.wait_ready(port)
        check_h2(port)
        run_h2load(port, max(wanted // 10, CONNECTIONS * STREAMS))  # warm-up
        cpu_before, steal_before = server.cpu_seconds(), bench._steal_counters()
        load = run_h2load(port, wanted)
        cpu = server.cpu_seconds() - cpu_before
        steal = bench._steal_pct(steal_before, bench._steal_counters())
    return Run(
        round=round_index,
        server=contestant.name,
        rate=load.rate,
        requests=load.requests,
        failed=load.failed,
        cpu_us=1e6 * cpu / load.requests if load.requests else float("nan"),
        steal_pct=steal,
        quiet=quiet,
    )


def progress(run: Run, rounds: int) -> str:
    flags = f"  {run.failed} failed" if run.failed else ""
    flags += "" if run.quiet else "  (CPUs busy before start)"
    return (
        f"round {run.round + 1}/{rounds}  {run.server:<13} {run.rate:>9,.0f} req/s  {run.cpu_us:6.1f} us/req"
        f"  steal {run.steal_pct:.0f}%{flags}"
    )


# ---------------------------------------------------------------- report


def ratio_line(runs: list[Run], candidate: str, baseline: str) -> str:
    cand = {r.round: r for r in runs if r.server == candidate}
    base = {r.round: r for r in runs if r.server == baseline}
    rounds = sorted(cand.keys() & base.keys())
    if not rounds:
        return f"| {candidate} / {baseline} | (not measured) | | |"
    rates = [cand[r].rate / base[r].rate for r in rounds if base[r].rate > 0]
    cpus = [base[r].cpu_us / cand[r].cpu_us for r in rounds if cand[r].cpu_us > 0]
    per_round = " ".join(f"{x:.2f}" for x in rates)
    return (
        f"| {candidate} / {baseline} | **{statistics.median(rates):.2f}x** | {per_round} "
        f"(spread {min(rates):.2f}-{max(rates):.2f}) | {statistics.median(cpus):.2f}x |"
    )


def report(runs: list[Run], names: list[str], skipped: list[str], command: str, requests: int) -> str:
    lines = [
        f"`{command}`: h2load -c {CONNECTIONS} -m {STREAMS}, hello app, server on CPU {bench.SERVER_CPU}, "
        f"h2load on CPU {bench.CLIENT_CPU}; {max(r.round for r in runs) + 1} interleaved round(s), "
        f"-n {requests} (hypercorn at most {HYPERCORN_MAX_REQUESTS}).",
        "",
        "| server | req/s (median) | server CPU µs/req (median) | failed |",
        "|---|--:|--:|--:|",
    ]
    for name in names:
        mine = [r for r in runs if r.server == name]
        if mine:
            rate = statistics.median(r.rate for r in mine)
            cpu = statistics.median(r.cpu_us for r in mine)
            lines.append(f"| {name} | {rate:,.0f} | {cpu:.1f} | {sum(r.failed for r in mine)} |")
    lines += [
        "",
        "| ratio | req/s (median of rounds) | per round | CPU per request (inverse) |",
        "|---|--:|---|--:|",
        *(ratio_line(runs, "serve", other) for other in names if other != "serve"),
    ]
    lines += [f"- skipped {reason}" for reason in skipped]
    noisy = [r for r in runs if r.steal_pct > bench.NOISY_STEAL_PCT or not r.quiet]
    if noisy:
        lines.append(f"- {len(noisy)} of {len(runs)} runs were noisy (steal, or CPUs busy before the start).")
    return "\n".join(lines)


# ---------------------------------------------------------------- command line


def zttp_venv(path: Path, install: bool) -> tuple[Path | None, str]:
    """The virtualenv with uvicorn and zttp, or None and why not."""
    python = path / "bin" / "python"
    probe = [str(python), "-c", "import zttp, uvicorn"]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False, timeout=60).returncode == 0:
        return path, ""
    if not install:
        return None, f"uvicorn-zttp: no uvicorn and zttp in {path} (run again with --install, or --zttp-venv DIR)"
    made = subprocess.run([sys.executable, "-m", "venv", str(path)], capture_output=True, text=True, check=False)
    if made.returncode == 0:
        pip = [str(path / "bin" / "pip"), "install", "--quiet", *ZTTP_PACKAGES]
        made = subprocess.run(pip, capture_output=True, text=True, check=False, timeout=600)
    if made.returncode != 0:
        return None, f"uvicorn-zttp: installing {' '.join(ZTTP_PACKAGES)} into {path} failed: {made.stderr[-300:]}"
    return path, ""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench_h2.py", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--requests", "-n", type=int, default=60_000, help="requests per measured run")
    parser.add_argument("--zttp-venv", type=Path, default=DEFAULT_ZTTP_VENV, help="virtualenv with uvicorn + zttp")
    parser.add_argument("--install", action="store_true", help="create the zttp virtualenv if it is missing")
    parser.add_argument("--no-hypercorn", action="store_true", help="leave hypercorn out (it is slow)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every run as JSON to PATH")
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= bench.MAX_ROUNDS or args.requests < CONNECTIONS * STREAMS:
        parser.error(f"--rounds must be 1..{bench.MAX_ROUNDS}, --requests at least {CONNECTIONS * STREAMS}")
    return args


def contestants(args: argparse.Namespace) -> tuple[list[Contestant], list[str]]:
    chosen, skipped = [serve_contestant()], []
    venv, why = zttp_venv(args.zttp_venv, args.install)
    if venv is None:
        skipped.append(why)
    else:
        chosen.append(uvicorn_contestant(venv))
    if args.no_hypercorn:
        skipped.append("hypercorn: --no-hypercorn")
    elif not (VENV_BIN / "hypercorn").exists():
        skipped.append(f"hypercorn: {VENV_BIN / 'hypercorn'} not found")
    else:
        chosen.append(hypercorn_contestant())
    return chosen, skipped


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if shutil.which(H2LOAD) is None or shutil.which("taskset") is None:
        print("bench_h2: needs h2load and taskset (apt-get install -y nghttp2-client util-linux)", file=sys.stderr)
        return 1
    chosen, skipped = contestants(args)
    for reason in skipped:
        print(f"bench_h2: skipping {reason}", file=sys.stderr)
    # hypercorn has no --app-dir: the hello app is found on the path.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, (str(SCRIPTS), os.environ.get("PYTHONPATH"))))
    runs: list[Run] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-h2-") as workdir:
            for round_index in range(args.rounds):
                shift = round_index % len(chosen)  # each server goes first in turn
                for contestant in chosen[shift:] + chosen[:shift]:
                    run = measure(contestant, round_index, args.requests, Path(workdir))
                    runs.append(run)
                    print(progress(run, args.rounds), file=sys.stderr, flush=True)
    except bench.BenchError as error:
        print(f"bench_h2: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench_h2: interrupted; every server it started has been stopped", file=sys.stderr)
        return 130
    print(report(runs, [c.name for c in chosen], skipped, " ".join(["scripts/bench_h2.py", *argv]), args.requests))
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(r) for r in runs], indent=1))
    return 0


if __name__ == "__main__":
    started = time.monotonic()
    code = main(sys.argv[1:])
    print(f"({time.monotonic() - started:.0f} s)", file=sys.stderr)
    sys.exit(code)
