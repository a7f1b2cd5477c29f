"""The master's control socket: `serve status|reload|scale|stop` talk to the running master here.

A unix socket (mode 0600: only the master's user may steer it). Each client connection
carries one JSON request line and gets one JSON reply line (supervisor/control.py). The
socket and its clients are watched by the master's loop (a `Watch`); a request is read as
it arrives and handed to the arbiter's `on_request`, which answers with `reply` at once or
later; the reply is written as the client takes it, then the connection is closed.

A reload's reply waits until the new generation is ready or abandoned, so `serve reload` can
say which: the arbiter `hold`s that client, which exempts it from REPLY_TIMEOUT_S (the
arbiter answers within its own bound). A held client that hangs up is closed and reported
to `on_gone`. The control socket has its own cap and a smaller descriptor reserve than the
HTTP endpoints, so probes can neither crowd nor starve it (fdbudget.py).

Given the TOML file it serves, the socket is registered in this user's runtime directory once
bound (registry.py), so `serve status` finds the master without the file; the entry goes with
the socket.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable

from supervisor import registry, sockets
from supervisor.control import Command, MessageError, Reply, decode_request, encode_reply
from supervisor.master.fdbudget import FdBudget
from supervisor.master.reactor import Watch
from supervisor.master.side_server import SideClient, SideServer

logger = logging.getLogger("serve.error")

SOCKET_MODE = 0o600
MAX_REQUEST_BYTES = 65536  # a request is a few dozen bytes; the reply line may be far longer
REQUEST_TIMEOUT_S = 5.0
REPLY_TIMEOUT_S = 5.0  # for the reply to be given (unless held) and, again, to be read
CLIENT_CAP = 32  # `serve top` holds none open between polls; more wait in the backlog (BACKLOG)
DESCRIPTOR_RESERVE = 8  # below the HTTP endpoints' reserve: the operator can still reach the master
# Connections waiting for one of the CLIENT_CAP slots queue here, costing the master no
# descriptor: room for a burst of status polls (scripts, several dashboards) at once. Past it,
# Linux refuses a client's connect with EAGAIN at once, and the client tries again (client.py).
BACKLOG = 128

# One accepted connection, until its reply is written.
ControlClient = SideClient


class ControlServer(SideServer):
    """Owns the listening control socket and its client connections."""

    def __init__(
        self,
        path: str,
        watch: Watch,
        on_request: Callable[[ControlClient, Command], None],
        *,
        on_gone: Callable[[ControlClient], None] | None = None,
        budget: FdBudget | None = None,
        cap: int = CLIENT_CAP,
        reserve: int = DESCRIPTOR_RESERVE,
        request_timeout: float = REQUEST_TIMEOUT_S,
        reply_timeout: float = REPLY_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
        config_path: str | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        """`sock`: an already bound control socket to serve (handed over by `serve upgrade`), not bound again."""
        self.path = path
        self.handed_over = False
        self.config_path = config_path
        self.on_request = on_request
        self.on_gone = on_gone
        self._farewell = encode_reply(Reply.failure("the master is exiting"))
        super().__init__(
            sock if sock is not None else sockets.bind_unix(path, backlog=BACKLOG, mode=SOCKET_MODE),
            watch,
            name=f"control socket {path}",
            cap=cap,
            reserve=reserve,
            budget=budget,
            request_bytes=MAX_REQUEST_BYTES,
            request_timeout=request_timeout,
            reply_timeout=reply_timeout,
            clock=clock,
        )
        self._register()

    def _register(self) -> None:
        if self.config_path is None:
            return
        try:
            registry.register(self.path, self.config_path)
        except OSError as error:  # control commands still work with -c; only the lookup without it is lost
            logger.warning("The control socket is not registered for `serve status` without -c: %s", error)

    def reply(self, client: ControlClient, reply: Reply) -> None:
        """Write the reply without blocking, then close; nothing happens if the client is gone or answered."""
        try:
            line = encode_reply(reply)
        except TypeError:  # a result that is not JSON: the master's bug, told to the client rather than lost
            logger.exception("A control-socket reply could not be encoded: %r", reply)
            line = encode_reply(Reply.failure("the master could not encode its reply (see its log)"))
        self._send(client, line, self.clock())

    def hold(self, client: ControlClient, until: float | None = None) -> None:
        """Keep `client` waiting for its reply beyond REPLY_TIMEOUT_S: the arbiter answers it within its own
        bound. `until` (monotonic) is a last resort: a held client still unanswered then is closed."""
        if not client.closed and client.outgoing is None:
            client.held = True
            client.deadline = until

    def restore(self) -> bool:
        """Bind the socket file again if it was removed (a tmp cleaner, a stray `rm`); True if it was.

        Clients already connected, a `serve reload` waiting for its answer among them, stay.

        Raises:
            BindError: the path cannot be bound (the caller logs it; the old socket serves on, unreachable).
        """
        if os.path.exists(self.path):
            return False
        self.replace_listener(sockets.bind_unix(self.path, backlog=BACKLOG, mode=SOCKET_MODE))
        self._register()
        return True

    def hand_over(self) -> None:
        """A new master serves this socket from now on (`serve upgrade`): stop accepting; clients already
        connected are still answered; the file is the new master's, not removed at close."""
        self.handed_over = True
        self._shut = True  # never watched again
        self.watch.forget(self.listen_fd)
        if self.config_path is not None:  # control commands find the new master only, while this one drains
            registry.unregister(self.path)

    def close(self, reason: str = "the master is exiting") -> None:
        """Tell every client still waiting why it gets no answer, close them and the socket, remove its file."""
        self._farewell = encode_reply(Reply.failure(reason))
        self.shut()
        if not self.handed_over:
            sockets.unlink(self.path)
        if self.config_path is not None:
            registry.unregister(self.path)

    def _received(self, client: SideClient, now: float) -> None:
        if b"\n" not in client.received:
            if len(client.received) > MAX_REQUEST_BYTES:
                self.reply(client, Reply.failure(f"request too long (over {MAX_REQUEST_BYTES} bytes)"))
            return
        line = bytes(client.received.split(b"\n", 1)[0])
        try:
            command = decode_request(line)
        except MessageError as error:
            self.reply(client, Reply.failure(str(error)))
            return
        # The whole request is in: from now on the client has REPLY_TIMEOUT_S to be answered
        # (unless held), and is read only to notice it hanging up.
        client.complete = True
        client.deadline = now + self.reply_timeout
        self.on_request(client, command)

    def _refusal(self) -> bytes:
        return encode_reply(Reply.failure("the master is short of file descriptors; try again shortly"))

    def _last_words(self, client: SideClient) -> bytes:
        return self._farewell

    def _left(self, client: SideClient) -> None:
        if client.held and self.on_gone is not None:
            self.on_gone(client)
