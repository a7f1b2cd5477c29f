"""The master's listening sockets, keyed by address: bound once, kept across reloads, closed when unused.

May import: config/, sockets, errors, the standard library.

A socket stays open while any app of any live generation binds that address, so a client
never meets a refused connection while the address is configured. Only unix socket files
the master created are removed on close; an inherited `fd://` socket is not ours to unlink.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable

from supervisor import sockets
from supervisor.config.convert import Bind, UnixBind


class Listeners:
    """Owns every listening socket of the master."""

    def __init__(self, *, backlog: int = sockets.DEFAULT_BACKLOG) -> None:
        self.backlog = backlog
        self.open: dict[Bind, socket.socket] = {}

    def ensure(self, binds: Iterable[Bind], *, backlog: int | None = None, uds_mode: int | None = None) -> list[Bind]:
        """Bind every address not open yet; return the ones this call opened.

        Raises:
            BindError: an address could not be bound; those opened by this call are closed again.
        """
        opened: list[Bind] = []
        try:
            for bind in binds:
                if bind not in self.open:
                    self.open[bind] = sockets.open_listener(bind, backlog=backlog or self.backlog, uds_mode=uds_mode)
                    opened.append(bind)
        except BaseException:
            self.close(opened)
            raise
        return opened

    def sockets_for(self, binds: Iterable[Bind]) -> list[socket.socket]:
        return [self.open[bind] for bind in binds]

    def filenos(self) -> set[int]:
        return {sock.fileno() for sock in self.open.values()}

    def close(self, binds: Iterable[Bind]) -> None:
        """Close these addresses (and remove the unix socket files bound here)."""
        for bind in list(binds):
            sock = self.open.pop(bind, None)
            if sock is None:
                continue
            sock.close()
            if isinstance(bind, UnixBind):
                sockets.unlink(bind.path)

    def keep_only(self, needed: Iterable[Bind]) -> list[Bind]:
        """Close every address not in `needed`; return the ones closed."""
        keep = set(needed)
        unused = [bind for bind in self.open if bind not in keep]
        self.close(unused)
        return unused

    def close_all(self) -> None:
        self.close(list(self.open))
