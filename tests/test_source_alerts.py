"""Source health notices to the admin channel: failing after N polls, recovered, stale."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from monitor import config
from monitor.fetch import Fetcher
from monitor.pipeline import poll_source
from monitor.runtime import Runtime
from monitor.store import Store
from tests.conftest import run_cli, write_config
from tests.feedgen import Entry, hours_ago, rss
from tests.servers import HTTPFixture, Route


def notices(folder: Path) -> list[str]:
    return sorted(
        json.loads(p.read_text())["items"][0]["title"] for p in folder.glob("*.json")
    ) if folder.exists() else []  # fmt: skip


def test_failing_source_is_reported_once_and_its_recovery_too(
    web: HTTPFixture, tmp_path: Path
) -> None:
    web.routes["/f.xml"] = Route(b"", status=503)
    path = write_config(tmp_path, f"""
[http]
retries = 0

[defaults]
alert_after_failures = 3

[[sources]]
name = "embassy"
url = "{web.url('/f.xml')}"

[[watches]]
name = "cuba"
terms = ["Cuba"]

[[channels]]
name = "out"
type = "file"
path = "out"

[[channels]]
name = "admin"
type = "file"
path = "admin"

[[subscribers]]
name = "desk"
watches = ["cuba"]
channels = ["out"]
""")  # fmt: skip
    for _ in range(5):
        result = run_cli("once", "--all", config=path)
        assert result.returncode == 1
    assert notices(tmp_path / "admin") == ["Source embassy is failing"]
    body = json.loads(next((tmp_path / "admin").glob("*.json")).read_text())["items"][0]["snippet"]
    assert "3 polls" in body and "HTTP 503" in body
    table = run_cli("sources", config=path).stdout
    assert "embassy" in table and " error " in table and "HTTP 503" in table
    assert table.splitlines()[1].split()[-3] == "5"  # five consecutive failures, still polled
    web.routes["/f.xml"] = Route(
        rss("F", [Entry("Cuba", web.url("/1"), "x", published=hours_ago(1))])
    )
    assert run_cli("once", "--all", config=path).returncode == 0
    assert run_cli("once", "--all", config=path).returncode == 0
    assert notices(tmp_path / "admin") == ["Source embassy is failing", "Source embassy recovered"]


START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[Runtime, Clock, list[bytes]]]:
    settings = config.parse(
        {
            "defaults": {"stale_after": "7d"},
            "sources": [{"name": "quiet", "url": "https://quiet.example.org/feed"}],
            "watches": [{"name": "cuba", "terms": ["Cuba"]}],
            "channels": [{"name": "admin", "type": "file", "path": "admin"}],
            "subscribers": [{"name": "s", "watches": ["cuba"], "channels": ["admin"]}],
        },
        tmp_path / "monitor.toml",
        {},
    )
    clock, bodies = Clock(), [rss("Q", [Entry("Old", "https://quiet.example.org/1", "x")])]
    store = Store.open(settings.storage.url, "w")
    transport = httpx.MockTransport(lambda r: httpx.Response(200, content=bodies[-1]))
    async with Fetcher(settings.http, transport=transport) as fetcher:
        yield Runtime.create(settings, store, fetcher, clock), clock, bodies
    store.close()


def admin_titles(rt: Runtime) -> list[str]:
    due = rt.store.claim_due_deliveries(now=datetime.now(UTC) + timedelta(days=400),
                                        due_before=datetime.now(UTC) + timedelta(days=400),
                                        lease=timedelta(minutes=1))  # fmt: skip
    return [d.payload["items"][0]["title"] for d in due if d.channel == "admin"]


async def test_stale_source_is_reported_once_until_it_publishes(
    world: tuple[Runtime, Clock, list[bytes]],
) -> None:
    rt, clock, bodies = world
    source = rt.settings.sources[0]
    await poll_source(rt, source, only_due=False)
    clock.now += timedelta(days=3)
    await poll_source(rt, source, only_due=False)
    assert admin_titles(rt) == []
    clock.now += timedelta(days=5)  # eight days without a new item
    bodies.append(bodies[0].replace(b"<channel>", b"<channel><!-- changed -->"))
    await poll_source(rt, source, only_due=False)
    clock.now += timedelta(days=1)
    await poll_source(rt, source, only_due=False)
    assert admin_titles(rt) == ["Source quiet is stale"]
    assert rt.store.source_states()["quiet"].stale_reported
    bodies.append(rss("Q", [Entry("Fresh", "https://quiet.example.org/2", "x")]))
    clock.now += timedelta(hours=1)
    await poll_source(rt, source, only_due=False)
    assert not rt.store.source_states()["quiet"].stale_reported


async def test_an_ordinary_good_poll_writes_nothing_for_source_health(
    world: tuple[Runtime, Clock, list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No recovery and no staleness: the pass skips the write (and its lock wait)."""
    from monitor import health

    rt, clock, _bodies = world
    calls: list[int] = []
    real = health.after_success
    monkeypatch.setattr(health, "after_success", lambda *a, **k: calls.append(1) or real(*a, **k))
    source = rt.settings.sources[0]
    await poll_source(rt, source, only_due=False)  # new items
    clock.now += timedelta(hours=1)
    await poll_source(rt, source, only_due=False)  # the same body again: nothing new
    assert calls == []
    clock.now += timedelta(days=8)  # stale now: the write happens
    await poll_source(rt, source, only_due=False)
    assert calls == [1]
    assert admin_titles(rt) == ["Source quiet is stale"]
