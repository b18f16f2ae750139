"""Storage stage for items: what a source has seen, story identity, updates, retention.

A new item is the same story as a stored one when it has the same canonical URL or
the same content fingerprint (from any source), or when its sketch is close enough
to a recent item of *another* source (``store_stories`` finds both). Alerts are
unique per subscriber and story, so a story reported by a second outlet is not
alerted again; a changed item is alerted again only to subscribers who asked for
updates, as a new revision.
Every method runs inside the caller's transaction or is one transaction (see ``db``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, exists, func, select, update
from sqlalchemy.sql.dml import Insert

from monitor.db import Database, insert_ignore, short_hash
from monitor.models import AlertMatch, ChangedItem, NewItem
from monitor.store_stories import Lookup, catch_up, look_up
from monitor.tables import alerts, deliveries, digests, items, story_keys

FEW_ITEMS = 4  # up to this many new items are inserted one statement each
_MAX_ID = select(func.coalesce(func.max(items.c.id), 0))
_SET_RAW_HASH = (
    update(items).where(items.c.id == bindparam("the_id")).values(raw_hash=bindparam("the_hash"))
)
_OWN_STORIES = (
    update(items)
    .where(items.c.id >= bindparam("first_id"), items.c.story_id.is_(None))
    .values(story_id=items.c.id)
)
# Built once, with bound parameters: building a statement per call cost more than
# running it (0.36 -> 0.20 ms for a poll's known-items lookup, measured ad hoc).
_KNOWN_ITEMS = select(items.c.key_hash, items.c.id, items.c.feed_hash, items.c.raw_hash).where(
    items.c.source == bindparam("source"),
    items.c.key_hash.in_(bindparam("hashes", expanding=True)),
)
_INSERTED = select(items.c.key_hash, items.c.id).where(
    items.c.source == bindparam("source"), items.c.id > bindparam("before")
)


# The columns a new item sets, each from the parameter ``i_<column>``.
_NEW_ITEM_COLUMNS = (
    "source", "key_hash", "url_hash", "item_key", "url", "canonical_url", "title",
    "summary", "content", "language", "published_at", "first_seen_at", "alertable",
    "duplicate_of", "feed_hash", "raw_hash", "fingerprint", "story_id", "revision", "sketch",
)  # fmt: skip


@functools.cache
def _item_insert(dialect_name: str, *, returning: bool) -> Insert:
    """A new item's INSERT, ignored when the source has the key already; built once.

    Run on the driver (``driver_sql``): every new item of a cold pass goes through it.
    """
    values = {c: bindparam(f"i_{c}", type_=items.c[c].type) for c in _NEW_ITEM_COLUMNS}
    statement = insert_ignore(dialect_name, items, ("source", "key_hash"), None).values(values)
    return statement.returning(items.c.id) if returning else statement


# a new item to insert: the item, its URL hash, the story it joins by similarity, and
# the (item id, story id) of a stored item with its URL or text, if any
_Row = tuple[NewItem, str | None, int | None, tuple[int, int] | None]


@dataclass(frozen=True, slots=True)
class StoredItem:
    """What backtesting reads: an item's text as it was stored."""

    source: str
    title: str
    body: str
    url: str | None
    language: str | None
    published_at: datetime | None
    first_seen_at: datetime


@dataclass(frozen=True, slots=True)
class KnownItem:
    item_id: int
    feed_hash: str | None  # of the normalised title and text
    raw_hash: str | None  # of the entry as the feed spelled it


