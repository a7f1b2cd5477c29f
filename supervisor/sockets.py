"""The one place serve binds: TCP over IPv4 and IPv6, unix sockets, and inherited fd://N listeners.

Every function returns a listening, non-blocking, non-inheritable socket. The master binds
each address once, before the first fork, and keeps it open across reloads; workers share
it through fork, so nothing here sets SO_REUSEPORT. Bind targets are taken duck-typed
through the `TcpAddress`, `UnixAddress` and `FdAddress` protocols, which config's
`TcpBind`, `UnixBind` and `FdBind` satisfy without this module importing config/.
Systemd socket activation (LISTEN_FDS) will hand its descriptors to `adopt_fd` as well.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import stat
from typing import Protocol, runtime_checkable

from supervisor.errors import BindError

# How long to wait for something listening on an existing unix socket file to answer.
UNIX_PROBE_TIMEOUT_S = 1.0


@runtime_checkable
class TcpAddress(Protocol):
    """A host (IPv4, IPv6 with or without brackets, or a name) and a port (0: any free port)."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...


@runtime_checkable
class UnixAddress(Protocol):
    """A unix socket path."""

    @property
    def path(self) -> str: ...


@runtime_checkable
class FdAddress(Protocol):
    """A descriptor inherited from whoever started us (fd://N)."""

    @property
    def fd(self) -> int: ...


def open_listener(
    address: TcpAddress | UnixAddress | FdAddress,
    *,
    backlog: int,
    uds_mode: int | None = None,
    listen: bool = True,
) -> socket.socket:
    """Bind (or adopt) one configured address.

    Args:
        address: any object with `host` and `port`, `path`, or `fd`.
        backlog: the listen queue length (a setting: the caller passes the configured value).
        uds_mode: permission bits for a unix socket file, e.g. 0o660; None keeps the umask's.
        listen: False leaves a bound TCP or unix socket not yet listening: connections are
            refused until a worker starts serving it (its event loop calls listen). An adopted
            descriptor is always made to listen.

    Raises:
        BindError: the address cannot be bound or adopted; the message names it and says why.
        TypeError: `address` has none of the expected attributes.
    """
    if isinstance(address, FdAddress):
        return adopt_fd(address.fd, backlog=backlog)
    if isinstance(address, UnixAddress):
        return bind_unix(address.path, backlog=backlog, mode=uds_mode, listen=listen)
    if isinstance(address, TcpAddress):
        return bind_tcp(address.host, address.port, backlog=backlog, listen=listen)
    raise TypeError(f"not a bind address (needs host and port, path, or fd): {address!r}")


def bind_tcp(host: str, port: int, *, backlog: int, listen: bool = True) -> socket.socket:
    """Bind and listen on HOST:PORT; an IPv6 socket is IPv6-only, so "::" and "0.0.0.0" can coexist.

    Raises:
        BindError: e.g. "127.0.0.1:8000: address already in use".
    """
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    # A colon only ever appears in an IPv6 literal; names and IPv4 go through AF_INET.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # Rebinding right after a restart must not wait for TIME_WAIT connections to expire.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        if listen:
            sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise BindError(f"{_tcp_name(host, port)}: {_reason(exc)}") from exc
    return _finish(sock)


def bind_unix(path: str, *, backlog: int, mode: int | None = None, listen: bool = True) -> socket.socket:
    """Bind and listen on a unix socket, replacing a stale socket file but never a live one.

    A file already at `path` is removed only if it is a socket and nothing accepts a
    connection on it (a server that died without cleaning up). The mode is applied before
    `listen`, so no client can connect while the permissions are still the umask's.

    Raises:
        BindError: another process listens there, the path is not a socket, or the OS refused.
    """
    _remove_stale(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    bound = False
    try:
        sock.bind(path)
        bound = True
        if mode is not None:
            os.chmod(path, mode)
        if listen:
            sock.listen(backlog)
    except OSError as exc:
        sock.close()
        if bound:
            unlink(path)
        raise BindError(f"unix:{path}: {_reason(exc)}") from exc
    return _finish(sock)


def adopt_fd(fd: int, *, backlog: int) -> socket.socket:
    """Take over an inherited stream socket; its family (TCP, IPv6, unix) is read from the descriptor.

    The socket is not bound again. If it is bound but not yet listening, `listen(backlog)`
    is called; a listening one keeps the backlog its creator chose (systemd's Backlog=).
    The returned socket owns `fd`: closing it closes the descriptor.

    Raises:
        BindError: `fd` is not open, not a socket, or not a stream socket.
    """
    if 0 <= fd <= 2:
        fd = _above_stdio(fd)
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise BindError(f"fd://{fd}: {_reason(exc)}") from exc
    if sock.type != socket.SOCK_STREAM:
        sock.detach()  # not ours to close: we refuse it and leave it as we found it
        raise BindError(f"fd://{fd}: not a stream socket")
    try:
        if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            sock.listen(backlog)
    except OSError as exc:
        sock.detach()
        raise BindError(f"fd://{fd}: {_reason(exc)}") from exc
    return _finish(sock)


def _above_stdio(fd: int) -> int:
    """Move an inherited listener off stdio (inetd style, systemd's StandardInput=socket).

    A worker's stdio is replaced by /dev/null and its output pipe, which would replace the
    listener with them; /dev/null takes its old number, so no later descriptor lands there.

    Raises:
        BindError: the descriptor is not open.
    """
    try:
        moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    except OSError as exc:
        raise BindError(f"fd://{fd}: {_reason(exc)}") from exc
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, fd)
    os.close(null)
    return moved


def unlink(path: str) -> None:
    """Remove the unix socket file at `path`, at exit; a missing file or a non-socket is left alone."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)


def describe(sock: socket.socket, *, tls: bool = False) -> str:
    """Where a listener can be reached, for log lines: "http://127.0.0.1:8000", "https://[::1]:8443", "unix:/run/app.sock"."""
    name = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return f"unix:{name.decode(errors='replace') if isinstance(name, bytes) else name}"
    scheme = "https" if tls else "http"
    return f"{scheme}://{_tcp_name(name[0], name[1])}"


def _remove_stale(path: str) -> None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise BindError(f"unix:{path}: {_reason(exc)}") from exc
    if not stat.S_ISSOCK(mode):
        raise BindError(f"unix:{path}: exists and is not a socket; remove it or choose another path")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(UNIX_PROBE_TIMEOUT_S)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        unlink(path)  # stale: its server is gone (or someone just removed it)
        return
    except (BlockingIOError, TimeoutError):
        pass  # a full or slow accept queue: someone is listening
    except OSError as exc:
        raise BindError(f"unix:{path}: {_reason(exc)}") from exc
    finally:
        probe.close()
    raise BindError(f"unix:{path}: address already in use (another process is listening on it)")


def _finish(sock: socket.socket) -> socket.socket:
    sock.setblocking(False)
    # Workers get the socket through fork; nothing exec'd by the master or the app should.
    sock.set_inheritable(False)
    return sock


def _tcp_name(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _reason(exc: OSError) -> str:
    text = exc.strerror or str(exc)
    # "Address already in use" reads better after a colon as "address already in use";
    # "AF_UNIX path too long" must keep its capitals.
    return text[:1].lower() + text[1:] if text[1:2].islower() else text
