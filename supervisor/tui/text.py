"""`serve status` without --json: a snapshot as plain aligned text, for terminals and scripts alike.

Text from apps and files (error messages, paths) passes formats.terminal_text: no control
character reaches the terminal, and each further line of a message is indented beneath its first.
"""

from __future__ import annotations

from supervisor.status.figures import STATUS_CLASSES
from supervisor.status.snapshot import AppStatus, Snapshot, WorkerStatus
from supervisor.tui.formats import sparkline, terminal_lines, terminal_text

_MIB = 1024 * 1024


def describe(snapshot: Snapshot) -> str:
    """Every app, its workers beneath it, and the latest events."""
    lines = [
        f"master {snapshot.master_pid} · {terminal_text(snapshot.config_path)} · up {_duration(snapshot.uptime_s)}"
        f" · {snapshot.requests_per_s:.1f} req/s",
        "",
    ]
    for app in snapshot.apps:
        lines.extend(_app(app))
    if snapshot.events:
        lines.append("recent events:")
        for event in snapshot.events[-8:]:
            lines.extend(_message(f"  {event.kind.value:<14} ", event.message))
    return "\n".join(lines).rstrip() + "\n"


def _app(app: AppStatus) -> list[str]:
    latency = _latency(app.p50_ms, app.p99_ms)
    lines = [
        f"{app.name}  {app.state.value}  generation {app.generation}  "
        f"workers {app.workers_ready}/{app.workers_desired}  {app.requests_total} requests  "
        f"{app.requests_per_s:.1f} req/s  {app.active_connections} conns  {_h2(app, app)}{latency}  "
        f"{app.rss_bytes / _MIB:.0f} MiB  restarts {app.restarts}",
        f"  binds: {terminal_text(', '.join(app.binds)) or '-'}",
        *_responses(app),
        *_trend(app),
    ]
    if app.exits:
        lines.append("  exits: " + ", ".join(f"{why} {count}" for why, count in sorted(app.exits.items())))
    if app.last_error:
        lines.extend(_message("  last error: ", app.last_error))
    lines.extend(_worker(worker, _h2(app, worker)) for worker in app.workers)
    lines.append("")
    return lines


def _message(label: str, text: str) -> list[str]:
    """`text` after `label`, its further lines indented beneath the first."""
    first, *more = terminal_lines(text.rstrip("\n"))
    return [label + first, *(" " * len(label) + line for line in more)]


def _worker(w: WorkerStatus, h2: str) -> str:
    return (
        f"  pid {w.pid:<7} {w.state.value:<9} gen {w.generation:<3} age {_duration(w.age_s):>7}  "
        f"{w.requests:>8} requests  {w.rss_bytes / _MIB:6.1f} MiB  {w.cpu_percent:5.1f}% cpu  "
        f"{w.requests_per_s:7.1f} req/s  {w.active_connections:>4} conns  {h2}{_latency(w.p50_ms, w.p99_ms)}"
    )


def _h2(app: AppStatus, figures: AppStatus | WorkerStatus) -> str:
    """HTTP/2 connections and streams open, and limits clients broke, for an app that offers HTTP/2 only."""
    if not app.serves_http2:
        return ""
    return (
        f"{figures.h2_connections} h2 conns  {figures.h2_streams} h2 streams  "
        f"{figures.h2_limits_exceeded} h2 limits broken  "
    )


def _latency(p50_ms: float | None, p99_ms: float | None) -> str:
    return "-" if p50_ms is None else f"p50 {p50_ms:.1f} ms · p99 {p99_ms or 0:.1f} ms"


def _responses(app: AppStatus) -> list[str]:
    """Responses by status class: per second over ten seconds, then counted since the start."""
    if len(app.status_rates) != STATUS_CLASSES or len(app.status_classes) != STATUS_CLASSES:
        return []  # an older master's snapshot
    rates = "  ".join(f"{i + 1}xx {app.status_rates[i]:.1f}/s" for i in (1, 3, 4))
    counts = " · ".join(f"{i + 1}xx {app.status_classes[i]}" for i in (1, 3, 4))
    alarm = "  <- server errors" if app.status_rates[4] > 0 else ""
    return [f"  responses: {rates} (last 10 s); since the start: {counts}{alarm}"]


def _trend(app: AppStatus) -> list[str]:
    """The last minute, as the dashboard's sparklines."""
    if not app.history_requests_per_s:
        return []
    peak = max(app.history_requests_per_s)
    p99s = [p99 for p99 in app.history_p99_ms if p99 is not None]
    p99_peak = f"peak {max(p99s):.1f} ms" if p99s else "no responses"
    seconds = len(app.history_requests_per_s)
    return [
        f"  req/s, last {seconds} s: {sparkline(app.history_requests_per_s)} peak {peak:.1f}",
        f"  p99, last {seconds} s:   {sparkline(app.history_p99_ms)} {p99_peak}",
    ]


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
