"""The new master's side of `serve upgrade` (master/handover.py), in-process, on real pipes and loopback sockets.

What an old master hands over arrives in environment variables naming descriptors; whatever is
wrong with them (missing, not numbers, bad JSON, closed, not a socket) must leave this master
binding afresh or telling the old master why, never crash it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisor.config.convert import TcpBind, UnixBind
from supervisor.master.handover import (
    ENV_CONTROL_FD,
    ENV_ENDPOINTS,
    ENV_OWNED,
    ENV_READY_FD,
    MAX_REASON_CHARS,
    Handover,
    report_failure,
)

PRIVATE = (ENV_READY_FD, ENV_CONTROL_FD, ENV_OWNED, ENV_ENDPOINTS)


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    """(read end, write end); the write end is the handover's to close."""
    read_fd, write_fd = os.pipe()
    yield read_fd, write_fd
    os.close(read_fd)
    with contextlib.suppress(OSError):  # closed by the handover, as it should be
        os.close(write_fd)


def closed_fd() -> int:
    """A descriptor number that is not open (nothing opens one between this and its use)."""
    fd = os.dup(0)
    os.close(fd)
    return fd


def is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def said(read_fd: int) -> bytes:
    os.set_blocking(read_fd, False)
    try:
        return os.read(read_fd, 65536)
    except BlockingIOError:
        return b""


def listening_tcp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


# --- reading the environment ----------------------------------------------------------------


def test_a_master_not_started_by_an_upgrade_has_no_handover() -> None:
    environ = {"PATH": "/bin"}
    assert Handover.take(environ) is None
    assert environ == {"PATH": "/bin"}


@pytest.mark.parametrize("ready", ["", "x", "-1", "3.5"])
def test_without_a_usable_ready_descriptor_there_is_no_handover_and_no_variable_is_left(ready: str) -> None:
    environ = {
        ENV_READY_FD: ready,
        ENV_CONTROL_FD: "7",
        ENV_OWNED: "0",
        ENV_ENDPOINTS: '{"127.0.0.1:9100": 8}',
        "PATH": "/bin",
    }
    assert Handover.take(environ) is None
    assert environ == {"PATH": "/bin"}, "no worker may see the handover's variables"


def test_the_variables_are_read_and_removed(pipe: tuple[int, int]) -> None:
    _, write_fd = pipe
    os.set_inheritable(write_fd, True)
    environ = {
        ENV_READY_FD: str(write_fd),
        ENV_OWNED: "0,2,x,",
        ENV_ENDPOINTS: json.dumps({"127.0.0.1:9100": 40, "unix:/run/h.sock": 41}),
    }
    handover = Handover.take(environ)
    assert handover is not None
    assert not any(name in environ for name in PRIVATE)
    assert handover.pending
    assert handover.ready_fd == write_fd
    assert handover.control_fd is None
    assert handover.owned == (0, 2)
    assert handover.endpoint_fds == {"127.0.0.1:9100": 40, "unix:/run/h.sock": 41}
    assert not os.get_inheritable(write_fd), "nothing this master starts may keep the old one waiting"
    handover.endpoint_fds.clear()  # not real descriptors: nothing to close
    handover.close()


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "[6, 7]",
        '"6"',
        '{"127.0.0.1:9100": "6"}',
        '{"127.0.0.1:9100": 2}',
        '{"127.0.0.1:9100": null}',
        '{"127.0.0.1:9100": -5}',
    ],
)
def test_a_bad_endpoint_map_leaves_every_endpoint_to_be_bound_afresh(pipe: tuple[int, int], text: str) -> None:
    _, write_fd = pipe
    handover = Handover.take({ENV_READY_FD: str(write_fd), ENV_ENDPOINTS: text})
    assert handover is not None
    assert handover.endpoint_fds == {}
    assert handover.endpoint_socket(TcpBind("127.0.0.1", 9100)) is None
    handover.close()


def test_closed_descriptors_are_taken_without_a_crash_and_the_old_master_cannot_be_told() -> None:
    ready, control = closed_fd(), closed_fd()
    handover = Handover.take({ENV_READY_FD: str(ready), ENV_CONTROL_FD: str(control)})
    assert handover is not None
    assert handover.control_socket("/run/serve.sock") is None
    handover.failed("the old master is gone")  # logged, not raised
    assert not handover.pending
    handover.close()


# --- the control socket --------------------------------------------------------------------


