"""The worker processes the master forked: each one's record, status slot, output pipe and process group.

Forks a worker (master/spawn.py) into a slot of the shared status table, reads the slots,
signals and reaps the processes. What a worker's readiness or exit means for its app is its
pool's business (master/pool.py); the arbiter tells the pool what happened here.

A worker leads a process group of its own, and whatever its app starts (a `subprocess`
helper) is in it. When a worker is reaped, whatever the reason, its group gets SIGTERM, and
SIGKILL GROUP_GRACE_S later if anything is left: a helper must neither outlive the worker
that started it nor hold the output pipe (a master descriptor) open. A process that left the
group on purpose (setsid, start_new_session=True) is not touched: that is how an app starts
something meant to outlive the worker. Linux does not reuse a pid while a group of that id
exists, so a group's id stays its own until it is empty.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass

from supervisor.config.schema import AppConfig
from supervisor.master.listeners import Listeners
from supervisor.master.output import OutputRouter
from supervisor.master.report import WorkerInfo
from supervisor.master.spawn import spawn_worker
from supervisor.status.slots import SlotState, SlotTable, WorkerSample

DRAIN_POLL_S = 0.05  # outside the loop there is nothing to wait in: the children are polled
# From the SIGTERM a reaped worker's group gets to the SIGKILL for what is left of it. Fixed
# and short, like a hung worker's SIGKILL: the stop waits this long at most for helpers.
GROUP_GRACE_S = 5.0


@dataclass
class WorkerRecord:
    """What the master keeps about one live worker process."""

    app: str
    generation: int
    slot: int
    output_fd: int
    ready: bool = False


@dataclass(frozen=True, slots=True)
class Exited:
    """A worker just reaped: its record, its exit code (negative: the signal) and its slot's last figures."""

    pid: int
    record: WorkerRecord
    code: int
    last: WorkerSample | None  # None when the slot no longer held this worker's figures
    reason: str | None = None  # the worker's own line on why its app could not start (status/slots.py)

    @property
    def exit_code(self) -> int | None:
        """Its exit status, or None when a signal killed it."""
        return self.code if self.code >= 0 else None

    @property
    def signal(self) -> str | None:
        """The signal that killed it ("SIGKILL"; a real-time one has no name: "signal 40"), or None."""
        if self.code >= 0:
            return None
        try:
            return signal.Signals(-self.code).name
        except ValueError:
            return f"signal {-self.code}"


class Groups:
    """The process groups of reaped workers still being ended: pgid -> when what is left gets SIGKILL."""

    def __init__(self) -> None:
        self.deadlines: dict[int, float] = {}

    def __len__(self) -> int:
        return len(self.deadlines)

    def end(self, pgid: int, now: float) -> None:
        """SIGTERM the group of reaped worker `pgid` (its pid); SIGKILL follows at `expire` if needed."""
        if signal_group(pgid, signal.SIGTERM):
            self.deadlines[pgid] = now + GROUP_GRACE_S

    def expire(self, now: float) -> None:
        """Forget the groups now empty; SIGKILL those past their grace (and forget them too)."""
        for pgid, deadline in list(self.deadlines.items()):
            if not signal_group(pgid, 0):  # empty: its id may be any process's from now on
                del self.deadlines[pgid]
            elif now >= deadline:
                del self.deadlines[pgid]  # first: whatever happens next, it is never signalled again
                signal_group(pgid, signal.SIGKILL)

    def next_deadline(self) -> float | None:
        return min(self.deadlines.values(), default=None)

    def reused(self, pid: int) -> None:
        """`pid` is a new worker's: a group of that id was empty (else the pid could not be reused)."""
        self.deadlines.pop(pid, None)

    def wait(self) -> None:
        """Outside the loop (at exit): until every group is empty or was SIGKILLed, GROUP_GRACE_S at most."""
        while True:
            self.expire(time.monotonic())
            if not self.deadlines:
                return
            time.sleep(DRAIN_POLL_S)


