"""Talking to a running master over its control socket (`serve status|top|reload|scale|stop`).

Which master: `--socket`, else the file (`-c`, else serve.toml here), else the one master of
this user that registered itself (registry.py): `serve status` works from anywhere. A file
whose control socket is not there (the file mid-save: emptied, half-written, its
control_socket line half-typed) leads to the master registered for that file.

When nothing answers on the control socket, `ask` looks for a master that still runs the
file anyway (its pid file, then the file's addresses): a deleted socket file must not make
the operator start a second master, which fails on the first address the old one holds.

A master that is there but busy (its control clients at their cap and the socket's backlog
full) is waited for, up to the command's timeout: Linux refuses a unix connect that must not
block with EAGAIN at once instead of queueing it, so the client tries again, pausing a little
longer each time. A refused connection or a missing file means no master, and fails at once.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import stat
import time
from typing import TYPE_CHECKING

from supervisor import registry
from supervisor.config.convert import Bind, TcpBind, UnixBind
from supervisor.config.peek import ControlTarget, control_target
from supervisor.control import MAX_LINE_BYTES, Command, MessageError, Reply, decode_reply, encode_request
from supervisor.errors import ConfigError, ControlError

if TYPE_CHECKING:
    import psutil

DEFAULT_TIMEOUT_S = 10.0
RELOAD_TIMEOUT_S = 120.0  # a reload answers once the new generation is ready: imports and lifespans take time
PROBE_TIMEOUT_S = 1.0  # connecting to one of the file's addresses, on loopback or near it
PID_FILE_SLACK_S = 2.0  # process start times are rounded (boot time to the second); a reused pid starts later
# Retrying a connect the master's full backlog refused: soon at first (a slot frees within
# milliseconds when status polls are what fills it), then no faster than ten times a second.
CONNECT_RETRY_FIRST_S = 0.002
CONNECT_RETRY_MOST_S = 0.1


DEFAULT_CONFIG = "serve.toml"


class NoMasterError(ControlError):
    """Nothing listens on the control socket: the file is missing, or connections to it are refused."""


class SeveralMastersError(ControlError):
    """No file was named, and several of this user's masters run: the operator must choose."""

    exit_code = 2


def find_target(config_path: str | None, socket_path: str | None) -> tuple[ControlTarget, str | None]:
    """The master a control command talks to, and a note saying which when it was looked up.

    `--socket` wins; then `-c` (read leniently: the file may be mid-edit); then serve.toml in the
    working directory; then this user's running masters (registry.py), when exactly one runs.

    Raises:
        ConfigError: the named file cannot be read.
        ControlError: nothing was named and no master runs (SeveralMastersError: several do).
    """
    if socket_path is not None:
        return _socket_target(config_path, os.path.abspath(socket_path)), None
    if config_path is not None:
        return _file_target(config_path)
    if os.path.exists(DEFAULT_CONFIG):
        return _file_target(DEFAULT_CONFIG)
    masters = registry.live_masters()
    if len(masters) == 1:
        (found,) = masters
        note = f"using the master of {found.config_path} (pid {found.pid})"
        return ControlTarget(found.config_path, found.control_socket, None, ()), note
    if masters:
        listed = "\n".join(f"  {m.config_path}  (pid {m.pid}, control socket {m.control_socket})" for m in masters)
        raise SeveralMastersError(
            f"no {DEFAULT_CONFIG} here, and {len(masters)} masters of yours are running:\n{listed}\n"
            "choose one with -c CONFIG or --socket PATH"
        )
    raise ControlError(
        f"no {DEFAULT_CONFIG} in {os.getcwd()}, and no running master of yours was found; name the file with "
        "-c CONFIG (for a master started by scripts/up: -c serve.toml.example), or its socket with --socket PATH"
    )


def _file_target(config_path: str) -> tuple[ControlTarget, str | None]:
    """The control socket the file names; when that is no socket (or the file cannot be read) and a
    master registered for this very file runs, that master's socket, with a note saying so.

    Raises:
        ConfigError: the file cannot be read, and no master is registered for it.
    """
    try:
        target = control_target(config_path)
    except ConfigError:
        found = registry.master_of(config_path)
        if found is None:
            raise
        return ControlTarget(config_path, found.control_socket, None, ()), _registered(
            found, f"{config_path} cannot be read"
        )
    if _is_socket(target.control_socket):
        return target, None
    found = registry.master_of(config_path)
    if found is None or found.control_socket == target.control_socket:
        return target, None
    why = target.doubt or f"{config_path} names {target.control_socket}, where there is no socket"
    return dataclasses.replace(target, control_socket=found.control_socket, doubt=None), _registered(found, why)


