"""master/output.py: worker pipes read only when readable and closed at end of file; where their lines go."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from supervisor.master import outlets, output
from supervisor.master.output import MAX_LINE_BYTES, OutputRouter, PlainLog
from supervisor.master.reactor import READ, WRITE, Handler


class FakeWatch:
    """A Watch that records registrations; the test fires the handlers."""

    def __init__(self) -> None:
        self.entries: dict[int, tuple[int, Handler, Callable[[], None] | None]] = {}
        self.closed: list[int] = []

    def watch(
        self, fd: int, events: int, handler: Handler, *, name: str, on_error: Callable[[], None] | None = None
    ) -> None:
        self.entries[fd] = (events, handler, on_error)

    def modify(self, fd: int, events: int) -> None:
        _, handler, on_error = self.entries[fd]
        self.entries[fd] = (events, handler, on_error)

    def forget(self, fd: int) -> None:
        self.entries.pop(fd, None)

    def close(self, fd: int) -> None:
        self.forget(fd)
        with contextlib.suppress(OSError):
            os.close(fd)
        self.closed.append(fd)

    def fire(self, fd: int, events: int = READ) -> None:
        self.entries[fd][1](events)


Lines = list[tuple[str, int, str]]


@pytest.fixture
def watch() -> FakeWatch:
    return FakeWatch()


@pytest.fixture
def lines() -> Lines:
    return []


@pytest.fixture
def router(watch: FakeWatch, lines: Lines) -> Iterator[OutputRouter]:
    routed = OutputRouter(lambda app, pid, text: lines.append((app, pid, text)), watch)
    yield routed
    routed.close_all()


def worker_pipe(router: OutputRouter, app: str = "api", pid: int = 42) -> tuple[int, int]:
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    router.add(read_fd, app, pid)
    return read_fd, write_fd


def is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_a_pipe_is_watched_and_read_into_lines_only_when_readable(
    router: OutputRouter, watch: FakeWatch, lines: Lines
) -> None:
    read_fd, write_fd = worker_pipe(router)
    assert watch.entries[read_fd][0] == READ
    os.write(write_fd, b"one\r\ntwo\nthr")
    assert lines == []  # nothing read until the loop says so
    watch.fire(read_fd)
    assert lines == [("api", 42, "one"), ("api", 42, "two")]
    os.write(write_fd, b"ee\n" + b"x" * (MAX_LINE_BYTES + 10))
    watch.fire(read_fd)
    assert lines[2:] == [("api", 42, "three"), ("api", 42, "x" * MAX_LINE_BYTES)]
    os.close(write_fd)
    watch.fire(read_fd)  # end of file: the last unterminated line, then forgotten and closed
    assert lines[4:] == [("api", 42, "x" * 10)]
    assert read_fd not in watch.entries
    assert read_fd in watch.closed
    assert router.filenos() == []


def test_a_pipe_held_by_a_grandchild_is_read_without_waiting_and_kept_until_its_end(
    router: OutputRouter, watch: FakeWatch, lines: Lines
) -> None:
    read_fd, write_fd = worker_pipe(router)
    # The app's helper process inherited the worker's stdout: the pipe outlives the worker.
    helper = subprocess.Popen(["sleep", "30"], pass_fds=(write_fd,))
    try:
        os.write(write_fd, b"last words\n")
        os.close(write_fd)  # the worker is gone
        started = time.monotonic()
        router.worker_exited(read_fd, 42)
        router.worker_exited(read_fd, 42)  # nothing there now: returns at once, never loops waiting
        assert time.monotonic() - started < 1.0
        assert lines == [("api", 42, "last words")]
        assert watch.entries[read_fd][0] == READ  # still watched: the helper may write more
        assert is_open(read_fd)
    finally:
        helper.kill()
        helper.wait()
    watch.fire(read_fd)  # the helper is gone: end of file
    assert read_fd not in watch.entries
    assert read_fd in watch.closed


def test_worker_exited_reads_a_bounded_amount_then_leaves_the_rest_to_the_loop(
    router: OutputRouter, watch: FakeWatch, lines: Lines
) -> None:
    read_fd, write_fd = worker_pipe(router)
    os.write(write_fd, b"a\nb\n")
    router.worker_exited(read_fd, 42)
    assert [text for _, _, text in lines] == ["a", "b"]
    os.close(write_fd)
    router.worker_exited(read_fd, 42)  # end of file reached here: closed
    assert read_fd in watch.closed


def test_close_all_delivers_what_is_there_and_closes_every_pipe_at_once(
    router: OutputRouter, watch: FakeWatch, lines: Lines
) -> None:
    first, first_writer = worker_pipe(router, "api", 1)
    second, second_writer = worker_pipe(router, "web", 2)
    try:
        os.write(first_writer, b"done\npartial")
        started = time.monotonic()
        router.close_all()  # the writers are still open (a helper holds them): no waiting
        assert time.monotonic() - started < 1.0
        assert lines == [("api", 1, "done"), ("api", 1, "partial")]
        assert watch.entries == {}
        assert not is_open(first)
        assert not is_open(second)
    finally:
        os.close(first_writer)
        os.close(second_writer)


def test_a_failed_handler_closes_its_pipe(router: OutputRouter, watch: FakeWatch) -> None:
    read_fd, write_fd = worker_pipe(router)
    on_error = watch.entries[read_fd][2]
    assert on_error is not None
    watch.forget(read_fd)  # what the loop does before calling on_error
    on_error()
    assert not is_open(read_fd)
    os.close(write_fd)


@pytest.fixture
def stderr_pipe(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """The master's stderr is a pipe for the test: PlainLog opens its write end; the read end is returned.

    fd 2 itself is pytest's (its capture puts it back between phases), so the pipe stands in
    for it through the opener's descriptor argument, the same code path.
    """
    read_fd, write_fd = os.pipe()
    monkeypatch.setattr(output, "open_stream", functools.partial(outlets.open_stream, write_fd))
    try:
        yield read_fd
    finally:
        os.close(write_fd)
        os.close(read_fd)


def test_plain_log_lines_go_to_stderr_the_log_file_and_recent(stderr_pipe: int, tmp_path: Path) -> None:
    log = PlainLog(watch=FakeWatch())
    log.set_log_file("api", str(tmp_path / "api.log"))
    log("api", 42, "hello")
    log("web", 43, "hi")
    log.master_line("INFO:     Master 1 serving")
    log.close()
    assert os.read(stderr_pipe, 1000) == b"api[42] hello\nweb[43] hi\nINFO:     Master 1 serving\n"
    assert (tmp_path / "api.log").read_text() == "api[42] hello\n"
    assert list(log.recent) == ["api[42] hello", "web[43] hi"]
    assert log.dropped == {}


def test_a_full_disk_under_one_app_leaves_the_others_and_stderr_alone(
    stderr_pipe: int, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = PlainLog(watch=FakeWatch())
    log.set_log_file("full", "/dev/full")
    log.set_log_file("fine", str(tmp_path / "fine.log"))
    with caplog.at_level(logging.WARNING, logger="serve.error"):
        for number in range(5):
            log("full", 1, f"f{number}")
            log("fine", 2, f"ok{number}")
    assert (tmp_path / "fine.log").read_text() == "".join(f"fine[2] ok{n}\n" for n in range(5))
    assert os.read(stderr_pipe, 1 << 16).count(b"\n") == 10
    assert log.dropped == {"/dev/full": 5}
    assert [r.getMessage() for r in caplog.records] == [
        "Lines to /dev/full are being dropped: No space left on device; retried on USR1 or in 10 s."
    ]
    log.set_log_file("full", str(tmp_path / "moved.log"))  # a reload pointed it elsewhere: the count stays
    log("full", 1, "saved")
    assert log.dropped == {"/dev/full": 5}
    assert (tmp_path / "moved.log").read_text() == "full[1] saved\n"
    log.close()


def test_a_stalled_stderr_says_so_in_the_recent_lines(stderr_pipe: int) -> None:
    watch = FakeWatch()
    log = PlainLog(watch=watch)
    for number in range(20000):  # about twice what the pipe and the buffer hold
        log("api", 1, f"line {number} " + "x" * 80)
        if log.dropped:
            break
    assert log.recent[-1].endswith("WARNING: Lines to stderr are being dropped: its reader fell 1024 KiB behind.")
    for number in range(100):
        log("api", 1, f"more {number}")
    assert log.dropped == {"stderr": 101}
    stderr_fd = log.filenos()[0]
    assert watch.entries[stderr_fd][0] == WRITE
    deadline = time.monotonic() + 5.0
    while stderr_fd in watch.entries and time.monotonic() < deadline:  # the reader catches up
        with contextlib.suppress(BlockingIOError):
            os.read(stderr_pipe, 1 << 20)
        watch.fire(stderr_fd, WRITE)
    assert log.recent[-1].endswith(
        f"WARNING: {log.dropped['stderr']} lines dropped: stderr (its reader fell 1024 KiB behind)"
    )
    log.close(0.0)


def test_usr1_reopens_a_moved_log_file(tmp_path: Path) -> None:
    log = PlainLog(to_stream=False)
    path = tmp_path / "api.log"
    log.set_log_file("api", str(path))
    log("api", 1, "before")
    path.rename(tmp_path / "api.log.1")  # logrotate
    log("api", 1, "still into the moved file")
    log.reopen()
    log("api", 1, "after")
    assert (tmp_path / "api.log.1").read_text() == "api[1] before\napi[1] still into the moved file\n"
    assert path.read_text() == "api[1] after\n"
    log.close()


def test_a_reaped_workers_old_pipe_number_given_to_a_new_worker_is_left_alone(
    router: OutputRouter, watch: FakeWatch, lines: Lines
) -> None:
    # Found by a review (stop 20): a worker whose pipe had ended (its stdout sent to /dev/null)
    # was reaped after the same number was given to a new worker's pipe, and the new worker's
    # pipe was closed PIPE_GRACE_S later: every later line of a live worker lost.
    old_read, old_write = worker_pipe(router, pid=41)
    os.close(old_write)
    watch.fire(old_read)  # end of file: closed, and the number free again
    assert old_read in watch.closed
    new_read, new_write = os.pipe()  # the lowest free number: most likely old_read's again
    try:
        os.set_blocking(new_read, False)
        router.add(new_read, "api", 43)
        router.worker_exited(new_read, 41)  # what the reaped worker's record names, were it that number
        assert router.next_deadline() is None  # no grace started for worker 43's pipe
        os.write(new_write, b"still here\n")
        watch.fire(new_read)
        assert lines[-1] == ("api", 43, "still here")
    finally:
        os.close(new_write)