def signal_group(pgid: int, sig: int) -> bool:
    """os.killpg that tells whether the group has members (sig 0 only asks)."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:  # members of another user (a helper run with sudo): there, but not ours to end
        return True
    return True


class Workers:
    """Every live worker process of the master, by pid, and the slot table they report through."""

    def __init__(self, listeners: Listeners, output: OutputRouter) -> None:
        self.listeners = listeners
        self.output = output
        self.records: dict[int, WorkerRecord] = {}
        self.groups = Groups()  # reaped workers' groups, until empty or killed
        self.table: SlotTable | None = None  # created before the first fork: every worker inherits it

    def open_table(self, capacity: int) -> None:
        self.table = SlotTable(capacity)

    @property
    def capacity(self) -> int:
        """How many workers can have a slot at once (fixed: every worker maps the table since its fork)."""
        return self._slots().capacity

    def _slots(self) -> SlotTable:
        if self.table is None:
            raise RuntimeError("the slot table is created before any worker")
        return self.table

    def __contains__(self, pid: object) -> bool:
        return pid in self.records

    def __len__(self) -> int:
        return len(self.records)

    def spawn(self, app: str, generation: int, config: AppConfig, now: float, *, index: int | None = None) -> int:
        """Fork a worker of `app` running `config` in a free slot; returns its pid.

        `index` is its place in the app (SERVE_WORKER_ID in its environment).

        Raises:
            SlotsExhaustedError: every slot is taken.
            OSError: the fork or its pipe failed (EMFILE, EAGAIN); the slot is free again.
        """
        table = self._slots()
        slot = table.allocate(generation=generation, started_at=now)
        try:
            spawned = spawn_worker(
                config,
                sockets=self.listeners.sockets_for(self.listeners.binds_for(app, config.bind)),
                table=table,
                slot=slot,
                index=index,
            )
        except BaseException:
            table.release(slot)
            raise
        # Known (and so reaped) before anything else can fail; `follow` watches its pipe after.
        self.records[spawned.pid] = WorkerRecord(app, generation, slot, spawned.output_fd)
        self.groups.reused(spawned.pid)
        return spawned.pid

    def follow(self, pid: int) -> None:
        """Route a new worker's output (once its pool knows of it: this may fail)."""
        record = self.records[pid]
        self.output.add(record.output_fd, record.app, pid)

    def samples(self) -> Iterator[tuple[int, WorkerRecord, WorkerSample]]:
        """Each live worker with its slot's figures, when the slot holds its own (pid matches)."""
        table = self._slots()
        for pid, record in self.records.items():
            sample = table.read(record.slot)
            if sample.pid == pid:
                yield pid, record, sample

    @staticmethod
    def became_ready(record: WorkerRecord, sample: WorkerSample) -> bool:
        """The worker reports ready for the first time (the record remembers it)."""
        if record.ready or sample.state != SlotState.READY:
            return False
        record.ready = True
        return True

    def reap(self) -> Iterator[Exited]:
        """Every worker that exited since the last call (other children are reaped and ignored).

        Each one's process group is told to end (SIGTERM) as it is reaped.
        """
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            record = self.records.pop(pid, None)
            if record is not None:
                self.groups.end(pid, time.monotonic())
                yield self._exited(pid, record, os.waitstatus_to_exitcode(status))

    def expire(self, now: float) -> None:
        """What is due: SIGKILL for the groups past their grace, then the close of pipes past theirs.

        In this order: the pipe of a group just killed is read once more before it is closed.
        """
        self.groups.expire(now)
        self.output.expire(now)

    def next_deadline(self) -> float | None:
        """When `expire` has something to do next (None: nothing pending)."""
        deadlines = [d for d in (self.groups.next_deadline(), self.output.next_deadline()) if d is not None]
        return min(deadlines, default=None)

    def _exited(self, pid: int, record: WorkerRecord, code: int) -> Exited:
        table = self._slots()
        try:
            last = table.read(record.slot)
            reason = table.reason(record.slot) if last.pid == pid else ""
        finally:
            table.release(record.slot)  # whatever failed, the slot is free again
        return Exited(pid, record, code, last if last.pid == pid else None, reason or None)

    def send(self, pid: int, sig: int) -> None:
        """Signal a live worker; one that exited already is told by the next reap."""
        if pid in self.records:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def drain(self, timeout: float) -> None:
        """Outside the loop: SIGTERM every worker and reap them for up to `timeout` seconds."""
        for pid in list(self.records):
            self.send(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.records and time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid:
                if self.records.pop(pid, None) is not None:
                    self.groups.end(pid, time.monotonic())
            else:
                time.sleep(DRAIN_POLL_S)

    def kill_all(self) -> None:
        """At exit: SIGKILL and reap the workers a failure left behind, then end every group left.

        The groups of workers reaped last (the stop's) get what is left of their grace: the
        master exits only when they are empty, GROUP_GRACE_S at most, SIGKILL included.
        """
        for pid in list(self.records):
            self.send(pid, signal.SIGKILL)
        for pid in list(self.records):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            del self.records[pid]
            self.groups.end(pid, time.monotonic())
        self.groups.wait()

    def infos(self) -> list[WorkerInfo]:
        return [WorkerInfo(pid, record.app, record.slot) for pid, record in self.records.items()]

    def close(self) -> None:
        if self.table is not None:
            self.table.close()