class ItemQueries(Database):
    """Item queries (mixed into ``Store``)."""

    def known_items(self, source: str, keys: Iterable[str]) -> dict[str, KnownItem]:
        """The stored items of this source among ``keys``: id and last feed hash."""
        by_hash = {short_hash(k): k for k in keys}
        found: dict[str, KnownItem] = {}
        if not by_hash:
            return found
        hashes = list(by_hash)
        with self._read() as conn:
            for start in range(0, len(hashes), 500):
                rows = conn.execute(
                    _KNOWN_ITEMS, {"source": source, "hashes": hashes[start : start + 500]}
                )
                for key_hash, item_id, feed_hash, raw_hash in rows:
                    found[by_hash[key_hash]] = KnownItem(item_id, feed_hash, raw_hash)
        return found

    def _store_new(
        self,
        conn: Connection,
        source: str,
        news: Sequence[NewItem],
        now: datetime,
        cluster_since: datetime,
        threshold: float,
        ahead: Lookup | None = None,
    ) -> tuple[int, int]:
        """Insert a poll's new items; returns (items stored, alerts stored).

        The identity and clustering lookups are made for the whole batch at once (a few
        queries per poll, not per item); items of the batch see each other too.
        ``ahead``: the lookup made in a read snapshot before this transaction
        (``looked_ahead``); only what was stored since is looked up here.
        """
        common = self._common_keys
        found = catch_up(conn, ahead, source, news, cluster_since, common) if ahead else None
        if found is None:
            found = look_up(conn, source, news, cluster_since, threshold, common)
        known, stories, url_hashes = found.known, found.stories(), found.url_hashes
        # Two rounds of one executemany each: first the items that are no copy of an
        # earlier item of this poll, then those copies, which need their originals' ids.
        batch: list[_Row] = []
        copies: list[tuple[NewItem, str | None]] = []
        batch_seen: set[str] = set()
        for new, url_hash, story in zip(news, url_hashes, stories, strict=True):
            marks = {m for m in (url_hash, new.fingerprint) if m is not None}
            if marks & batch_seen and known.find(url_hash, new.fingerprint) is None:
                copies.append((new, url_hash))
                continue
            batch_seen |= marks
            batch.append((new, url_hash, story, known.find(url_hash, new.fingerprint)))
        stored = alerted = 0
        first_id: int | None = None
        keys: list[tuple[int, int]] = []
        for _ in range(2):
            ids = self._insert_items(conn, source, now, batch)
            for (new, url_hash, story, same), item_id in zip(batch, ids, strict=True):
                if item_id is None:  # already stored (the same key twice)
                    continue
                story_id = same[1] if same else story
                stored += 1
                first_id = item_id if first_id is None else min(first_id, item_id)
                known.add(url_hash, new.fingerprint, item_id, story_id or item_id)
                keys.extend((k, item_id) for k in set(new.story_keys))
                if same is None and new.alertable and new.alerts:
                    alerted += self._store_alerts(
                        conn, item_id, story_id or item_id, 0, new.alerts, now
                    )
            # then the copies: their originals are stored and known by now
            batch = [(n, u, None, known.find(u, n.fingerprint)) for n, u in copies]
        if first_id is not None:  # an item that joined no story is the first of its own
            conn.execute(_OWN_STORIES, {"first_id": first_id})
        if keys:  # plain driver rows: SQLAlchemy would build a parameter dict per row
            mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
            conn.exec_driver_sql(
                f"INSERT INTO story_keys (key, item_id) VALUES ({mark}, {mark})",  # noqa: S608
                keys,
            )
        return stored, alerted

    def looked_ahead(
        self, source: str, news: Sequence[NewItem], cluster_since: datetime, threshold: float
    ) -> Lookup | None:
        """The new items' lookup in a read snapshot, before the write transaction.

        SQLite only: there item ids grow in commit order, so the write transaction
        can catch up with what was stored since (``store_stories.catch_up``); the
        writer lock, which every process's writes queue on, is held ~4 ms less a poll.
        """
        if not news or self.engine.dialect.name != "sqlite" or self._batch_connection() is not None:
            return None  # (in a batch, this thread holds the writer lock already)
        with self._read() as conn:
            return look_up(conn, source, news, cluster_since, threshold, self._common_keys)

    def _insert_items(
        self,
        conn: Connection,
        source: str,
        now: datetime,
        batch: Sequence[_Row],
    ) -> list[int | None]:
        """Insert new items; their ids in order (None: was stored already).

        A few items (a poll's usual news) go in one statement each, returning the id;
        more go in one executemany, and the write transaction, which holds the
        database, reads back the rows above the highest id before the insert.
        """
        if not batch:
            return []
        rows = []
        for new, url_hash, story, same in batch:
            item = new.item
            rows.append(
                {
                    "i_source": source,
                    "i_key_hash": short_hash(item.key),
                    "i_url_hash": url_hash,
                    "i_item_key": item.key,
                    "i_url": item.url,
                    "i_canonical_url": item.canonical_url,
                    "i_title": item.title,
                    "i_summary": item.summary,
                    "i_content": item.content,
                    "i_language": item.language,
                    "i_published_at": item.published_at,
                    "i_first_seen_at": now,
                    "i_alertable": new.alertable and same is None,
                    "i_duplicate_of": same[0] if same else None,
                    "i_feed_hash": new.feed_hash,
                    "i_raw_hash": new.raw_hash,
                    "i_fingerprint": new.fingerprint,
                    "i_story_id": same[1] if same else story,
                    "i_revision": 0,
                    "i_sketch": new.sketch,
                }
            )
        if len(rows) <= FEW_ITEMS:
            one = self._on_driver(_item_insert(conn.dialect.name, returning=True))
            return [(one.run(conn, row) or [(None,)])[0][0] for row in rows]
        before = conn.execute(_MAX_ID).scalar_one()
        self._on_driver(_item_insert(conn.dialect.name, returning=False)).run_many(conn, rows)
        found = conn.execute(_INSERTED, {"source": source, "before": before})
        inserted = {key_hash: item_id for key_hash, item_id in found}
        return [inserted.get(row["i_key_hash"]) for row in rows]

    def _store_alerts(
        self,
        conn: Connection,
        item_id: int,
        story_id: int,
        revision: int,
        matches: Sequence[AlertMatch],
        now: datetime,
    ) -> int:
        """One alert per subscriber and story (and revision); returns how many were new."""
        stored = 0
        for match in matches:
            values = {
                "subscriber": match.subscriber,
                "item_id": item_id,
                "story_id": story_id,
                "revision": revision,
                "watches": json.dumps(list(match.watches)),
                "matched_terms": json.dumps(list(match.matched_terms)),
                "snippet": match.snippet,
                "highlights": json.dumps([list(h) for h in match.highlights]),
                "created_at": now,
            }
            keys = ("subscriber", "story_id", "revision")
            stored += conn.execute(self._insert_ignore(conn, alerts, *keys), values).rowcount
        return stored

    def _store_change(self, conn: Connection, changed: ChangedItem, now: datetime) -> int:
        """Record a changed item; alert it again to subscribers who want updates."""
        row = conn.execute(
            select(items.c.story_id, items.c.revision, items.c.feed_hash).where(
                items.c.id == changed.item_id
            )
        ).one()
        item = changed.item
        values: dict[str, Any] = {
            "title": item.title,
            "summary": item.summary,
            "content": item.content,
            "feed_hash": changed.feed_hash,
            "raw_hash": changed.raw_hash,
        }
        if row.feed_hash is None:  # stored before update tracking: remember, do not alert
            conn.execute(update(items).where(items.c.id == changed.item_id).values(**values))
            return 0
        revision = (row.revision or 0) + 1
        values.update(revision=revision, updated_at=now)
        conn.execute(update(items).where(items.c.id == changed.item_id).values(**values))
        story_id = row.story_id or changed.item_id
        stored = 0
        for match in changed.alerts:
            if not match.on_update:
                continue
            sent, pending, latest = conn.execute(
                select(
                    func.count().filter(alerts.c.digest_id.is_not(None)),
                    func.count().filter(alerts.c.digest_id.is_(None)),
                    func.max(alerts.c.revision),
                ).where(alerts.c.subscriber == match.subscriber, alerts.c.story_id == story_id)
            ).one()
            if sent and not pending:  # already sent; a pending one will carry the news
                # numbered per story and subscriber: another outlet's copy of the story
                # may have been updated (and alerted) before this one
                stored += self._store_alerts(
                    conn, changed.item_id, story_id, (latest or 0) + 1, [match], now
                )
        return stored

    @staticmethod
    def _refresh_raw_hashes(conn: Connection, fresh: Mapping[int, str]) -> None:
        """Entries the feed now spells differently, with the same normalised text."""
        if fresh:
            conn.execute(_SET_RAW_HASH, [{"the_id": i, "the_hash": h} for i, h in fresh.items()])

    def iter_items(self, since: datetime, batch: int = 500) -> Iterator[StoredItem]:
        """Stored items first seen at or after ``since``, oldest first, in batches."""
        last_id = 0
        while True:
            with self._tx() as conn:
                rows = conn.execute(
                    select(items.c.id, items.c.source, items.c.title, items.c.summary,
                           items.c.content, items.c.url, items.c.language, items.c.published_at,
                           items.c.first_seen_at)
                    .where(items.c.first_seen_at >= since, items.c.id > last_id)
                    .order_by(items.c.id)
                    .limit(batch)
                ).all()  # fmt: skip
            if not rows:
                return
            for row in rows:
                yield StoredItem(
                    source=row.source,
                    title=row.title,
                    body=row.content or row.summary,
                    url=row.url,
                    language=row.language,
                    published_at=row.published_at,
                    first_seen_at=row.first_seen_at,
                )
            last_id = rows[-1].id

    def prune(self, *, now: datetime, retention: timedelta, story_window: timedelta) -> int:
        """Forget what is older than ``retention``; drop clustering data past the window.

        Items, their alerts, and sent or failed digests older than ``retention`` are
        deleted (an item still waiting in a pending alert is kept). Returns items deleted.
        """
        horizon, window_start = now - retention, now - story_window
        with self._tx() as conn:
            self._common_keys.clear()  # keys lose holders below: common ones may be rare again
            # "+ 0": SQLite would answer min(id) by walking the primary key from the
            # oldest item (every one outside the window); so it reads the window's
            # entries of ix_items_first_seen instead
            first_recent = conn.execute(
                select(func.min(items.c.id + 0)).where(items.c.first_seen_at >= window_start)
            ).scalar()
            if first_recent is None:
                first_recent = (conn.execute(select(func.max(items.c.id))).scalar() or 0) + 1
            conn.execute(delete(story_keys).where(story_keys.c.item_id < first_recent))
            conn.execute(
                update(items)
                .where(items.c.id < first_recent, items.c.sketch.is_not(None))
                .values(sketch=None)
            )
            # an item past retention is kept while an alert of it waits for a digest;
            # NOT EXISTS looks that up per old item (ix_alerts_item), where NOT IN would
            # read every alert for the few that wait
            pending = exists().where(alerts.c.item_id == items.c.id, alerts.c.digest_id.is_(None))
            old_items = select(items.c.id).where(items.c.first_seen_at < horizon, ~pending)
            old_digests = select(digests.c.id).where(digests.c.created_at < horizon)
            conn.execute(
                delete(deliveries).where(
                    deliveries.c.digest_id.in_(old_digests), deliveries.c.status != "pending"
                )
            )
            conn.execute(
                delete(digests).where(
                    digests.c.id.in_(old_digests),
                    ~digests.c.id.in_(select(deliveries.c.digest_id)),
                )
            )
            conn.execute(
                delete(alerts).where(
                    and_(alerts.c.item_id.in_(old_items), alerts.c.digest_id.is_not(None))
                )
            )
            deleted: int = conn.execute(delete(items).where(items.c.id.in_(old_items))).rowcount
        return deleted
