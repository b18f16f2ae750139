"""A failing source backs off and recovers; a once pass honours the due grace; the
publisher's hints and Retry-After push the next poll back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from monitor import config
from monitor.fetch import Fetcher
from monitor.models import PassSummary
from monitor.passes import poll_sources
from monitor.pipeline import poll_source
from monitor.runtime import Runtime
from monitor.store import Store
from tests.feedgen import Entry, rss

START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
M = timedelta(minutes=1)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class Publisher:
    def __init__(self) -> None:
        self.answers: list[httpx.Response] = []
        self.requests = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.answers:
            return self.answers.pop(0)
        return httpx.Response(200, content=rss("Desk", [Entry("Cuba", "https://x.org/1")]))


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[Runtime, Publisher, Clock]]:
    settings = config.parse(
        {
            "http": {"retries": 0, "allow_private_networks": True},
            "defaults": {"max_backoff": "2h"},
            "sources": [
                {"name": "desk", "url": "https://news.example.org/feed", "interval": "15m"}
            ],
            "watches": [{"name": "cuba", "terms": ["Cuba"]}],
            "channels": [{"name": "f", "type": "file", "path": "out"}],
            "subscribers": [{"name": "s", "watches": ["cuba"], "channels": ["f"]}],
        },
        tmp_path / "monitor.toml",
        {},
    )
    publisher, clock = Publisher(), Clock()
    store = Store.open(settings.storage.url, "w")
    transport = httpx.MockTransport(publisher)
    async with Fetcher(
        settings.http, transport=transport, monotonic=lambda: clock.now.timestamp()
    ) as fetcher:
        yield (
            Runtime.create(settings, store, fetcher, clock),
            publisher,
            clock,
        )
    store.close()


def state(rt: Runtime):  # type: ignore[no-untyped-def]
    return rt.store.source_states()["desk"]


async def test_failing_source_backs_off_then_recovers(
    world: tuple[Runtime, Publisher, Clock],
) -> None:
    rt, publisher, clock = world
    source = rt.settings.sources[0]
    waits = []
    for _ in range(5):
        publisher.answers.append(httpx.Response(500))
        outcome = await poll_source(rt, source)
        assert outcome.status == "error"
        waits.append(state(rt).next_poll_at - clock.now)
        clock.now = state(rt).next_poll_at  # poll exactly when due
    assert waits == [15 * M, 30 * M, 60 * M, 120 * M, 120 * M]
    assert state(rt).consecutive_failures == 5
    assert "5 failures in a row; next try in 2h" in (outcome.error or "")
    # not polled again before it is due
    before = publisher.requests
    clock.now = state(rt).next_poll_at - 10 * M
    assert (await poll_source(rt, source)).status == "skipped"
    assert publisher.requests == before
    # one success restores the normal pace
    clock.now = state(rt).next_poll_at
    assert (await poll_source(rt, source)).status == "ok"
    assert state(rt).consecutive_failures == 0
    assert state(rt).next_poll_at - clock.now == 15 * M


async def test_due_grace_in_a_cron_pass(world: tuple[Runtime, Publisher, Clock]) -> None:
    rt, _, clock = world
    source = rt.settings.sources[0]
    assert (await poll_source(rt, source)).status == "ok"
    # a */15 cron pass that starts a second early still polls the 15-minute source
    clock.now = START + 15 * M - timedelta(seconds=1)
    assert (await poll_source(rt, source)).status == "not_modified"  # same body: not re-parsed
    assert state(rt).last_polled_at == clock.now
    # but a pass 5 minutes later does not
    clock.now += 5 * M
    assert (await poll_source(rt, source)).status == "skipped"


async def test_a_cron_pass_skips_sources_not_due_without_claiming_them(
    world: tuple[Runtime, Publisher, Clock], monkeypatch: pytest.MonkeyPatch
) -> None:
    rt, publisher, clock = world

    async def cron_pass() -> list[str]:
        summary = PassSummary()
        await poll_sources(rt, all_sources=False, summary=summary)
        return [p.status for p in summary.polls]

    assert await cron_pass() == ["ok"]  # never polled: claimed and polled
    claims: list[str] = []
    claim = rt.store.claim_source
    monkeypatch.setattr(
        rt.store, "claim_source", lambda name, *a, **k: claims.append(name) or claim(name, *a, **k)
    )
    clock.now = START + 10 * M  # a 15-minute source, 90 s of margin: not due
    assert await cron_pass() == ["skipped"]
    assert claims == [] and publisher.requests == 1  # no claim, no request
    clock.now = START + 15 * M - timedelta(seconds=1)  # within the margin: claimed, polled
    assert await cron_pass() == ["not_modified"]
    assert claims == ["desk"] and publisher.requests == 2
    clock.now += 2 * M  # just polled: not due; an --all pass still claims and polls it
    assert await cron_pass() == ["skipped"]
    summary = PassSummary()
    await poll_sources(rt, all_sources=True, summary=summary)
    assert [p.status for p in summary.polls] == ["not_modified"]
    assert claims == ["desk", "desk"]


async def test_retry_after_and_publisher_hints_push_the_next_poll(
    world: tuple[Runtime, Publisher, Clock],
) -> None:
    rt, publisher, clock = world
    source = rt.settings.sources[0]
    publisher.answers.append(httpx.Response(429, headers={"Retry-After": "5400"}))
    assert (await poll_source(rt, source)).status == "error"
    assert state(rt).next_poll_at - clock.now == 90 * M
    clock.now = state(rt).next_poll_at
    body = rss("Desk", [Entry("Cuba", "https://x.org/1")]).replace(
        b"<language>", b"<ttl>45</ttl><language>"
    )
    publisher.answers.append(httpx.Response(200, content=body))
    assert (await poll_source(rt, source)).status == "ok"
    assert state(rt).next_poll_at - clock.now == 45 * M
    clock.now = state(rt).next_poll_at
    publisher.answers.append(httpx.Response(304, headers={"Cache-Control": "max-age=3600"}))
    assert (await poll_source(rt, source)).status == "not_modified"
    assert state(rt).next_poll_at - clock.now == 60 * M


async def test_busy_source_is_polled_more_often(world: tuple[Runtime, Publisher, Clock]) -> None:
    rt, publisher, clock = world
    entries = [
        Entry(f"Cuba {i}", f"https://x.org/{i}", published=START - i * 2 * M) for i in range(10)
    ]
    publisher.answers.append(httpx.Response(200, content=rss("Busy", entries)))
    assert (await poll_source(rt, rt.settings.sources[0])).status == "ok"
    assert state(rt).next_poll_at - clock.now == 5 * M  # min_interval, not 15m
    assert state(rt).publish_gap == 2 * M


async def test_moved_source_is_recorded(world: tuple[Runtime, Publisher, Clock]) -> None:
    rt, publisher, _ = world
    publisher.answers.append(
        httpx.Response(301, headers={"Location": "https://news.example.org/new"})
    )
    assert (await poll_source(rt, rt.settings.sources[0])).status == "ok"
    assert state(rt).moved_to == "https://news.example.org/new"