def _registered(found: registry.Entry, why: str) -> str:
    return f"{why}: using the master registered for it (pid {found.pid}, control socket {found.control_socket})"


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def _socket_target(config_path: str | None, socket_path: str) -> ControlTarget:
    """`--socket`: that socket, named in messages by the file that registered it (or by -c), else by itself."""
    if config_path is not None:
        try:
            found = control_target(config_path)
        except ConfigError:  # the file only names the master in messages: the socket is what counts
            return ControlTarget(config_path, socket_path, None, ())
        return ControlTarget(config_path, socket_path, found.pid_file, found.binds)
    owner = next((m.config_path for m in registry.live_masters() if m.control_socket == socket_path), socket_path)
    return ControlTarget(owner, socket_path, None, ())


def ask(target: ControlTarget, command: Command, *, timeout: float = DEFAULT_TIMEOUT_S) -> Reply:
    """Send `command` to the master of `target` and return its reply, which says ok.

    Raises:
        ControlError: the master refused the command, or cannot be reached; when nothing listens on
            the control socket, the message says whether a master still runs the file, with its pid.
    """
    try:
        reply = request(target.control_socket, command, config_path=target.config_path, timeout=timeout)
    except NoMasterError as error:
        raise ControlError(explain_silence(target, str(error))) from None
    if not reply.ok:
        raise ControlError(f"{target.config_path}: {reply.error}")
    return reply


def request(socket_path: str, command: Command, *, config_path: str, timeout: float = DEFAULT_TIMEOUT_S) -> Reply:
    """Send one command to the master listening on `socket_path` and return its reply, within `timeout`.

    Raises:
        ControlError: no master answers there (NoMasterError: nothing listens), it stayed too busy
            to take the connection, or its reply is not one (the message says which).
    """
    deadline = time.monotonic() + timeout
    with _connect(socket_path, config_path=config_path, deadline=deadline, timeout=timeout) as sock:
        try:
            sock.settimeout(_left(deadline))
            sock.sendall(encode_request(command))
            line = _read_line(sock, deadline)
        except TimeoutError:
            raise ControlError(f"the master of {config_path} did not answer within {timeout:g} s") from None
        except OSError as error:
            raise ControlError(f"the master of {config_path} closed the connection: {error}") from error
    try:
        return decode_reply(line)
    except MessageError as error:
        raise ControlError(f"the master of {config_path} sent a reply serve cannot read: {error}") from error


def send(socket_path: str, command: Command, *, config_path: str) -> None:
    """Send a command without waiting for the reply (the dashboard shows what follows).

    Raises:
        ControlError: no master listens there (NoMasterError), it stayed too busy to take the
            connection, or it closed the connection.
    """
    deadline = time.monotonic() + DEFAULT_TIMEOUT_S
    with _connect(socket_path, config_path=config_path, deadline=deadline, timeout=DEFAULT_TIMEOUT_S) as sock:
        try:
            sock.sendall(encode_request(command))
        except OSError as error:
            raise ControlError(f"the master of {config_path} closed the connection: {error}") from error


def _connect(socket_path: str, *, config_path: str, deadline: float, timeout: float) -> socket.socket:
    """A unix socket connected to `socket_path` (its timeout set to what is left before `deadline`).

    EAGAIN is the master's backlog being full, not its absence: try again, pausing longer each
    time, until `deadline`. Each attempt takes a fresh socket, so no platform's rules on
    connecting a socket again after a failed connect matter.

    Raises:
        NoMasterError: the socket file is missing, or connections to it are refused.
        ControlError: the backlog stayed full until `deadline`, or the connect failed otherwise.
    """
    pause = CONNECT_RETRY_FIRST_S
    while True:
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        except OSError as error:  # pragma: no cover - unix sockets exist wherever serve runs
            raise ControlError(f"cannot create a unix socket: {error}") from error
        try:
            sock.settimeout(_left(deadline))
            sock.connect(socket_path)
        except BlockingIOError:
            sock.close()
            left = deadline - time.monotonic()
            if left <= 0:
                raise ControlError(
                    f"the master of {config_path} is busy: its control socket {socket_path} took no new "
                    f"connection within {timeout:g} s (its clients at their cap, its backlog full); try again"
                ) from None
            time.sleep(min(pause, left))
            pause = min(pause * 2, CONNECT_RETRY_MOST_S)
            continue
        except (FileNotFoundError, ConnectionRefusedError) as error:
            sock.close()
            if config_path == socket_path:  # --socket, and no file known to name the master by
                raise NoMasterError(f"no master listens on {socket_path}") from error
            raise NoMasterError(
                f"no master is running for {config_path} (nothing listens on {socket_path}); start one with "
                f"`serve up -c {config_path}`"
            ) from error
        except OSError as error:
            sock.close()
            raise ControlError(
                f"cannot reach the master of {config_path} at {socket_path}: {error.strerror}"
            ) from error
        return sock


def _left(deadline: float) -> float:
    """Seconds until `deadline`, as a socket timeout: a timeout of zero would make the socket non-blocking."""
    return max(deadline - time.monotonic(), 0.001)


