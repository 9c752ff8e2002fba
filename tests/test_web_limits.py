"""The web chat's rate limits, with time as an input: no server, no clock, no waiting."""

import datetime as dt

import pytest

from bot.channels.web.limits import HourlyCap, RateLimit

T0 = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("per_minute", "requests", "expected"),
    [
        # (key, seconds since start) → allowed?
        (3, [("a", 0), ("a", 0), ("a", 0), ("a", 0)], [True, True, True, False]),
        (3, [("a", 0), ("a", 0), ("a", 0), ("b", 0)], [True, True, True, True]),
        (3, [("a", 0), ("a", 0), ("a", 0), ("a", 19)], [True, True, True, False]),
        (3, [("a", 0), ("a", 0), ("a", 0), ("a", 20)], [True, True, True, True]),
        (3, [("a", 0), ("a", 0), ("a", 0), ("a", 20), ("a", 20)], [True, True, True, True, False]),
        # a long rest refills only up to the burst
        (2, [("a", 0), ("a", 3600), ("a", 3600), ("a", 3600)], [True, True, True, False]),
        # a refused request spends nothing
        (1, [("a", 0), ("a", 30), ("a", 59), ("a", 61)], [True, False, False, True]),
    ],
)
def test_rate_limit_allows_a_burst_then_refills_per_key(
    per_minute: int, requests: list[tuple[str, float]], expected: list[bool]
) -> None:
    limit = RateLimit(per_minute)
    start = 1000.0  # a monotonic clock starts anywhere
    assert [limit.allow(key, start + at) for key, at in requests] == expected


@pytest.mark.parametrize(
    ("per_hour", "uses", "key", "minutes", "expected"),
    [
        (2, [], "a", 0, False),
        (2, [("a", 0)], "a", 0, False),
        (2, [("a", 0), ("a", 10)], "a", 20, True),
        (2, [("a", 0), ("a", 10)], "b", 20, False),
        (2, [("a", 0), ("a", 10)], "a", 59, True),
        (2, [("a", 0), ("a", 10)], "a", 60, False),  # the first use is an hour old
        (2, [("a", 0), ("a", 10), ("a", 60)], "a", 65, True),
        (2, [("a", 0), ("a", 10), ("a", 60)], "a", 70, False),
    ],
)
def test_hourly_cap_counts_the_uses_of_the_last_hour_per_key(
    per_hour: int, uses: list[tuple[str, int]], key: str, minutes: int, expected: bool
) -> None:
    cap = HourlyCap(per_hour)
    for used, at in uses:
        cap.take(used, T0 + dt.timedelta(minutes=at))
    assert cap.full(key, T0 + dt.timedelta(minutes=minutes)) is expected
