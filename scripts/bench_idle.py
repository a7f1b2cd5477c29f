"""Memory under many connections: one worker holding N idle keep-alive connections, serve against uvicorn.

May import: the standard library, psutil, bench (scripts/bench.py) and bench_apps.

Run by `scripts/bench --idle-connections N` (docs/benchmarks.md, "Memory per connection").
For each round and server: start the server pinned to CPU 0 with a keep-alive timeout
longer than the run, read its idle RSS, open N connections in batches (each sends one hello
request and reads the answer, so the server holds a connection that has served a request,
as a browser's idle connection is), read the RSS again, and report the growth per
connection. The connections stay open until the reading is taken, then all close.
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import bench
import bench_apps

BATCH = 500  # connections opened at once: well inside both servers' listen backlog (2048)
KEEP_ALIVE_S = 600  # longer than any run: no connection is closed by the server meanwhile
REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
CONNECT_TIMEOUT = 30.0


@dataclass
class IdleRun:
    round: int
    server: str
    idle_rss: int
    held_rss: int
    connections: int

    @property
    def per_connection(self) -> float:
        return (self.held_rss - self.idle_rss) / self.connections


async def _open_one(port: int) -> asyncio.StreamWriter:
    reader, writer = await asyncio.open_connection(bench.HOST, port)
    writer.write(REQUEST)
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise bench.BenchError(f"answered {head[:40]!r}")
    body = await reader.readexactly(len(bench_apps.HELLO_BODY))
    if body != bench_apps.HELLO_BODY:
        raise bench.BenchError(f"body {body!r}")
    return writer


async def _hold(port: int, count: int, server: bench.ServerProcess) -> int:
    """Open `count` answered keep-alive connections, read the server's RSS, close them all."""
    writers: list[asyncio.StreamWriter] = []
    try:
        while len(writers) < count:
            batch = min(BATCH, count - len(writers))
            opened = await asyncio.wait_for(asyncio.gather(*(_open_one(port) for _ in range(batch))), CONNECT_TIMEOUT)
            writers.extend(opened)
        rss, _ = server.rss()
        return rss
    finally:
        for writer in writers:
            writer.close()


def _raise_fd_limit(count: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = count + 256
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise bench.BenchError(f"ulimit -n allows {hard} descriptors; {needed} needed for {count} connections")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def measure(contestant: bench.Contestant, round_index: int, count: int, workdir: Path) -> IdleRun:
    port = bench.free_port()
    scenario = bench.SCENARIOS[0]  # hello: the app and the options every scenario shares
    argv = [*contestant.command(scenario, port), "--timeout-keep-alive", str(KEEP_ALIVE_S)]
    log = workdir / f"idle-{contestant.name}-{round_index}.log"
    with bench.running(argv, log) as server:
        server.wait_ready(port)
        bench.check_hello(port)
        idle_rss, _ = server.rss()
        held_rss = asyncio.run(_hold(port, count, server))
    return IdleRun(round_index, contestant.name, idle_rss, held_rss, count)


def report(runs: list[IdleRun], names: list[str], count: int) -> str:
    lines = [
        f"One worker pinned to CPU 0 holding {count:,} idle keep-alive connections, each having served one hello.",
        "",
        "| server | idle RSS | RSS holding the connections | per connection | per round |",
        "|---|--:|--:|--:|---|",
    ]
    mib = bench.MiB
    for name in names:
        mine = [r for r in runs if r.server == name]
        lines.append(
            f"| {name} | {statistics.median(r.idle_rss for r in mine) / mib:.1f} MiB "
            f"| {statistics.median(r.held_rss for r in mine) / mib:.1f} MiB "
            f"| **{statistics.median(r.per_connection for r in mine) / 1024:.1f} KiB** "
            f"| {' '.join(f'{r.per_connection / 1024:.1f}' for r in mine)} |"
        )
    return "\n".join(lines)


def main(rounds: int, count: int, workdir: Path, pair: tuple[bench.Contestant, bench.Contestant]) -> str:
    _raise_fd_limit(count)
    runs: list[IdleRun] = []
    for round_index in range(rounds):
        order = pair if round_index % 2 == 0 else pair[::-1]
        for contestant in order:
            bench.wait_quiet()
            run = measure(contestant, round_index, count, workdir)
            runs.append(run)
            print(
                f"round {round_index + 1}/{rounds}  idle {count}  {run.server:<8} idle {run.idle_rss / bench.MiB:.1f} MiB"
                f"  held {run.held_rss / bench.MiB:.1f} MiB  {run.per_connection / 1024:.1f} KiB/conn",
                file=sys.stderr,
                flush=True,
            )
    return report(runs, [c.name for c in pair], count)
