"""status/figures.py: rates, percentiles from the latency histogram, counter sums."""

from __future__ import annotations

import itertools

import pytest

from supervisor.status.figures import (
    LATENCY_BOUNDS_S,
    LATENCY_BUCKETS,
    RateMeter,
    Trend,
    bucket_index,
    cpu_percent,
    increase,
    percentile,
    rate,
    status_class_index,
    subtract_counts,
    sum_counts,
    total_at,
)


def test_bounds_are_log_spaced_from_a_tenth_of_a_millisecond_to_ten_seconds() -> None:
    assert len(LATENCY_BOUNDS_S) == LATENCY_BUCKETS - 1
    assert LATENCY_BOUNDS_S[0] == 0.0001
    assert LATENCY_BOUNDS_S[-1] == 10.0
    ratios = {round(b / a, 3) for a, b in itertools.pairwise(LATENCY_BOUNDS_S)}
    assert ratios <= {1.687, 1.688, 1.689}


@pytest.mark.parametrize(
    ("seconds", "index"),
    [(0.0, 0), (0.0001, 0), (0.00011, 1), (0.0002, 2), (1.0, 18), (10.0, 22), (10.5, 23), (3600.0, 23)],
)
def test_bucket_index(seconds: float, index: int) -> None:
    assert bucket_index(seconds) == index


@pytest.mark.parametrize(("status", "index"), [(101, 0), (200, 1), (304, 2), (404, 3), (503, 4), (99, 0), (999, 4)])
def test_status_class_index(status: int, index: int) -> None:
    assert status_class_index(status) == index


def histogram(**counts: int) -> list[int]:
    buckets = [0] * LATENCY_BUCKETS
    for name, count in counts.items():
        buckets[int(name.removeprefix("b"))] = count
    return buckets


def test_percentiles_interpolate_inside_the_bucket() -> None:
    buckets = histogram(b0=50, b10=49, b23=1)
    assert percentile(buckets, 0.5) == pytest.approx(0.0001)
    assert percentile(buckets, 0.25) == pytest.approx(0.00005)
    # Rank 99 is the last of bucket 10's 49: its upper bound.
    assert percentile(buckets, 0.99) == pytest.approx(LATENCY_BOUNDS_S[10])
    assert percentile(buckets, 0.745) == pytest.approx(
        LATENCY_BOUNDS_S[9] + (LATENCY_BOUNDS_S[10] - LATENCY_BOUNDS_S[9]) * 24.5 / 49
    )
    # The overflow bucket reads as its lower bound, the highest known.
    assert percentile(buckets, 1.0) == 10.0


def test_an_empty_histogram_has_no_percentile() -> None:
    assert percentile([0] * LATENCY_BUCKETS, 0.5) is None
    assert percentile([], 0.99) is None


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5])
def test_a_percentile_fraction_must_be_in_range(fraction: float) -> None:
    with pytest.raises(ValueError, match="must be in"):
        percentile([1] * LATENCY_BUCKETS, fraction)


def test_counts_sum_and_subtract_element_wise() -> None:
    assert sum_counts([(1, 2, 3), (10, 0, 5)], 3) == (11, 2, 8)
    assert sum_counts([], 2) == (0, 0)
    assert subtract_counts((5, 3, 9), (2, 4, 9)) == (3, 0, 0)


def test_increase_ignores_drops() -> None:
    assert increase([10, 15, 5, 8]) == 8
    assert increase([]) == 0
    assert increase([7]) == 0


def test_rate_uses_the_newest_reading_at_least_a_window_old() -> None:
    samples = [(0.0, 0.0), (0.5, 50.0), (1.0, 100.0), (1.5, 200.0), (2.0, 400.0)]
    assert rate(samples, 1.0) == 300.0  # from t=1.0 to t=2.0
    assert rate(samples, 0.5) == 400.0  # from t=1.5
    assert rate(samples, 0.6) == 300.0  # from t=1.0: no reading at 1.4
    assert rate(samples, 10.0) == 200.0  # the whole span
    assert rate(samples[:1], 1.0) == 0.0
    assert rate([(1.0, 5.0), (1.0, 9.0)], 1.0) == 0.0


