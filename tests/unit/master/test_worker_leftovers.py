"""What a reaped worker leaves behind: its process group is ended (master/processes.py Groups), its
output pipe closed after a bounded grace (master/output.py OutputRouter.expire)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from supervisor.master import child
from supervisor.master.output import PIPE_GRACE_S, OutputRouter
from supervisor.master.processes import GROUP_GRACE_S, Groups, signal_group
from supervisor.master.reactor import Reactor

# Ignores SIGTERM, then says so on stdout (a pipe here), then waits to be killed.
STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('armed', flush=True); time.sleep(60)"
)


def leader(*argv: str) -> subprocess.Popen[bytes]:
    """A process leading a group of its own, as a worker does (its pid is the group's id)."""
    return subprocess.Popen(list(argv), start_new_session=True, stdout=subprocess.PIPE)


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:  # only the processes this test started, by their Popen
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()


def test_a_worker_forks_into_a_group_of_its_own_a_watcher_into_the_masters() -> None:
    for own_group in (True, False):
        reader, writer = os.pipe()
        pid = child.fork(own_group=own_group)
        if pid == 0:  # pragma: no cover - measured in the child, reported through the pipe
            try:
                os.write(writer, str(os.getpgrp()).encode())
            finally:
                os._exit(0)
        os.close(writer)
        try:
            with os.fdopen(reader, "rb") as pipe:
                group = int(pipe.read())
        finally:
            os.waitpid(pid, 0)
        assert group == (pid if own_group else os.getpgrp())


def test_a_group_that_ends_on_sigterm_is_forgotten_once_empty(started: list[subprocess.Popen[bytes]]) -> None:
    sleeper = leader("sleep", "60")
    started.append(sleeper)
    groups = Groups()
    groups.end(sleeper.pid, now=100.0)
    assert groups.next_deadline() == 100.0 + GROUP_GRACE_S
    assert sleeper.wait(5) == -signal.SIGTERM
    groups.expire(now=100.0)  # before its deadline, but empty: nothing left to signal, ever
    assert len(groups) == 0
    assert groups.next_deadline() is None


def test_what_ignores_sigterm_is_killed_at_the_end_of_the_grace(started: list[subprocess.Popen[bytes]]) -> None:
    stubborn = leader(sys.executable, "-c", STUBBORN)
    started.append(stubborn)
    assert stubborn.stdout is not None
    assert stubborn.stdout.readline() == b"armed\n"
    groups = Groups()
    groups.end(stubborn.pid, now=100.0)
    groups.expire(now=100.0 + GROUP_GRACE_S - 0.1)
    assert stubborn.poll() is None  # SIGTERM ignored, grace not over
    assert len(groups) == 1
    groups.expire(now=100.0 + GROUP_GRACE_S)
    assert len(groups) == 0  # forgotten as it is killed: never signalled again
    assert stubborn.wait(5) == -signal.SIGKILL


def test_wait_is_bounded_by_the_grace(started: list[subprocess.Popen[bytes]]) -> None:
    stubborn = leader(sys.executable, "-c", STUBBORN)
    started.append(stubborn)
    assert stubborn.stdout is not None
    assert stubborn.stdout.readline() == b"armed\n"
    groups = Groups()
    begun = time.monotonic()
    groups.end(stubborn.pid, now=begun - GROUP_GRACE_S + 0.3)  # 0.3 s of its grace left
    groups.wait()
    assert 0.2 < time.monotonic() - begun < 3.0
    assert stubborn.wait(5) == -signal.SIGKILL


def test_no_group_no_entry_and_a_reused_pid_drops_one() -> None:
    groups = Groups()
    with subprocess.Popen(["true"]) as gone:  # in the test's own group: no group of its pid
        gone.wait(5)
    groups.end(gone.pid, now=0.0)
    assert len(groups) == 0
    groups.deadlines[4242] = 1.0
    groups.reused(4242)  # a new worker got that pid: the group was empty
    assert len(groups) == 0


def test_a_group_of_another_user_counts_as_there(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(pgid: int, sig: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "killpg", refused)
    assert signal_group(4242, 0)


def test_the_pipe_outlives_the_group_grace() -> None:
    # What a helper wrote before its SIGKILL is read before its worker's pipe is closed.
    assert GROUP_GRACE_S < PIPE_GRACE_S


@pytest.fixture
def router() -> Iterator[tuple[OutputRouter, list[str]]]:
    reactor = Reactor()
    lines: list[str] = []
    routed = OutputRouter(lambda app, pid, text: lines.append(text), reactor)
    yield routed, lines
    routed.close_all()
    reactor.close_selector()


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_a_reaped_workers_pipe_is_closed_after_its_grace_whoever_holds_it(
    router: tuple[OutputRouter, list[str]],
) -> None:
    routed, lines = router
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    routed.add(read_fd, "api", 42)
    try:
        assert routed.next_deadline() is None  # a live worker's pipe has none
        before = time.monotonic()
        routed.worker_exited(read_fd, 42)  # the write end is still held (a daemon the app started)
        close_at = routed.next_deadline()
        assert close_at is not None
        assert before + PIPE_GRACE_S <= close_at <= time.monotonic() + PIPE_GRACE_S
        routed.worker_exited(read_fd, 42)  # again: the grace is not pushed back
        assert routed.next_deadline() == close_at
        routed.expire(close_at - 0.01)
        assert _is_open(read_fd)
        os.write(write_fd, b"late\nunterminated")
        routed.expire(close_at)
        assert lines == ["late", "unterminated"]  # what was there is delivered first
        assert not _is_open(read_fd)
        assert routed.filenos() == []
        assert routed.next_deadline() is None
        with pytest.raises(BrokenPipeError):  # what the holder writes now is lost
            os.write(write_fd, b"too late\n")
    finally:
        os.close(write_fd)


def test_a_pipe_at_its_end_when_the_worker_is_reaped_needs_no_grace(router: tuple[OutputRouter, list[str]]) -> None:
    routed, lines = router
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    routed.add(read_fd, "api", 42)
    os.write(write_fd, b"bye\n")
    os.close(write_fd)
    routed.worker_exited(read_fd, 42)
    assert lines == ["bye"]
    assert routed.next_deadline() is None
    assert not _is_open(read_fd)
