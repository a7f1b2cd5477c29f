"""sockets: binding TCP v4/v6 and unix sockets, adopting fds, and the errors each can raise.

These tests use real loopback and unix sockets (no traffic leaves the machine).
"""

from __future__ import annotations

import errno
import json
import os
import select
import socket
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from supervisor import sockets
from supervisor.errors import BindError
from supervisor.sockets import adopt_fd, bind_tcp, bind_unix, describe, open_listener, unlink

BACKLOG = 16  # sockets.py takes the backlog from its caller: the setting's value, never a default of its own


@dataclass(frozen=True)
class TcpBind:
    host: str
    port: int


@dataclass(frozen=True)
class UnixBind:
    path: str


@dataclass(frozen=True)
class FdBind:
    fd: int


def ipv6_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not ipv6_available(), reason="no IPv6 loopback here")


@pytest.fixture
def opened() -> Iterator[list[socket.socket]]:
    """Sockets a test opens, closed at the end whatever happens."""
    socks: list[socket.socket] = []
    yield socks
    for sock in socks:
        sock.close()


def accepts_a_connection(listener: socket.socket) -> bool:
    """Connect to the listener and accept on it, waiting at most 5 s."""
    name = listener.getsockname()
    with socket.socket(listener.family, socket.SOCK_STREAM) as client:
        client.settimeout(5)
        client.connect(name)
        readable, _, _ = select.select([listener], [], [], 5)
        if not readable:
            return False
        conn, _ = listener.accept()
        conn.close()
        return True


def assert_listener_shape(sock: socket.socket) -> None:
    assert sock.getblocking() is False
    assert sock.get_inheritable() is False
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1


# -- TCP --------------------------------------------------------------------------------------


def test_bind_tcp_ipv4_with_port_zero_reports_the_real_port(opened: list[socket.socket]) -> None:
    sock = bind_tcp("127.0.0.1", 0, backlog=BACKLOG)
    opened.append(sock)
    host, port = sock.getsockname()
    assert (sock.family, host) == (socket.AF_INET, "127.0.0.1")
    assert port > 0
    assert describe(sock) == f"http://127.0.0.1:{port}"
    assert describe(sock, tls=True) == f"https://127.0.0.1:{port}"
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) != 0
    assert_listener_shape(sock)
    assert accepts_a_connection(sock)


@needs_ipv6
@pytest.mark.parametrize("host", ["::1", "[::1]"])
def test_bind_tcp_ipv6_is_v6_only(host: str, opened: list[socket.socket]) -> None:
    sock = bind_tcp(host, 0, backlog=BACKLOG)
    opened.append(sock)
    port = sock.getsockname()[1]
    assert sock.family == socket.AF_INET6
    assert sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
    assert describe(sock) == f"http://[::1]:{port}"
    assert_listener_shape(sock)
    assert accepts_a_connection(sock)


@needs_ipv6
def test_ipv4_and_ipv6_wildcards_share_a_port(opened: list[socket.socket]) -> None:
    # The kernel picks the port free for IPv6 only (the socket is v6only): on a busy machine an
    # IPv4 socket (another test's client) may hold the same number, so a few ports are tried.
    for _ in range(5):
        v6 = bind_tcp("::", 0, backlog=BACKLOG)
        opened.append(v6)
        try:
            opened.append(bind_tcp("0.0.0.0", v6.getsockname()[1], backlog=BACKLOG))
        except BindError as error:
            if "address already in use" not in str(error):
                raise
            continue
        return
    pytest.fail("no port of five was free for both the IPv6 and the IPv4 wildcard")


def test_bind_tcp_by_name(opened: list[socket.socket]) -> None:
    sock = bind_tcp("localhost", 0, backlog=BACKLOG)
    opened.append(sock)
    assert sock.family == socket.AF_INET


def test_address_in_use_names_the_address(opened: list[socket.socket]) -> None:
    first = bind_tcp("127.0.0.1", 0, backlog=BACKLOG)
    opened.append(first)
    port = first.getsockname()[1]
    with pytest.raises(BindError) as info:
        bind_tcp("127.0.0.1", port, backlog=BACKLOG)
    assert str(info.value) == f"127.0.0.1:{port}: address already in use"
    assert info.value.exit_code == 3
    assert isinstance(info.value.__cause__, OSError)
    assert info.value.__cause__.errno == errno.EADDRINUSE


def test_address_not_on_this_machine() -> None:
    # 192.0.2.0/24 is TEST-NET-1: never assigned to a local interface.
    with pytest.raises(BindError, match=r"^192\.0\.2\.1:8000: (cannot|can.t) assign requested address$"):
        bind_tcp("192.0.2.1", 8000, backlog=BACKLOG)


@needs_ipv6
def test_ipv6_error_brackets_the_host() -> None:
    with pytest.raises(BindError, match=r"^\[2001:db8::1\]:8000: (cannot|can.t) assign requested address$"):
        bind_tcp("2001:db8::1", 8000, backlog=BACKLOG)


