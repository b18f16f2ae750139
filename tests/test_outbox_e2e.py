"""The outbox with real parts: a webhook receiver on 127.0.0.1 that fails, an injected
clock instead of sleeping, and the real pass (``run_once``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor import config
from monitor.fetch import Fetcher
from monitor.models import PassSummary
from monitor.passes import create_due_digests, poll_sources, run_once
from monitor.runtime import Runtime
from monitor.store import Store
from tests.conftest import run_cli, write_config
from tests.feedgen import Entry, rss
from tests.servers import HTTPFixture, Route

START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)  # 07:00 in Havana


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def text(web: HTTPFixture, hooks: HTTPFixture, subscriber: str = "", extra: str = "") -> str:
    return f"""
[storage]
url = "sqlite:///state.db"

[http]
allow_private_networks = true

[[sources]]
name = "desk"
url = "{web.url("/feed.xml")}"
max_age = "3650d"

[[watches]]
name = "cuba"
terms = ["Cuba"]

[[channels]]
name = "hook"
type = "webhook"
url = "{hooks.url("/hook")}"

[[channels]]
name = "local"
type = "file"
path = "out"

[[channels]]
name = "admin"
type = "file"
path = "admin"
{extra}
[[subscribers]]
name = "desk"
watches = ["cuba"]
channels = ["hook"]
timezone = "America/Havana"
{subscriber}
"""


def stories(web: HTTPFixture, count: int, prefix: str = "Cuba story") -> None:
    web.routes["/feed.xml"] = Route(rss("Desk", [
        Entry(f"{prefix} {n}", web.url(f"/s/{prefix.replace(' ', '-')}-{n}"), "About Cuba.",
              published=START - timedelta(minutes=n))
        for n in range(count)
    ]))  # fmt: skip


@pytest.fixture
def clock() -> Clock:
    return Clock()


def load(tmp_path: Path, body: str) -> tuple[config.Settings, Store]:
    settings = config.load(write_config(tmp_path, body), {})
    return settings, Store.open(settings.storage.url, "test")


@pytest.fixture
def opened() -> Iterator[list[Store]]:
    stores: list[Store] = []
    yield stores
    for store in stores:
        store.close()


async def test_500_500_200_is_delivered_once_with_one_digest_id(
    web: HTTPFixture, hooks: HTTPFixture, tmp_path: Path, clock: Clock, opened: list[Store]
) -> None:
    stories(web, 2)
    hooks.answer_posts((500, {}, b"boom"), (500, {}, b"boom"))
    settings, store = load(tmp_path, text(web, hooks))
    opened.append(store)
    first = await run_once(settings, store, clock)
    assert [d.status for d in first.deliveries] == ["retry"]
    clock.advance(seconds=6)
    assert [d.status for d in (await run_once(settings, store, clock)).deliveries] == ["retry"]
    clock.advance(seconds=45)  # the second wait is ~10 s, plus the once grace
    assert [d.status for d in (await run_once(settings, store, clock)).deliveries] == ["sent"]
    clock.advance(hours=1)
    assert (await run_once(settings, store, clock)).deliveries == []
    posts = hooks.posts()
    assert len(posts) == 3
    assert len({p.headers["idempotency-key"] for p in posts}) == 1
    assert len({json.loads(p.body)["digest_id"] for p in posts}) == 1
    assert store.delivery_counts() == {"sent": 1}


async def test_401_is_not_retried_goes_to_fallback_and_admin(
    web: HTTPFixture, hooks: HTTPFixture, tmp_path: Path, clock: Clock, opened: list[Store]
) -> None:
    stories(web, 1)
    hooks.answer_posts((401, {}, b"no"))
    settings, store = load(tmp_path, text(web, hooks, 'fallback = "local"'))
    opened.append(store)
    summary = await run_once(settings, store, clock)
    # the fallback and the admin notice, queued by the failure, go out in the same pass
    assert (summary.deliveries[0].channel, summary.deliveries[0].status) == ("hook", "failed")
    assert sorted(d.channel for d in summary.deliveries if d.status == "sent") == [
        "admin", "local",
    ]  # fmt: skip
    clock.advance(seconds=10)
    again = await run_once(settings, store, clock)
    assert again.deliveries == []
    assert len(hooks.posts()) == 1  # no retry of the 401
    (fallback,) = (tmp_path / "out").glob("*.json")
    assert json.loads(fallback.read_text())["items"][0]["title"] == "Cuba story 0"
    (notice,) = (tmp_path / "admin").glob("*.json")
    item = json.loads(notice.read_text())["items"][0]
    assert item["title"] == "Delivery to channel hook failed"
    assert "401" in item["snippet"] and "fallback channel local" in item["snippet"]
    failed = store.failed_deliveries()
    assert failed[0][1] == "hook" and "401" in (failed[0][2] or "")


def test_digest_frozen_before_a_crash_is_delivered_once_after_restart(
    web: HTTPFixture, hooks: HTTPFixture, tmp_path: Path
) -> None:
    """The process dies after freezing the digest and before delivering it."""
    stories(web, 2)
    path = write_config(tmp_path, text(web, hooks))
    settings = config.load(path, {})
    store = Store.open(settings.storage.url, "crashing-worker")

    async def poll_and_freeze_then_die() -> None:
        async with Fetcher(settings.http) as fetcher:
            rt = Runtime.create(settings, store, fetcher, lambda: datetime.now(UTC))
            await poll_sources(rt, all_sources=True, summary=PassSummary())
            assert create_due_digests(rt) == ["desk"]

    asyncio.run(poll_and_freeze_then_die())
    store.close()  # ...and the process is gone before any delivery
    assert hooks.posts() == []
    assert run_cli("once", config=path).returncode == 0
    assert run_cli("once", config=path).returncode == 0
    posts = hooks.posts()
    assert len(posts) == 1 and len(json.loads(posts[0].body)["items"]) == 2


async def test_quiet_hours_hold_matches_then_send_them_together(
    web: HTTPFixture, hooks: HTTPFixture, tmp_path: Path, clock: Clock, opened: list[Store]
) -> None:
    clock.now = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)  # 23:00 in Havana
    stories(web, 2, "Night")
    settings, store = load(tmp_path, text(web, hooks, 'quiet_hours = "22:00-07:00"'))
    opened.append(store)
    await run_once(settings, store, clock)
    clock.advance(hours=3)
    stories(web, 3, "Later")
    await run_once(settings, store, clock)
    assert hooks.posts() == []  # quiet: nothing sent at night
    clock.now = datetime(2026, 11, 28, 12, 1, tzinfo=UTC)  # 07:01 in Havana
    await run_once(settings, store, clock)
    (post,) = hooks.posts()
    assert len(json.loads(post.body)["items"]) == 5  # all together, one digest


async def test_max_items_carries_the_rest_to_the_next_digest(
    web: HTTPFixture, hooks: HTTPFixture, tmp_path: Path, clock: Clock, opened: list[Store]
) -> None:
    stories(web, 7)
    settings, store = load(tmp_path, text(web, hooks, 'max_items = 3\nschedule = "1h"'))
    opened.append(store)
    await run_once(settings, store, clock)
    assert hooks.posts() == []  # an hourly digest: the first is one hour away
    for _ in range(3):
        clock.advance(hours=1, minutes=1)
        await run_once(settings, store, clock)
    bodies = [json.loads(p.body) for p in hooks.posts()]
    assert [len(b["items"]) for b in bodies] == [3, 3, 1]
    assert [b.get("more", 0) for b in bodies] == [4, 1, 0]
    titles = [i["title"] for b in bodies for i in b["items"]]
    assert sorted(titles) == sorted(f"Cuba story {n}" for n in range(7))  # none lost, none twice


async def test_min_items_waits_for_enough_stories(
    web: HTTPFixture, hooks: HTTPFixture, tmp_path: Path, clock: Clock, opened: list[Store]
) -> None:
    stories(web, 1)
    settings, store = load(tmp_path, text(web, hooks, 'min_items = 2\nschedule = "1h"'))
    opened.append(store)
    await run_once(settings, store, clock)
    clock.advance(hours=1, minutes=1)
    await run_once(settings, store, clock)
    assert hooks.posts() == []  # one story is not enough for this subscriber
    stories(web, 2)
    clock.advance(minutes=20)
    await run_once(settings, store, clock, all_sources=True)
    clock.advance(hours=1)
    await run_once(settings, store, clock)
    (post,) = hooks.posts()
    assert len(json.loads(post.body)["items"]) == 2
