"""``Retry-After`` (RFC 9110 §10.2.3) as seconds: for fetches and for deliveries alike.

Stage: fetch and deliver. Must not: raise on any header value a server may send.
"""

from __future__ import annotations

import time
from datetime import UTC
from email.utils import parsedate_to_datetime

MAX_RETRY_AFTER = 86400.0  # a longer Retry-After counts as a day (no host paused for good)


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` in seconds from now (at most ``MAX_RETRY_AFTER``), None if garbage.

    Delay-seconds are ASCII digits only; an HTTP-date is UTC in every form, the
    obsolete asctime one (which names no zone) included.
    """
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, when.timestamp() - time.time()), MAX_RETRY_AFTER)
