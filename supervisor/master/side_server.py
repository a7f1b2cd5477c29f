"""The accepting socket behind the control socket and the HTTP endpoints, living within the descriptor budget.

`SideServer` serves short request/reply exchanges inside the master's loop:

- non-blocking both ways: a request is read as it arrives (bounded), a reply is buffered and
  written as the socket accepts it, so a client that never reads costs memory for one reply
  and a descriptor until its deadline, never a stall of the loop;
- every client has a deadline (the whole request within `request_timeout`, the whole reply
  drained within `reply_timeout`); the owner's loop calls `expire(now)` each turn and sleeps
  no longer than `next_deadline()`;
- at most `cap` clients at once: at the cap the listening socket is not watched, so further
  connections wait in the kernel's backlog until a client leaves (a burst of scrapers is
  served late rather than refused, and a full server costs no descriptor per attempt);
  with `evict_after` set (the HTTP endpoints), a client that has been connected that long
  without sending a whole request makes room, the longest such first: a probe sends its
  request at once, so idle connections cannot hold a kubelet's probe past its timeout;
- when fewer than `reserve` descriptors remain, a connection is accepted, told why in one
  best-effort write, and closed at once: the reserve is kept for forking and for the
  control socket (which runs with a smaller reserve of its own);
- EMFILE, ENFILE, ENOBUFS or ENOMEM from accept() stops watching the listening socket for
  ACCEPT_PAUSE_S, then accepting resumes (as asyncio does): the connection stays in the
  backlog, and a level-triggered selector would otherwise report it again at once, forever.

Every client descriptor is unregistered before its socket is closed (reactor.py says why).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import resource
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from supervisor.master.fdbudget import FdBudget
from supervisor.master.reactor import READ, WRITE, Watch

logger = logging.getLogger("serve.error")

ACCEPT_PAUSE_S = 1.0
ACCEPT_BATCH = 16  # connections taken per readable event, so one listener cannot hog a turn

# accept() failing for want of descriptors or memory: pause, the pending connection stays queued.
_EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
# accept() failing for this one connection only (it was reset, or a firewall refused it): take the next.
_ONE_LOST = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.EPERM})


@dataclass(eq=False)
class SideClient:
    """One accepted connection, from accept() until it is closed."""

    sock: socket.socket
    fd: int  # kept: sock.fileno() is -1 once closed
    deadline: float | None  # None: held, the owner answers it within its own bound
    since: float = 0.0  # when it was accepted
    received: bytearray = field(default_factory=bytearray)
    outgoing: memoryview | None = None  # the reply's unwritten rest
    complete: bool = False  # the whole request arrived: what comes after is not read into `received`
    held: bool = False
    closed: bool = False

    def fileno(self) -> int:
        return self.fd


class SideServer:
    """A listening socket and its clients in the master's loop; subclasses parse requests.

    A subclass implements `_received(client, now)`, called whenever more of a request
    arrived, and answers with `_send(client, data, now)`, which writes the reply and closes.
    """

    def __init__(
        self,
        sock: socket.socket,
        watch: Watch,
        *,
        name: str,
        cap: int,
        reserve: int,
        budget: FdBudget | None,
        request_bytes: int,
        request_timeout: float,
        reply_timeout: float,
        evict_after: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sock = sock
        self.sock.setblocking(False)
        self.listen_fd = sock.fileno()
        self.watch = watch
        self.name = name
        self.cap = cap
        self.reserve = reserve
        self.budget = budget if budget is not None else FdBudget(clock=clock)
        self.request_bytes = request_bytes
        self.request_timeout = request_timeout
        self.reply_timeout = reply_timeout
        self.evict_after = evict_after
        self.clock = clock
        self.clients: dict[int, SideClient] = {}
        self.paused_until: float | None = None
        self.expired = 0  # clients closed at their deadline
        self.evicted = 0  # idle clients closed to make room at the cap
        self.refused = 0  # connections closed at once, short of descriptors
        self.pauses = 0  # accept() failures that paused accepting
        self._listening: int | None = None  # the events the listener is watched for; None: not watched
        self._shy = False  # a warning about descriptors was logged; quiet until a client is accepted again
        self._shut = False
        self._arm()

    # --- for the owner's loop ------------------------------------------------------------

    def fileno(self) -> int:
        return self.listen_fd

    def next_deadline(self) -> float | None:
        """The earliest moment `expire` has something to do, or None."""
        deadlines = [c.deadline for c in self.clients.values() if c.deadline is not None]
        if self.paused_until is not None:
            deadlines.append(self.paused_until)
        if self._listening == 0 and (idle := self._idlest()) is not None and self.evict_after is not None:
            deadlines.append(idle.since + self.evict_after)  # full: the moment it may make room
        return min(deadlines, default=None)

    def expire(self, now: float) -> None:
        """Close the clients past their deadline; resume accepting after a pause."""
        for client in [c for c in self.clients.values() if c.deadline is not None and c.deadline <= now]:
            self.expired += 1
            if client.outgoing is not None:
                # Abort (RST) rather than close: the kernel would otherwise keep the unsent
                # rest, and the client would see a short reply end like a whole one.
                with contextlib.suppress(OSError):
                    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self._close(client)
        if self.paused_until is not None and now >= self.paused_until:
            self.paused_until = None
        self._arm()

    def shut(self) -> None:
        """Close every client (with a last best-effort write from `_last_words`) and the listening socket."""
        self._shut = True
        for client in list(self.clients.values()):
            _try_send(client.sock, self._last_words(client) if client.outgoing is None else bytes(client.outgoing))
            self._close(client)
        self.watch.forget(self.listen_fd)
        self.sock.close()

    def replace_listener(self, sock: socket.socket) -> None:
        """Serve on `sock` from now on (the old listening socket is forgotten, then closed); clients stay."""
        sock.setblocking(False)
        self.watch.forget(self.listen_fd)
        self.sock.close()
        self.sock, self.listen_fd = sock, sock.fileno()
        self._listening = None
        self._arm()

    # --- for subclasses ------------------------------------------------------------------

    def _received(self, client: SideClient, now: float) -> None:
        raise NotImplementedError

    def _refusal(self) -> bytes:
        """What a connection refused for want of descriptors is told (best effort)."""
        return b""

    def _last_words(self, client: SideClient) -> bytes:
        """What a client still waiting for its reply is told when the server shuts (best effort)."""
        return b""

    def _left(self, client: SideClient) -> None:
        """The peer closed after its whole request arrived, before its reply was written."""

    def _send(self, client: SideClient, data: bytes, now: float) -> None:
        """Write `data` as the socket takes it, then close; a reply not drained by its deadline is dropped."""
        if client.closed or client.outgoing is not None:
            return
        client.complete = True
        client.outgoing = memoryview(data)
        client.deadline = now + self.reply_timeout
        self._flush(client)
        if not client.closed:
            self.watch.modify(client.fd, WRITE)

    def _close(self, client: SideClient) -> None:
        if client.closed:
            return
        client.closed = True
        self.clients.pop(client.fd, None)
        self.watch.forget(client.fd)  # before the close: reactor.py says why
        client.sock.close()
        self._arm()

    # --- handlers ------------------------------------------------------------------------

    def _arm(self) -> None:
        """Watch the listening socket while accepting is allowed: not paused, not full, not shut."""
        if self._shut:
            return
        events = READ if self.paused_until is None and (len(self.clients) < self.cap or self._evictable()) else 0
        if events != self._listening:
            self.watch.watch(self.listen_fd, events, self._accept, name=self.name, on_error=self._accept_failed)
            self._listening = events

    def _idlest(self) -> SideClient | None:
        """The client connected longest without a whole request (not held, nothing to write)."""
        waiting = [c for c in self.clients.values() if not c.complete and c.outgoing is None and not c.held]
        return min(waiting, key=lambda client: client.since, default=None)

    def _evictable(self) -> SideClient | None:
        """The idle client that may make room for a new one now, if eviction is on."""
        if self.evict_after is None:
            return None
        idle = self._idlest()
        return idle if idle is not None and self.clock() - idle.since >= self.evict_after else None

    def _accept(self, _events: int) -> None:
        now = self.clock()
        for _ in range(ACCEPT_BATCH):
            if self.paused_until is not None:
                break
            if len(self.clients) >= self.cap:
                idle = self._evictable()
                if idle is None:
                    break
                self.evicted += 1
                self._close(idle)
            short = self.budget.remaining() <= self.reserve
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                break
            except OSError as error:
                if error.errno in _ONE_LOST:
                    continue
                self._pause(now, error)
                break
            if short:
                self._refuse(conn)
            else:
                self.budget.spent()
                self._admit(conn, now)
        self._arm()

    def _admit(self, conn: socket.socket, now: float) -> None:
        self._shy = False
        conn.setblocking(False)
        client = SideClient(conn, conn.fileno(), deadline=now + self.request_timeout, since=now)
        self.clients[client.fd] = client
        self.watch.watch(
            client.fd,
            READ,
            lambda events: self._ready(client, events),
            name=f"a client of the {self.name}",
            on_error=lambda: self._close(client),
        )

    def _refuse(self, conn: socket.socket) -> None:
        self.refused += 1
        if not self._shy:
            self._shy = True
            logger.warning(
                "The %s turns clients away: fewer than %d file descriptors are left (RLIMIT_NOFILE %d); they "
                "are kept for workers. Raise `ulimit -n` (LimitNOFILE= under systemd) or find who holds them.",
                self.name, self.reserve, resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            )  # fmt: skip
        with conn:
            conn.setblocking(False)
            _try_send(conn, self._refusal())

    def _pause(self, now: float, error: OSError) -> None:
        self.pauses += 1
        self.paused_until = now + ACCEPT_PAUSE_S
        if not self._shy:
            self._shy = True
            logger.warning(
                "The %s cannot accept (%s); it stops accepting for %g s at a time until it can.",
                self.name, os.strerror(error.errno or 0), ACCEPT_PAUSE_S,
            )  # fmt: skip

    def _accept_failed(self) -> None:
        # The reactor dropped the listener after its handler raised (logged there): watch it
        # again after a pause, so one bug cannot end the endpoint, nor spin the loop.
        self._listening = None
        self.pauses += 1
        self.paused_until = self.clock() + ACCEPT_PAUSE_S

    def _ready(self, client: SideClient, events: int) -> None:
        if events & WRITE:
            self._flush(client)
        if events & READ and not client.closed:
            self._read(client)

    def _read(self, client: SideClient) -> None:
        try:
            data = client.sock.recv(self.request_bytes)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            waiting = client.complete and client.outgoing is None
            self._close(client)
            if waiting:
                self._left(client)
        elif not client.complete:
            client.received += data
            self._received(client, self.clock())
        # else: bytes after a whole request are read only to notice the peer leaving, and dropped

    def _flush(self, client: SideClient) -> None:
        view = client.outgoing
        while view:
            try:
                sent = client.sock.send(view)
            except (BlockingIOError, InterruptedError):
                client.outgoing = view
                return
            except OSError:  # the client left: nothing more to tell it
                break
            view = view[sent:]
        self._close(client)


def _try_send(sock: socket.socket, data: bytes) -> None:
    """One non-blocking write, for a message that fits an empty socket buffer; failures are ignored."""
    if data:
        with contextlib.suppress(OSError):
            sock.send(data)
