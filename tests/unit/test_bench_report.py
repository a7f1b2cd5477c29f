"""scripts/bench's pure parts: per-round ratios, seat rotation, granian's command line, the results table."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.append(str(SCRIPTS))  # the bench scripts import each other as top-level modules
bench: Any = importlib.import_module("bench")
bench_report: Any = importlib.import_module("bench_report")

SCENARIOS = {s.name: s for s in bench.SCENARIOS}
THREE = ["uvicorn", "serve", "granian"]


def run(scenario: str, server: str, rate: float, round_index: int = 0, **extra: Any) -> Any:
    fields: dict[str, Any] = {
        "round": round_index,
        "scenario": scenario,
        "server": server,
        "rate": rate,
        "requests": int(rate),
        "errors": 0,
        "non_2xx": 0,
        "p99_ms": 1.0,
        "cpu_us": 1e6 / rate if rate else float("nan"),
        "startup_s": 0.2,
        "rss": 30 * bench.MiB,
        "processes": 1,
        "steal_pct": 0.0,
        "quiet": True,
    }
    return bench.Run(**(fields | extra))


def rounds(scenario: str, server: str, *rates: float, **extra: Any) -> list[Any]:
    return [run(scenario, server, rate, i, **extra) for i, rate in enumerate(rates)]


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def test_ratios_pair_runs_of_the_same_round_only() -> None:
    runs = [
        *rounds("hello", "uvicorn", 100.0, 200.0, 0.0),
        *rounds("hello", "serve", 150.0, 300.0, 50.0),
        run("hello", "serve", 999.0, round_index=3),  # its uvicorn run is missing: no ratio
        run("echo", "uvicorn", 1.0),  # another scenario: ignored
    ]
    assert bench_report.paired_ratios(runs, "hello", "serve", "uvicorn") == [1.5, 1.5]  # round 3 skipped (rate 0)
    assert bench_report.paired_ratios(runs, "big", "serve", "uvicorn") == []


def test_ahead_compares_the_median_of_per_round_ratios() -> None:
    runs = [*rounds("hello", "serve", 110.0, 90.0, 120.0), *rounds("hello", "granian", 100.0, 100.0, 100.0)]
    assert bench_report.ahead(runs, "hello", "serve", "granian") is True
    assert bench_report.ahead(runs, "hello", "granian", "serve") is False
    assert bench_report.ahead(runs, "h11", "serve", "granian") is None


def test_seat_order_rotates_so_each_server_goes_first_in_turn() -> None:
    seats = ("uvicorn", "serve", "granian")
    firsts = [bench.seat_order(seats, round_index, 0)[0] for round_index in range(3)]
    assert firsts == ["uvicorn", "serve", "granian"]
    assert bench.seat_order(seats, 1, 1) == ("granian", "uvicorn", "serve")  # the scenario shifts it too
    pair = ("uvicorn", "serve")
    assert [bench.seat_order(pair, 0, p) for p in range(2)] == [pair, pair[::-1]]  # two seats alternate


def test_granian_command_matches_uvicorns_options() -> None:
    granian = bench.Granian("granian", ("/venv/bin/granian",))
    argv = granian.command(SCENARIOS["hello-close"], 8123)
    assert argv[0] == "/venv/bin/granian"
    assert argv[-1] == "bench_apps:hello"
    flags = " ".join(argv)
    for option in ("--interface asgi", "--workers 1", "--loop uvloop", "--http 1", "--port 8123", "--no-access-log"):
        assert option in flags
    assert "--log-level warning" in flags
    assert "--ws" not in argv
    assert "--ws" in granian.command(SCENARIOS["ws"], 8123)
    assert [s.name for s in bench.SCENARIOS if not granian.serves(s)] == ["h11", "fastapi"]
    assert all(bench.Contestant("serve", ("serve", "run")).serves(s) for s in bench.SCENARIOS)


def test_table_without_granian_keeps_the_two_server_layout() -> None:
    runs = [*rounds("hello", "uvicorn", 100.0, 100.0), *rounds("hello", "serve", 150.0, 170.0)]
    lines = bench_report.tables([SCENARIOS["hello"]], runs, ["uvicorn", "serve"])
    text = "\n".join(lines)
    assert "granian" not in text
    assert "ahead of" not in text
    assert len(cells(lines[0])) == len(cells(lines[1])) == 9
    row = cells(lines[2])
    assert row[1:5] == ["100", "160", "**1.60x**", "1.50 1.70"]
    assert row[6] == "yes"  # 1.60x against a target of 1.3x
    assert [cells(line)[0] for line in lines if line.startswith(("| uvicorn |", "| serve |"))] == ["uvicorn", "serve"]
    assert "Idle RSS target (serve ≤ uvicorn): met." in lines


def test_table_with_granian_adds_its_columns_verdicts_and_server_row() -> None:
    hello, h11 = SCENARIOS["hello"], SCENARIOS["h11"]
    runs = [
        *rounds("hello", "uvicorn", 100.0, 100.0),
        *rounds("hello", "serve", 150.0, 150.0),
        *rounds("hello", "granian", 120.0, 130.0, processes=2),
        *rounds("h11", "uvicorn", 10.0, 10.0),
        *rounds("h11", "serve", 20.0, 20.0),
    ]
    lines = bench_report.tables([hello, h11], runs, THREE)
    head, rule, hello_row, h11_row = (cells(line) for line in lines[:4])
    assert len(head) == len(rule) == len(hello_row) == len(h11_row) == 14
    assert head[9:] == [
        "granian req/s",
        "granian / uvicorn",
        "per round",
        "serve ahead of granian (serve / granian)",
        "granian CPU µs/req",
    ]
    assert hello_row[9:13] == ["125", "**1.25x**", "1.20 1.30", "yes (1.20x)"]
    assert h11_row[9:] == ["—"] * 5  # granian has no h11 parser
    assert "serve ahead of granian (median of the per-round serve / granian ratios above 1.00): " in lines[5]
    assert lines[5].endswith("1 of the 1 scenarios granian ran.")
    granian_row = next(cells(line) for line in lines if line.startswith("| granian"))
    assert granian_row[2] == "2"  # its main process and its worker


def test_granian_behind_is_said_so() -> None:
    runs = [
        *rounds("hello-close", "uvicorn", 100.0),
        *rounds("hello-close", "serve", 120.0),
        *rounds("hello-close", "granian", 160.0),
    ]
    lines = bench_report.tables([SCENARIOS["hello-close"]], runs, THREE)
    assert cells(lines[2])[12] == "no (0.75x)"
    assert lines[4].endswith("0 of the 1 scenarios granian ran.")


def test_granian_named_but_never_run_gets_no_column() -> None:
    runs = [*rounds("h11", "uvicorn", 10.0), *rounds("h11", "serve", 20.0)]
    lines = bench_report.tables([SCENARIOS["h11"]], runs, THREE)
    assert "granian" not in "\n".join(lines)
    assert len(cells(lines[0])) == 9


def test_anomalies_name_errors_and_noisy_runs() -> None:
    runs = [
        run("hello", "uvicorn", 100.0),
        run("hello", "serve", 150.0, errors=3),
        run("hello", "granian", 120.0, steal_pct=40.0),
    ]
    lines = bench_report.tables([SCENARIOS["hello"]], runs, THREE)
    assert "- hello, serve, round 1: 3 socket errors, 0 non-2xx responses" in lines
    assert any(line.startswith("- 1 of 3 runs stayed noisy") for line in lines)
