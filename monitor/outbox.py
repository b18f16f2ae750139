"""Deliver stage: drain the outbox of frozen digests, one (digest, channel) at a time.

Each due delivery is claimed, rendered from its frozen payload, handed to its
channel and the attempt recorded: sent, retried later with exponential backoff
(honouring ``Retry-After``; a split digest resumes at the first part not accepted),
or failed for good (a permanent error, or retrying for longer than
``delivery.give_up_after``) — then the subscriber's ``fallback`` channel gets the
digest and the ``admin`` channel a notice. Channels never see storage.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from monitor.channels import Channel, Progress
from monitor.config import DeliverySettings, Settings
from monitor.errors import PermanentDeliveryError, TransientDeliveryError
from monitor.models import DeliveryOutcome, DigestPayload
from monitor.notices import ADMIN, notify_admin
from monitor.render import render_digest
from monitor.store import Store
from monitor.store_digests import DueDelivery

logger = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(minutes=10)
MAX_PARALLEL_DELIVERIES = 8


def retry_delay(attempts: int, policy: DeliverySettings, retry_after: float | None) -> timedelta:
    """Wait before attempt ``attempts + 1``: initial × 2^(attempts-1), capped, ±10 % jitter."""
    base = policy.retry_initial * (2 ** max(0, attempts - 1))
    delay: timedelta = min(base, policy.retry_max) * random.uniform(0.9, 1.1)
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=min(retry_after, policy.retry_max.total_seconds())))
    return delay


async def drain(
    settings: Settings,
    store: Store,
    channels: Mapping[str, Channel],
    clock: Callable[[], datetime],
    *,
    grace: timedelta = timedelta(0),
) -> list[DeliveryOutcome]:
    """Attempt every delivery due by ``now + grace`` once; return what happened to each.

    Deliveries are claimed a batch of MAX_PARALLEL_DELIVERIES at a time, just before
    they are attempted, so no claim waits in a queue long enough to expire (and be
    taken and sent by another worker too).
    """
    attempted: set[int] = set()
    outcomes: list[DeliveryOutcome] = []
    while True:
        now = clock()
        due = store.claim_due_deliveries(
            now=now, due_before=now + grace, lease=CLAIM_LEASE,
            limit=MAX_PARALLEL_DELIVERIES, exclude=attempted,
        )  # fmt: skip
        if not due:
            return outcomes
        attempted.update(d.id for d in due)
        outcomes += await asyncio.gather(
            *(deliver(settings, store, channels, clock, d) for d in due)
        )


async def deliver(
    settings: Settings,
    store: Store,
    channels: Mapping[str, Channel],
    clock: Callable[[], datetime],
    delivery: DueDelivery,
) -> DeliveryOutcome:
    payload = cast(DigestPayload, delivery.payload)
    attempt = delivery.attempts + 1
    # each accepted part is saved at once: a crash between parts resends none of them
    progress = Progress(
        delivery.parts_sent, saved=lambda done: store.record_parts_sent(delivery.id, done)
    )
    try:
        channel = channels.get(delivery.channel)
        if channel is None:
            raise TransientDeliveryError(
                f"channel {delivery.channel} is no longer in the config; "
                "the digest stays queued until it is back or the delivery gives up"
            )
        zone, order = _reader(settings, payload["subscriber"])
        await channel.send(render_digest(payload, zone, order), progress)
    except PermanentDeliveryError as exc:
        return _give_up(settings, store, clock, delivery, str(exc), progress, "failed permanently")
    except (TransientDeliveryError, Exception) as exc:
        return _retry_or_give_up(settings, store, clock, delivery, exc, progress)
    except asyncio.CancelledError:
        store.finish_delivery(
            delivery.id, now=clock(), status="pending", error="interrupted",
            parts_sent=progress.done,
        )  # fmt: skip
        raise
    store.finish_delivery(delivery.id, now=clock(), status="sent", parts_sent=progress.done)
    logger.info(
        "delivery digest=%s channel=%s sent (attempt %d, %d items)",
        delivery.digest_id, delivery.channel, attempt, len(payload["items"]),
    )  # fmt: skip
    return DeliveryOutcome(delivery.digest_id, delivery.channel, "sent")


def _retry_or_give_up(
    settings: Settings,
    store: Store,
    clock: Callable[[], datetime],
    delivery: DueDelivery,
    exc: Exception,
    progress: Progress,
) -> DeliveryOutcome:
    now = clock()
    attempt = delivery.attempts + 1
    if isinstance(exc, TransientDeliveryError):
        error, retry_after = str(exc), exc.retry_after
    else:
        logger.error(
            "delivery digest=%s channel=%s crashed",
            delivery.digest_id, delivery.channel, exc_info=exc,
        )  # fmt: skip
        error, retry_after = f"channel {delivery.channel}: internal error: {exc!r}", None
    if now - delivery.created_at >= settings.delivery.give_up_after:
        return _give_up(settings, store, clock, delivery, error, progress, "given up")
    wait = retry_delay(attempt, settings.delivery, retry_after)
    store.finish_delivery(
        delivery.id, now=now, status="pending", error=error, next_attempt_at=now + wait,
        parts_sent=progress.done,
    )  # fmt: skip
    logger.warning(
        "delivery digest=%s channel=%s failed (attempt %d), retry in %.0f s: %s",
        delivery.digest_id, delivery.channel, attempt, wait.total_seconds(), error,
    )  # fmt: skip
    return DeliveryOutcome(delivery.digest_id, delivery.channel, "retry", error)


def _give_up(
    settings: Settings,
    store: Store,
    clock: Callable[[], datetime],
    delivery: DueDelivery,
    error: str,
    progress: Progress,
    how: str,
) -> DeliveryOutcome:
    """Mark the delivery failed, hand the digest to the fallback, tell the admin."""
    now = clock()
    store.finish_delivery(
        delivery.id, now=now, status="failed", error=error, parts_sent=progress.done
    )
    logger.error(
        "delivery digest=%s channel=%s %s after %d attempts: %s",
        delivery.digest_id, delivery.channel, how, delivery.attempts + 1, error,
    )  # fmt: skip
    subscriber = delivery.payload.get("subscriber", "")
    fallback = next((s.fallback for s in settings.subscribers if s.name == subscriber), None)
    handed = ""
    if (
        fallback
        and fallback != delivery.channel
        and store.add_delivery(delivery.digest_id, fallback, now=now)
    ):
        handed = f"; handed to fallback channel {fallback}"
        logger.warning(
            "delivery digest=%s handed to fallback channel %s", delivery.digest_id, fallback
        )
    if delivery.channel != ADMIN and subscriber != ADMIN:
        notify_admin(
            settings, store, now,
            f"Delivery to channel {delivery.channel} failed",
            f"Digest {delivery.digest_id} for {subscriber} could not be delivered through "
            f"channel {delivery.channel} ({how}): {error}{handed}",
        )  # fmt: skip
    return DeliveryOutcome(delivery.digest_id, delivery.channel, "failed", error)


def _reader(settings: Settings, subscriber: str) -> tuple[ZoneInfo, tuple[str, ...]]:
    """The subscriber's time zone and watch order, for rendering."""
    for candidate in settings.subscribers:
        if candidate.name == subscriber:
            return candidate.zone, candidate.watches
    return ZoneInfo("UTC"), ()
