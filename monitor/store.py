"""Storage stage for sources and items: claims, seen keys, a poll's results.

One method is one transaction (see ``db``). Items are indexed by short hashes of
their key and canonical URL; an item whose canonical URL is already stored (from
any source) is kept as a duplicate and never alerted. Digest and delivery queries
live in ``store_digests``, a successful poll's writes in ``store_polls``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Text, and_, bindparam, func, or_, select, update
from sqlalchemy.sql.dml import Update

from monitor.db import Database, short_hash, short_hash_bytes

__all__ = [
    "KnownItem",
    "PollToSave",
    "SourceState",
    "Store",
    "StoredItem",
    "short_hash",
    "short_hash_bytes",
]
from monitor.store_digests import DigestQueries
from monitor.store_items import ItemQueries, KnownItem, StoredItem
from monitor.store_polls import PollQueries, PollToSave
from monitor.tables import UTCDateTime, sources


@dataclass(frozen=True, slots=True)
class SourceState:
    name: str
    url: str
    etag: str | None
    last_modified: str | None
    first_polled_at: datetime | None
    last_polled_at: datetime | None
    last_success_at: datetime | None
    next_poll_at: datetime | None
    last_status: str | None
    last_error: str | None
    consecutive_failures: int
    total_items: int
    moved_to: str | None = None
    publish_gap: timedelta | None = None
    body_hash: str | None = None
    feed_url: str | None = None
    last_new_at: datetime | None = None
    stale_reported: bool = False
    entry_hashes: str | None = None


# What belongs to the URL a source was fetched from (validators, the feed found on its
# page, hashes of the last body): forgotten when the config points elsewhere, or when
# the discovered feed is gone.
_OLD_URL_STATE: dict[str, None] = {
    "etag": None,
    "last_modified": None,
    "feed_url": None,
    "body_hash": None,
    "entry_hashes": None,
}

_NOW = bindparam("p_now", type_=UTCDateTime)

_NOT_MODIFIED = (
    update(sources)
    .where(sources.c.name == bindparam("p_name"))
    .values(
        last_polled_at=_NOW,
        last_success_at=_NOW,
        next_poll_at=bindparam("p_next"),
        last_status="not_modified",
        last_error=None,
        moved_to=bindparam("p_moved_to"),
        etag=func.coalesce(bindparam("p_etag", type_=Text), sources.c.etag),
        last_modified=func.coalesce(
            bindparam("p_last_modified", type_=Text), sources.c.last_modified
        ),
        consecutive_failures=0,
        claimed_by=None,
        claim_expires_at=None,
    )
)


@functools.cache
def _claim(due: bool, polled: bool) -> Update:
    """The claim UPDATE for each combination of conditions, built once."""
    conditions = [
        sources.c.name == bindparam("c_name"),
        or_(sources.c.claim_expires_at.is_(None), sources.c.claim_expires_at < bindparam("c_now")),
    ]
    if due:
        conditions.append(
            or_(sources.c.next_poll_at.is_(None), sources.c.next_poll_at <= bindparam("c_due"))
        )
    if polled:
        conditions.append(
            or_(
                sources.c.last_polled_at.is_(None),
                sources.c.last_polled_at < bindparam("c_polled"),
            )
        )
    return (
        update(sources)
        .where(and_(*conditions))
        .values(claimed_by=bindparam("c_worker"), claim_expires_at=bindparam("c_until"))
        .returning(*sources.c)
    )


class Store(PollQueries, ItemQueries, DigestQueries, Database):
    """Every query news-monitor runs. Create with ``Store.open(url, worker)``."""

    # -- sources -----------------------------------------------------------------

    def claim_source(
        self,
        name: str,
        url: str,
        *,
        now: datetime,
        lease: timedelta,
        due_before: datetime | None,
        polled_before: datetime | None = None,
    ) -> SourceState | None:
        """Take the lease on a source if nobody holds it and it is due; else None.

        ``due_before``: only when its next poll is at or before this time (None: any).
        ``polled_before``: only when not polled since this time (a ``--all`` pass).
        """
        parameters = {
            "c_name": name,
            "c_now": now,
            "c_due": due_before,
            "c_polled": polled_before,
            "c_worker": self.worker,
            "c_until": now + lease,
        }
        claim = self._on_driver(_claim(due_before is not None, polled_before is not None))
        with self._tx() as conn:
            rows = claim.run(conn, parameters)
            if not rows:  # not claimable, or a source never seen: record it and try once more
                added = conn.execute(
                    self._insert_ignore(conn, sources, "name"),
                    {"name": name, "url": url, "consecutive_failures": 0, "total_items": 0},
                ).rowcount
                rows = claim.run(conn, parameters) if added else []
            if not rows:
                return None
            row = dict(zip(claim.columns, rows[0], strict=True))
            if row["url"] != url:  # the config points elsewhere now: validators are the old URL's
                conn.execute(
                    update(sources).where(sources.c.name == name).values(url=url, **_OLD_URL_STATE)
                )
                row = dict(
                    conn.execute(select(sources).where(sources.c.name == name)).one()._mapping
                )
            return _source_state(row)

    def source_states(self) -> dict[str, SourceState]:
        with self._read() as conn:
            return {r.name: _source_state(dict(r._mapping)) for r in conn.execute(select(sources))}

    def next_polls(self) -> dict[str, datetime | None]:
        """Each stored source's next poll time (None: as soon as possible)."""
        with self._read() as conn:
            rows = conn.execute(select(sources.c.name, sources.c.next_poll_at))
            return {name: next_poll_at for name, next_poll_at in rows}

    def record_poll_failure(
        self,
        name: str,
        *,
        now: datetime,
        error: str,
        next_poll_at: datetime,
        forget_feed: bool = False,
    ) -> int:
        """Count a failed poll, release the claim; returns consecutive failures.

        ``forget_feed``: the feed discovered on the source's page is gone; the next poll
        reads the page again (and its validators belonged to the old feed).
        """
        forget = _OLD_URL_STATE if forget_feed else {}
        with self._tx() as conn:
            conn.execute(
                update(sources)
                .where(sources.c.name == name)
                .values(
                    **forget,
                    first_polled_at=func.coalesce(sources.c.first_polled_at, now),
                    last_polled_at=now,
                    next_poll_at=next_poll_at,
                    last_status="error",
                    last_error=error,
                    consecutive_failures=sources.c.consecutive_failures + 1,
                    claimed_by=None,
                    claim_expires_at=None,
                )
            )
            failures: int = conn.execute(
                select(sources.c.consecutive_failures).where(sources.c.name == name)
            ).scalar_one()
        return failures

    def set_stale_reported(self, name: str) -> None:
        with self._tx() as conn:
            conn.execute(update(sources).where(sources.c.name == name).values(stale_reported=True))

    def release_source(self, name: str) -> None:
        """Give up a claim without recording a poll (the pass was interrupted)."""
        with self._tx() as conn:
            conn.execute(
                update(sources)
                .where(sources.c.name == name, sources.c.claimed_by == self.worker)
                .values(claimed_by=None, claim_expires_at=None)
            )

    def record_not_modified(
        self,
        name: str,
        *,
        now: datetime,
        next_poll_at: datetime,
        moved_to: str | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> None:
        """A 304, or a 200 whose body is byte-identical to the last one parsed."""
        parameters = {
            "p_name": name,
            "p_now": now,
            "p_next": next_poll_at,
            "p_moved_to": moved_to,
            "p_etag": etag,
            "p_last_modified": last_modified,
        }
        with self._tx() as conn:
            self._on_driver(_NOT_MODIFIED).run(conn, parameters)


_STATE_COLUMNS = tuple(field.name for field in fields(SourceState))


def _source_state(row: Mapping[str, Any]) -> SourceState:
    """A ``sources`` row (by column name) as a SourceState: every field is its column,
    the publishing gap read as seconds and the stale flag as a bool."""
    values = {name: row[name] for name in _STATE_COLUMNS}
    gap = values["publish_gap"]
    values["publish_gap"] = timedelta(seconds=gap) if gap is not None else None
    values["stale_reported"] = bool(values["stale_reported"])
    return SourceState(**values)
