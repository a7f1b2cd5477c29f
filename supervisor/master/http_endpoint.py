"""A tiny HTTP responder inside the master's loop: /metrics, /livez, /readyz.

The master is single-threaded and forks, so these endpoints are not a server of their own:
the listening socket and each connection are watched by the master's loop (a `Watch`), a
request head is read as it arrives, answered from the master's current state, and the
connection closed (one request per connection, `Connection: close`). The reply is written
as the client takes it. side_server.SideServer bounds what a client may cost: REQUEST_TIMEOUT_S
to send its request, REPLY_TIMEOUT_S to read its reply, CLIENT_CAP clients at once, and none
accepted while fewer than DESCRIPTOR_RESERVE descriptors remain. The probes and scrapers that
call these (Prometheus, kubelet) are on a trusted network by configuration, not the app's port.

`serve upgrade` (master/upgrade.py, master/handover.py) moves a listening socket from one
master to the next without a moment in which the address refuses a probe: the new master
builds its endpoint on the socket it was handed, in standby (not accepting, its unix file
not its own) until it takes over; it accepts from then on, and the old master, told so,
stops accepting (`hand_over`). Connections waiting in the kernel's queue of the shared
socket are taken by whichever master accepts; a client the old master had accepted, whose
request is still arriving, is answered as the old master would have answered at the hand
over, not "stopping" (its drain has nothing to do with the new master's readiness).
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus

from supervisor import sockets
from supervisor.config.convert import Bind, UnixBind
from supervisor.master.fdbudget import FdBudget
from supervisor.master.reactor import Watch
from supervisor.master.side_server import SideClient, SideServer

MAX_REQUEST_BYTES = 8192
REQUEST_TIMEOUT_S = 5.0
REPLY_TIMEOUT_S = 5.0  # a /metrics page is some kilobytes: a scraper that reads takes it at once
CLIENT_CAP = 64  # per endpoint; more wait in the backlog until one leaves
# At the cap, a client silent this long (a probe sends its request at once) makes room for a
# new one: idle connections must not hold a kubelet probe (1 s timeout) to REQUEST_TIMEOUT_S.
EVICT_AFTER_S = 0.25
DESCRIPTOR_RESERVE = 32  # left for forking workers (a pipe each) and for the control socket
BACKLOG = 64
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 §5.6.2: what a method may be
_VERSION = re.compile(r"HTTP/[0-9]\.[0-9]")

# path -> (status, content type, body)
Route = Callable[[], tuple[int, str, bytes]]


class HttpEndpoint(SideServer):
    """Answers GET (and HEAD) for a fixed set of paths on one listening socket."""

    def __init__(
        self,
        bind: Bind,
        routes: dict[str, Route],
        watch: Watch,
        *,
        budget: FdBudget | None = None,
        cap: int = CLIENT_CAP,
        reserve: int = DESCRIPTOR_RESERVE,
        request_timeout: float = REQUEST_TIMEOUT_S,
        reply_timeout: float = REPLY_TIMEOUT_S,
        evict_after: float | None = EVICT_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
        sock: socket.socket | None = None,
        standby: bool = False,
    ) -> None:
        """`sock`: a socket already listening on `bind` (handed over by `serve upgrade`), not bound again.
        `standby`: accept nobody, and leave a unix socket's file alone, until `take_over()`."""
        self.bind = bind
        self.routes = routes
        self.standby = standby  # set before the base class arms the listener: `_arm` reads it
        self.owns_file = not standby  # a unix socket's file is removed at close
        super().__init__(
            sock if sock is not None else sockets.open_listener(bind, backlog=BACKLOG),
            watch,
            name=f"endpoint {bind} ({' '.join(sorted(routes))})",
            cap=cap,
            reserve=reserve,
            budget=budget,
            request_bytes=MAX_REQUEST_BYTES,
            request_timeout=request_timeout,
            reply_timeout=reply_timeout,
            evict_after=evict_after,
            clock=clock,
        )

    def take_over(self) -> None:
        """This master serves the handed-over socket from now on: accept, and own its file."""
        self.standby = False
        self.owns_file = True
        self._arm()

    def hand_over(self) -> None:
        """A new master accepts on this socket from now on: stop accepting; the clients already
        here get the answers of this moment; the file is the new master's, not removed at close."""
        self.routes = {path: _fixed(route) for path, route in self.routes.items()}
        self.owns_file = False
        self._shut = True  # never watched again
        self.watch.forget(self.listen_fd)

    def close(self) -> None:
        """Close every client and the listening socket; remove a unix socket's file if it is this master's."""
        self.shut()
        if isinstance(self.bind, UnixBind) and self.owns_file:
            sockets.unlink(self.bind.path)

    def _arm(self) -> None:
        if not self.standby:
            super()._arm()

    def _received(self, client: SideClient, now: float) -> None:
        head = client.received
        if b"\r\n\r\n" not in head and b"\n\n" not in head:
            if len(head) > MAX_REQUEST_BYTES:
                self._send(
                    client, _response(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "text/plain", b"too large\n"), now
                )
            return
        self._send(client, self._respond(bytes(head)), now)

    def _respond(self, head: bytes) -> bytes:
        # RFC 9112 §2.2: empty lines before the request line are skipped.
        line = next((line for line in head.split(b"\n") if line.strip()), b"")
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not _VERSION.fullmatch(parts[2]):
            # RFC 9112 §3: not a request line at all; a 405 would say the method was understood.
            return _response(HTTPStatus.BAD_REQUEST, "text/plain", b"bad request line\n")
        if parts[0] not in ("GET", "HEAD"):
            # RFC 9110 §15.5.6: a 405 names the methods that are allowed
            return _response(HTTPStatus.METHOD_NOT_ALLOWED, "text/plain", b"GET only\n", headers="allow: GET, HEAD\r\n")
        route = self.routes.get(parts[1].split("?", 1)[0])
        if route is None:
            known = " ".join(sorted(self.routes))
            return _response(HTTPStatus.NOT_FOUND, "text/plain", f"not found; try {known}\n".encode())
        status, content_type, body = route()
        if parts[0] == "HEAD":
            return _response(status, content_type, b"", length=len(body))
        return _response(status, content_type, body)

    def _refusal(self) -> bytes:
        return _response(HTTPStatus.SERVICE_UNAVAILABLE, "text/plain", b"the master is short of file descriptors\n")


def _fixed(route: Route) -> Route:
    """`route`'s answer now, from now on; `route` itself if it fails now (it is then answered live)."""
    try:
        answer = route()
    except Exception:  # the hand over must go on; a live route fails as it would have
        return route
    return lambda: answer


def _response(status: int, content_type: str, body: bytes, *, length: int | None = None, headers: str = "") -> bytes:
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\ndate: {formatdate(usegmt=True)}\r\nserver: serve\r\n"
        f"content-type: {content_type}\r\ncontent-length: {len(body) if length is None else length}\r\n"
        f"{headers}connection: close\r\n\r\n"
    ).encode("latin-1")
    return head + body
