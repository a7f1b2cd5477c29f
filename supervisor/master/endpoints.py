"""The master's HTTP endpoints: opened from the file or taken over from a predecessor, handed to a successor.

`[server] metrics_bind` and `health_bind` each become one master/http_endpoint.py endpoint
(one for both when they share an address), answering what master/probes.py computes. A master
started by `serve upgrade` serves, at an address its predecessor already listens on, the socket
handed over (master/handover.py) instead of binding it again: in standby until this master
takes over, so that the old master answers every probe until then and this one after.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator

from supervisor.config.schema import ServerSection
from supervisor.master import probes
from supervisor.master.fdbudget import FdBudget
from supervisor.master.handover import Handover
from supervisor.master.http_endpoint import HttpEndpoint
from supervisor.master.reactor import Watch
from supervisor.status.snapshot import Snapshot

logger = logging.getLogger("serve.error")


class Endpoints:
    """Every HTTP endpoint of the master, from `open()` until `close()`."""

    def __init__(self, watch: Watch, budget: FdBudget) -> None:
        self.watch = watch
        self.budget = budget  # shared with the control socket: probes cannot use up the master's descriptors
        self.open_now: list[HttpEndpoint] = []

    def __iter__(self) -> Iterator[HttpEndpoint]:
        return iter(self.open_now)

    def open(
        self,
        server: ServerSection,
        handover: Handover | None,
        *,
        snapshot: Callable[[], Snapshot],
        readiness: Callable[[], probes.Answer],
    ) -> None:
        """One endpoint per address of `server`; on the socket `handover` holds for it, if any (in standby).

        Raises:
            BindError, OSError: an address could not be bound.
        """
        for bind, table in probes.routes(server, snapshot=snapshot, readiness=readiness).items():
            sock = handover.endpoint_socket(bind) if handover is not None else None
            standby = sock is not None
            endpoint = HttpEndpoint(bind, table, self.watch, budget=self.budget, sock=sock, standby=standby)
            self.open_now.append(endpoint)
            logger.info("Serving %s on %s%s", " ".join(sorted(table)), bind, " (once this master takes over)" * standby)
        if handover is not None:  # what no endpoint of this file took is the old master's alone
            handover.close_endpoints()

    def sockets(self) -> dict[str, socket.socket]:
        """Each listening socket by its address ("127.0.0.1:9100", "unix:PATH"): what a new master is handed."""
        return {str(endpoint.bind): endpoint.sock for endpoint in self.open_now}

    def take_over(self) -> None:
        """This master answers the probes from now on (the sockets it was handed stop standing by)."""
        for endpoint in self.open_now:
            endpoint.take_over()

    def hand_over(self) -> None:
        """A new master answers from now on: stop accepting; a probe accepted already hears this moment's answer."""
        for endpoint in self.open_now:
            endpoint.hand_over()

    def close(self) -> None:
        """At exit: every client and listening socket (and unix file this master owns)."""
        for endpoint in self.open_now:
            endpoint.close()
