"""The master's listening sockets, keyed by address: bound once, kept across reloads, closed when unused.

A socket stays open while any app of any live generation binds that address, so a client
never meets a refused connection while the address is configured and served. The master
binds but does not listen: the first worker that starts serving an address calls listen
(its event loop does, in create_server), so an app that has never been ready refuses
connections instead of leaving them hanging in an accept queue nobody reads; once
listening, the socket listens for good, across reloads and restarts of its workers.

A unix socket file someone removed (a tmp cleaner, an operator) leaves its socket alive
but unreachable; `ensure`, called on every reload, binds that path again. Only unix socket files
the master created are removed on close; an inherited socket is not ours to unlink.

systemd socket activation: when LISTEN_PID is this process, the LISTEN_FDS descriptors
from 3 on are adopted instead of bound. Each one serves the bind with the same address
(`bind = ["127.0.0.1:8000"]` and `ListenStream=127.0.0.1:8000`), and, when systemd names
it (FileDescriptorName=, LISTEN_FDNAMES), every app of that name as well.
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
import socket
from collections.abc import Iterable, Mapping, MutableMapping

from supervisor import sockets
from supervisor.config.convert import Bind, TcpBind, UnixBind
from supervisor.config.schema import APP_DEFAULTS, AppConfig

logger = logging.getLogger("serve.error")

SD_LISTEN_FDS_START = 3


class Listeners:
    """Owns every listening socket of the master."""

    def __init__(self) -> None:
        self.open: dict[Bind, socket.socket] = {}
        self.inherited: set[Bind] = set()  # adopted from systemd: never unlinked
        self.named: dict[str, list[Bind]] = {}  # LISTEN_FDNAMES name -> its sockets' addresses
        self.inodes: dict[Bind, int] = {}  # unix socket file bound here -> its inode, to notice it went
        self.spare: set[Bind] = set()  # inherited, and no app has asked for it

    def inherit_systemd(self, environ: MutableMapping[str, str]) -> int:
        """Adopt the sockets systemd passed to this process; return how many.

        The LISTEN_* variables are removed, so workers (and their children) do not take
        the descriptors for theirs.

        Raises:
            BindError: a passed descriptor is not a stream socket.
        """
        count = _systemd_fd_count(environ)
        names = environ.get("LISTEN_FDNAMES", "").split(":")
        for key in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
            environ.pop(key, None)
        for index in range(count):
            # systemd's sockets arrive listening, with its Backlog=; one passed bound but not
            # listening yet is not matched to an app until it is adopted: the key's default.
            sock = sockets.adopt_fd(SD_LISTEN_FDS_START + index, backlog=APP_DEFAULTS["backlog"])
            bind = address_of(sock)
            self.open[bind] = sock
            self.inherited.add(bind)
            name = names[index] if index < len(names) else ""
            if name and name != "unknown":  # systemd's default name means "no name"
                self.named.setdefault(name, []).append(bind)
        return count

    def open_apps(self, apps: Mapping[str, AppConfig], environ: MutableMapping[str, str]) -> None:
        """At start: adopt systemd's sockets, then bind every address of these apps not adopted.

        Raises:
            BindError: an address could not be bound or adopted.
        """
        inherited = self.inherit_systemd(environ)
        if inherited:
            logger.info("Adopted %d socket(s) from systemd socket activation or the upgraded master.", inherited)
            used = {b for name, app in apps.items() for b in self.binds_for(name, app.bind)}
            self.spare = set(self.open) - used
            for bind in sorted(self.spare, key=str):
                logger.warning("Inherited %s, which no app binds or is named after: it stays unused.", bind)
        for app in apps.values():
            self.ensure(app.bind, backlog=app.backlog, uds_mode=app.uds_mode, owner=unix_owner(app))

    def own(self, fds: Iterable[int]) -> None:
        """Inherited sockets on these descriptors were bound by a previous master (`serve upgrade`),
        not by systemd: their unix socket files are removed when this master closes them. Called
        once this master took over: those no app asked for are closed now (their files removed)."""
        wanted = set(fds)
        for bind, sock in list(self.open.items()):
            if sock.fileno() in wanted and bind in self.inherited:
                self.inherited.discard(bind)
                if isinstance(bind, UnixBind) and (inode := _inode(bind.path)) is not None:
                    self.inodes[bind] = inode
                if bind in self.spare:
                    logger.info("Closed %s, handed over by the old master: no app of this file binds it.", bind)
                    self.close([bind])

    def hand_over(self) -> None:
        """Another master serves every socket from now on (`serve upgrade`): closing them removes no file."""
        self.inherited.update(self.open)

    def binds_for(self, app: str, binds: Iterable[Bind]) -> list[Bind]:
        """An app's own binds, then the inherited sockets systemd named after it."""
        own = list(binds)
        return own + [bind for bind in self.named.get(app, ()) if bind not in own]

    def ensure(
        self, binds: Iterable[Bind], *, backlog: int, uds_mode: int | None, owner: tuple[int, int] | None = None
    ) -> list[Bind]:
        """Bind every address not open yet; return the ones this call opened.

        `owner`: (uid, gid) a unix socket file is given (`unix_owner`), or None to leave it the master's.

        Raises:
            BindError: an address could not be bound; those opened by this call are closed again.
        """
        opened: list[Bind] = []
        try:
            for bind in binds:
                self.spare.discard(bind)
                if bind in self.open and self._vanished(bind):
                    self.close([bind])  # workers keep their own copies; new ones get the new socket
                if bind not in self.open:
                    self.open[bind] = sockets.open_listener(bind, backlog=backlog, uds_mode=uds_mode, listen=False)
                    if isinstance(bind, UnixBind):
                        if owner is not None:
                            os.chown(bind.path, *owner)
                        self.inodes[bind] = os.stat(bind.path).st_ino
                    opened.append(bind)
        except BaseException:
            self.close(opened)
            raise
        return opened

    def sockets_for(self, binds: Iterable[Bind]) -> list[socket.socket]:
        return [self.open[bind] for bind in binds]

    def close(self, binds: Iterable[Bind]) -> None:
        """Close these addresses (and remove the unix socket files bound here)."""
        for bind in list(binds):
            sock = self.open.pop(bind, None)
            if sock is None:
                continue
            sock.close()
            inode = self.inodes.pop(bind, None)
            if isinstance(bind, UnixBind) and bind not in self.inherited and inode == _inode(bind.path):
                sockets.unlink(bind.path)  # only the file bound here, not one that replaced it
            self.inherited.discard(bind)
            self.spare.discard(bind)

    def close_all(self) -> None:
        self.close(list(self.open))

    def _vanished(self, bind: Bind) -> bool:
        """A unix socket file bound here that is gone, or replaced by another file."""
        inode = self.inodes.get(bind)
        return inode is not None and isinstance(bind, UnixBind) and _inode(bind.path) != inode


