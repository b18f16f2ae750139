"""Full text: fetch each new item's page and put its extracted article text on the item.

Used when a source has ``full_text = true``. Article links come from content, so
they are fetched as untrusted URLs (public addresses only, unless
``http.allow_private_networks``), after the site's robots.txt, through the same
``Fetcher`` and its limits. A page that cannot be fetched or has no article leaves
the item as it was (matched on its summary) with a warning; it never fails the poll.
The page's own ``rel=canonical`` (when it is on the same site) becomes the item's
canonical URL, so the same article reached through another link is recognised.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence

from monitor.errors import FetchError
from monitor.fetch import ACCEPT_HTML, Fetcher
from monitor.models import FeedItem
from monitor.normalize import short_title
from monitor.pages import decode_html, extract_article
from monitor.robots import RobotsPolicy
from monitor.urls import canonical_from_page

logger = logging.getLogger(__name__)

MAX_ARTICLES_PER_POLL = 50


async def with_article_text(
    fetcher: Fetcher,
    robots: RobotsPolicy,
    source: str,
    items: Sequence[FeedItem],
) -> list[FeedItem]:
    """The items with ``content`` set to their article text where it could be read."""
    wanted = [i for i in items if i.url][:MAX_ARTICLES_PER_POLL]
    if len(wanted) < len([i for i in items if i.url]):
        logger.warning(
            "source=%s: %d new items; full text fetched for the first %d only",
            source, len(items), MAX_ARTICLES_PER_POLL,
        )  # fmt: skip
    enriched = await asyncio.gather(*(_one(fetcher, robots, source, i) for i in wanted))
    by_key = {item.key: item for item in enriched}
    return [by_key.get(item.key, item) for item in items]


async def _one(fetcher: Fetcher, robots: RobotsPolicy, source: str, item: FeedItem) -> FeedItem:
    url = item.url or ""
    refusal = await robots.check(url, trusted=False)
    if refusal is not None:
        logger.info("source=%s article %s not fetched: %s", source, url, refusal)
        return item
    try:
        page = await fetcher.fetch(url, accept=ACCEPT_HTML, trusted=False)
    except FetchError as exc:
        logger.warning("source=%s article %s: %s; matching on the summary", source, url, exc)
        return item
    article = await asyncio.to_thread(
        extract_article, decode_html(page.body, page.headers.get("content-type")), page.url
    )
    if not article.text:
        logger.warning(
            "source=%s article %s: %s; matching on the summary",
            source, url, article.reason or "no article text found",
        )  # fmt: skip
        return item
    return dataclasses.replace(
        item,
        canonical_url=canonical_from_page(article.canonical_url, page.url) or item.canonical_url,
        content=article.text,
        title=item.title or short_title(article.title or ""),
        language=item.language or article.language,
        published_at=item.published_at or article.published_at,
    )