def test_rate_meter_keeps_a_baseline_for_its_horizon() -> None:
    meter = RateMeter(horizon_s=10.0)
    assert meter.rate(1.0) == 0.0
    for second in range(31):
        meter.add(float(second), second * 100.0)
    assert meter.rate(1.0) == 100.0
    assert meter.rate(10.0) == 100.0
    assert meter.rate(60.0) == 100.0  # beyond the horizon: what is kept
    assert len(meter._samples) == 11


def test_total_at_interpolates_between_readings_and_holds_outside_them() -> None:
    readings = [(1.0, 10.0), (2.0, 30.0), (4.0, 30.0)]
    assert total_at([], 5.0) == 0.0
    assert total_at(readings, 0.5) == 10.0  # before the first reading
    assert total_at(readings, 1.0) == 10.0
    assert total_at(readings, 1.25) == 15.0
    assert total_at(readings, 3.0) == 30.0
    assert total_at(readings, 9.0) == 30.0  # after the last: it stopped reporting, it adds nothing


def test_meters_asked_over_the_same_instants_count_a_handover_once() -> None:
    old, new = RateMeter(), RateMeter()
    assert old.newest() is None
    for at in (0.0, 1.0, 2.0):  # 10 a second, then it exits
        old.add(at, at * 10)
    for at in (2.0, 3.0):  # starts at zero when the old one stops, 10 a second
        new.add(at, (at - 2.0) * 10)
    assert old.newest() == 2.0
    assert old.growth(1.5, 2.5) + new.growth(1.5, 2.5) == 10.0
    assert new.growth(2.5, 1.5) == 0.0  # never negative


def test_cpu_percent() -> None:
    assert cpu_percent(1.0, 1.5, 2.0) == 25.0
    assert cpu_percent(1.0, 0.5, 2.0) == 0.0
    assert cpu_percent(1.0, 2.0, 0.0) == 0.0


def _histogram(**counts: int) -> tuple[int, ...]:
    """A histogram with `counts` responses at the durations named ms1, ms40... (milliseconds)."""
    buckets = [0] * LATENCY_BUCKETS
    for name, count in counts.items():
        buckets[bucket_index(int(name[2:]) / 1000)] += count
    return tuple(buckets)


def test_a_trend_samples_once_a_second_from_the_first_reading_on() -> None:
    trend = Trend(samples=3)
    trend.add(10.0, 5.0, {})  # the baseline
    trend.add(10.5, 6.0, {})  # within the second: nothing yet
    assert list(trend.requests_per_s) == []
    for second in range(1, 5):
        trend.add(10.0 + second, float(second), {})
    assert list(trend.requests_per_s) == [2.0, 3.0, 4.0]  # the newest three
    assert list(trend.p99_ms) == [None, None, None]  # no requests, no responses: no p99


def test_a_trend_reads_each_seconds_p99_from_what_each_worker_gained() -> None:
    trend = Trend()
    trend.add(0.0, 0.0, {1: _histogram(ms1=100), 2: _histogram(ms1=50)})
    trend.add(1.0, 100.0, {1: _histogram(ms1=100, ms40=100), 2: _histogram(ms1=50)})
    # Worker 2 was replaced by 3: 2's history neither subtracts nor counts; 3 counts from zero.
    trend.add(2.0, 10.0, {1: _histogram(ms1=100, ms40=100), 3: _histogram(ms1=10)})
    slow, fast = trend.p99_ms
    assert slow is not None
    assert LATENCY_BOUNDS_S[bucket_index(0.04) - 1] * 1000 < slow <= 40 * 1.7
    assert fast is not None
    assert fast < 1.7  # the new worker's ten fast responses, not the old second's


def test_a_second_between_flushes_keeps_the_p99_while_requests_come_and_a_pause_repeats_the_sample() -> None:
    trend = Trend()
    trend.add(0.0, 0.0, {1: _histogram()})
    trend.add(1.0, 10.0, {1: _histogram(ms40=10)})
    trend.add(2.0, 10.0, {1: _histogram(ms40=10)})  # nothing new counted, requests still coming
    trend.add(3.0, 0.0, {1: _histogram(ms40=10)})  # quiet
    assert trend.p99_ms[0] == trend.p99_ms[1] is not None
    assert trend.p99_ms[2] is None
    trend.add(6.5, 7.0, {1: _histogram(ms40=10)})  # the caller's loop was held up three seconds
    assert list(trend.requests_per_s)[-3:] == [7.0, 7.0, 7.0]
    assert len(trend.requests_per_s) == 6