def _inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def address_of(sock: socket.socket) -> Bind:
    """The bind an open listening socket serves, to match it against configured binds."""
    name = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return UnixBind(name.decode() if isinstance(name, bytes) else str(name))
    return TcpBind(str(name[0]), int(name[1]))


def _systemd_fd_count(environ: Mapping[str, str]) -> int:
    # sd_listen_fds(3): the variables are for us only when LISTEN_PID names this process.
    try:
        if int(environ.get("LISTEN_PID", "")) != os.getpid():
            return 0
        return max(int(environ.get("LISTEN_FDS", "0")), 0)
    except ValueError:
        return 0


def unix_owner(app: AppConfig) -> tuple[int, int] | None:
    """Who an app's unix socket files belong to: its `user` and `group` when a root master drops
    to them (as gunicorn does), so that the app's group (a proxy added to it) can connect under
    a mode like 0660; None (the master's) otherwise. -1 leaves that id as it is.
    """
    if os.geteuid() != 0 or not (app.user or app.group):
        return None
    uid = gid = -1
    if app.user:
        entry = pwd.getpwuid(int(app.user)) if app.user.isdigit() else pwd.getpwnam(app.user)
        uid, gid = entry.pw_uid, entry.pw_gid
    if app.group:
        gid = int(app.group) if app.group.isdigit() else grp.getgrnam(app.group).gr_gid
    return uid, gid