def _read_line(sock: socket.socket, deadline: float) -> bytes:
    received = bytearray()
    while b"\n" not in received:
        sock.settimeout(_left(deadline))
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError("closed before a whole reply arrived")
        received += chunk
        if len(received) > MAX_LINE_BYTES:
            raise OSError("reply too long")
    return bytes(received.split(b"\n", 1)[0])


def explain_silence(target: ControlTarget, no_master: str) -> str:
    """What to tell the operator when nothing listens on `target`'s control socket: `no_master` (start
    one) only when no master of the file is found, else which process still runs it and what to do."""
    path, config = target.control_socket, target.config_path
    gone = f"the control socket {path} {_what_is_there(path)}"
    doubt = f" (note: {target.doubt}; if control_socket was changed, the master listens on its old one)"
    pid = _pid_from_file(target.pid_file) if target.pid_file else None
    if pid is not None:
        found = f"{gone}, but a master (pid {pid}, per {target.pid_file}) still runs {config}: {_remedy(pid, config)}"
        return found + (doubt if target.doubt else "")
    for bind in target.binds:
        if _answers(bind):
            holder = _listener(bind)
            held = f"is still held by pid {holder[0]} ({holder[1]})" if holder else "still answers"
            found = (
                f"{gone}, but {bind}, an address of {config}, {held}: if that is the master of {config}, "
                + _remedy(holder[0] if holder else None, config)
            )
            return found + (doubt if target.doubt else "")
    return no_master + (doubt if target.doubt else "")


def _what_is_there(path: str) -> str:
    """How the control socket's path looks to a client that got no master there."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return "is gone"
    if stat.S_ISSOCK(mode):
        return "refuses connections"
    # The master binds again only a path that is gone: it never removes what is not a socket.
    return "is not a socket (move that file away first)"


def _remedy(pid: int | None, config: str) -> str:
    if pid is None:
        return (
            "find its pid (ss -ltnp, ss -lxp) and send it SIGUSR1, which binds its control socket again; "
            "a second master would fail on the addresses this one holds"
        )
    return (
        f"kill -USR1 {pid} binds its control socket again (so does kill -HUP {pid}, which also reloads); "
        "a second master would fail on the addresses this one holds"
    )


def _pid_from_file(pid_file: str) -> int | None:
    """The pid the master wrote to `pid_file`, if that process still runs (and is not a later one
    that reused the pid of a master killed before it could remove its file)."""
    import psutil  # only on this error path: plain commands stay light

    try:
        with open(pid_file, encoding="ascii") as file:
            pid = int(file.read().strip())
        written = os.stat(pid_file).st_mtime
        process = psutil.Process(pid)
        alive = process.status() != psutil.STATUS_ZOMBIE and process.create_time() <= written + PID_FILE_SLACK_S
    except (OSError, ValueError, psutil.Error):
        return None
    return pid if alive and pid > 0 else None


def _answers(bind: Bind) -> bool:
    if isinstance(bind, TcpBind) and bind.port:
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(bind.host, bind.host)  # a wildcard bind: reach it on loopback
        try:
            socket.create_connection((host, bind.port), timeout=PROBE_TIMEOUT_S).close()
        except OSError:
            return False
        return True
    if isinstance(bind, UnixBind):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(PROBE_TIMEOUT_S)
            try:
                sock.connect(bind.path)
            except OSError:
                return False
            return True
    return False  # fd://N, or port 0: nothing to probe from here


def _listener(bind: Bind) -> tuple[int, str] | None:
    """The pid and command line of the process listening on `bind`, when the system shows it.

    The system names one holder of a socket, often a worker (workers inherit the master's
    listeners), so climb to the topmost ancestor that holds it too.
    """
    import psutil  # only on this error path

    kind = "unix" if isinstance(bind, UnixBind) else "inet"
    try:
        holder = next((e.pid for e in psutil.net_connections(kind) if e.pid and _is(e.laddr, e.status, bind)), None)
        if holder is None:
            return None
        process = psutil.Process(holder)
        while (parent := process.parent()) is not None and _holds(parent, bind, kind):
            process = parent
        return process.pid, " ".join(process.cmdline())
    except psutil.Error:  # another user's processes, or a platform that needs privileges for this
        return None


def _holds(process: psutil.Process, bind: Bind, kind: str) -> bool:
    import psutil

    try:
        entries = process.net_connections(kind) if hasattr(process, "net_connections") else process.connections(kind)
    except psutil.Error:
        return False
    return any(_is(entry.laddr, entry.status, bind) for entry in entries)


def _is(address: object, status: str, bind: Bind) -> bool:
    if isinstance(bind, UnixBind):
        return address == bind.path
    if not isinstance(bind, TcpBind) or status != "LISTEN" or not isinstance(address, tuple) or len(address) < 2:
        return False
    return address[1] == bind.port and (address[0] == bind.host or address[0] in ("0.0.0.0", "::"))
