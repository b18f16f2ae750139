"""Storage stage for items: what a source has seen, story identity, updates, retention.

A new item is the same story as a stored one when it has the same canonical URL or
the same content fingerprint (from any source), or when its sketch is close enough
to a recent item of *another* source (``stories``). Alerts are unique per subscriber
and story, so a story reported by a second outlet is not alerted again; a changed
item is alerted again only to subscribers who asked for updates, as a new revision.
Every method runs inside the caller's transaction or is one transaction (see ``db``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, select, update

from monitor.db import Database, short_hash
from monitor.models import AlertMatch, ChangedItem, NewItem
from monitor.stories import Sketch, similarity
from monitor.tables import alerts, deliveries, digests, items, story_keys

# Candidates verified per new item: those sharing the most index keys with it, and at
# least MIN_SHARED_KEYS of them. Two texts at Jaccard similarity J share about
# 16·2J/(1+J) of their 16 smallest hashes (9 at J = 0.4, the threshold); unrelated
# texts that share a common phrase or two share one or two.
MAX_CANDIDATES = 20
MIN_SHARED_KEYS = 3
# A key held by more items of the window than this is a stock phrase ("said in a
# statement on"), not a sign of the same story: it is not used to find candidates.
COMMON_KEY = 50


_SET_RAW_HASH = (
    update(items).where(items.c.id == bindparam("the_id")).values(raw_hash=bindparam("the_hash"))
)
_OWN_STORIES = (
    update(items)
    .where(items.c.id >= bindparam("first_id"), items.c.story_id.is_(None))
    .values(story_id=items.c.id)
)


# a new item to insert: the item, its URL hash, the story it joins by similarity, and
# the (item id, story id) of a stored item with its URL or text, if any
_Row = tuple[NewItem, str | None, int | None, tuple[int, int] | None]


@dataclass(slots=True)
class _Known:
    """Stored items with a given canonical URL or content fingerprint: (id, story id)."""

    by_url: dict[str, tuple[int, int]]
    by_content: dict[str, tuple[int, int]]

    @classmethod
    def load(
        cls, conn: Connection, url_hashes: Sequence[str | None], fingerprints: Sequence[str | None]
    ) -> _Known:
        known = cls({}, {})
        for key_column, given, found in (
            (items.c.url_hash, url_hashes, known.by_url),
            (items.c.fingerprint, fingerprints, known.by_content),
        ):
            wanted = sorted({v for v in given if v is not None})
            for start in range(0, len(wanted), 500):
                rows = conn.execute(
                    select(key_column, items.c.id, items.c.story_id)
                    .where(key_column.in_(wanted[start : start + 500]))
                    .order_by(items.c.id)
                )
                for value, item_id, story_id in rows:
                    found.setdefault(value, (item_id, story_id or item_id))
        return known

    def find(self, url_hash: str | None, fingerprint: str | None) -> tuple[int, int] | None:
        if url_hash is not None and url_hash in self.by_url:
            return self.by_url[url_hash]
        if fingerprint is not None and fingerprint in self.by_content:
            return self.by_content[fingerprint]
        return None

    def add(self, url_hash: str | None, fingerprint: str | None, item_id: int, story: int) -> None:
        if url_hash is not None:
            self.by_url.setdefault(url_hash, (item_id, story))
        if fingerprint is not None:
            self.by_content.setdefault(fingerprint, (item_id, story))


def _shared_keys(
    conn: Connection, pairs: Sequence[tuple[int, int]], source: str, common: set[int]
) -> list[tuple[int, int, int]]:
    """(new item's index, stored item id, keys shared) for pairs sharing enough keys.

    The counting happens in the database: ``mine`` lists each new item's index keys,
    stock-phrase keys (held by more than COMMON_KEY items) are left out, and only
    stored items of other sources sharing at least MIN_SHARED_KEYS keys come back, most
    shared first (so a source's own look-alike items never crowd out the shortlist).
    The stock-phrase keys found are added to ``common``, which the caller leaves out
    of later queries (a key only gains holders until the next prune).
    Plain SQL with positional parameters: building this with SQLAlchemy constructs
    would compile a new statement (thousands of bind parameters) for every poll.
    """
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    rows = ", ".join(f"({mark}, {mark})" for _ in pairs)
    # only placeholders and constants are formatted into the SQL; every value is bound
    sql = (
        f"WITH mine(n, key) AS (VALUES {rows}), "  # noqa: S608
        # a key is common when a (COMMON_KEY + 1)-th holder exists: at most that many
        # index entries are read per key, however many items hold it
        "common AS MATERIALIZED (SELECT key FROM (SELECT DISTINCT key FROM mine) AS keys "
        "WHERE EXISTS (SELECT 1 FROM story_keys WHERE story_keys.key = keys.key "
        f"LIMIT 1 OFFSET {COMMON_KEY})), "
        "rare AS (SELECT n, key FROM mine WHERE key NOT IN (SELECT key FROM common)), "
        # CROSS JOIN fixes the order in SQLite: the rare keys first, then their holders
        # (otherwise the planner may read every holder of a common key, then filter)
        "shared AS (SELECT rare.n, story_keys.item_id, count(*) AS shared "
        "FROM rare CROSS JOIN story_keys WHERE story_keys.key = rare.key "
        f"GROUP BY rare.n, story_keys.item_id HAVING count(*) >= {MIN_SHARED_KEYS}) "
        "SELECT shared.n, shared.item_id, shared.shared FROM shared "
        f"JOIN items ON items.id = shared.item_id WHERE items.source <> {mark} "
        "UNION ALL SELECT -1, key, 0 FROM common "  # n = -1: a common key, not an item
        "ORDER BY 1, 3 DESC"
    )
    flat = (*(value for pair in pairs for value in pair), source)
    out = []
    for n, item, count in conn.exec_driver_sql(sql, flat):
        if n < 0:
            common.add(int(item))
        else:
            out.append((int(n), int(item), int(count)))
    return out


def _closest_stories(
    conn: Connection,
    source: str,
    news: Sequence[NewItem],
    since: datetime,
    threshold: float,
    common: set[int],
) -> list[int | None]:
    """For each new item, the story of the most similar recent item of another source.

    ``common``: stock-phrase keys known so far (see ``_shared_keys``), updated here.
    """
    shortlist: list[list[int]] = [[] for _ in news]
    pairs = [(n, key) for n, new in enumerate(news) if new.sketch is not None
             for key in set(new.story_keys) if key not in common]  # fmt: skip
    for start in range(0, len(pairs), 2000):  # two parameters a pair; SQLite allows 32,766
        batch = pairs[start : start + 2000]
        for n, item_id, _shared in _shared_keys(conn, batch, source, common):
            if len(shortlist[n]) < MAX_CANDIDATES:
                shortlist[n].append(item_id)
    ids = sorted({i for listed in shortlist for i in listed})
    sketches: dict[int, tuple[int, bytes]] = {}
    for start in range(0, len(ids), 500):
        found = conn.execute(
            select(items.c.id, items.c.story_id, items.c.sketch).where(
                items.c.id.in_(ids[start : start + 500]),
                items.c.source != source,
                items.c.first_seen_at >= since,
                items.c.sketch.is_not(None),
            )
        )
        for item_id, story_id, blob in found:
            sketches[item_id] = (story_id or item_id, blob)
    out: list[int | None] = []
    for new, candidates in zip(news, shortlist, strict=True):
        best, best_score = None, threshold
        if new.sketch is not None:
            mine = Sketch.from_bytes(new.sketch)
            for item_id in candidates:
                if item_id in sketches:
                    story, blob = sketches[item_id]
                    score = similarity(mine, Sketch.from_bytes(blob), best_score)
                    if score >= best_score:
                        best, best_score = story, score
        out.append(best)
    return out


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
        hashes = list(by_hash)
        with self._read() as conn:
            for start in range(0, len(hashes), 500):
                rows = conn.execute(
                    select(items.c.key_hash, items.c.id, items.c.feed_hash, items.c.raw_hash).where(
                        items.c.source == source, items.c.key_hash.in_(hashes[start : start + 500])
                    )
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
    ) -> tuple[int, int]:
        """Insert a poll's new items; returns (items stored, alerts stored).

        The identity and clustering lookups are made for the whole batch at once (a few
        queries per poll, not per item); items of the batch see each other too.
        """
        url_hashes = [short_hash(n.item.canonical_url) if n.item.canonical_url else None
                      for n in news]  # fmt: skip
        known = _Known.load(conn, url_hashes, [n.fingerprint for n in news])
        stories = _closest_stories(conn, source, news, cluster_since, threshold, self._common_keys)
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

    def _insert_items(
        self,
        conn: Connection,
        source: str,
        now: datetime,
        batch: Sequence[_Row],
    ) -> list[int | None]:
        """Insert new items in one executemany; their ids in order (None: was stored).

        The write transaction holds the database, so the rows above the highest id
        before the insert are exactly this batch's.
        """
        if not batch:
            return []
        before = conn.execute(select(func.coalesce(func.max(items.c.id), 0))).scalar_one()
        rows = []
        for new, url_hash, story, same in batch:
            item = new.item
            rows.append(
                {
                    "source": source,
                    "key_hash": short_hash(item.key),
                    "url_hash": url_hash,
                    "item_key": item.key,
                    "url": item.url,
                    "canonical_url": item.canonical_url,
                    "title": item.title,
                    "summary": item.summary,
                    "content": item.content,
                    "language": item.language,
                    "published_at": item.published_at,
                    "first_seen_at": now,
                    "alertable": new.alertable and same is None,
                    "duplicate_of": same[0] if same else None,
                    "feed_hash": new.feed_hash,
                    "raw_hash": new.raw_hash,
                    "fingerprint": new.fingerprint,
                    "story_id": same[1] if same else story,
                    "revision": 0,
                    "sketch": new.sketch,
                }
            )
        conn.execute(self._insert_ignore(conn, items, "source", "key_hash"), rows)
        found = conn.execute(
            select(items.c.key_hash, items.c.id).where(
                items.c.source == source, items.c.id > before
            )
        )
        inserted = {key_hash: item_id for key_hash, item_id in found}
        return [inserted.get(row["key_hash"]) for row in rows]

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
            first_recent = conn.execute(
                select(func.min(items.c.id)).where(items.c.first_seen_at >= window_start)
            ).scalar()
            if first_recent is None:
                first_recent = (conn.execute(select(func.max(items.c.id))).scalar() or 0) + 1
            conn.execute(delete(story_keys).where(story_keys.c.item_id < first_recent))
            conn.execute(
                update(items)
                .where(items.c.id < first_recent, items.c.sketch.is_not(None))
                .values(sketch=None)
            )
            old_items = (
                select(items.c.id)
                .where(items.c.first_seen_at < horizon)
                .where(~items.c.id.in_(select(alerts.c.item_id).where(alerts.c.digest_id.is_(None))))
            )  # fmt: skip
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
