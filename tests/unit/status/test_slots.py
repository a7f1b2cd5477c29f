"""status/slots.py: the slot layout, the seqlock read, and a real forked writer read by its parent."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from supervisor.status.figures import LATENCY_BUCKETS, STATUS_CLASSES
from supervisor.status.slots import (
    _RECORD,
    _SEQUENCE,
    MIN_SLOTS,
    SLOT_BYTES,
    SlotsExhaustedError,
    SlotState,
    SlotTable,
    SlotWriter,
    WorkerCounters,
    WorkerSample,
    capacity_for,
    decode,
    encode,
    read_stable,
    workers_that_fit,
)


@pytest.fixture
def table() -> Iterator[SlotTable]:
    slots = SlotTable(4)
    yield slots
    slots.close()


def busy_counters(k: int) -> WorkerCounters:
    """Counters whose every field is derived from k, so a torn read shows as a disagreement."""
    return WorkerCounters(
        requests=k,
        active_connections=k,
        active_requests=k,
        websockets=k,
        h2_connections=k,
        h2_streams=k,
        h2_limits_exceeded=k,
        rss_bytes=k,
        cpu_seconds=float(k),
        status_classes=[k] * STATUS_CLASSES,
        latency_buckets=[k] * LATENCY_BUCKETS,
    )


def agrees(sample: WorkerSample, k: int) -> bool:
    values = {
        sample.requests,
        sample.active_connections,
        sample.active_requests,
        sample.websockets,
        sample.h2_connections,
        sample.h2_streams,
        sample.h2_limits_exceeded,
        sample.rss_bytes,
        int(sample.cpu_seconds),
        int(sample.heartbeat),
        *sample.status_classes,
        *sample.latency_buckets,
    }
    return values == {k}


def test_a_slot_is_whole_cache_lines() -> None:
    assert SLOT_BYTES % 64 == 0
    assert SLOT_BYTES == 320


def test_the_record_fits_its_slot_with_its_doubles_aligned() -> None:
    assert _SEQUENCE.size + _RECORD.size <= SLOT_BYTES
    # The heartbeat (the second double) lands on an 8-byte boundary of the slot, as the sequence does.
    assert _SEQUENCE.size % 8 == 0
    assert _RECORD.format.startswith("<3d")


def test_records_round_trip() -> None:
    counters = WorkerCounters(
        requests=7,
        active_connections=3,
        active_requests=2,
        websockets=1,
        h2_connections=4,
        h2_streams=6,
        http2=True,
        h2_limits_exceeded=5,
        rss_bytes=1 << 30,
    )
    counters.observe_response(204, 0.002)
    counters.observe_response(503, 12.0)
    counters.cpu_seconds = 1.25
    record = encode(state=SlotState.READY, generation=3, pid=4312, started_at=100.5, heartbeat=101.0, counters=counters)
    sample = decode(2, record)
    assert sample == WorkerSample(
        index=2,
        state=SlotState.READY,
        generation=3,
        pid=4312,
        started_at=100.5,
        heartbeat=101.0,
        cpu_seconds=1.25,
        requests=9,
        active_connections=3,
        active_requests=2,
        websockets=1,
        status_classes=(0, 1, 0, 0, 1),
        latency_buckets=tuple(1 if i in (6, 23) else 0 for i in range(LATENCY_BUCKETS)),
        rss_bytes=1 << 30,
        h2_connections=4,
        h2_streams=6,
        http2=True,
        h2_limits_exceeded=5,
        consistent=True,
    )


def test_a_count_past_its_32_bit_field_is_held_at_the_top_rather_than_failing_the_flush() -> None:
    counters = WorkerCounters(h2_limits_exceeded=2**40)
    record = encode(state=SlotState.READY, generation=1, pid=1, started_at=0.0, heartbeat=1.0, counters=counters)
    assert decode(0, record).h2_limits_exceeded == 2**32 - 1


def test_seqlock_read_takes_the_first_clean_copy() -> None:
    sequences = iter([4, 4])
    assert read_stable(lambda: next(sequences), lambda: b"clean") == (b"clean", True)


def test_seqlock_read_retries_past_a_write_in_progress_and_a_write_in_between() -> None:
    # odd (writing) -> retry; 6 then 8 (a whole write in between) -> retry; 8, 8 -> done.
    sequences = iter([5, 6, 8, 8, 8])
    copies = iter([b"torn", b"mixed", b"clean"])
    assert read_stable(lambda: next(sequences), lambda: next(copies)) == (b"clean", True)


def test_seqlock_read_gives_up_after_its_attempts() -> None:
    copies = iter([b"one", b"two", b"three"])
    assert read_stable(lambda: 7, lambda: next(copies), attempts=3) == (b"three", False)


def test_allocate_takes_the_lowest_free_slot_and_marks_it_starting(table: SlotTable) -> None:
    assert table.capacity == 4
    assert [table.allocate(generation=1, started_at=10.0) for _ in range(3)] == [0, 1, 2]
    table.release(1)
    assert table.in_use == 2
    assert table.allocate(generation=2, started_at=20.0) == 1
    sample = table.read(1)
    assert (sample.state, sample.generation, sample.started_at, sample.pid, sample.heartbeat) == (
        SlotState.STARTING,
        2,
        20.0,
        0,
        0.0,
    )
    assert [s.index for s in table.read_all()] == [0, 1, 2]


def test_a_full_table_refuses_and_a_free_slot_cannot_be_released(table: SlotTable) -> None:
    for _ in range(4):
        table.allocate(generation=1, started_at=0.0)
    with pytest.raises(SlotsExhaustedError, match="all 4 worker status slots are in use"):
        table.allocate(generation=1, started_at=0.0)
    table.release(3)
    with pytest.raises(ValueError, match="slot 3 is not allocated"):
        table.release(3)
    with pytest.raises(IndexError, match="slot 4 is outside the table"):
        table.read(4)
    with pytest.raises(IndexError, match="slot -1 is outside"):
        SlotWriter(table, -1)


def test_a_table_needs_a_slot() -> None:
    with pytest.raises(ValueError, match="at least one slot"):
        SlotTable(0)


def test_capacity_leaves_room_for_replacements_and_reloads() -> None:
    assert capacity_for([2, 1]) == MIN_SLOTS
    assert capacity_for([64, 64]) == 1024  # 4 slots a worker, for twice the workers
    assert capacity_for([1] * 64) == MIN_SLOTS


def test_every_app_of_many_small_ones_can_double_and_more() -> None:
    # Twenty or thirty apps of one worker each: the old table (4 x 20 = 80 slots) held not one worker more.
    for apps in (20, 30):
        capacity = capacity_for([1] * apps)
        assert workers_that_fit(capacity, [1] * (apps - 1)) >= 2
        assert capacity >= 256  # a floor of a few hundred slots
    # Any file: every app may double its count at once.
    counts = [40, 25, 3]
    capacity = capacity_for(counts)
    assert workers_that_fit(capacity, [2 * c for c in counts[1:]]) >= 2 * counts[0]


def test_flush_writes_everything_and_a_heartbeat(table: SlotTable) -> None:
    index = table.allocate(generation=5, started_at=50.0)
    clock = iter([60.0, 61.0])
    writer = SlotWriter(table, index, pid=4312, clock=lambda: next(clock))
    assert writer.state is SlotState.STARTING
    counters = WorkerCounters(active_connections=2)
    counters.observe_response(200, 0.01)
    writer.flush(counters, state=SlotState.READY)
    sample = table.read(index)
    assert (sample.state, sample.pid, sample.generation, sample.started_at, sample.heartbeat) == (
        SlotState.READY,
        4312,
        5,
        50.0,
        60.0,
    )
    assert (sample.requests, sample.active_connections, sample.status_classes) == (1, 2, (0, 1, 0, 0, 0))
    writer.flush(counters)
    assert table.read(index).state is SlotState.READY  # the last state reported sticks
    assert table.read(index).heartbeat == 61.0
    assert table.read(index).consistent


def test_the_default_pid_is_the_writers_own(table: SlotTable) -> None:
    index = table.allocate(generation=1, started_at=0.0)
    SlotWriter(table, index).flush(WorkerCounters())
    assert table.read(index).pid == os.getpid()


def test_a_writer_that_died_mid_flush_leaves_a_flagged_reading_and_release_cleans_it(table: SlotTable) -> None:
    index = table.allocate(generation=1, started_at=0.0)
    SlotWriter(table, index, pid=1).flush(busy_counters(3))
    offset = index * SLOT_BYTES
    table._memory[offset : offset + 8] = (11).to_bytes(8, "little")  # odd: a flush that never finished
    stuck = table.read(index)
    assert not stuck.consistent
    assert stuck.requests == 3
    table.release(index)
    index = table.allocate(generation=2, started_at=1.0)
    assert table.read(index).consistent
    # A writer taking over a slot left odd starts from the next even sequence.
    table._memory[offset : offset + 8] = (13).to_bytes(8, "little")
    SlotWriter(table, index, pid=2).flush(busy_counters(4))
    assert table.read(index).consistent
    assert int.from_bytes(table._memory[offset : offset + 8], "little") == 16


def test_a_forked_worker_writes_and_the_master_never_reads_a_torn_record(table: SlotTable) -> None:
    flushes = 20_000
    index = table.allocate(generation=7, started_at=1.0)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child only writes; the parent checks
        try:
            k = 0
            writer = SlotWriter(table, index, clock=lambda: float(k))
            for k in range(flushes):  # the clock reads k too
                writer.flush(busy_counters(k), state=SlotState.READY)
            writer.flush(busy_counters(k), state=SlotState.EXITED)
        finally:
            os._exit(0)
    consistent_reads = 0
    try:
        for _ in range(10_000_000):
            sample = table.read(index)
            if sample.consistent and sample.pid == pid:
                consistent_reads += 1
                assert agrees(sample, sample.requests), f"torn record: {sample}"
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                break
        else:
            pytest.fail("the writer did not finish")
    except BaseException:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        raise
    final = table.read(index)
    assert (final.state, final.pid, final.generation, final.requests) == (SlotState.EXITED, pid, 7, flushes - 1)
    assert agrees(final, flushes - 1)
    assert consistent_reads > 0
