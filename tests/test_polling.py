"""When to poll next: publisher hints, publishing pace, failure backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.polling import (
    feed_delay,
    header_delay,
    next_failure_wait,
    next_success_wait,
    publishing_gap,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
M = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({"cache-control": "public, max-age=1800"}, 30 * M),
     ({"cache-control": "s-maxage=600, max-age=60"}, 10 * M),
     ({"cache-control": "no-cache, max-age=600"}, None),
     ({"expires": "Fri, 27 Nov 2026 12:20:00 GMT"}, 20 * M),
     ({"expires": "Fri, 27 Nov 2026 11:00:00 GMT"}, timedelta(0)),
     ({"expires": "garbage"}, None),
     ({}, None)],
)  # fmt: skip
def test_header_delay(headers: dict[str, str], expected: timedelta | None) -> None:
    assert header_delay(headers, NOW) == expected


def test_feed_delay() -> None:
    assert feed_delay("60", None, None) == 60 * M
    assert feed_delay(None, "hourly", "2") == 30 * M
    assert feed_delay(None, "daily", None) == timedelta(days=1)
    assert feed_delay("30", "hourly", "1") == 60 * M  # the longer one wins
    assert feed_delay("soon", "fortnightly", "x") is None


def test_publishing_gap_is_median_of_recent() -> None:
    dates = [NOW - i * 10 * M for i in range(12)] + [None, NOW - timedelta(days=90)]
    assert publishing_gap(dates) == 10 * M
    assert publishing_gap([NOW, NOW - M]) is None


def test_success_wait_follows_pace_within_bounds_and_obeys_publisher() -> None:
    bounds = {"interval": 15 * M, "min_interval": 5 * M, "max_backoff": timedelta(hours=24)}
    assert next_success_wait(**bounds, gap=None, publisher=None) == 15 * M
    assert next_success_wait(**bounds, gap=2 * M, publisher=None) == 5 * M
    assert next_success_wait(**bounds, gap=8 * M, publisher=None) == 8 * M
    assert next_success_wait(**bounds, gap=timedelta(days=1), publisher=None) == 15 * M
    # never earlier than the publisher asks, even beyond the interval
    assert next_success_wait(**bounds, gap=2 * M, publisher=60 * M) == 60 * M
    # ...but a year-long max-age cannot silence a source
    assert next_success_wait(**bounds, gap=None, publisher=timedelta(days=365)) == timedelta(
        hours=24
    )


def test_failure_wait_doubles_up_to_cap_and_honours_retry_after() -> None:
    waits = [
        next_failure_wait(
            interval=15 * M, max_backoff=timedelta(hours=2), failures=n, retry_after=None
        )
        for n in range(1, 8)
    ]
    assert waits == [15 * M, 30 * M, 60 * M, 120 * M, 120 * M, 120 * M, 120 * M]
    assert next_failure_wait(interval=15 * M, max_backoff=timedelta(hours=2), failures=1,
                             retry_after=3600) == 60 * M  # fmt: skip
