"""master/outlets.py: destinations written without blocking, with real pipes, terminals, sockets and /dev/full."""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import pty
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from supervisor.master.outlets import Outlet, open_file, open_stream
from supervisor.master.reactor import Reactor

LIMIT = 16384  # smaller than a pipe: once the reader empties the pipe, one flush empties the buffer
LINES = 3000  # of 96 bytes: several times what a pipe and the buffer hold together
WAIT_S = 5.0


class Notices(list[str]):
    def __call__(self, outlet: Outlet, text: str) -> None:
        self.append(text)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def reactor() -> Iterator[Reactor]:
    loop = Reactor()
    yield loop
    loop.close_selector()


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    yield read_fd, write_fd
    for fd in (read_fd, write_fd):
        os.close(fd)


def line(number: int) -> bytes:
    return f"line {number:05d} ".encode() + b"x" * 84 + b"\n"


def fill(outlet: Outlet) -> float:
    """Write LINES lines into an outlet nobody reads; how long it took."""
    started = time.monotonic()
    for number in range(LINES):
        outlet.write(line(number))
    return time.monotonic() - started


def drain(read: Callable[[], bytes], reactor: Reactor, until: bytes) -> bytes:
    """Read what arrives, letting the loop flush the outlet, until `until` has come."""
    received = b""
    deadline = time.monotonic() + WAIT_S
    while until not in received and time.monotonic() < deadline:
        with contextlib.suppress(BlockingIOError):
            received += read()
        reactor.poll(0.01)
    return received


def check_gap(received: bytes, outlet: Outlet) -> None:
    """Lines 0..k-1 arrived in order, then the line saying the other LINES-k were dropped."""
    *kept, marker = received.decode().splitlines()
    assert kept == [line(number).decode().rstrip("\n") for number in range(len(kept))]
    assert outlet.dropped == LINES - len(kept) > 0
    assert marker.endswith(f"WARNING: {outlet.dropped} lines dropped: {outlet.name} (its reader fell 16 KiB behind)")


def test_a_pipe_nobody_reads_never_blocks_the_writer_and_drops_what_does_not_fit(
    pipe: tuple[int, int], reactor: Reactor
) -> None:
    read_fd, write_fd = pipe
    notices = Notices()
    outlet = Outlet("stderr", functools.partial(open_stream, write_fd), notice=notices, watch=reactor, limit=LIMIT)
    assert fill(outlet) < WAIT_S
    assert os.get_blocking(write_fd)  # the shared description (the shell's pipe) was left as it was
    assert len(outlet.pending) <= LIMIT
    assert notices == ["Lines to stderr are being dropped: its reader fell 16 KiB behind."]
    assert reactor.watched(outlet.fileno() or -1)

    received = drain(lambda: os.read(read_fd, 1 << 20), reactor, until=b"lines dropped")
    check_gap(received, outlet)
    assert notices[1] == f"{outlet.dropped} lines dropped: stderr (its reader fell 16 KiB behind)"
    assert not reactor.watched(outlet.fileno() or -1)  # drained: no longer watched for WRITE

    outlet.write(b"after\n")
    assert os.read(read_fd, 100) == b"after\n"
    outlet.close()


