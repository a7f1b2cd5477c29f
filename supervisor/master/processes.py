"""The worker processes the master forked: each one's record, status slot and output pipe.

Forks a worker (master/spawn.py) into a slot of the shared status table, reads the slots,
signals and reaps the processes. What a worker's readiness or exit means for its app is its
pool's business (master/pool.py); the arbiter tells the pool what happened here.
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


class Workers:
    """Every live worker process of the master, by pid, and the slot table they report through."""

    def __init__(self, listeners: Listeners, output: OutputRouter) -> None:
        self.listeners = listeners
        self.output = output
        self.records: dict[int, WorkerRecord] = {}
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
        """Every worker that exited since the last call (other children are reaped and ignored)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            record = self.records.pop(pid, None)
            if record is not None:
                yield self._exited(pid, record, os.waitstatus_to_exitcode(status))

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
                self.records.pop(pid, None)
            else:
                time.sleep(DRAIN_POLL_S)

    def kill_all(self) -> None:
        """At exit: SIGKILL and reap the workers a failure left behind."""
        for pid in list(self.records):
            self.send(pid, signal.SIGKILL)
        for pid in list(self.records):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)

    def infos(self) -> list[WorkerInfo]:
        return [WorkerInfo(pid, record.app, record.slot) for pid, record in self.records.items()]

    def close(self) -> None:
        if self.table is not None:
            self.table.close()
