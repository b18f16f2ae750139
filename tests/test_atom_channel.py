"""The atom channel: a valid Atom feed of the subscriber's alerts, newest first, kept
to max_entries, escaped, written atomically; repeated deliveries add nothing twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

import feedparser
import httpx

from monitor.channels import ChannelContext, Progress
from monitor.channels.atom import AtomChannel
from monitor.config import AtomChannelConfig
from monitor.digest import build_payload
from monitor.render import RenderedDigest, render_digest
from monitor.store_digests import PendingAlert

NOW = datetime(2026, 11, 27, 13, 0, tzinfo=UTC)
A = "{http://www.w3.org/2005/Atom}"


def digest(digest_id: str, titles: list[str], minutes: int = 0) -> RenderedDigest:
    alerts = [
        PendingAlert(
            alert_id=n,
            source="desk",
            title=title,
            url=f"https://news.example.org/{digest_id}/{n}",
            published_at=NOW,
            first_seen_at=NOW,
            watches=("cuba",),
            matched_terms=("Cuba",),
            snippet=f"{title} & <b>more</b> about Cuba",
            highlights=(),
        )
        for n, title in enumerate(titles)
    ]
    payload = build_payload(digest_id, "newsroom", NOW + timedelta(minutes=minutes), alerts)
    return render_digest(payload, ZoneInfo("UTC"))


def channel(tmp_path: Path, max_entries: int = 200) -> AtomChannel:
    config = AtomChannelConfig(name="feed", type="atom", path="feeds/newsroom.xml",
                               title="Cuba alerts", max_entries=max_entries)  # fmt: skip
    return AtomChannel(config, ChannelContext(httpx.AsyncClient(), tmp_path))


async def test_feed_is_valid_escaped_and_newest_first(tmp_path: Path) -> None:
    feed = channel(tmp_path)
    await feed.send(digest("d1", ["First <script>alert(1)</script>", "Second"]), Progress())
    await feed.send(digest("d2", ["Third"], minutes=5), Progress())
    await feed.send(digest("d2", ["Third"], minutes=5), Progress())  # a repeated delivery
    path = tmp_path / "feeds" / "newsroom.xml"
    root = ET.fromstring(path.read_bytes())  # noqa: S314 - our own file
    assert root.tag == f"{A}feed" and root.findtext(f"{A}title") == "Cuba alerts"
    titles = [e.findtext(f"{A}title") for e in root.findall(f"{A}entry")]
    assert titles == ["Third", "First <script>alert(1)</script>", "Second"]
    parsed = feedparser.parse(path.read_bytes())
    assert not parsed.bozo and len(parsed.entries) == 3
    assert parsed.entries[1].link == "https://news.example.org/d1/0"
    assert parsed.entries[1].title == "First <script>alert(1)</script>"
    assert "<script>" not in parsed.entries[1].content[0].value.split("</p>")[0].replace("&lt;", "")
    assert b"<script>" not in path.read_bytes()


async def test_max_entries_and_concurrent_deliveries(tmp_path: Path) -> None:
    feed = channel(tmp_path, max_entries=5)
    await asyncio.gather(*(feed.send(digest(f"d{n}", [f"Story {n}"], minutes=n), Progress())
                           for n in range(8)))  # fmt: skip
    parsed = feedparser.parse((tmp_path / "feeds" / "newsroom.xml").read_bytes())
    assert len(parsed.entries) == 5
    assert len({e.id for e in parsed.entries}) == 5


async def test_control_characters_from_a_feed_do_not_break_the_xml(tmp_path: Path) -> None:
    feed = channel(tmp_path)
    await feed.send(digest("d1", ["Bell\x07 and \x01 start\x0b of Cuba talks"]), Progress())
    await feed.send(digest("d2", ["Next"], minutes=5), Progress())  # the stored entry again
    path = tmp_path / "feeds" / "newsroom.xml"
    root = ET.fromstring(path.read_bytes())  # noqa: S314 - our own file
    titles = [e.findtext(f"{A}title") for e in root.findall(f"{A}entry")]
    assert titles == ["Next", "Bell and  start of Cuba talks"]
    assert not feedparser.parse(path.read_bytes()).bozo
