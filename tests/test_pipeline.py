"""poll_source with an httpx MockTransport: first poll, max_age, 304, failures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from monitor import config
from monitor.fetch import Fetcher
from monitor.models import FeedItem
from monitor.pipeline import poll_source
from monitor.prepare import is_too_old
from monitor.runtime import Runtime, due_margin
from monitor.store import Store
from tests.feedgen import Entry, rss

NOW = datetime(2026, 11, 27, 13, 0, tzinfo=UTC)


class Site:
    def __init__(self) -> None:
        self.body = b""
        self.status = 200
        self.etag = '"same"'
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.status != 200:
            return httpx.Response(self.status)
        if request.headers.get("If-None-Match") == self.etag:
            return httpx.Response(304)
        return httpx.Response(200, content=self.body, headers={"ETag": self.etag})


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[tuple[Runtime, Site]]:
    settings = config.parse(
        {
            "sources": [{"name": "desk", "url": "https://news.example.org/feed"}],
            "watches": [
                {"name": "cuba", "terms": ["Cuba", "Havana consulate"], "exclude": ["baseball"]}
            ],
            "channels": [{"name": "f", "type": "file", "path": "out"}],
            "subscribers": [{"name": "newsroom", "watches": ["cuba"], "channels": ["f"]}],
        },
        tmp_path / "monitor.toml",
        {},
    )
    site = Site()
    store = Store.open(settings.storage.url, "w")
    async with Fetcher(settings.http, transport=httpx.MockTransport(site)) as fetcher:
        yield Runtime.create(settings, store, fetcher, lambda: NOW), site
    store.close()


async def test_first_poll_alerts_recent_and_undated_not_old(runtime: tuple[Runtime, Site]) -> None:
    rt, site = runtime
    site.body = rss("Desk", [
        Entry("Cuba talks today", "https://x.org/1", published=NOW - timedelta(hours=1)),
        Entry("Cuba archive", "https://x.org/2", published=NOW - timedelta(days=10)),
        Entry("Undated Cuba note", "https://x.org/3"),
        Entry("Cuba baseball final", "https://x.org/4", published=NOW),
        Entry("Weather", "https://x.org/5", published=NOW),
    ])  # fmt: skip
    outcome = await poll_source(rt, rt.settings.sources[0])
    assert (outcome.status, outcome.items, outcome.new_items, outcome.matches) == ("ok", 5, 5, 2)
    pending, total = rt.store.pending_alerts("newsroom", 10)
    assert total == 2
    assert sorted(p.title for p in pending) == ["Cuba talks today", "Undated Cuba note"]
    assert pending[0].snippet  # a snippet was stored with the alert


async def test_not_modified_and_not_due(runtime: tuple[Runtime, Site]) -> None:
    rt, site = runtime
    site.body = rss("Desk", [Entry("Cuba", "https://x.org/1", published=NOW)])
    assert (await poll_source(rt, rt.settings.sources[0])).status == "ok"
    assert (await poll_source(rt, rt.settings.sources[0])).status == "skipped"  # not due
    outcome = await poll_source(rt, rt.settings.sources[0], only_due=False)
    assert outcome.status == "not_modified"
    assert site.requests[-1].headers["If-None-Match"] == '"same"'


async def test_failure_is_recorded_and_counted(runtime: tuple[Runtime, Site]) -> None:
    rt, site = runtime
    site.status = 500
    outcome = await poll_source(rt, rt.settings.sources[0])
    assert outcome.status == "error" and outcome.error == "HTTP 500 Internal Server Error"
    state = rt.store.source_states()["desk"]
    assert state.consecutive_failures == 1 and state.last_error == "HTTP 500 Internal Server Error"


async def test_a_changed_feed_reads_only_its_changed_entries(
    runtime: tuple[Runtime, Site], monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor import feeds

    rt, site = runtime
    entries = [Entry(f"Cuba story {i}", f"https://x.org/{i}", "Havana consulate news.",
                     published=NOW - timedelta(hours=i + 1)) for i in range(5)]  # fmt: skip
    site.body = rss("Desk", entries)
    first = await poll_source(rt, rt.settings.sources[0])
    assert (first.items, first.new_items) == (5, 5)
    assert rt.store.source_states()["desk"].entry_hashes
    read: list[str] = []  # entries the reader handed on (a full read hands on all five)
    real_entry = feeds._entry
    monkeypatch.setattr(feeds, "_entry", lambda e, *a: read.append(e["link"]) or real_entry(e, *a))
    site.body = rss("Desk", [Entry("Cuba news", "https://x.org/new", "Cuba.", published=NOW),
                             *entries[:4]])  # fmt: skip
    site.etag = '"changed"'
    second = await poll_source(rt, rt.settings.sources[0], only_due=False)
    assert (second.status, second.items, second.new_items, second.matches) == ("ok", 5, 1, 1)
    assert read == ["https://x.org/new"]  # the four unchanged entries were not read again


def test_due_margin_and_age() -> None:
    assert due_margin(timedelta(minutes=15)) == timedelta(seconds=90)
    assert due_margin(timedelta(seconds=20)) == timedelta(seconds=5)
    assert due_margin(timedelta(days=1)) == timedelta(minutes=2)
    undated = FeedItem("k", None, None, "t", "s", None)
    old = FeedItem("k", None, None, "t", "s", NOW - timedelta(days=4))
    assert not is_too_old(undated, NOW, timedelta(days=3))
    assert is_too_old(old, NOW, timedelta(days=3))


async def test_a_first_poll_does_not_look_up_known_items(
    runtime: tuple[Runtime, Site], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A source that never stored an item knows none of its entries; later polls look."""
    rt, site = runtime
    looked: list[list[str]] = []
    real = rt.store.known_items
    monkeypatch.setattr(
        rt.store,
        "known_items",
        lambda source, keys: looked.append(list(keys)) or real(source, keys),
    )
    site.body = rss("Desk", [Entry("Cuba talks", "https://x.org/1", published=NOW)])
    first = await poll_source(rt, rt.settings.sources[0])
    assert (first.status, first.new_items) == ("ok", 1)
    assert looked == []
    site.body = rss("Desk", [Entry("Cuba talks", "https://x.org/1", "Corrected.", published=NOW),
                             Entry("Cuba again", "https://x.org/2", published=NOW)])  # fmt: skip
    site.etag = '"changed"'
    second = await poll_source(rt, rt.settings.sources[0], only_due=False)
    assert (second.status, second.new_items) == ("ok", 1)  # the first entry is known
    assert len(looked) == 1 and len(looked[0]) == 2
