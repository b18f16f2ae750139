"""Story identity of a poll's new items: stored copies and near duplicates.

``Known`` finds stored items with a new item's canonical URL or content fingerprint
(from any source); ``look_up`` also ranks, for each new item, the recent items of
other sources that may tell the same story: candidates come from the ``story_keys``
index (counted in SQL, stock-phrase keys left out), then their sketches are compared
(``stories.similarity``), and ``Lookup.stories`` picks the most similar.

The lookup may run before the poll's write transaction, in a read snapshot, so that
the writer lock (which every process's writes queue on) is held for less time:
``catch_up`` then adds, inside the write transaction, what was stored after the
snapshot. On SQLite item ids grow in commit order (one writer at a time), so that is
every item above the highest id the snapshot saw; they are few, and compared in
Python. Without a snapshot, ``look_up`` runs inside the write transaction and sees
every poll stored before this one, as the snapshot and its catch-up do together.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, select

from monitor.db import short_hash
from monitor.models import NewItem
from monitor.stories import Sketch, index_keys, similarity
from monitor.tables import items

# Candidates verified per new item: those sharing the most index keys with it (the
# oldest first among equals), and at least MIN_SHARED_KEYS of them. Two texts at
# Jaccard similarity J share about 16·2J/(1+J) of their 16 smallest hashes (9 at
# J = 0.4, the threshold); unrelated texts that share a common phrase or two share
# one or two.
MAX_CANDIDATES = 20
MIN_SHARED_KEYS = 3
# A key held by more items of the window than this is a stock phrase ("said in a
# statement on"), not a sign of the same story: it is not used to find candidates.
COMMON_KEY = 50
# A catch-up reads at most this many items stored since its snapshot; past that, the
# whole lookup runs again inside the write transaction.
MAX_CATCH_UP = 1000


# Built once: SQLAlchemy caches their compiled form (an "expanding" IN parameter).
_BY_URL, _BY_CONTENT = (
    select(column, items.c.id, items.c.story_id)
    .where(column.in_(bindparam("wanted", expanding=True)))
    .order_by(items.c.id)
    for column in (items.c.url_hash, items.c.fingerprint)
)


_SKETCHES = select(items.c.id, items.c.story_id, items.c.sketch).where(
    items.c.id.in_(bindparam("ids", expanding=True)),
    items.c.source != bindparam("source"),
    items.c.first_seen_at >= bindparam("since"),
    items.c.sketch.is_not(None),
)
_NEWEST = select(items.c.id, items.c.key_hash).order_by(items.c.id.desc()).limit(1)
_STORED_SINCE = (  # from the snapshot's newest item on: it must still be the first row
    select(
        items.c.id,
        items.c.key_hash,
        items.c.story_id,
        items.c.url_hash,
        items.c.fingerprint,
        items.c.sketch,
        (items.c.source != bindparam("source")).label("other_source"),
        (items.c.first_seen_at >= bindparam("since")).label("recent"),
    )
    .where(items.c.id >= bindparam("upto"))
    .order_by(items.c.id)
    .limit(bindparam("limit"))
)
_STILL_THERE = select(items.c.id).where(items.c.id.in_(bindparam("ids", expanding=True)))


@dataclass(slots=True)
class Known:
    """Stored items with a given canonical URL or content fingerprint: (id, story id)."""

    by_url: dict[str, tuple[int, int]]
    by_content: dict[str, tuple[int, int]]

    @classmethod
    def load(
        cls, conn: Connection, url_hashes: Sequence[str | None], fingerprints: Sequence[str | None]
    ) -> Known:
        known = cls({}, {})
        for statement, given, found in (
            (_BY_URL, url_hashes, known.by_url),
            (_BY_CONTENT, fingerprints, known.by_content),
        ):
            wanted = sorted({v for v in given if v is not None})
            for start in range(0, len(wanted), 500):
                rows = conn.execute(statement, {"wanted": wanted[start : start + 500]})
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
        "ORDER BY 1, 3 DESC, 2"
    )
    flat = (*(value for pair in pairs for value in pair), source)
    out = []
    for n, item, count in conn.exec_driver_sql(sql, flat):
        if n < 0:
            common.add(int(item))
        else:
            out.append((int(n), int(item), int(count)))
    return out


@dataclass(slots=True)
class Candidate:
    """A stored item that may tell the same story as a new item."""

    shared: int  # index keys shared with the new item
    item_id: int
    story: int | None  # None: not comparable (no sketch any more, or out of the window)
    score: float  # estimated similarity; 0.0 or any value below the threshold: too far


@dataclass(slots=True)
class Lookup:
    """What a poll's new items are among the items stored up to item ``upto``."""

    upto: int  # the highest item id seen (0: none)
    upto_key: str | None  # that item's key hash: it must still be there at the catch-up
    threshold: float
    url_hashes: list[str | None]  # per new item: its canonical URL's hash
    known: Known
    ranked: list[list[Candidate]]  # per new item, most shared keys first

    def stories(self) -> list[int | None]:
        """For each new item, the story of the most similar candidate, if close enough."""
        out: list[int | None] = []
        for candidates in self.ranked:
            best, best_score = None, self.threshold
            for candidate in candidates:
                if candidate.story is not None and candidate.score >= best_score:
                    best, best_score = candidate.story, candidate.score
            out.append(best)
        return out

    def relied_on(self) -> set[int]:
        """The stored items this lookup's answers come from (they must still exist)."""
        ids = {item_id for item_id, _story in self.known.by_url.values()}
        ids.update(item_id for item_id, _story in self.known.by_content.values())
        ids.update(
            c.item_id
            for candidates in self.ranked
            for c in candidates
            if c.story is not None and c.score >= self.threshold
        )
        return ids