# -- unix sockets -----------------------------------------------------------------------------


def test_bind_unix(tmp_path: Path, opened: list[socket.socket]) -> None:
    path = str(tmp_path / "app.sock")
    sock = bind_unix(path, backlog=BACKLOG)
    opened.append(sock)
    assert sock.family == socket.AF_UNIX
    assert describe(sock) == f"unix:{path}"
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    assert_listener_shape(sock)
    assert accepts_a_connection(sock)


def test_bind_unix_applies_the_mode(tmp_path: Path, opened: list[socket.socket]) -> None:
    path = tmp_path / "app.sock"
    opened.append(bind_unix(str(path), mode=0o660, backlog=BACKLOG))
    assert stat.S_IMODE(path.stat().st_mode) == 0o660


def test_stale_socket_file_is_replaced(tmp_path: Path, opened: list[socket.socket]) -> None:
    path = tmp_path / "app.sock"
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(str(path))  # bound, never listening, then closed: the file stays behind
    assert path.exists()
    sock = bind_unix(str(path), backlog=BACKLOG)
    opened.append(sock)
    assert accepts_a_connection(sock)


def test_live_socket_is_never_replaced(tmp_path: Path, opened: list[socket.socket]) -> None:
    path = tmp_path / "app.sock"
    live = bind_unix(str(path), backlog=BACKLOG)
    opened.append(live)
    with pytest.raises(BindError) as info:
        bind_unix(str(path), backlog=BACKLOG)
    assert str(info.value) == f"unix:{path}: address already in use (another process is listening on it)"
    assert accepts_a_connection(live)


def test_live_socket_with_a_full_queue_is_never_replaced(tmp_path: Path, opened: list[socket.socket]) -> None:
    path = tmp_path / "app.sock"
    live = socket.socket(socket.AF_UNIX)
    opened.append(live)
    live.bind(str(path))
    live.listen(0)
    # Fill the accept queue so that a further connect would block.
    for _ in range(8):
        filler = socket.socket(socket.AF_UNIX)
        opened.append(filler)
        filler.setblocking(False)
        try:
            filler.connect(str(path))
        except BlockingIOError:
            break
    with pytest.raises(BindError, match="address already in use"):
        bind_unix(str(path), backlog=BACKLOG)
    assert path.exists()


def test_regular_file_is_not_removed(tmp_path: Path) -> None:
    path = tmp_path / "app.sock"
    path.write_text("precious")
    with pytest.raises(BindError, match=r"exists and is not a socket; remove it or choose another path$"):
        bind_unix(str(path), backlog=BACKLOG)
    assert path.read_text() == "precious"


