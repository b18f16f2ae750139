"""Operator checks that touch the network: ``check --online`` and ``test-channel``.

Fetches and parses each source once without storing anything, and sends a short
test digest through one channel outside the outbox. Returns rows and errors; the
CLI prints them.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

from monitor.channels import ChannelContext, Progress, build_channels
from monitor.config import Settings, SourceConfig
from monitor.digest import build_payload
from monitor.errors import DeliveryError, FetchError, ParseError
from monitor.fetch import ACCEPT_HTML, Fetcher
from monitor.passes import delivery_client
from monitor.pipeline import parse_listing, read_feed
from monitor.render import render_digest
from monitor.robots import RobotsPolicy


async def check_sources_online(settings: Settings) -> list[tuple[str, str, str, str]]:
    """(source, status, items, detail) per source; fetches once, stores nothing."""
    async with Fetcher(settings.http) as fetcher:
        robots = RobotsPolicy(fetcher)

        async def one(source: SourceConfig) -> tuple[str, str, str, str]:
            notes = []
            try:
                if source.type == "page":
                    refusal = await robots.check(source.url, trusted=True)
                    if refusal is not None:
                        raise FetchError(refusal)
                    result = await fetcher.fetch(source.url, accept=ACCEPT_HTML)
                    feed = parse_listing(source, result)
                    notes.append(f"{len(feed.items)} article links")
                else:
                    result = await fetcher.fetch(source.url)
                    feed, found = await read_feed(fetcher, source, result, None)
                    if found:
                        notes.append(f"the page advertises a feed: {found}")
            except (FetchError, ParseError) as exc:
                return (source.name, "error", "-", str(exc))
            if result.permanent_redirect:
                notes.append(f"moved permanently to {result.permanent_redirect}")
            if feed.title:
                notes.append(feed.title)
            return (source.name, "ok", str(len(feed.items)), "; ".join(notes))

        return list(await asyncio.gather(*(one(s) for s in settings.sources)))


async def send_test_message(settings: Settings, channel_name: str, now: datetime) -> str | None:
    """Send a one-item test digest through ``channel_name``; the error text, or None."""
    payload = build_payload(f"test-{now:%Y%m%dT%H%M%SZ}", "test", now, [], 0)
    payload["items"] = [
        {
            "title": "news-monitor test message",
            "url": None,
            "source": "news-monitor",
            "published_at": None,
            "watches": ["test"],
            "matched_terms": [],
            "snippet": f"If you can read this, channel {channel_name} works.",
            "also_reported_by": [],
        }
    ]
    async with delivery_client(settings) as http:
        channels = build_channels(settings, ChannelContext(http, settings.path.parent))
        try:
            await channels[channel_name].send(render_digest(payload, ZoneInfo("UTC")), Progress())
        except DeliveryError as exc:
            return str(exc)
    return None
