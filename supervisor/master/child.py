"""The first steps of every process forked from the master (workers and file watchers).

A child must keep nothing of the master's: not its selector, its signal wake-up socket,
its control socket, the endpoints' clients, other workers' pipes, nor listening sockets it
does not serve. Every descriptor but stdio and the ones it needs is closed, whatever
opened it, so a descriptor the master opened in a corner (a log file, a library's) cannot
outlive the fork: a child holding a copy keeps an epoll registration, a pipe's write end or
a socket alive long after the master closed its own.

A worker leads a process group of its own (`fork(own_group=True)`): whatever its app starts
is in it, and the master ends the group when it reaps the worker (master/processes.py). A
watcher starts nothing and stays in the master's group.

This runs before the child imports anything: an import could open descriptors of its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterable

from supervisor.master.wakeup import MASTER_SIGNALS

_FIRST_FD = 3  # 0, 1 and 2 are the child's stdio, set up by the caller


def fork(*, own_group: bool = False) -> int:
    """os.fork with the master's signals blocked in the child until `detach_from_master`.

    Between the fork and `detach_from_master`, the child still has the master's recording
    handlers: a SIGTERM sent to a worker that early (retired right after it was spawned, in
    a storm of SIGHUPs) would be recorded for a loop the child does not run, and lost; the
    worker would then start, serve, and be SIGKILLed at graceful_timeout. Blocked, it stays
    pending until the child has its own dispositions. The parent's mask is restored at once.

    With `own_group`, the child leads a process group of its own (id: its pid), so that the
    master can end whatever the child starts along with it (os.killpg). Both sides set it,
    the usual way to close the race: the child before it runs anything that could fork, the
    parent before it could signal the group.

    Raises:
        OSError: the fork failed.
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, MASTER_SIGNALS)
    try:
        pid = os.fork()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        raise
    if own_group:
        # Fails only for a child already gone, or one that left the master's session: it stays
        # where it is, and killpg finds no group of that id to end.
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)  # in the child pid is 0: setpgid(0, 0), its own pid
    if pid:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    return pid


def fork_with_pipe(*, own_group: bool = False) -> tuple[int, int, int]:
    """A pipe for the child's output, then `fork` (`own_group` as there): (pid, read end, write end), as os.fork's pid.

    Buffered output is flushed first, or the child would write it a second time. If the
    flush or the fork fails, both ends are closed again before the error is raised: the
    master retries a failed spawn with backoff, and must not leak a pipe each time.

    Raises:
        OSError: the pipe, the flush or the fork failed.
    """
    read_fd, write_fd = os.pipe()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = fork(own_group=own_group)
    except BaseException:
        os.close(read_fd)
        os.close(write_fd)
        raise
    return pid, read_fd, write_fd


def detach_from_master(keep: Iterable[int]) -> None:
    """Default signal dispositions (INT and HUP ignored), no wake-up fd, every descriptor >= 3 closed but `keep`.

    INT and HUP are ignored because a terminal's Ctrl-C and hang-up reach the whole process
    group (a watcher shares the master's; a worker, in a group of its own, gets them only
    when sent to it), and the master decides what they mean. stdin is /dev/null: a worker's
    group is in the background of the master's terminal, where a read would stop it
    (SIGTTIN). Signals blocked across the fork are unblocked last, when their default
    dispositions are in place: a pending SIGTERM then ends a child that was retired before
    it could start.
    """
    # The master's stdio may be replaced by writers into its own loop (logs.LineStream): the
    # child writes to the real descriptors.
    sys.stdout = sys.__stdout__ or sys.stdout
    sys.stderr = sys.__stderr__ or sys.stderr
    signal.set_wakeup_fd(-1)
    for sig in MASTER_SIGNALS:  # the master's recording handlers: the child gets the defaults back
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    close_all_but(keep)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())


def close_all_but(keep: Iterable[int]) -> None:
    """Close every descriptor from 3 up, except those in `keep`.

    The open ones are listed from /proc/self/fd: closing by range up to the descriptor limit
    costs one syscall with close_range(2), but a loop over every number without it (old
    kernels, seccomp profiles), which under a container's limit of a million takes seconds.
    """
    kept = {fd for fd in keep if fd >= _FIRST_FD}
    try:
        open_fds = [int(name) for name in os.listdir("/proc/self/fd")]  # the listing's own fd is closed by now
    except OSError:  # no /proc (or no descriptor left to list it with): by range
        open_fds = []
        start = _FIRST_FD
        for fd in sorted(kept):
            if fd > start:
                os.closerange(start, fd)
            start = fd + 1
        with contextlib.suppress(OSError):
            os.closerange(start, os.sysconf("SC_OPEN_MAX"))
    for fd in open_fds:
        if fd >= _FIRST_FD and fd not in kept:
            with contextlib.suppress(OSError):
                os.close(fd)