def test_unix_path_in_a_missing_directory(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "app.sock"
    with pytest.raises(BindError, match=rf"^unix:{path}: no such file or directory$"):
        bind_unix(str(path), backlog=BACKLOG)


def test_unix_path_too_long(tmp_path: Path) -> None:
    path = tmp_path / ("x" * 200)
    with pytest.raises(BindError, match="AF_UNIX path too long"):
        bind_unix(str(path), backlog=BACKLOG)


def test_unix_path_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(BindError, match="not a directory"):
        bind_unix(str(tmp_path / "file" / "app.sock"), backlog=BACKLOG)


def test_failed_mode_removes_the_new_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Root may chmod anything, so the refusal is injected; the bind itself is real.
    def refuse(path: str, mode: int) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted", path)

    monkeypatch.setattr(os, "chmod", refuse)
    path = tmp_path / "app.sock"
    with pytest.raises(BindError, match=rf"^unix:{path}: operation not permitted$"):
        bind_unix(str(path), mode=0o660, backlog=BACKLOG)
    assert not path.exists()


def test_socket_file_of_another_type_is_not_replaced(tmp_path: Path, opened: list[socket.socket]) -> None:
    path = tmp_path / "app.sock"
    datagram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    opened.append(datagram)
    datagram.bind(str(path))
    with pytest.raises(BindError, match=rf"^unix:{path}: protocol wrong type for socket$"):
        bind_unix(str(path), backlog=BACKLOG)
    assert path.exists()


def test_unix_name_too_long_for_the_file_system(tmp_path: Path) -> None:
    with pytest.raises(BindError, match="file name too long"):
        bind_unix(str(tmp_path / ("x" * 300)), backlog=BACKLOG)


def test_unlink_removes_only_sockets(tmp_path: Path) -> None:
    path = tmp_path / "app.sock"
    sock = bind_unix(str(path), backlog=BACKLOG)
    sock.close()
    unlink(str(path))
    assert not path.exists()
    unlink(str(path))  # already gone: nothing to do
    regular = tmp_path / "regular"
    regular.write_text("keep")
    unlink(str(regular))
    assert regular.read_text() == "keep"


def test_unreadable_directory_is_reported(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root ignores directory permissions")
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "app.sock").write_text("")
    locked.chmod(0)
    try:
        with pytest.raises(BindError, match="permission denied"):
            bind_unix(str(locked / "app.sock"), backlog=BACKLOG)
    finally:
        locked.chmod(0o700)


# -- inherited descriptors --------------------------------------------------------------------


def test_adopt_a_listening_tcp_socket(opened: list[socket.socket]) -> None:
    original = socket.create_server(("127.0.0.1", 0))
    opened.append(original)
    sock = adopt_fd(os.dup(original.fileno()), backlog=BACKLOG)
    opened.append(sock)
    assert sock.family == socket.AF_INET
    assert sock.getsockname() == original.getsockname()
    assert_listener_shape(sock)


def test_adopt_a_bound_unix_socket_starts_listening(tmp_path: Path, opened: list[socket.socket]) -> None:
    original = socket.socket(socket.AF_UNIX)
    opened.append(original)
    original.bind(str(tmp_path / "app.sock"))
    sock = adopt_fd(os.dup(original.fileno()), backlog=BACKLOG)
    opened.append(sock)
    assert sock.family == socket.AF_UNIX
    assert describe(sock) == f"unix:{tmp_path / 'app.sock'}"
    assert_listener_shape(sock)
    assert accepts_a_connection(sock)


def test_adopt_refuses_a_datagram_socket(opened: list[socket.socket]) -> None:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    opened.append(udp)
    with pytest.raises(BindError, match=rf"^fd://{udp.fileno()}: not a stream socket$"):
        adopt_fd(udp.fileno(), backlog=BACKLOG)
    assert udp.fileno() >= 0  # still open: a refused descriptor is left as found


def test_adopt_refuses_a_pipe() -> None:
    read_end, write_end = os.pipe()
    try:
        with pytest.raises(BindError, match=rf"^fd://{read_end}: socket operation on non-socket$"):
            adopt_fd(read_end, backlog=BACKLOG)
    finally:
        os.close(read_end)
        os.close(write_end)


def test_adopt_refuses_a_closed_descriptor() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    os.close(write_end)
    with pytest.raises(BindError, match=rf"^fd://{read_end}: bad file descriptor$"):
        adopt_fd(read_end, backlog=BACKLOG)


def test_adopt_refuses_a_socket_that_cannot_listen(opened: list[socket.socket]) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    opened.append(server)
    client = socket.create_connection(server.getsockname(), timeout=5)
    opened.append(client)
    with pytest.raises(BindError, match=rf"^fd://{client.fileno()}: "):
        adopt_fd(client.fileno(), backlog=BACKLOG)  # a connected socket is not a listener and cannot become one
    assert client.fileno() >= 0


# -- dispatch ---------------------------------------------------------------------------------


def test_open_listener_dispatches_on_the_address_shape(tmp_path: Path, opened: list[socket.socket]) -> None:
    tcp = open_listener(TcpBind("127.0.0.1", 0), backlog=16)
    opened.append(tcp)
    assert tcp.family == socket.AF_INET
    unix = open_listener(UnixBind(str(tmp_path / "a.sock")), uds_mode=0o600, backlog=BACKLOG)
    opened.append(unix)
    assert stat.S_IMODE(os.stat(tmp_path / "a.sock").st_mode) == 0o600
    adopted = open_listener(FdBind(os.dup(tcp.fileno())), backlog=BACKLOG)
    opened.append(adopted)
    assert adopted.getsockname() == tcp.getsockname()


def test_open_listener_rejects_other_objects() -> None:
    with pytest.raises(TypeError, match="not a bind address"):
        open_listener("127.0.0.1:8000", backlog=BACKLOG)  # type: ignore[arg-type]


def test_reason_keeps_acronyms() -> None:
    assert sockets._reason(OSError(errno.EADDRINUSE, "Address already in use")) == "address already in use"
    assert sockets._reason(OSError("AF_UNIX path too long")) == "AF_UNIX path too long"


def test_adopt_moves_a_listener_on_stdin_above_stdio() -> None:
    """fd://0 (inetd style): a worker's stdin becomes /dev/null, which must not replace the listener."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - measured in the child, reported through the pipe
        try:
            listener = socket.create_server(("127.0.0.1", 0))
            os.dup2(listener.fileno(), 0)
            listener.close()
            adopted = adopt_fd(0, backlog=BACKLOG)
            report = {
                "fd": adopted.fileno(),
                "stdin_is_null": stat.S_ISCHR(os.fstat(0).st_mode),
                "listening": adopted.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN),
            }
            os.write(writer, json.dumps(report).encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        report = json.loads(pipe.read())
    os.waitpid(pid, 0)
    assert report["fd"] >= 3
    assert report["stdin_is_null"] is True
    assert report["listening"] == 1
