"""Count the CPU instructions a request costs on the hot path, with valgrind: a figure that noise cannot move.

Run: .venv/bin/python tests/unit/server/hotpath_instructions.py [--scenario close|hello] [--floor]
(needs valgrind: `apt-get install -y valgrind`)

Drives the same in-process harness as hotpath_timing.py (HttpConnection over a fake
transport, uvloop, httptools) under callgrind twice, with 40 and with 240 rounds of 64
requests, and prints the difference divided by the 12,800 requests between them: startup,
imports and warm-up cancel out, and with PYTHONHASHSEED fixed the count repeats to within
a few instructions. So a change of 0.5 % shows, on a machine busy with other work, where
timings would not. `--floor` counts the least ASGI server of scripts/bench_floor.py
(`MinimalAsgi`) in the same harness instead. Instructions are not time (cache misses and
branch mispredictions are not in them), so a gain found here is then measured over sockets
(docs/benchmarks.md). Not a pytest module: it measures, it does not assert.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE.parents[2] / "scripts"
ROUNDS = (40, 240)  # of 64 requests each: the count is the difference between the two runs


def _drive(scenario: str, rounds: int, floor: bool) -> None:
    """The measured work, run inside valgrind: warm up, then `rounds` rounds of the scenario."""
    import uvloop

    sys.path.insert(0, str(HERE))
    import hotpath_timing

    loop = uvloop.new_event_loop()
    if floor:
        sys.path.insert(0, str(SCRIPTS))
        run = _floor_runner()
        loop.run_until_complete(run(8))
        loop.run_until_complete(run(rounds * hotpath_timing.CONNECTIONS // hotpath_timing.CLOSE_CONNECTIONS))
        return
    request = hotpath_timing.CLOSE if scenario == "close" else hotpath_timing.GET
    loop.run_until_complete(hotpath_timing._run(hotpath_timing.hello, request, "httptools", 8))
    loop.run_until_complete(hotpath_timing._run(hotpath_timing.hello, request, "httptools", rounds))


def _floor_runner() -> Callable[[int], Coroutine[Any, Any, None]]:
    """Rounds of 16 `Connection: close` connections answered by bench_floor's MinimalAsgi."""
    import bench_floor  # type: ignore[import-not-found]  # scripts/, put on sys.path by _drive
    import hotpath_timing
    from fake_transport import FakeTransport

    async def run(rounds: int) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(rounds):
            transports = []
            for index in range(hotpath_timing.CLOSE_CONNECTIONS):
                transport = FakeTransport(loop, peer=("127.0.0.1", 40000 + index))
                transport.connect(bench_floor.MinimalAsgi())
                transport.protocol.data_received(hotpath_timing.CLOSE)  # type: ignore[union-attr]
                transports.append(transport)
            while not all(transport.lost for transport in transports):
                await asyncio.sleep(0)
            for transport in transports:
                transport.protocol = None

    return run


def _instructions(scenario: str, rounds: int, floor: bool) -> int:
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--drive",
        str(rounds),
        "--scenario",
        scenario,
        *(["--floor"] if floor else []),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True, timeout=900)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise SystemExit(f"no instruction count in valgrind's output:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=("close", "hello"), default="close")
    parser.add_argument("--floor", action="store_true", help="bench_floor's MinimalAsgi (close) instead of serve")
    parser.add_argument("--drive", type=int, help=argparse.SUPPRESS)  # inside valgrind: run this many rounds
    args = parser.parse_args()
    if args.drive is not None:
        _drive(args.scenario, args.drive, args.floor)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind not found: apt-get install -y valgrind")
    low, high = (_instructions(args.scenario, rounds, args.floor) for rounds in ROUNDS)
    requests = (ROUNDS[1] - ROUNDS[0]) * 64
    name = "floor (MinimalAsgi)" if args.floor else f"serve {args.scenario}"
    print(f"{name}: {(high - low) / requests:,.0f} instructions a request")


if __name__ == "__main__":
    main()
