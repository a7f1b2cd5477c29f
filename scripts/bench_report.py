"""The Results section scripts/bench writes: ratios paired within a round, and the tables showing them.

May import: the standard library and bench (scripts/bench.py: Run, Scenario, Options, constants).

Everything here but `machine` and `versions` (which read the host) is a pure function of the
runs, so the table is unit-tested without a server. A ratio is only ever taken between two
runs of one round, which met nearly the same machine; a row shows the median of those.
The seats are named in order: the baseline (uvicorn), the candidate (serve), then an
optional rival (granian) that gets its own columns only when it was measured.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import statistics
import subprocess
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import bench
from bench import MiB, Run, Scenario

NOT_RUN = "—"


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def select(runs: Sequence[Run], scenario: str, server: str) -> dict[int, Run]:
    """The runs of one server in one scenario, by round."""
    return {r.round: r for r in runs if r.scenario == scenario and r.server == server}


def paired_ratios(runs: Sequence[Run], scenario: str, numerator: str, denominator: str) -> list[float]:
    """numerator/denominator throughput, one ratio per round both servers ran, in round order."""
    top, bottom = select(runs, scenario, numerator), select(runs, scenario, denominator)
    return [top[r].rate / bottom[r].rate for r in sorted(top.keys() & bottom.keys()) if bottom[r].rate > 0]


def _rate(runs: Sequence[Run], scenario: str, server: str) -> str:
    return f"{median([r.rate for r in select(runs, scenario, server).values()]):,.0f}"


def _cpu(runs: Sequence[Run], scenario: str, server: str) -> str:
    return f"{median([r.cpu_us for r in select(runs, scenario, server).values()]):.1f}"


def _spread(ratios: Sequence[float]) -> str:
    return " ".join(f"{x:.2f}" for x in ratios)


def ahead(runs: Sequence[Run], scenario: str, candidate: str, rival: str) -> bool | None:
    """Whether the candidate out-served the rival (median per-round ratio above 1); None if not both ran."""
    ratios = paired_ratios(runs, scenario, candidate, rival)
    return median(ratios) > 1.0 if ratios else None


def rival_cells(scenario: Scenario, runs: Sequence[Run], names: Sequence[str]) -> list[str]:
    base, cand, rival = names[0], names[1], names[2]
    if not select(runs, scenario.name, rival):
        return [NOT_RUN] * 5  # a scenario the rival has no equivalent of (docs/benchmarks.md says which)
    ratios = paired_ratios(runs, scenario.name, rival, base)
    versus = paired_ratios(runs, scenario.name, cand, rival)
    verdict = {True: "yes", False: "no", None: NOT_RUN}[ahead(runs, scenario.name, cand, rival)]
    return [
        _rate(runs, scenario.name, rival),
        f"**{median(ratios):.2f}x**",
        _spread(ratios),
        f"{verdict} ({median(versus):.2f}x)",
        _cpu(runs, scenario.name, rival),
    ]


def scenario_row(scenario: Scenario, runs: Sequence[Run], names: Sequence[str]) -> str:
    base, cand = names[0], names[1]
    ratios = paired_ratios(runs, scenario.name, cand, base)
    ratio = median(ratios)
    cells = [
        scenario.title,
        _rate(runs, scenario.name, base),
        _rate(runs, scenario.name, cand),
        f"**{ratio:.2f}x**",
        _spread(ratios),
        f"≥ {scenario.target:.1f}x",
        "yes" if ratio >= scenario.target else "no",
        f"{scenario.goal:.1f}x",
        f"{_cpu(runs, scenario.name, base)} → {_cpu(runs, scenario.name, cand)}",
    ]
    if len(names) > 2:
        cells += rival_cells(scenario, runs, names)
    return f"| {' | '.join(cells)} |"


def table_head(names: Sequence[str]) -> list[str]:
    base, cand = names[0], names[1]
    head = (
        f"| scenario | {base} req/s | {cand} req/s | {cand} / {base} | per round | target | met | goal "
        f"| server CPU µs/req, {base} → {cand} |"
    )
    rule = "|---|--:|--:|--:|---|--:|:-:|--:|--:|"
    if len(names) > 2:
        rival = names[2]
        head += (
            f" {rival} req/s | {rival} / {base} | per round | {cand} ahead of {rival} ({cand} / {rival}) "
            f"| {rival} CPU µs/req |"
        )
        rule += "--:|--:|---|:-:|--:|"
    return [head, rule]


def ahead_line(scenarios: Sequence[Scenario], runs: Sequence[Run], names: Sequence[str]) -> str:
    cand, rival = names[1], names[2]
    verdicts = [ahead(runs, s.name, cand, rival) for s in scenarios]
    measured = [v for v in verdicts if v is not None]
    return (
        f"{cand} ahead of {rival} (median of the per-round {cand} / {rival} ratios above 1.00): "
        f"{sum(measured)} of the {len(measured)} scenarios {rival} ran."
    )


def server_rows(runs: Sequence[Run], names: Sequence[str]) -> list[str]:
    rows = []
    for name in names:
        mine = [r for r in runs if r.server == name]
        if not mine:
            continue
        rss = median([r.rss for r in mine]) / MiB
        processes = max(r.processes for r in mine)
        startup = median([r.startup_s for r in mine])
        rows.append(f"| {name} | {rss:.1f} MiB | {processes} | {startup:.2f} s |")
    return rows


def rss_verdict(runs: Sequence[Run], baseline: str, candidate: str) -> str:
    base = median([r.rss for r in runs if r.server == baseline])
    cand = median([r.rss for r in runs if r.server == candidate])
    # Compared as printed (0.1 MiB), so the verdict never contradicts the table above it.
    return "met" if round(cand / MiB, 1) <= round(base / MiB, 1) else "not met"


def anomalies(runs: Sequence[Run]) -> list[str]:
    notes = [
        f"- {r.scenario}, {r.server}, round {r.round + 1}: {r.errors} socket errors, {r.non_2xx} non-2xx responses"
        for r in runs
        if r.errors or r.non_2xx
    ]
    noisy = [r for r in runs if r.noisy]
    if noisy:
        notes.append(
            f"- {len(noisy)} of {len(runs)} runs stayed noisy after {bench.REDOS} redo (hypervisor steal above "
            f"{bench.NOISY_STEAL_PCT:.0f} %, or another process busy on CPU {bench.SERVER_CPU} or "
            f"{bench.CLIENT_CPU} before the start); their ratios carry less weight."
        )
    return notes


def tables(scenarios: Sequence[Scenario], runs: Sequence[Run], names: Sequence[str]) -> list[str]:
    """The scenario table, the server table and the verdicts; a rival named but never run gets no column."""
    names = [n for i, n in enumerate(names) if i < 2 or any(r.server == n for r in runs)]
    base, cand = names[0], names[1]
    lines = [*table_head(names), *(scenario_row(s, runs, names) for s in scenarios), ""]
    if len(names) > 2:
        lines += [ahead_line(scenarios, runs, names), ""]
    lines += [
        "| server | idle RSS (median) | processes | startup to first response (median) |",
        "|---|--:|--:|--:|",
        *server_rows(runs, names),
        "",
        f"Idle RSS target ({cand} ≤ {base}): {rss_verdict(runs, base, cand)}.",
    ]
    notes = anomalies(runs)
    if notes:
        lines += ["", "Anomalies:", *notes]
    return lines


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPUs, {model}, Linux {platform.release()}"


def versions(server_versions: Sequence[str]) -> str:
    """Python, the servers' own versions as they report them, the libraries of .venv, and wrk."""
    found = []
    for name in ("uvicorn", "uvloop", "httptools", "h11", "websockets"):
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    wrk = subprocess.run([bench.WRK, "--version"], capture_output=True, text=True, check=False, timeout=10)
    wrk_version = (wrk.stdout or wrk.stderr).split("[", 1)[0].strip()
    return ", ".join([f"Python {platform.python_version()}", *server_versions, *found, wrk_version])


def report(options: bench.Options, command: str, server_versions: Sequence[str]) -> str:
    runs = options.runs
    steal = max((r.steal_pct for r in runs), default=0.0)
    lines = [
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC with `{command}`.",
        "",
        f"- Machine: {machine()}.",
        f"- Versions: {versions(server_versions)}.",
        f"- {options.rounds} interleaved round(s) x {options.duration} s per scenario after a "
        f"{bench.WARMUP_SECONDS} s warm-up; hypervisor steal at most {steal:.0f} % in any run.",
        "",
        *tables(options.scenarios, runs, [seat.name for seat in options.seats]),
    ]
    return "\n".join(lines)
