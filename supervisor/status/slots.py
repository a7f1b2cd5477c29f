"""Per-worker status slots in one shared memory map: workers write their counters, the master reads them.

The master creates one `SlotTable` (an anonymous shared mmap) before its first fork, so every
worker inherits the same memory. Before forking a worker it `allocate`s a slot, and the child
writes its counters there with a `SlotWriter` a few times a second from its event loop; that
flush is also the heartbeat. Nothing per request crosses a process boundary, and the master
reads any slot at any time without a message, a lock or a system call.

Layout: `SLOT_BYTES` per slot, slot i at offset i * SLOT_BYTES. Each slot is an 8-byte
sequence number followed by the record `_RECORD` (little-endian, fixed size).

Tearing: a slot has one writer at a time (the master from `allocate` until the fork, then the
worker until it exits, then the master again at `release`), and it writes seqlock-style:
sequence made odd, record written, sequence made even. A reader copies the sequence, the
record, and the sequence again, and keeps the copy only if both sequence readings are the
same even number; otherwise it retries, `READ_ATTEMPTS` times at most, because a writer killed
in the middle of a flush leaves an odd sequence for good. CPython has no memory fence, so this
relies on stores becoming visible in program order, which x86-64 guarantees; on arm64 the
window is theoretical and costs at worst one stale status figure. The heartbeat, the field the
master acts on, is an aligned 8-byte double written by a single store on both.

Reasons: a worker whose app cannot start writes one line saying why (the exception, its
message, file and line) into its own reason field, kept after all the slots, before it exits.
The master reads it once it has reaped the worker, when nothing writes it any more, so it
needs no seqlock. It is a slot field rather than a marked line on the worker's output pipe
because the pipe can be flooded, stalled or cut short (its lines are dropped rather than
waited for, master/outlets.py), and because an app could print a line that looks like one.

Clock: `started_at` and `heartbeat` are `time.monotonic()` readings, which Linux and macOS share
between processes, so the master can age them against its own clock.
"""

from __future__ import annotations

import heapq
import mmap
import os
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import IntEnum

from supervisor.status.figures import LATENCY_BUCKETS, STATUS_CLASSES, bucket_index, status_class_index

READ_ATTEMPTS = 100
# A slot per worker that can exist at once: each may overlap a replacement, and a reload
# doubles the pool again for a moment. The table cannot grow once workers have it mapped, so it
# is sized for every app to double its count (serve scale, TTIN, a reload) and never below
# room for 128 workers: a slot and its reason are 576 bytes, 512 of them 288 KiB of address
# space, and a page nobody wrote is never resident.
MIN_SLOTS = 512
SLOTS_PER_WORKER = 4
GROWTH = 2


class SlotState(IntEnum):
    """Where a slot's worker is in its life, as the worker itself last reported it."""

    FREE = 0
    STARTING = 1
    READY = 2
    RETIRING = 3
    EXITED = 4


