"""Benchmark: deduplicating and clustering a new item against a large store.

Builds a SQLite store of N items (default 200,000) spread over 90 days through the
real ``Store.save_poll`` path (fingerprints, story sketches, candidate keys, alerts),
prunes it as ``once`` would (clustering data kept for the 3-day story window), then
times the work for new items: fingerprint + sketch + the identity and clustering
queries + the insert, one transaction per item as in a poll. Probe items alternate
between the lookup made in a read snapshot before the write (``save_poll`` on
SQLite) and the lookup made inside the write transaction. Text is generated from a
30,000-word vocabulary with Zipfian frequencies, like news text. Also reports the
database size per item without bodies (titles and URLs only).

    taskset -c 0 python bench/dedupe.py [--items 200000] [--probe 1000] [--db PATH]
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.models import AlertMatch, FeedItem, NewItem
from monitor.store import Store
from monitor.stories import identify, index_keys

COMMON = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "a",
    "is",
    "that",
    "for",
    "on",
    "was",
    "with",
    "said",
    "as",
    "it",
    "by",
    "at",
    "from",
    "his",
    "an",
    "be",
    "has",
    "have",
    "are",
    "were",
    "but",
    "not",
    "this",
    "which",
    "they",
    "their",
    "after",
    "who",
    "been",
    "its",
    "also",
    "had",
    "more",
    "government",
    "minister",
    "talks",
    "border",
    "migration",
    "visa",
    "consulate",
    "embassy",
    "officials",
    "week",
    "Havana",
    "Cuba",
    "Mexico",
    "Washington",
    "Madrid",
    "Bogota",
    "Caracas",
    "Miami",
    "Lima",
    "Quito",
    "Panama",
]
SYLLABLES = [
    "ba",
    "be",
    "bi",
    "bo",
    "bu",
    "ca",
    "ce",
    "ci",
    "co",
    "cu",
    "da",
    "de",
    "di",
    "do",
    "du",
    "fa",
    "fe",
    "fi",
    "fo",
    "ga",
    "ge",
    "gi",
    "go",
    "la",
    "le",
    "li",
    "lo",
    "lu",
    "ma",
    "me",
    "mi",
    "mo",
    "mu",
    "na",
    "ne",
    "ni",
    "no",
    "nu",
    "pa",
    "pe",
    "pi",
    "po",
    "pu",
    "ra",
    "re",
    "ri",
    "ro",
    "ru",
    "sa",
    "se",
    "si",
    "so",
    "su",
    "ta",
    "te",
    "ti",
    "to",
    "tu",
    "va",
    "ve",
    "vi",
    "vo",
    "za",
    "ze",
    "zi",
    "zo",
]
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


class Writer:
    """Deterministic news-like text: common words plus pseudo-words, Zipf-distributed."""

    def __init__(self, rng: random.Random, size: int = 30_000) -> None:
        self.rng = rng
        words, seen = list(COMMON), set(COMMON)
        while len(words) < size:
            word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
            if word not in seen:
                seen.add(word)
                words.append(word)
        self.words = words
        self.cumulative = list(itertools.accumulate(1 / (r + 1) ** 1.07 for r in range(size)))

    def text(self, count: int) -> str:
        return " ".join(self.rng.choices(self.words, cum_weights=self.cumulative, k=count))


def new_item(writer: Writer, n: int, when: datetime) -> NewItem:
    title, body = writer.text(writer.rng.randint(6, 12)).capitalize(), writer.text(150)
    url = f"https://outlet{n % 400}.example.org/{when:%Y/%m/%d}/story-{n}"
    item = FeedItem(f"guid-{n}", url, url, title, "", when)  # stored without bodies
    content_id, text_sketch = identify(title, body)
    alert = AlertMatch("desk", ("cuba",), ("Cuba",), body[:200])
    return NewItem(
        item,
        alertable=True,
        alerts=(alert,) if n % 20 == 0 else (),
        feed_hash=f"{n:032x}",
        fingerprint=content_id,
        sketch=text_sketch.to_bytes() if text_sketch else None,
        story_keys=index_keys(text_sketch) if text_sketch else (),
    )


def fill(store: Store, count: int, writer: Writer) -> None:
    per_poll = 500
    for start in range(0, count, per_poll):
        when = NOW - timedelta(days=90) * (1 - start / count)
        name = f"source-{(start // per_poll) % 400}"
        store.claim_source(name, "u", now=when, lease=timedelta(minutes=5), due_before=None)
        batch = [new_item(writer, n, when) for n in range(start, min(count, start + per_poll))]
        store.save_poll(name, now=when, next_poll_at=when, etag=None, last_modified=None,
                        new_items=batch)  # fmt: skip
        if start % 20_000 == 0:
            store.prune(now=when, retention=timedelta(days=90), story_window=timedelta(days=3))
    store.prune(now=NOW, retention=timedelta(days=90), story_window=timedelta(days=3))


def probe(store: Store, count: int, writer: Writer) -> dict[str, list[float]]:
    """Time ``count`` new items, one poll each, alternating the two ways a poll looks up
    its items' identities: in a read snapshot before the write transaction (what
    ``save_poll`` does on SQLite) and inside the write transaction (as before; what it
    does on PostgreSQL)."""
    timings: dict[str, list[float]] = {"ahead": [], "inside": []}
    lookahead = Store.looked_ahead
    store.claim_source("probe", "u", now=NOW, lease=timedelta(days=1), due_before=None)
    for n in range(10**7, 10**7 + count):
        way = "ahead" if n % 2 == 0 else "inside"
        if way == "inside":
            Store.looked_ahead = lambda *args, **kwargs: None  # type: ignore[method-assign]
        try:
            started = time.perf_counter()
            new = new_item(writer, n, NOW)  # fingerprint + sketch are part of the cost
            store.save_poll("probe", now=NOW, next_poll_at=NOW, etag=None,
                            last_modified=None, new_items=[new])  # fmt: skip
            timings[way].append((time.perf_counter() - started) * 1000)
        finally:
            Store.looked_ahead = lookahead  # type: ignore[method-assign]
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--probe", type=int, default=1000)
    parser.add_argument("--db", type=Path, default=None)
    args = parser.parse_args()
    writer = Writer(random.Random(7))
    db = args.db or Path(tempfile.mkdtemp(prefix="nm-dedupe-")) / "bench.db"
    store = Store.open(f"sqlite:///{db}", "bench")
    started = time.perf_counter()
    fill(store, args.items, writer)
    print(f"filled {args.items} items in {time.perf_counter() - started:.0f} s")
    raw = store.engine.raw_connection()
    raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw.close()
    size = os.path.getsize(db)
    print(f"database: {size / 1e6:.1f} MB = {size / args.items:.0f} bytes per item (no bodies)")
    for way, timings in probe(store, args.probe, writer).items():
        p95 = statistics.quantiles(timings, n=20)[18]
        print(
            "new item (fingerprint + sketch + identity + clustering + insert, own "
            f"transaction), lookup {way} the write: median {statistics.median(timings):.2f} "
            f"ms, p95 {p95:.2f} ms, max {max(timings):.2f} ms over {len(timings)} items"
        )
    store.close()


if __name__ == "__main__":
    main()
