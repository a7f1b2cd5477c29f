"""The arithmetic of status figures: request rates, latency percentiles, sums of per-worker counters.

No I/O and no clock: every time is a parameter.

The latency histogram has `LATENCY_BUCKETS` buckets. Bucket i counts the responses that took
at most `LATENCY_BOUNDS_S[i]` seconds (and more than the bound before it); the last bucket
counts everything slower than 10 s. The bounds are log-spaced from 0.1 ms to 10 s, each about
1.69 times the previous one, so a percentile read from the histogram is within that factor
of the truth whatever the app's speed: the precision a dashboard needs, at 8 bytes a bucket.
"""

from __future__ import annotations

import bisect
import itertools
from collections import deque
from collections.abc import Iterable, Mapping, Sequence

STATUS_CLASSES = 5  # 1xx, 2xx, 3xx, 4xx, 5xx
LATENCY_BUCKETS = 24
# 23 finite bounds (0.1 ms ... 10 s, 22 equal steps on a log scale) and one overflow bucket.
LATENCY_BOUNDS_S: tuple[float, ...] = tuple(round(1e-4 * 10 ** (5 * i / 22), 9) for i in range(LATENCY_BUCKETS - 1))


def status_class_index(status: int) -> int:
    """The status-class counter a response status falls in: 0 for 1xx ... 4 for 5xx.

    A status outside 100-599 (an app may send one) is counted with the nearest class.
    """
    return min(max(status // 100, 1), STATUS_CLASSES) - 1


def bucket_index(seconds: float) -> int:
    """The latency bucket a duration falls in (the overflow bucket past 10 s)."""
    return bisect.bisect_left(LATENCY_BOUNDS_S, seconds)


def percentile(buckets: Sequence[int], fraction: float) -> float | None:
    """The latency, in seconds, below which `fraction` of the counted responses fall.

    Interpolates linearly inside the bucket holding that rank, as Prometheus'
    histogram_quantile does; a rank in the overflow bucket reads as 10 s, the highest
    bound known.

    Args:
        buckets: counts per bucket, `LATENCY_BUCKETS` of them.
        fraction: 0.5 for the median, 0.99 for p99; must be in (0, 1].

    Returns:
        None when the histogram is empty.

    Raises:
        ValueError: `fraction` outside (0, 1].
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"a percentile fraction must be in (0, 1], got {fraction}")
    cumulative = list(itertools.accumulate(buckets))
    if not cumulative or cumulative[-1] == 0:
        return None
    rank = fraction * cumulative[-1]
    index = bisect.bisect_left(cumulative, rank)
    if index >= len(LATENCY_BOUNDS_S):
        return LATENCY_BOUNDS_S[-1]
    below = cumulative[index - 1] if index else 0
    lower = LATENCY_BOUNDS_S[index - 1] if index else 0.0
    upper = LATENCY_BOUNDS_S[index]
    # rank > below (bisect found the first cumulative count reaching it), so the bucket is not empty.
    return lower + (upper - lower) * (rank - below) / (cumulative[index] - below)


def sum_counts(vectors: Iterable[Sequence[int]], length: int) -> tuple[int, ...]:
    """Element-wise sum of counter vectors (status classes or histograms of several workers)."""
    total = [0] * length
    for vector in vectors:
        for i, count in enumerate(vector):
            total[i] += count
    return tuple(total)


def subtract_counts(newer: Sequence[int], older: Sequence[int]) -> tuple[int, ...]:
    """What a counter vector gained between two readings (a histogram over a recent window).

    A count that went down (its worker was replaced in between) counts as no gain.
    Both vectors must have the same length.
    """
    return tuple(max(0, new - old) for new, old in zip(newer, older, strict=True))


def increase(totals: Iterable[float]) -> float:
    """How much a running total grew over successive readings.

    A reading lower than the one before (a worker left the sum, or a new worker started
    from zero) adds nothing for that step: never a negative rate, never a spike.
    """
    return sum(max(0.0, later - earlier) for earlier, later in itertools.pairwise(totals))


def rate(samples: Sequence[tuple[float, float]], window_s: float) -> float:
    """Growth per second of a total over the last `window_s` seconds.

    Args:
        samples: (time, total) readings, oldest first.
        window_s: the window; measured from the newest reading back to the newest reading
            at least that old (or the oldest one there is).

    Returns:
        0.0 with fewer than two readings or no time between them.
    """
    if len(samples) < 2:
        return 0.0
    end = samples[-1][0]
    times = [time for time, _ in samples]
    start = max(0, bisect.bisect_right(times, end - window_s) - 1)
    elapsed = end - samples[start][0]
    if elapsed <= 0:
        return 0.0
    return increase(total for _, total in itertools.islice(samples, start, None)) / elapsed


def total_at(samples: Sequence[tuple[float, float]], at: float) -> float:
    """A running total's value at the instant `at`, read linearly between the readings around it.

    Before the first reading it is the first reading's value, after the last the last one's (a
    worker that stopped reporting, or exited, adds nothing more); 0.0 with no readings.

    Args:
        samples: (time, total) readings, oldest first, each a later time than the one before.
        at: the instant.
    """
    times = [time for time, _ in samples]
    after = bisect.bisect_right(times, at)
    if after == 0:
        return samples[0][1] if samples else 0.0
    if after == len(samples):
        return samples[-1][1]
    (t0, v0), (t1, v1) = samples[after - 1], samples[after]
    return v0 + (v1 - v0) * (at - t0) / (t1 - t0)  # t0 <= at < t1


class RateMeter:
    """Successive readings of one total, kept for `horizon_s` seconds, giving rates over any window within it."""

    def __init__(self, horizon_s: float = 10.0) -> None:
        self._horizon_s = horizon_s
        self._samples: deque[tuple[float, float]] = deque()

    def add(self, now: float, total: float) -> None:
        """Record the total as read at `now` (times must not go backwards)."""
        self._samples.append((now, total))
        # Keep one reading at or beyond the horizon so a full-horizon window has a baseline.
        while len(self._samples) > 2 and self._samples[1][0] <= now - self._horizon_s:
            self._samples.popleft()

    def rate(self, window_s: float) -> float:
        """Growth per second over the last `window_s` seconds (at most the horizon)."""
        return rate(self._samples, window_s)

    def growth(self, start: float, end: float) -> float:
        """How much the total grew from the instant `start` to the instant `end` (see `total_at`); never negative.

        Two meters asked over the same instants count each unit once between them, even when one
        total stopped and another started inside the window (a worker replaced by another).
        """
        return max(0.0, total_at(self._samples, end) - total_at(self._samples, start))

    def newest(self) -> float | None:
        """When the newest reading was taken; None before the first."""
        return self._samples[-1][0] if self._samples else None


def cpu_percent(cpu_s_before: float, cpu_s_after: float, elapsed_s: float) -> float:
    """Share of one CPU a process used between two readings of its CPU time, in percent."""
    if elapsed_s <= 0:
        return 0.0
    return max(0.0, cpu_s_after - cpu_s_before) / elapsed_s * 100.0


class Trend:
    """The last `samples` seconds of one app, a sample a second: its request rate and that second's p99.

    The p99 is read from what the workers' histograms gained since the sample before (each
    worker against its own previous histogram, so a worker replaced in between neither
    subtracts nor double-counts). A second in which no response was counted repeats the p99
    before it while requests are still coming in (a worker flushes a few times a second, so
    a second may fall between two flushes); with no requests, it has no p99 (None).
    """

    def __init__(self, samples: int = 60, step_s: float = 1.0) -> None:
        self.requests_per_s: deque[float] = deque(maxlen=samples)
        self.p99_ms: deque[float | None] = deque(maxlen=samples)
        self._step_s = step_s
        self._at: float | None = None
        self._histograms: dict[int, Sequence[int]] = {}  # worker pid -> its histogram at the last sample

    def add(self, now: float, requests_per_s: float, histograms: Mapping[int, Sequence[int]]) -> None:
        """Sample at `now` if a step has passed: the app's current rate, and each live worker's histogram by pid.

        After a pause (the caller's loop was held up), each step missed repeats this sample.
        """
        if self._at is None:
            self._at, self._histograms = now, dict(histograms)
            return
        steps = int((now - self._at) // self._step_s)
        if steps < 1:
            return
        empty = (0,) * LATENCY_BUCKETS
        gained = sum_counts(
            (subtract_counts(histogram, self._histograms.get(pid, empty)) for pid, histogram in histograms.items()),
            LATENCY_BUCKETS,
        )
        p99 = percentile(gained, 0.99)
        p99_ms = p99 * 1000 if p99 is not None else (self.p99_ms[-1] if self.p99_ms and requests_per_s > 0 else None)
        for _ in range(min(steps, self.requests_per_s.maxlen or steps)):
            self.requests_per_s.append(requests_per_s)
            self.p99_ms.append(p99_ms)
        self._at += steps * self._step_s
        self._histograms = dict(histograms)