_SEQUENCE = struct.Struct("<Q")
# started_at, heartbeat, cpu_seconds (doubles); requests, rss_bytes; status classes; latency
# buckets; state, generation, pid, active connections, active requests, websockets, HTTP/2
# connections, HTTP/2 streams, HTTP/2 on (0 or 1), HTTP/2 limits exceeded.
# 8-byte fields first so every double stays 8-byte aligned (the heartbeat store must not tear).
_RECORD = struct.Struct(f"<3d2Q{STATUS_CLASSES}Q{LATENCY_BUCKETS}QIIi7I")
_CACHE_LINE = 64
_U32_MAX = 2**32 - 1
SLOT_BYTES = -(-(_SEQUENCE.size + _RECORD.size) // _CACHE_LINE) * _CACHE_LINE
# One reason per slot: a length, then UTF-8; room for an exception, its message and a full path.
REASON_BYTES = 256
_REASON_LENGTH = struct.Struct("<H")
_REASON_ROOM = REASON_BYTES - _REASON_LENGTH.size
_ELLIPSIS = "\u2026".encode()


class SlotsExhaustedError(RuntimeError):
    """Every slot is in use; the master must not fork another worker until one is released."""


def encode_reason(text: str) -> bytes:
    """A reason as stored: its length, then its UTF-8, cut at a character boundary (and marked) when too long."""
    data = text.encode("utf-8", "replace")
    if len(data) > _REASON_ROOM:
        data = data[: _REASON_ROOM - len(_ELLIPSIS)].decode("utf-8", "ignore").encode() + _ELLIPSIS
    return _REASON_LENGTH.pack(len(data)) + data


def decode_reason(stored: bytes) -> str:
    """The text of a stored reason ("" for none); a length past the room (a torn write) reads what fits."""
    (length,) = _REASON_LENGTH.unpack_from(stored)
    return stored[_REASON_LENGTH.size : _REASON_LENGTH.size + min(length, _REASON_ROOM)].decode("utf-8", "replace")


def capacity_for(workers: Iterable[int]) -> int:
    """A slot-table size for apps with these worker counts, with room for replacements, reloads and for
    every app to grow to `GROWTH` times its count."""
    return max(MIN_SLOTS, SLOTS_PER_WORKER * GROWTH * sum(workers))


def workers_that_fit(capacity: int, others: Iterable[int]) -> int:
    """The most workers one app may run in a table of `capacity` slots beside apps running `others`.

    The table cannot grow (every worker has it mapped since its fork), so counts are held to the
    rule it was sized by: a slot per worker, one for its replacement, and as many again while a
    reload rolls every app. A count beyond this is refused up front, never found short later.
    """
    return capacity // SLOTS_PER_WORKER - sum(others)


@dataclass(slots=True)
class WorkerCounters:
    """A worker's running counters: updated in place by the server, copied to the slot by `SlotWriter.flush`."""

    requests: int = 0
    active_connections: int = 0
    active_requests: int = 0
    websockets: int = 0
    h2_connections: int = 0  # HTTP/2 connections open now
    h2_streams: int = 0  # HTTP/2 streams open now (requests in flight on them)
    http2: bool = False  # the worker offers HTTP/2 (its app's http2 setting): the status shows its figures
    h2_limits_exceeded: int = 0  # HTTP/2 connections closed (or stalled streams reset) for a broken limit
    rss_bytes: int = 0
    cpu_seconds: float = 0.0
    status_classes: list[int] = field(default_factory=lambda: [0] * STATUS_CLASSES)
    latency_buckets: list[int] = field(default_factory=lambda: [0] * LATENCY_BUCKETS)

    def observe_response(self, status: int, seconds: float) -> None:
        """Count one finished request: its status class and how long it took."""
        self.requests += 1
        self.status_classes[status_class_index(status)] += 1
        self.latency_buckets[bucket_index(seconds)] += 1


@dataclass(frozen=True, slots=True)
class WorkerSample:
    """One reading of a slot.

    `consistent` is False when every attempt met a write in progress (a writer stopped
    mid-flush); the fields are then the last copy read and may mix two flushes.
    """

    index: int
    state: SlotState
    generation: int
    pid: int
    started_at: float
    heartbeat: float
    cpu_seconds: float
    requests: int
    active_connections: int
    active_requests: int
    websockets: int
    status_classes: tuple[int, ...]
    latency_buckets: tuple[int, ...]
    rss_bytes: int
    h2_connections: int = 0
    h2_streams: int = 0
    http2: bool = False
    h2_limits_exceeded: int = 0
    consistent: bool = True


def encode(
    *,
    state: SlotState,
    generation: int,
    pid: int,
    started_at: float,
    heartbeat: float,
    counters: WorkerCounters,
) -> bytes:
    """The bytes of one slot record (without its sequence number)."""
    return _RECORD.pack(
        started_at,
        heartbeat,
        counters.cpu_seconds,
        counters.requests,
        counters.rss_bytes,
        *counters.status_classes,
        *counters.latency_buckets,
        state,
        generation,
        pid,
        counters.active_connections,
        counters.active_requests,
        counters.websockets,
        counters.h2_connections,
        counters.h2_streams,
        int(counters.http2),
        min(counters.h2_limits_exceeded, _U32_MAX),  # a 32-bit field: a flush must never fail, it is the heartbeat
    )


def decode(index: int, record: bytes, *, consistent: bool = True) -> WorkerSample:
    """A `WorkerSample` from the bytes of one slot record."""
    values = _RECORD.unpack(record)
    started_at, heartbeat, cpu_seconds, requests, rss_bytes = values[:5]
    histogram_end = 5 + STATUS_CLASSES + LATENCY_BUCKETS
    (
        state,
        generation,
        pid,
        active_connections,
        active_requests,
        websockets,
        h2_connections,
        h2_streams,
        http2,
        h2_limits_exceeded,
    ) = values[histogram_end:]
    return WorkerSample(
        index=index,
        state=SlotState(state),
        generation=generation,
        pid=pid,
        started_at=started_at,
        heartbeat=heartbeat,
        cpu_seconds=cpu_seconds,
        requests=requests,
        active_connections=active_connections,
        active_requests=active_requests,
        websockets=websockets,
        status_classes=tuple(values[5 : 5 + STATUS_CLASSES]),
        latency_buckets=tuple(values[5 + STATUS_CLASSES : histogram_end]),
        rss_bytes=rss_bytes,
        h2_connections=h2_connections,
        h2_streams=h2_streams,
        http2=bool(http2),
        h2_limits_exceeded=h2_limits_exceeded,
        consistent=consistent,
    )


def read_stable(
    read_sequence: Callable[[], int], read_record: Callable[[], bytes], attempts: int = READ_ATTEMPTS
) -> tuple[bytes, bool]:
    """The seqlock read: a record copied while no write was under way, and whether one was found.

    Args:
        read_sequence: reads the slot's sequence number.
        read_record: copies the slot's record bytes.
        attempts: copies to try before giving up.

    Returns:
        (record, True) for a clean copy; (the last copy, False) after `attempts` torn ones.
    """
    record = b""
    for _ in range(attempts):
        before = read_sequence()
        record = read_record()
        if before % 2 == 0 and read_sequence() == before:
            return record, True
    return record, False


class SlotTable:
    """The shared memory holding every worker's slot, and the master's record of which slots are taken."""

    def __init__(self, capacity: int) -> None:
        """Map `capacity` zeroed (FREE) slots; call before the first fork so workers inherit them.

        Raises:
            ValueError: capacity below 1.
        """
        if capacity < 1:
            raise ValueError(f"a slot table needs at least one slot, got {capacity}")
        self._capacity = capacity
        self._memory = mmap.mmap(-1, capacity * (SLOT_BYTES + REASON_BYTES))
        self._free = list(range(capacity))  # a heap: the lowest free index is reused first

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def in_use(self) -> int:
        """Slots allocated and not yet released."""
        return self._capacity - len(self._free)

    def allocate(self, *, generation: int, started_at: float) -> int:
        """Take a free slot for a worker about to be forked and mark it STARTING.

        Returns:
            The slot index, to hand to the child's `SlotWriter`.

        Raises:
            SlotsExhaustedError: every slot is taken.
        """
        if not self._free:
            raise SlotsExhaustedError(f"all {self._capacity} worker status slots are in use")
        index = heapq.heappop(self._free)
        self._write(index, SlotState.STARTING, generation=generation, started_at=started_at)
        self._write_reason(index, "")
        return index

    def release(self, index: int) -> None:
        """Free the slot of a worker that has exited and been reaped.

        Raises:
            ValueError: the slot is not allocated.
        """
        self._check_index(index)
        if index in self._free:
            raise ValueError(f"slot {index} is not allocated")
        self._write(index, SlotState.FREE, generation=0, started_at=0.0)
        self._write_reason(index, "")
        heapq.heappush(self._free, index)

    def read(self, index: int) -> WorkerSample:
        """A consistent reading of slot `index` (see `WorkerSample.consistent`)."""
        self._check_index(index)
        offset = index * SLOT_BYTES
        record, consistent = read_stable(
            lambda: _sequence_at(self._memory, offset),
            lambda: _record_at(self._memory, offset),
        )
        return decode(index, record, consistent=consistent)

    def reason(self, index: int) -> str:
        """Why slot `index`'s worker could not start, as it wrote it ("" when it did not): read it once reaped."""
        self._check_index(index)
        offset = self.reason_offset(index)
        return decode_reason(self._memory[offset : offset + REASON_BYTES])

    def reason_offset(self, index: int) -> int:
        """Where slot `index`'s reason lives: after every slot record."""
        return self._capacity * SLOT_BYTES + index * REASON_BYTES

    def _write_reason(self, index: int, text: str) -> None:
        stored = encode_reason(text)
        offset = self.reason_offset(index)
        self._memory[offset : offset + len(stored)] = stored

    def read_all(self) -> list[WorkerSample]:
        """Readings of every allocated slot, by index."""
        free = set(self._free)
        return [self.read(index) for index in range(self._capacity) if index not in free]

    def close(self) -> None:
        """Unmap the memory (the master at exit; a worker's copy goes with its process)."""
        self._memory.close()

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self._capacity:
            raise IndexError(f"slot {index} is outside the table (capacity {self._capacity})")

    def _write(self, index: int, state: SlotState, *, generation: int, started_at: float) -> None:
        offset = index * SLOT_BYTES
        record = encode(
            state=state, generation=generation, pid=0, started_at=started_at, heartbeat=0.0, counters=WorkerCounters()
        )
        # An odd sequence here means the slot's worker died mid-flush: writing with that odd
        # number and then the next even one leaves the slot clean either way.
        _store(self._memory, offset, _sequence_at(self._memory, offset) | 1, record)


def _sequence_at(memory: mmap.mmap, offset: int) -> int:
    return int(_SEQUENCE.unpack_from(memory, offset)[0])


def _record_at(memory: mmap.mmap, offset: int) -> bytes:
    return memory[offset + _SEQUENCE.size : offset + _SEQUENCE.size + _RECORD.size]


def _store(memory: mmap.mmap, offset: int, odd_sequence: int, record: bytes) -> None:
    _SEQUENCE.pack_into(memory, offset, odd_sequence)
    memory[offset + _SEQUENCE.size : offset + _SEQUENCE.size + _RECORD.size] = record
    _SEQUENCE.pack_into(memory, offset, odd_sequence + 1)


class SlotWriter:
    """A worker's handle on its own slot: `flush` copies its counters there and is its heartbeat."""

    def __init__(
        self,
        table: SlotTable,
        index: int,
        *,
        pid: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Take over slot `index` (allocated by the master before this process was forked).

        Args:
            table: the table inherited from the master.
            index: the slot the master allocated for this worker.
            pid: written into the slot; this process's pid when not given.
            clock: the heartbeat clock; must be the master's (time.monotonic).
        """
        table._check_index(index)
        self._memory = table._memory
        self._offset = index * SLOT_BYTES
        self._table = table
        self._index = index
        # The master wrote these before the fork and does not write the slot again until release.
        allocated = decode(index, _record_at(self._memory, self._offset))
        self._generation = allocated.generation
        self._started_at = allocated.started_at
        sequence = _sequence_at(self._memory, self._offset)
        self._sequence = sequence + sequence % 2
        self._pid = os.getpid() if pid is None else pid
        self._clock = clock
        self.state = SlotState.STARTING

    def write_reason(self, text: str) -> None:
        """Say why this worker could not start (one line): the master reads it after reaping it."""
        self._table._write_reason(self._index, text)

    def flush(self, counters: WorkerCounters, *, state: SlotState | None = None) -> None:
        """Write every counter, the state and a fresh heartbeat to the slot in one record.

        Args:
            counters: the worker's running counters.
            state: a new state to report (READY once accepting, RETIRING once draining);
                the last one reported when not given.
        """
        if state is not None:
            self.state = state
        record = encode(
            state=self.state,
            generation=self._generation,
            pid=self._pid,
            started_at=self._started_at,
            heartbeat=self._clock(),
            counters=counters,
        )
        _store(self._memory, self._offset, self._sequence + 1, record)
        self._sequence += 2
