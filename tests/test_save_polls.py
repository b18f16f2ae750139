"""Several polls saved in one transaction (``Store.save_polls``), as a busy parse worker does.

Polls saved together must store exactly what the same polls store one transaction
each: the same items, copies, story links, alerts and story keys. A poll that fails
inside a batch is rolled back alone (a savepoint); the others are stored.
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

from monitor.errors import StorageError
from monitor.models import AlertMatch, FeedItem, NewItem
from monitor.store import PollToSave, Store
from tests.test_store_lookup import LEASE, NOW, random_poll, story_text


def alerted(news: list[NewItem]) -> list[NewItem]:
    """The same items, each alerted to one subscriber."""
    match = AlertMatch("newsroom", ("cuba-visas",), ("Cuba",), "about Cuba", ((6, 10),))
    return [NewItem(n.item, True, (match,), fingerprint=n.fingerprint, sketch=n.sketch,
                    story_keys=n.story_keys) for n in news]  # fmt: skip


def poll(source: str, news: list[NewItem]) -> PollToSave:
    return PollToSave(source, NOW, NOW, None, None, news)


def snapshot(path: Path) -> dict[str, Any]:
    """What was stored, by item key (ids depend on the order of transactions)."""
    db = sqlite3.connect(path)
    key = {i: k for i, k in db.execute("SELECT id, source || '/' || item_key FROM items")}
    items = sorted(
        (key[i], key.get(dup), key.get(story), alertable)
        for i, dup, story, alertable in db.execute(
            "SELECT id, duplicate_of, story_id, alertable FROM items"
        )
    )
    alerts = sorted((sub, key[i], key[s]) for sub, i, s in db.execute(
        "SELECT subscriber, item_id, story_id FROM alerts"))  # fmt: skip
    keys = sorted((k, key[i]) for k, i in db.execute("SELECT key, item_id FROM story_keys"))
    sources = sorted(db.execute("SELECT name, total_items, claimed_by FROM sources"))
    db.close()
    return {"items": items, "alerts": alerts, "story_keys": keys, "sources": sources}


def test_polls_saved_together_store_what_they_store_one_by_one(tmp_path: Path) -> None:
    """Random polls of near-duplicate and copied stories from five sources, saved one
    transaction each in one database and three at a time in another."""
    rng = random.Random(7)
    stories = [story_text(rng) for _ in range(6)]
    polls = []
    for round_ in range(15):
        source = f"s{rng.randrange(5)}"
        polls.append(poll(source, alerted(random_poll(rng, stories, f"r{round_}"))))
    one, batched = (Store.open(f"sqlite:///{tmp_path / name}", "w") for name in ("1.db", "3.db"))
    try:
        for p in polls:
            one.claim_source(p.name, f"u-{p.name}", now=NOW, lease=LEASE, due_before=None)
            assert isinstance(one.save_polls([p])[0], tuple)
        for start in range(0, len(polls), 3):
            group = polls[start : start + 3]
            for p in group:
                batched.claim_source(p.name, f"u-{p.name}", now=NOW, lease=LEASE, due_before=None)
            assert all(isinstance(r, tuple) for r in batched.save_polls(group))
    finally:
        one.close()
        batched.close()
    alone, together = snapshot(tmp_path / "1.db"), snapshot(tmp_path / "3.db")
    assert together == alone
    # the polls did find copies and stories of other polls, within batches too
    assert sum(dup is not None for _, dup, _, _ in together["items"]) > 3
    assert sum(story != item for item, _, story, _ in together["items"]) > 10
    assert all(claimed is None for _, _, claimed in together["sources"])


def test_a_poll_that_fails_in_a_batch_is_rolled_back_alone(store: Store, tmp_path: Path) -> None:
    def news(key: str, title: Any = "Cuba talks") -> list[NewItem]:
        url = f"https://x.org/{key}"
        return [NewItem(FeedItem(key, url, url, title, "About Cuba.", NOW), True)]

    for name in ("s1", "s2", "s3"):
        store.claim_source(name, f"u-{name}", now=NOW, lease=LEASE, due_before=None)
    broken = news("b", title=None)  # NOT NULL: the insert fails
    saved = store.save_polls([poll("s1", news("a")), poll("s2", broken), poll("s3", news("c"))])
    assert saved[0] == (1, 0) and saved[2] == (1, 0)
    assert isinstance(saved[1], StorageError) and "NOT NULL" in str(saved[1])
    stored = snapshot(tmp_path / "test.db")
    assert [item for item, *_ in stored["items"]] == ["s1/a", "s3/c"]
    # the failed poll's claim is still held: the caller records the failure, which releases it
    assert stored["sources"] == [("s1", 1, None), ("s2", 0, "worker-a"), ("s3", 1, None)]
