"""Story identity inside a poll's write transaction: stored copies and near duplicates.

``Known`` finds stored items with a new item's canonical URL or content fingerprint
(from any source); ``closest_stories`` finds, for each new item, the story of the
most similar recent item of another source: candidates come from the ``story_keys``
index (counted in SQL, stock-phrase keys left out), then their sketches are compared
(``stories.similarity``). Both run in the caller's transaction, so they see every
poll stored before this one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, select

from monitor.models import NewItem
from monitor.stories import Sketch, similarity
from monitor.tables import items

# Candidates verified per new item: those sharing the most index keys with it, and at
# least MIN_SHARED_KEYS of them. Two texts at Jaccard similarity J share about
# 16·2J/(1+J) of their 16 smallest hashes (9 at J = 0.4, the threshold); unrelated
# texts that share a common phrase or two share one or two.
MAX_CANDIDATES = 20
MIN_SHARED_KEYS = 3
# A key held by more items of the window than this is a stock phrase ("said in a
# statement on"), not a sign of the same story: it is not used to find candidates.
COMMON_KEY = 50


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


def closest_stories(
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
            _SKETCHES, {"ids": ids[start : start + 500], "source": source, "since": since}
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
