"""Map HTTP answers and httpx exceptions of chat/webhook services to delivery errors."""

from __future__ import annotations

import httpx

from monitor.errors import PermanentDeliveryError, TransientDeliveryError
from monitor.retry_after import retry_after_seconds as parse_retry_after

PERMANENT_STATUSES = frozenset({401, 403, 404, 410})


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` as seconds (at most a day), else None: the fetcher's own reading."""
    return parse_retry_after(response.headers.get("retry-after"))


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
