"""`serve status` without --json: a snapshot as plain aligned text, for terminals and scripts alike.

May import: status/ and the standard library.
"""

from __future__ import annotations

from supervisor.status.snapshot import AppStatus, Snapshot

_MIB = 1024 * 1024


def describe(snapshot: Snapshot) -> str:
    """Every app, its workers beneath it, and the latest events."""
    lines = [
        f"master {snapshot.master_pid} · {snapshot.config_path} · up {_duration(snapshot.uptime_s)}"
        f" · {snapshot.requests_per_s:.1f} req/s",
        "",
    ]
    for app in snapshot.apps:
        lines.extend(_app(app))
    if snapshot.events:
        lines.append("recent events:")
        lines.extend(f"  {event.kind.value:<14} {event.message}" for event in snapshot.events[-8:])
    return "\n".join(lines).rstrip() + "\n"


def _app(app: AppStatus) -> list[str]:
    latency = "-" if app.p50_ms is None else f"p50 {app.p50_ms:.1f} ms · p99 {app.p99_ms or 0:.1f} ms"
    lines = [
        f"{app.name}  {app.state.value}  generation {app.generation}  "
        f"workers {app.workers_ready}/{app.workers_desired}  {app.requests_total} requests  "
        f"{app.requests_per_s:.1f} req/s  {app.active_connections} conns  {latency}  "
        f"{app.rss_bytes / _MIB:.0f} MiB  restarts {app.restarts}",
        f"  binds: {', '.join(app.binds) or '-'}",
    ]
    if app.exits:
        lines.append("  exits: " + ", ".join(f"{why} {count}" for why, count in sorted(app.exits.items())))
    if app.last_error:
        lines.append(f"  last error: {app.last_error}")
    lines.extend(
        f"  pid {w.pid:<7} {w.state.value:<9} gen {w.generation:<3} age {_duration(w.age_s):>7}  "
        f"{w.requests:>8} requests  {w.rss_bytes / _MIB:6.1f} MiB  {w.cpu_percent:5.1f}% cpu"
        for w in app.workers
    )
    lines.append("")
    return lines


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