def test_without_a_loop_waiting_lines_go_out_with_the_next_line(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    outlet = Outlet("stderr", functools.partial(open_stream, write_fd), notice=Notices(), limit=LIMIT)
    fill(outlet)
    received = os.read(read_fd, 1 << 20)
    outlet.write(b"next\n")
    received += os.read(read_fd, 1 << 20)
    assert received.endswith(b"\nnext\n")
    check_gap(received.removesuffix(b"next\n"), outlet)


def test_a_terminal_is_reopened_not_switched_to_non_blocking(reactor: Reactor) -> None:
    primary, secondary = pty.openpty()
    try:
        os.set_blocking(primary, False)
        outlet = Outlet(
            "stderr", functools.partial(open_stream, secondary), notice=Notices(), watch=reactor, limit=LIMIT
        )
        assert fill(outlet) < WAIT_S  # like a terminal paused with Ctrl-S: nobody reads it
        assert outlet.dropped > 0
        assert os.get_blocking(secondary)
        assert outlet.fileno() != secondary
        received = drain(lambda: os.read(primary, 1 << 20), reactor, until=b"lines dropped")
        assert f"{outlet.dropped} lines dropped: stderr".encode() in received
        outlet.close()
    finally:
        os.close(primary)
        os.close(secondary)


def test_a_socket_is_written_with_dontwait(reactor: Reactor) -> None:
    ours, journal = socket.socketpair()
    journal.setblocking(False)
    try:
        outlet = Outlet(
            "stderr", functools.partial(open_stream, ours.fileno()), notice=Notices(), watch=reactor, limit=LIMIT
        )
        assert fill(outlet) < WAIT_S
        assert ours.getblocking()
        check_gap(drain(lambda: journal.recv(1 << 20), reactor, until=b"lines dropped"), outlet)
        outlet.close()
    finally:
        ours.close()
        journal.close()


def test_a_regular_file_is_appended_to_through_the_shared_offset(tmp_path: Path) -> None:
    path = tmp_path / "stderr.log"
    shared = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        os.write(shared, b"before\n")
        outlet = Outlet("stderr", functools.partial(open_stream, shared), notice=Notices())
        outlet.write(b"ours\n")
        os.write(shared, b"after\n")
        assert outlet.channel is not None
        assert not outlet.channel.pollable  # epoll refuses regular files; they never block anyway
        outlet.close()
    finally:
        os.close(shared)
    assert path.read_text() == "before\nours\nafter\n"


def test_a_full_disk_drops_and_counts_and_warns_once_until_retried() -> None:
    notices, clock = Notices(), Clock()
    outlet = Outlet("/dev/full", functools.partial(open_file, "/dev/full"), notice=notices, clock=clock)
    for _ in range(3):
        outlet.write(b"text\n")  # ENOSPC, every time: never raised
    assert outlet.dropped == 3
    assert outlet.fileno() is None  # closed until retried
    assert notices == ["Lines to /dev/full are being dropped: No space left on device; retried on USR1 or in 10 s."]
    clock.now += 10.0
    outlet.write(b"text\n")  # retried, failed again: the same gap goes on
    outlet.reopen()
    outlet.write(b"text\n")
    assert (outlet.dropped, outlet.gap, len(notices)) == (5, 5, 1)


def test_a_file_that_fails_is_left_alone_until_the_retry_then_marks_its_gap(tmp_path: Path) -> None:
    path = tmp_path / "rotated" / "app.log"  # its directory went away (a logrotate gone wrong)
    notices, clock = Notices(), Clock()
    outlet = Outlet(str(path), functools.partial(open_file, str(path)), notice=notices, clock=clock)
    outlet.write(b"lost 1\n")
    path.parent.mkdir()
    outlet.write(b"lost 2\n")  # not retried yet
    assert not path.exists()
    clock.now += 10.0
    outlet.write(b"back\n")
    lines = path.read_text().splitlines()
    assert lines[0].endswith(f"WARNING: 2 lines dropped: {path} (No such file or directory)")
    assert lines[1:] == ["back"]
    assert notices[-1] == f"2 lines dropped: {path} (No such file or directory)"
    outlet.close()


def test_usr1_retries_a_failed_file_at_once(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "app.log"
    outlet = Outlet(str(path), functools.partial(open_file, str(path)), notice=Notices(), clock=Clock())
    outlet.write(b"lost\n")
    path.parent.mkdir()
    outlet.reopen()
    outlet.write(b"back\n")
    assert path.read_text().splitlines()[1:] == ["back"]
    assert outlet.dropped == 1


def test_a_fifo_without_a_reader_fails_instead_of_blocking(tmp_path: Path) -> None:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    outlet = Outlet(str(path), functools.partial(open_file, str(path)), notice=Notices())
    outlet.write(b"nobody listens\n")
    assert outlet.dropped == 1
    assert outlet.reason == os.strerror(errno.ENXIO)


class TornChannel:
    """A disk that fills in the middle of a line: `room` bytes go in, then ENOSPC."""

    pollable = False

    def __init__(self, written: bytearray, room: int) -> None:
        self.written = written
        self.room = room

    def fileno(self) -> int:
        return -1

    def write(self, data: memoryview) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        taken = bytes(data[: self.room])
        self.written += taken
        self.room -= len(taken)
        return len(taken)

    def close(self) -> None:
        pass


def test_a_line_cut_short_by_a_failure_is_not_glued_to_the_gap_marker() -> None:
    written = bytearray()
    rooms = iter([4, 1000])
    outlet = Outlet("app.log", lambda: TornChannel(written, next(rooms)), notice=Notices())
    outlet.write(b"cut short\n")
    outlet.reopen()
    outlet.write(b"whole\n")
    first, marker, last = written.decode().split("\n", 2)
    assert (first, last) == ("cut ", "whole\n")
    assert marker.endswith("WARNING: 1 line dropped: app.log (No space left on device)")


def test_close_waits_a_bounded_time_for_a_stalled_reader(pipe: tuple[int, int]) -> None:
    _, write_fd = pipe  # the read end stays open, unread
    outlet = Outlet("stderr", functools.partial(open_stream, write_fd), notice=Notices(), limit=LIMIT)
    fill(outlet)
    started = time.monotonic()
    outlet.close(0.2)
    assert 0.15 < time.monotonic() - started < 2.0
    assert outlet.fileno() is None
    outlet.write(b"ignored\n")


def test_close_writes_what_waits_once_the_reader_caught_up(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    outlet = Outlet("stderr", functools.partial(open_stream, write_fd), notice=Notices(), limit=LIMIT)
    fill(outlet)
    received = os.read(read_fd, 1 << 20)  # the reader empties the pipe; nobody tells the outlet
    outlet.close(WAIT_S)
    received += os.read(read_fd, 1 << 20)
    check_gap(received, outlet)


def test_the_masters_own_lines_get_through_a_flood_of_worker_lines(pipe: tuple[int, int], reactor: Reactor) -> None:
    read_fd, write_fd = pipe
    outlet = Outlet("stderr", functools.partial(open_stream, write_fd), notice=Notices(), watch=reactor, limit=LIMIT)
    fill(outlet)
    outlet.write(b"ERROR: the master speaks\n", urgent=True)  # kept, in the reserve beyond the limit
    outlet.write(b"a worker line\n")  # the gap is open: dropped
    received = drain(lambda: os.read(read_fd, 1 << 20), reactor, until=b"lines dropped")
    *_, urgent, marker = received.decode().splitlines()
    assert urgent == "ERROR: the master speaks"
    assert marker.endswith(f"WARNING: {outlet.dropped} lines dropped: stderr (its reader fell 16 KiB behind)")
    assert outlet.dropped == LINES + 1 - received.count(b"line ")
