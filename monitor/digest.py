"""Digest stage: undelivered alerts → the frozen digest payload (the contract's JSON).

Pure: builds values from the alerts the store hands over, and decides when a
subscriber's digest is due. It never renders, sends or touches storage itself.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from monitor.models import DigestEntry, DigestPayload
from monitor.schedule import Immediate, Schedule
from monitor.store_digests import PendingAlert

PAYLOAD_VERSION = 1


def new_digest_id(now: datetime) -> str:
    """Sortable and unique: ``20261127T080000Z-3f9a1c2b7d4e``."""
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(6)}"


def isoformat(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def build_payload(
    digest_id: str,
    subscriber: str,
    created_at: datetime,
    pending: Sequence[PendingAlert],
    more: int = 0,
) -> DigestPayload:
    """The frozen form of a digest: newest stories first; ``more`` left for the next one."""
    ordered = sorted(pending, key=lambda a: a.published_at or a.first_seen_at, reverse=True)
    entries = [entry_for(alert) for alert in ordered]
    payload: DigestPayload = {
        "version": PAYLOAD_VERSION,
        "digest_id": digest_id,
        "subscriber": subscriber,
        "created_at": isoformat(created_at) or "",
        "items": entries,
    }
    if more:
        payload["more"] = more
    return payload


def entry_for(alert: PendingAlert) -> DigestEntry:
    entry: DigestEntry = {
        "title": alert.title or (alert.url or "(untitled)"),
        "url": alert.url,
        "source": alert.source,
        "published_at": isoformat(alert.published_at),
        "watches": list(alert.watches),
        "matched_terms": list(alert.matched_terms),
        "snippet": alert.snippet,
        "highlights": [list(h) for h in alert.highlights],
        "also_reported_by": [
            {"source": source, "title": title, "url": url}
            for source, title, url in alert.also_reported_by
        ],
    }
    if alert.updated:
        entry["updated"] = True
    return entry


def new_payload(
    subscriber: str, created_at: datetime, pending: Sequence[PendingAlert], more: int
) -> DigestPayload:
    """``build_payload`` with a fresh digest id (what the store freezes)."""
    return build_payload(new_digest_id(created_at), subscriber, created_at, pending, more)


def first_due(schedule: Schedule, now: datetime) -> datetime:
    """When a subscriber seen for the first time gets its first digest."""
    return now if isinstance(schedule, Immediate) else schedule.next_after(now)


def due_grace(schedule: Schedule) -> timedelta:
    """How early a pass may send a scheduled digest (a cron pass starts a little late or early)."""
    return timedelta(0) if isinstance(schedule, Immediate) else timedelta(seconds=30)
