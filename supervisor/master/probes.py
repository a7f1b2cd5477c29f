"""What `metrics_bind` and `health_bind` answer: /metrics, /livez and /readyz, from the master's own state.

The answers are pure functions of what the arbiter passes in; master/http_endpoint.py serves
them (non-blocking, one request per connection) from the master's loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from supervisor.config.convert import Bind
from supervisor.config.schema import ServerSection
from supervisor.master.http_endpoint import Route
from supervisor.status import prometheus
from supervisor.status.snapshot import Snapshot

Answer = tuple[int, str, bytes]


def livez() -> Answer:
    """200 whenever the master's loop answers at all."""
    return 200, "text/plain", b"ok: the master's loop answers\n"


def readyz(*, stopping: bool, waiting: Sequence[str]) -> Answer:
    """200 when every app has a ready worker; 503 while one has none, and from the first moment of a stop."""
    if stopping:
        return 503, "text/plain", b"stopping\n"
    if waiting:
        return 503, "text/plain", f"no ready worker yet: {', '.join(waiting)}\n".encode()
    return 200, "text/plain", b"ready: every app has a ready worker\n"


def metrics(snapshot: Snapshot) -> Answer:
    """Every figure of the snapshot in Prometheus' text format."""
    return 200, prometheus.CONTENT_TYPE, prometheus.exposition(snapshot)


def routes(
    server: ServerSection, *, snapshot: Callable[[], Snapshot], readiness: Callable[[], Answer]
) -> dict[Bind, dict[str, Route]]:
    """One table of routes per address: /metrics on metrics_bind, /livez and /readyz on health_bind
    (both tables on one endpoint when the two are the same address)."""
    tables: dict[Bind, dict[str, Route]] = {}
    if server.metrics_bind is not None:
        tables.setdefault(server.metrics_bind, {})["/metrics"] = lambda: metrics(snapshot())
    if server.health_bind is not None:
        tables.setdefault(server.health_bind, {}).update({"/livez": livez, "/readyz": readiness})
    return tables
