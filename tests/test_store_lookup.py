"""A poll's story lookup made before its write transaction, then caught up inside it.

``Store.save_poll`` looks up a poll's stored copies and story candidates in a read
snapshot, so that the writer lock is held for less time; inside the write
transaction ``catch_up`` adds what other polls stored since. These tests check that
this gives exactly what a lookup made inside the write transaction gives, and that
it falls back to one when the snapshot cannot be trusted.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from monitor import store_stories
from monitor.models import FeedItem, NewItem
from monitor.store import Store
from monitor.store_stories import Lookup, catch_up, look_up
from monitor.stories import SAME_STORY, identify, index_keys

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)
SINCE = NOW - timedelta(days=3)
WORDS = [f"w{i}" for i in range(400)]


def story_text(rng: random.Random) -> list[str]:
    return [rng.choice(WORDS) for _ in range(80)]


def variant(rng: random.Random, words: list[str]) -> list[str]:
    """A rewrite of a story: some words replaced, a stretch cut (Jaccard ~0.3-0.9)."""
    out = [rng.choice(WORDS) if rng.random() < rng.choice((0.02, 0.08, 0.2)) else w
           for w in words]  # fmt: skip
    cut = rng.randrange(len(out) - 20)
    return out[:cut] + out[cut + rng.randrange(0, 20) :]


def new_item(key: str, words: list[str], url: str | None = None) -> NewItem:
    body = " ".join(words)
    url = url or f"https://x.org/{key}"
    fingerprint, sketch = identify("Title", body)
    assert sketch is not None
    item = FeedItem(key, url, url, "Title", body, NOW - timedelta(hours=1))
    return NewItem(
        item,
        True,
        fingerprint=fingerprint,
        sketch=sketch.to_bytes(),
        story_keys=index_keys(sketch),
    )


def save(store: Store, source: str, news: list[NewItem]) -> None:
    store.claim_source(source, f"u-{source}", now=NOW, lease=LEASE, due_before=None)
    store.save_poll(source, now=NOW, next_poll_at=NOW, etag=None, last_modified=None,
                    new_items=news)  # fmt: skip


def random_poll(rng: random.Random, stories: list[list[str]], tag: str) -> list[NewItem]:
    news = []
    for i in range(rng.randrange(1, 6)):
        story = rng.randrange(len(stories))
        key = f"{tag}-{i}"
        roll = rng.random()
        if roll < 0.15:  # the same article under another source's URL
            news.append(new_item(key, stories[story], url=f"https://wire.org/{story}"))
        elif roll < 0.3:  # the same text under a new URL
            news.append(new_item(key, stories[story]))
        else:
            news.append(new_item(key, variant(rng, stories[story])))
    return news


def lookup_inside(store: Store, source: str, news: list[NewItem]) -> Lookup:
    with store._tx() as conn:
        return look_up(conn, source, news, SINCE, SAME_STORY, set())


def caught_up(store: Store, ahead: Lookup, source: str, news: list[NewItem]) -> Lookup | None:
    with store._tx() as conn:
        return catch_up(conn, ahead, source, news, SINCE, set())


@pytest.mark.parametrize("seed", range(6))
def test_a_lookup_ahead_caught_up_equals_one_made_in_the_write(store: Store, seed: int) -> None:
    """Random polls of near-duplicate and copied stories: a lookup made before other
    polls were stored, caught up afterwards, ranks the same candidates with the same
    scores, finds the same copies and picks the same stories as a lookup made then."""
    rng = random.Random(seed)
    stories = [story_text(rng) for _ in range(6)]
    sources = [f"s{i}" for i in range(5)]
    checked = joined = 0
    for round_ in range(12):
        source = rng.choice(sources)
        news = random_poll(rng, stories, f"r{round_}-{source}")
        with store._read() as conn:
            ahead = look_up(conn, source, news, SINCE, SAME_STORY, set())
        for other in rng.sample([s for s in sources if s != source], rng.randrange(0, 3)):
            save(store, other, random_poll(rng, stories, f"r{round_}-{other}"))
        now_seen = lookup_inside(store, source, news)
        later = caught_up(store, ahead, source, news)
        assert later is not None
        assert later.ranked == now_seen.ranked
        assert later.stories() == now_seen.stories()
        assert later.url_hashes == now_seen.url_hashes
        for new, url_hash in zip(news, later.url_hashes, strict=True):
            found = later.known.find(url_hash, new.fingerprint)
            assert found == now_seen.known.find(url_hash, new.fingerprint)
            joined += found is not None
        checked += len(news)
        joined += sum(story is not None for story in later.stories())
        save(store, source, news)
    assert checked > 20 and joined > 5  # the polls did find copies and stories


def test_a_story_stored_between_the_lookup_and_the_write_is_joined(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """save_poll, with another outlet's copy of the story stored while it looked ahead:
    the item joins that story (and the copy of the same text is recognised)."""
    rng = random.Random(7)
    words = story_text(rng)
    wire = new_item("wire", words)
    rewrite = new_item("rewrite", variant(random.Random(1), words))
    lookahead = Store.looked_ahead

    def racing(
        self: Store, source: str, news: list[NewItem], since: datetime, threshold: float
    ) -> Lookup | None:
        found = lookahead(self, source, news, since, threshold)
        assert found is not None  # (SQLite: the lookup is made ahead)
        monkeypatch.setattr(Store, "looked_ahead", lookahead)
        save(self, "wire-outlet", [wire])  # stored after the snapshot, before the write
        return found

    monkeypatch.setattr(Store, "looked_ahead", racing)
    save(store, "paper", [rewrite, new_item("copy", words, url="https://x.org/copy")])
    with store.engine.connect() as conn:
        rows = {r.item_key: r for r in conn.execute(
            text("SELECT item_key, id, story_id, duplicate_of FROM items"))}  # fmt: skip
    assert rows["rewrite"].story_id == rows["wire"].id
    assert rows["copy"].duplicate_of == rows["wire"].id
    assert rows["copy"].story_id == rows["wire"].id


def test_catch_up_gives_up_when_an_item_it_relies_on_is_gone(store: Store) -> None:
    rng = random.Random(3)
    words = story_text(rng)
    original = new_item("original", words)
    save(store, "s1", [original])
    news = [new_item("copy", variant(rng, words)), new_item("same", words)]
    with store._read() as conn:
        ahead = look_up(conn, "s2", news, SINCE, SAME_STORY, set())
    assert ahead.relied_on()  # the copy and the near duplicate rely on "original"
    with store._tx() as conn:  # what a prune does to an item past the retention
        conn.execute(text("DELETE FROM story_keys"))
        conn.execute(text("DELETE FROM items"))
    assert caught_up(store, ahead, "s2", news) is None
    save(store, "s2", news)  # the write then looks everything up again: a story of its own
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT id, story_id, duplicate_of FROM items")).all()
    assert len(rows) == 2 and all(r.duplicate_of is None for r in rows)


def test_catch_up_gives_up_when_the_newest_item_was_replaced(store: Store) -> None:
    """The snapshot's newest item deleted and its id reused: items stored since the
    snapshot may then have ids at or below it, so the catch-up cannot find them."""
    rng = random.Random(4)
    save(store, "s1", [new_item("a", story_text(rng)), new_item("b", story_text(rng))])
    news = [new_item("n", story_text(rng))]
    with store._read() as conn:
        ahead = look_up(conn, "s2", news, SINCE, SAME_STORY, set())
    with store._tx() as conn:
        newest = conn.execute(text("SELECT max(id) FROM items")).scalar()
        conn.execute(text("DELETE FROM items WHERE id = :i"), {"i": newest})
    save(store, "s3", [new_item("c", story_text(rng))])  # gets the freed id
    assert caught_up(store, ahead, "s2", news) is None


def test_catch_up_gives_up_past_max_catch_up(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(5)
    news = [new_item("n", story_text(rng))]
    with store._read() as conn:
        ahead = look_up(conn, "s2", news, SINCE, SAME_STORY, set())
    save(store, "s1", [new_item(f"a{i}", story_text(rng)) for i in range(3)])
    monkeypatch.setattr(store_stories, "MAX_CATCH_UP", 2)
    assert caught_up(store, ahead, "s2", news) is None
    monkeypatch.setattr(store_stories, "MAX_CATCH_UP", 3)
    assert caught_up(store, ahead, "s2", news) is not None


def test_no_lookup_ahead_inside_a_batch_or_without_items(store: Store) -> None:
    """In a batch this thread holds the writer lock already; nothing to look up: none."""
    news = [new_item("n", story_text(random.Random(6)))]
    assert store.looked_ahead("s1", [], SINCE, SAME_STORY) is None
    assert store.looked_ahead("s1", news, SINCE, SAME_STORY) is not None
    with store.batch():
        assert store.looked_ahead("s1", news, SINCE, SAME_STORY) is None