def test_the_control_socket_is_taken_when_it_is_bound_where_the_file_says(tmp_path: Path) -> None:
    path = str(tmp_path / "serve.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as bound:
        bound.bind(path)
        bound.listen()
        fd = os.dup(bound.fileno())
        handover = Handover(closed_fd(), fd)
        taken = handover.control_socket(path)
        assert taken is not None
        with taken:
            assert taken.getsockname() == path
        assert handover.control_socket(path) is None, "taken once"


def test_a_control_socket_elsewhere_or_of_another_kind_is_closed_and_bound_afresh(tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as bound, listening_tcp() as tcp:
        bound.bind(str(tmp_path / "old.sock"))
        bound.listen()
        for sock in (bound, tcp):
            fd = os.dup(sock.fileno())
            assert Handover(closed_fd(), fd).control_socket(str(tmp_path / "new.sock")) is None
            assert not is_open(fd)


def test_a_control_descriptor_that_is_not_a_socket_is_closed_and_bound_afresh(pipe: tuple[int, int]) -> None:
    read_fd, _ = pipe
    fd = os.dup(read_fd)
    assert Handover(closed_fd(), fd).control_socket("/run/serve.sock") is None
    assert not is_open(fd)


# --- the endpoint sockets ------------------------------------------------------------------


def test_an_endpoint_socket_is_taken_by_the_endpoint_at_its_address_only(tmp_path: Path) -> None:
    with listening_tcp() as tcp, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:
        unix.bind(str(tmp_path / "h.sock"))
        unix.listen()
        port = tcp.getsockname()[1]
        tcp_fd, unix_fd = os.dup(tcp.fileno()), os.dup(unix.fileno())
        handover = Handover(
            closed_fd(),
            None,
            endpoint_fds={"no address": 99, f"127.0.0.1:{port}": tcp_fd, f"unix:{unix.getsockname()}": unix_fd},
        )
        assert handover.endpoint_socket(TcpBind("127.0.0.1", port + 1)) is None
        assert handover.endpoint_socket(UnixBind(str(tmp_path / "other.sock"))) is None
        taken = handover.endpoint_socket(TcpBind("127.0.0.1", port))
        assert taken is not None
        with taken:
            assert taken.fileno() == tcp_fd
            assert taken.getsockname() == tcp.getsockname()
        assert handover.endpoint_socket(TcpBind("127.0.0.1", port)) is None, "taken once"
        handover.endpoint_fds.pop("no address")  # not a real descriptor: nothing to close
        handover.close_endpoints()
        assert not is_open(unix_fd), "a socket no endpoint took is the old master's alone"
        assert handover.endpoint_fds == {}


def test_a_closed_endpoint_descriptor_is_bound_afresh() -> None:
    handover = Handover(closed_fd(), None, endpoint_fds={"127.0.0.1:9100": closed_fd()})
    assert handover.endpoint_socket(TcpBind("127.0.0.1", 9100)) is None
    assert handover.endpoint_fds == {}


# --- what the old master hears ---------------------------------------------------------------


def test_ready_is_said_once_and_the_pipe_closed(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    handover = Handover(write_fd, None)
    handover.ready()
    handover.failed("too late")  # one line only: the first
    assert not handover.pending
    assert said(read_fd) == b"ready\n"
    assert not is_open(write_fd)


def test_a_failure_is_one_line_of_bounded_length(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    Handover(write_fd, None).failed("app\nfailed:\t" + "x" * (2 * MAX_REASON_CHARS))
    line = said(read_fd)
    assert line.startswith(b"failed: app failed: xxx")
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert len(line) == len("failed: ") + MAX_REASON_CHARS + 1


def test_a_failure_before_the_master_exists_reaches_the_old_master(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    environ = {ENV_READY_FD: str(write_fd), ENV_CONTROL_FD: str(closed_fd())}
    report_failure("the file is invalid", environ)
    assert environ == {}
    assert said(read_fd) == b"failed: the file is invalid\n"
    assert not is_open(write_fd)
    report_failure("nobody waits", {})  # not started by an upgrade: nothing to do


def test_close_lets_go_of_every_descriptor_not_used(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    with listening_tcp() as tcp:
        control, endpoint = os.dup(tcp.fileno()), os.dup(tcp.fileno())
        handover = Handover(write_fd, control, endpoint_fds={"127.0.0.1:9100": endpoint})
        handover.close()
        assert not any(is_open(fd) for fd in (write_fd, control, endpoint))
        assert not handover.pending
        assert said(read_fd) == b"", "closing says nothing: the old master reads end of file"
