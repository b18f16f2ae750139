"""Storage stage for digests and the delivery outbox.

A digest freezes a subscriber's undelivered alerts in one transaction, with one
delivery row per channel; deliveries are claimed, attempted and recorded one by
one. One method is one transaction (see ``db``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update

from monitor.db import Database
from monitor.models import DigestPayload
from monitor.tables import alerts, deliveries, digests, items, subscriber_state


@dataclass(frozen=True, slots=True)
class PendingAlert:
    """An undelivered alert joined with its item: what a digest entry is built from."""

    alert_id: int
    source: str
    title: str
    url: str | None
    published_at: datetime | None
    first_seen_at: datetime
    watches: tuple[str, ...]
    matched_terms: tuple[str, ...]
    snippet: str
    highlights: tuple[tuple[int, int], ...]
    story_id: int | None = None
    updated: bool = False  # a new revision of an item already alerted
    also_reported_by: tuple[tuple[str, str, str | None], ...] = ()  # source, title, url


@dataclass(frozen=True, slots=True)
class DueDelivery:
    id: int
    digest_id: str
    channel: str
    attempts: int
    created_at: datetime
    payload: dict[str, Any]
    parts_sent: int = 0


class DigestQueries(Database):
    """Digest and outbox queries (mixed into ``Store``)."""

    def next_digest_at(self, subscriber: str, *, first: datetime) -> datetime:
        """When the subscriber's next scheduled digest is due (``first`` if never set)."""
        with self._tx() as conn:
            conn.execute(
                self._insert_ignore(conn, subscriber_state, "name"),
                {"name": subscriber, "next_digest_at": first},
            )
            value: datetime | None = conn.execute(
                select(subscriber_state.c.next_digest_at).where(
                    subscriber_state.c.name == subscriber
                )
            ).scalar()
        return value or first

    def create_digest(
        self,
        subscriber: str,
        *,
        channels: Sequence[str],
        now: datetime,
        max_items: int,
        due_before: datetime,
        min_items: int = 1,
        next_digest_at: datetime,
        build: Callable[[Sequence[PendingAlert], int], DigestPayload],
    ) -> DigestPayload | None:
        """Freeze the subscriber's undelivered alerts into a digest and queue deliveries.

        Atomic: two processes cannot both take the same alerts. Does nothing and returns
        None when the subscriber is not due (``next_digest_at > due_before``) or has no
        pending alerts; in the latter case its next digest time still advances.
        ``build(alerts, more)`` returns the payload (with ``digest_id``) to freeze.
        """
        with self._tx() as conn:
            # the row exists before it is locked: for a subscriber's first digest there
            # was nothing to lock, so two processes on PostgreSQL both went ahead, and the
            # second failed inserting the same row
            conn.execute(self._insert_ignore(conn, subscriber_state, "name"), {"name": subscriber})
            state = conn.execute(
                select(subscriber_state.c.next_digest_at)
                .where(subscriber_state.c.name == subscriber)
                .with_for_update()
            ).one()
            if state.next_digest_at and state.next_digest_at > due_before:
                return None
            rows, total = _pending(conn, subscriber, max_items)
            if total < min_items:  # too few for this slot: they wait for the next one
                rows, total = [], 0
            values: dict[str, Any] = {"next_digest_at": next_digest_at}
            payload = None
            if rows:
                payload = build(_with_story_mates(conn, rows), total - len(rows))
                digest_id = payload["digest_id"]
                conn.execute(
                    digests.insert().values(
                        id=digest_id,
                        subscriber=subscriber,
                        created_at=now,
                        item_count=len(rows),
                        payload=json.dumps(payload, ensure_ascii=False),
                    )
                )
                conn.execute(
                    deliveries.insert(),
                    [
                        {"digest_id": digest_id, "channel": channel, "status": "pending",
                         "attempts": 0, "created_at": now, "next_attempt_at": now}
                        for channel in channels
                    ],
                )  # fmt: skip
                conn.execute(
                    update(alerts)
                    .where(alerts.c.id.in_([r.id for r in rows]))
                    .values(digest_id=digest_id)
                )
                values["last_digest_at"] = now
            conn.execute(
                update(subscriber_state)
                .where(subscriber_state.c.name == subscriber)
                .values(**values)
            )
        return payload

    def queue_notice(self, payload: DigestPayload, *, channel: str, now: datetime) -> None:
        """Freeze a ready-made payload (an operational notice) and queue it to one channel."""
        with self._tx() as conn:
            conn.execute(
                digests.insert().values(
                    id=payload["digest_id"],
                    subscriber=payload["subscriber"],
                    created_at=now,
                    item_count=len(payload["items"]),
                    payload=json.dumps(payload, ensure_ascii=False),
                )
            )
            conn.execute(
                deliveries.insert().values(
                    digest_id=payload["digest_id"], channel=channel, status="pending",
                    attempts=0, created_at=now, next_attempt_at=now,
                )
            )  # fmt: skip

    def add_delivery(self, digest_id: str, channel: str, *, now: datetime) -> bool:
        """Queue an existing digest to one more channel (a fallback); False if queued before."""
        values = {"digest_id": digest_id, "channel": channel, "status": "pending", "attempts": 0,
                  "created_at": now, "next_attempt_at": now}  # fmt: skip
        with self._tx() as conn:
            statement = self._insert_ignore(conn, deliveries, "digest_id", "channel")
            added: int = conn.execute(statement, values).rowcount
        return added == 1

    def failed_deliveries(
        self, limit: int = 10
    ) -> list[tuple[str, str, str | None, datetime | None]]:
        """The most recent deliveries that were given up: digest, channel, error, when."""
        with self._tx() as conn:
            rows = conn.execute(
                select(deliveries.c.digest_id, deliveries.c.channel, deliveries.c.last_error,
                       deliveries.c.last_attempt_at)
                .where(deliveries.c.status == "failed")
                .order_by(deliveries.c.last_attempt_at.desc())
                .limit(limit)
            ).all()  # fmt: skip
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def pending_alerts(self, subscriber: str, limit: int) -> tuple[list[PendingAlert], int]:
        """Undelivered alerts (oldest first, at most ``limit``) and how many in all."""
        with self._tx() as conn:
            rows, total = _pending(conn, subscriber, limit)
            return _with_story_mates(conn, rows), total

    # -- deliveries --------------------------------------------------------------

    def has_due_deliveries(self, *, due_before: datetime) -> bool:
        """Whether any pending delivery is due (claimed or not): a cheap look before a drain."""
        with self._tx() as conn:
            found = conn.execute(
                select(deliveries.c.id)
                .where(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= due_before)
                .limit(1)
            ).first()
        return found is not None

    def claim_due_deliveries(
        self,
        *,
        now: datetime,
        due_before: datetime,
        lease: timedelta,
        limit: int = 200,
        exclude: Collection[int] = (),
    ) -> list[DueDelivery]:
        """Claim pending deliveries whose next attempt is at or before ``due_before``.

        ``exclude``: ids not to claim (those already attempted by this drain).
        """
        claimable = and_(
            deliveries.c.status == "pending",
            deliveries.c.next_attempt_at <= due_before,
            or_(deliveries.c.claim_expires_at.is_(None), deliveries.c.claim_expires_at < now),
            deliveries.c.id.not_in(list(exclude)),
        )
        claimed: list[DueDelivery] = []
        with self._tx() as conn:
            rows = conn.execute(
                select(deliveries, digests.c.payload)
                .join(digests, digests.c.id == deliveries.c.digest_id)
                .where(claimable)
                .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
                .limit(limit)
            ).all()
            for row in rows:
                taken = conn.execute(
                    update(deliveries)
                    .where(deliveries.c.id == row.id, claimable)
                    .values(claimed_by=self.worker, claim_expires_at=now + lease)
                ).rowcount
                if taken == 1:
                    claimed.append(
                        DueDelivery(
                            id=row.id,
                            digest_id=row.digest_id,
                            channel=row.channel,
                            attempts=row.attempts,
                            created_at=row.created_at,
                            payload=json.loads(row.payload),
                            parts_sent=row.parts_sent or 0,
                        )
                    )
        return claimed

    def record_parts_sent(self, delivery_id: int, parts_sent: int) -> None:
        """A multi-part delivery's progress, saved as each part is accepted."""
        with self._tx() as conn:
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id)
                .values(parts_sent=parts_sent)
            )

    def finish_delivery(
        self,
        delivery_id: int,
        *,
        now: datetime,
        status: str,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
        parts_sent: int | None = None,
    ) -> None:
        """Record one attempt: ``sent``, ``pending`` again (retry) or ``failed`` for good."""
        values: dict[str, Any] = {
            "status": status,
            "attempts": deliveries.c.attempts + 1,
            "last_attempt_at": now,
            "last_error": error,
            "claimed_by": None,
            "claim_expires_at": None,
        }
        if status == "sent":
            values["sent_at"] = now
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        if parts_sent is not None:
            values["parts_sent"] = parts_sent
        with self._tx() as conn:
            conn.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(**values))

    def delivery_counts(self) -> dict[str, int]:
        with self._tx() as conn:
            rows = conn.execute(
                select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
            ).all()
        return {status: count for status, count in rows}


