"""`serve upgrade`, the new master's side: the control socket it takes over and the pipe the old master waits on.

master/upgrade.py starts this master with the listening sockets as systemd would pass them
(listeners.py adopts those), and with two descriptors of its own, named by private variables:
the old master's control socket (already bound: taken over, never bound again, so
`serve status` keeps working across the upgrade) and the write end of a pipe. Once every app
has its workers ready, this master writes its pid file, starts answering on the control
socket and writes "ready"; the old master then drains and exits. If it cannot get there, it
writes "failed: REASON" (or dies, which the old master reads as end of file) and the old
master serves on. Until "ready", this master neither answers on the control socket nor
writes the pid file: both still belong to the old one.

ENV_OWNED lists, by index among the inherited sockets, those the old master bound itself:
their unix socket files are this master's to remove at exit, unlike systemd's. Once this
master took over, those its file no longer binds are closed (listeners.py).

ENV_ENDPOINTS maps the address of each of the old master's metrics_bind and health_bind
endpoints to its listening descriptor (JSON, {"127.0.0.1:9100": 6}). An endpoint of this
master's file at the same address serves that socket, never binding it again, and accepts
only once this master takes over (http_endpoint.py): until then the old master answers every
probe, and after, this one, with no moment of refused connections. A socket no endpoint of
this file uses is closed once the endpoints are open.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from collections.abc import MutableMapping

from supervisor.config.convert import Bind, parse_bind
from supervisor.master.listeners import SD_LISTEN_FDS_START, Listeners

logger = logging.getLogger("serve.error")

ENV_CONTROL_FD = "SERVE_UPGRADE_CONTROL_FD"
ENV_READY_FD = "SERVE_UPGRADE_READY_FD"
ENV_OWNED = "SERVE_UPGRADE_OWNED"
ENV_ENDPOINTS = "SERVE_UPGRADE_ENDPOINT_FDS"
READY = "ready"
FAILED = "failed:"
MAX_REASON_CHARS = 2000


class Handover:
    """The descriptors a new master got from the old one, until it reports how its start went."""

    def __init__(
        self,
        ready_fd: int,
        control_fd: int | None,
        owned: tuple[int, ...] = (),
        endpoint_fds: dict[str, int] | None = None,
    ) -> None:
        self.ready_fd: int | None = ready_fd
        self.control_fd = control_fd
        self.owned = owned  # indexes among the inherited sockets
        self.endpoint_fds = dict(endpoint_fds or {})  # address -> descriptor, until used or closed

    @classmethod
    def take(cls, environ: MutableMapping[str, str]) -> Handover | None:
        """The handover this process was started with (its variables removed, so no worker sees them), or None."""
        ready = environ.pop(ENV_READY_FD, "")
        control = environ.pop(ENV_CONTROL_FD, "")
        owned = environ.pop(ENV_OWNED, "")
        endpoints = _endpoint_fds(environ.pop(ENV_ENDPOINTS, ""))
        if not ready.isdigit():
            return None
        handover = cls(
            int(ready),
            int(control) if control.isdigit() else None,
            tuple(int(index) for index in owned.split(",") if index.isdigit()),
            endpoints,
        )
        for fd in (handover.ready_fd, handover.control_fd, *endpoints.values()):
            if fd is not None:
                try:
                    os.set_inheritable(fd, False)  # nothing this master starts may keep the old one waiting
                except OSError as error:  # each use of it fails softly too: said here once, plainly
                    logger.warning("Descriptor %d handed over by the old master is unusable: %s", fd, error)
        return handover

    @property
    def pending(self) -> bool:
        """Neither "ready" nor "failed" was said yet."""
        return self.ready_fd is not None

    def own_sockets(self, listeners: Listeners) -> None:
        """The sockets the old master bound itself are this master's now: their files go when it closes them."""
        listeners.own({SD_LISTEN_FDS_START + index for index in self.owned})

    def control_socket(self, path: str) -> socket.socket | None:
        """The inherited control socket, when it is bound at `path`; else None (this master binds its own)."""
        fd, self.control_fd = self.control_fd, None
        if fd is None:
            return None
        try:
            sock = socket.socket(fileno=fd)
        except OSError as error:
            logger.warning("The control socket handed over is unusable (%s): binding %s.", error, path)
            _close(fd)
            return None
        name = sock.getsockname()
        name = name.decode() if isinstance(name, bytes) else str(name)
        if sock.family != socket.AF_UNIX or os.path.abspath(name) != os.path.abspath(path):
            logger.info("The control socket moves from %s to %s.", name, path)
            sock.close()  # the old file is the old master's to remove
            return None
        return sock

    def endpoint_socket(self, bind: Bind) -> socket.socket | None:
        """The inherited endpoint socket listening on `bind`, if one was handed over; else None (bind it)."""
        for address, fd in list(self.endpoint_fds.items()):
            try:
                same = parse_bind(address) == bind
            except ValueError:
                same = False
            if not same:
                continue
            del self.endpoint_fds[address]
            try:
                return socket.socket(fileno=fd)
            except OSError as error:
                logger.warning("The %s endpoint socket handed over is unusable (%s): binding it.", address, error)
                _close(fd)
        return None

    def close_endpoints(self) -> None:
        """Close the inherited endpoint sockets no endpoint of this file took: the old master's alone now."""
        for address, fd in self.endpoint_fds.items():
            logger.info("The endpoint on %s is not in this file: its socket is left to the old master.", address)
            _close(fd)
        self.endpoint_fds.clear()

    def ready(self) -> None:
        """Every app is ready: the old master may drain and exit."""
        self._say(READY)

    def failed(self, reason: str) -> None:
        """This master cannot take over: the old one serves on and answers `serve upgrade` with `reason`."""
        self._say(f"{FAILED} {' '.join(reason.split())[:MAX_REASON_CHARS]}")

    def close(self) -> None:
        """Let go of whatever was not used (at exit)."""
        for fd in (self.ready_fd, self.control_fd, *self.endpoint_fds.values()):
            if fd is not None:
                _close(fd)
        self.ready_fd = self.control_fd = None
        self.endpoint_fds.clear()

    def _say(self, line: str) -> None:
        fd, self.ready_fd = self.ready_fd, None
        if fd is None:
            return
        try:
            os.write(fd, line.encode(errors="replace") + b"\n")  # one short line: a pipe takes it whole
        except OSError as error:  # the old master is gone: nobody to tell
            logger.warning("The old master could not be told %r: %s", line.split(":")[0], error)
        finally:
            _close(fd)  # a descriptor that was never open (a bad handover) must not make this a crash


def report_failure(reason: str, environ: MutableMapping[str, str]) -> None:
    """`serve up` failed before its master took the handover (an invalid file): tell the old master why."""
    handover = Handover.take(environ)
    if handover is not None:
        handover.failed(reason)
        handover.close()


def _endpoint_fds(text: str) -> dict[str, int]:
    """ENV_ENDPOINTS read leniently: what is not an address and a descriptor is left out (bound afresh)."""
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(address): fd for address, fd in value.items() if isinstance(fd, int) and fd >= SD_LISTEN_FDS_START}


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)
