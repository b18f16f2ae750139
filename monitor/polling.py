"""When to poll a source next: publisher hints, real publishing pace, failure backoff.

Pure functions over times, headers and item dates.

* After a success the wait is the source's real publishing pace (the median gap
  between its recent items) clamped to ``[min_interval, interval]``, but never
  shorter than what the publisher asks for (``Cache-Control: max-age``,
  ``Expires``, RSS ``<ttl>``, ``sy:updatePeriod``/``sy:updateFrequency``), itself
  capped at ``max_backoff`` so a broken header cannot silence a source for good.
* After a failure the wait doubles with each consecutive failure, from
  ``interval`` up to ``max_backoff``, and is never shorter than a ``Retry-After``.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-maxage|max-age)\s*=\s*\"?([0-9]+)", re.IGNORECASE)
_COUNT = re.compile(r"[0-9]+")  # ASCII only: "²" is a digit to str.isdigit, not to int()
LONGEST_HINT = timedelta(days=3650)  # a longer wait asked for counts as this (max_backoff caps it)
_SY_PERIODS = {
    "hourly": timedelta(hours=1),
    "daily": timedelta(days=1),
    "weekly": timedelta(weeks=1),
    "monthly": timedelta(days=30),
    "yearly": timedelta(days=365),
}
RECENT_ITEMS = 10


def header_delay(headers: Mapping[str, str], now: datetime) -> timedelta | None:
    """How long the server says the response stays fresh (Cache-Control, else Expires)."""
    cache_control = headers.get("cache-control", "")
    if re.search(r"\b(no-cache|no-store)\b", cache_control, re.IGNORECASE):
        return None
    match = _MAX_AGE.search(cache_control)
    if match:
        return _times(match.group(1), timedelta(seconds=1))
    expires = headers.get("expires")
    if expires:
        try:
            when = parsedate_to_datetime(expires)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        return max(timedelta(0), when - now)
    return None


def feed_delay(
    ttl: str | None, update_period: str | None, update_frequency: str | None
) -> timedelta | None:
    """RSS ``<ttl>`` (minutes) or ``sy:updatePeriod`` / ``sy:updateFrequency``."""
    delays = []
    ttl_delay = _times(ttl.strip(), timedelta(minutes=1)) if ttl else None
    if ttl_delay is not None:
        delays.append(ttl_delay)
    if update_period and update_period.strip().lower() in _SY_PERIODS:
        period = _SY_PERIODS[update_period.strip().lower()]
        text = (update_frequency or "").strip()
        delays.append(period / max(1, _count(text) or 1))
    return max(delays) if delays else None


def _times(count: str, unit: timedelta) -> timedelta | None:
    """``count`` units (ASCII digits, else None), at most LONGEST_HINT.

    A header or feed may say ``max-age=99999999999999999999``: that is "a long time",
    not an overflow (nor, past 4,300 digits, a ValueError from ``int``).
    """
    number = _count(count)
    if number is None:
        return None
    return LONGEST_HINT if number >= LONGEST_HINT / unit else unit * number


def _count(text: str) -> int | None:
    """ASCII digits as a number, at most 10**12 (None: not only ASCII digits)."""
    if not _COUNT.fullmatch(text):
        return None
    digits = text.lstrip("0") or "0"
    return int(digits) if len(digits) <= 12 else 10**12


def publishing_gap(dates: Iterable[datetime | None]) -> timedelta | None:
    """Median gap between the most recent dated items, or None with fewer than three."""
    recent = sorted((d for d in dates if d is not None), reverse=True)[:RECENT_ITEMS]
    if len(recent) < 3:
        return None
    gaps = [recent[i] - recent[i + 1] for i in range(len(recent) - 1)]
    return statistics.median_low(gaps)


def next_success_wait(
    *,
    interval: timedelta,
    min_interval: timedelta,
    max_backoff: timedelta,
    gap: timedelta | None,
    publisher: timedelta | None,
) -> timedelta:
    """The wait after a successful poll (see the module docstring)."""
    wait = interval if gap is None else min(max(gap, min_interval), interval)
    if publisher is not None:
        wait = max(wait, min(publisher, max_backoff))
    return wait


def next_failure_wait(
    *,
    interval: timedelta,
    max_backoff: timedelta,
    failures: int,
    retry_after: float | None,
) -> timedelta:
    """``interval × 2^(failures-1)``, capped at ``max_backoff``; at least ``retry_after``."""
    doubled: timedelta = interval * (2 ** max(0, min(failures - 1, 30)))
    wait = min(doubled, max(max_backoff, interval))
    if retry_after is not None:
        wait = max(wait, timedelta(seconds=retry_after))
    return wait