def _pending(conn: Connection, subscriber: str, limit: int) -> tuple[Sequence[Any], int]:
    """A subscriber's undelivered alerts with their items (oldest first), and the total."""
    pending = and_(alerts.c.subscriber == subscriber, alerts.c.digest_id.is_(None))
    total: int = conn.execute(select(func.count()).where(pending)).scalar_one()
    rows = conn.execute(
        select(alerts, items.c.source, items.c.title, items.c.url, items.c.published_at,
               items.c.first_seen_at)
        .join(items, items.c.id == alerts.c.item_id)
        .where(pending)
        .order_by(alerts.c.id)
        .limit(limit)
    ).all()  # fmt: skip
    return rows, total


def _with_story_mates(conn: Connection, rows: Sequence[Any]) -> list[PendingAlert]:
    """Pending alerts, each with the other outlets that carried the same story."""
    story_ids = {r.story_id for r in rows if r.story_id is not None}
    mates: dict[int, list[Any]] = {}
    if story_ids:
        for mate in conn.execute(
            select(items.c.id, items.c.story_id, items.c.source, items.c.title, items.c.url,
                   items.c.canonical_url)
            .where(items.c.story_id.in_(story_ids))
            .order_by(items.c.id)
        ):  # fmt: skip
            mates.setdefault(mate.story_id, []).append(mate)
    out = []
    for row in rows:
        own = next((m for m in mates.get(row.story_id, []) if m.id == row.item_id), None)
        seen = {(row.source, own.canonical_url if own else None)}
        also = []
        for mate in mates.get(row.story_id, []):
            if mate.id == row.item_id or (mate.source, mate.canonical_url) in seen:
                continue
            seen.add((mate.source, mate.canonical_url))
            also.append((mate.source, mate.title, mate.url))
        out.append(_pending_alert(row, tuple(also)))
    return out


def _pending_alert(row: Any, also: tuple[tuple[str, str, str | None], ...] = ()) -> PendingAlert:
    return PendingAlert(
        alert_id=row.id,
        source=row.source,
        title=row.title,
        url=row.url,
        published_at=row.published_at,
        first_seen_at=row.first_seen_at,
        watches=tuple(json.loads(row.watches)),
        matched_terms=tuple(json.loads(row.matched_terms)),
        snippet=row.snippet,
        highlights=tuple((int(a), int(b)) for a, b in json.loads(row.highlights)),
        story_id=row.story_id,
        updated=bool(row.revision),
        also_reported_by=also,
    )
