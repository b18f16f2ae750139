"""Map HTTP answers and httpx exceptions of chat/webhook services to delivery errors."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from monitor.errors import PermanentDeliveryError, TransientDeliveryError

PERMANENT_STATUSES = frozenset({401, 403, 404, 410})


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date), else None."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def raise_for_answer(channel: str, response: httpx.Response) -> None:
    """Raise the right DeliveryError unless the service answered 2xx."""
    if response.is_success:
        return
    what = f"channel {channel}: HTTP {response.status_code} {response.reason_phrase}".rstrip()
    if response.status_code in PERMANENT_STATUSES:
        raise PermanentDeliveryError(what)
    raise TransientDeliveryError(what, retry_after=retry_after_seconds(response))


def transport_failure(channel: str, exc: httpx.HTTPError) -> TransientDeliveryError:
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "network error"
    detail = type(exc).__name__
    return TransientDeliveryError(f"channel {channel}: {kind} ({detail})")