def look_up(
    conn: Connection,
    source: str,
    news: Sequence[NewItem],
    since: datetime,
    threshold: float,
    common: set[int],
) -> Lookup:
    """Stored copies and story candidates of each new item, as of ``conn``'s snapshot.

    ``common``: stock-phrase keys known so far (see ``_shared_keys``), updated here.
    """
    newest = conn.execute(_NEWEST).first()
    url_hashes = [_url_hash(new) for new in news]
    known = Known.load(conn, url_hashes, [n.fingerprint for n in news])
    shortlist: list[list[tuple[int, int]]] = [[] for _ in news]
    pairs = [(n, key) for n, new in enumerate(news) if new.sketch is not None
             for key in set(new.story_keys) if key not in common]  # fmt: skip
    for start in range(0, len(pairs), 2000):  # two parameters a pair; SQLite allows 32,766
        batch = pairs[start : start + 2000]
        for n, item_id, shared in _shared_keys(conn, batch, source, common):
            if len(shortlist[n]) < MAX_CANDIDATES:
                shortlist[n].append((shared, item_id))
    ids = sorted({item_id for listed in shortlist for _shared, item_id in listed})
    sketches: dict[int, tuple[int, bytes]] = {}
    for start in range(0, len(ids), 500):
        found = conn.execute(
            _SKETCHES, {"ids": ids[start : start + 500], "source": source, "since": since}
        )
        for item_id, story_id, blob in found:
            sketches[item_id] = (story_id or item_id, blob)
    ranked: list[list[Candidate]] = []
    for new, listed in zip(news, shortlist, strict=True):
        mine = Sketch.from_bytes(new.sketch) if new.sketch is not None else None
        candidates = []
        for shared, item_id in listed:
            story, score = None, 0.0
            if mine is not None and item_id in sketches:
                story, blob = sketches[item_id]
                score = similarity(mine, Sketch.from_bytes(blob), threshold)
            candidates.append(Candidate(shared, item_id, story, score))
        ranked.append(candidates)
    upto, upto_key = (int(newest[0]), newest[1]) if newest is not None else (0, None)
    return Lookup(upto, upto_key, threshold, url_hashes, known, ranked)


def catch_up(
    conn: Connection,
    lookup: Lookup,
    source: str,
    news: Sequence[NewItem],
    since: datetime,
    common: set[int],
) -> Lookup | None:
    """``lookup`` (from an earlier snapshot) with the items stored since, or None.

    Runs in the write transaction. None when the snapshot cannot be brought up to
    date cheaply or safely: too many items were stored since, an item it relies on is
    gone (a prune ran), or its newest item is (then an item stored since may have
    taken its id); the caller then looks up everything again.
    The items stored since are compared in Python: their index keys are the first
    ``INDEX_KEYS`` hashes of their sketch, as ``save_poll`` stored them.
    """
    rows = conn.execute(
        _STORED_SINCE,
        {"upto": lookup.upto, "source": source, "since": since, "limit": MAX_CATCH_UP + 2},
    ).all()
    if lookup.upto:  # the snapshot's newest item, unchanged (not deleted, its id not reused)
        if not rows or tuple(rows[0][:2]) != (lookup.upto, lookup.upto_key):
            return None
        rows = rows[1:]
    if len(rows) > MAX_CATCH_UP:
        return None
    relied_on = lookup.relied_on()
    if relied_on:
        there = conn.execute(_STILL_THERE, {"ids": sorted(relied_on)}).all()
        if len(there) < len(relied_on):
            return None
    known = lookup.known
    holders: defaultdict[int, list[int]] = defaultdict(list)  # index key -> rows
    sketches: list[Sketch | None] = []
    for at, row in enumerate(rows):
        item_id, _key, story_id, url_hash, fingerprint, blob, other, _recent = row
        known.add(url_hash, fingerprint, item_id, story_id or item_id)
        stored = Sketch.from_bytes(blob) if blob is not None else None
        sketches.append(stored if other else None)
        if stored is not None and other:
            for key in index_keys(stored):
                holders[key].append(at)
    for new, candidates in zip(news, lookup.ranked, strict=True):
        if new.sketch is None or not holders:
            continue
        counts: defaultdict[int, int] = defaultdict(int)
        for key in set(new.story_keys) - common:
            for at in holders.get(key, ()):
                counts[at] += 1
        mine = Sketch.from_bytes(new.sketch)
        for at, shared in counts.items():
            if shared < MIN_SHARED_KEYS:
                continue
            item_id, _key, story_id, _url, _fp, _blob, _other, recent = rows[at]
            theirs = sketches[at]
            if recent and theirs is not None:
                score = similarity(mine, theirs, lookup.threshold)
                candidates.append(Candidate(shared, item_id, story_id or item_id, score))
            else:
                candidates.append(Candidate(shared, item_id, None, 0.0))
        candidates.sort(key=lambda c: (-c.shared, c.item_id))
        del candidates[MAX_CANDIDATES:]
    return lookup


def _url_hash(new: NewItem) -> str | None:
    """The hash a new item's canonical URL is stored and found under."""
    url = new.item.canonical_url
    return short_hash(url) if url else None
