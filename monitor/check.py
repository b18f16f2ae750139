"""Operator checks that touch the network: ``check --online`` and ``test-channel``.

Fetches and parses each source once without storing anything, and sends a short
test digest through one channel outside the outbox. Returns rows and errors; the
CLI prints them.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

from monitor.channels import ChannelContext, build_channels
from monitor.config import Settings, SourceConfig
from monitor.digest import build_payload
from monitor.errors import DeliveryError, FetchError, ParseError
from monitor.feeds import parse_feed
from monitor.fetch import Fetcher
from monitor.pipeline import delivery_client
from monitor.render import render_digest


async def check_sources_online(settings: Settings) -> list[tuple[str, str, str, str]]:
    """(source, status, items, detail) per source; fetches once, stores nothing."""
    async with Fetcher(settings.http) as fetcher:

        async def one(source: SourceConfig) -> tuple[str, str, str, str]:
            try:
                result = await fetcher.fetch(source.url)
                feed = parse_feed(result.body, result.url, result.headers)
            except (FetchError, ParseError) as exc:
                return (source.name, "error", "-", str(exc))
            detail = feed.title or ""
            if result.permanent_redirect:
                detail = f"moved permanently to {result.permanent_redirect}; {detail}"
            return (source.name, "ok", str(len(feed.items)), detail)

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
            await channels[channel_name].send(render_digest(payload, ZoneInfo("UTC")))
        except DeliveryError as exc:
            return str(exc)
    return None
