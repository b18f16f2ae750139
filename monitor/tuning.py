"""Tools for editors tuning a watch: ``explain`` one text, ``backtest`` the stored items.

Both compile the watch exactly as the matcher does and return values; the CLI prints
them. ``explain --url`` fetches and extracts the page like a ``full_text`` source.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from monitor.config import Settings, WatchConfig
from monitor.fetch import ACCEPT_HTML, Fetcher
from monitor.matching import compile_config_watch
from monitor.pages import decode_html, extract_article
from monitor.query import CompiledWatch, Document, WatchMatch, WatchSet, compile_watch
from monitor.store import Store, StoredItem


async def document_from_url(settings: Settings, url: str) -> Document:
    """Fetch a page (as the operator asked for it: trusted) and extract its article."""
    async with Fetcher(settings.http) as fetcher:
        page = await fetcher.fetch(url, accept=ACCEPT_HTML)
    article = extract_article(decode_html(page.body, page.headers.get("content-type")), page.url)
    return Document(title=article.title or "", body=article.text, language=article.language)


def watch_for(settings: Settings, name: str | None, query: str | None,
              languages: tuple[str, ...] = ()) -> CompiledWatch:  # fmt: skip
    """A configured watch by name, or an ad-hoc ``query`` (QuerySyntaxError if it is bad)."""
    if query is not None:
        return compile_watch(name or "query", query=query, languages=languages)
    watch: WatchConfig = settings.watch(name or "")
    return compile_config_watch(watch)


@dataclass(frozen=True, slots=True)
class BacktestHit:
    item: StoredItem
    match: WatchMatch


def backtest(store: Store, watch: CompiledWatch, since: datetime) -> Iterator[BacktestHit | None]:
    """For each stored item since ``since``: a hit, or None when it does not match."""
    watches = WatchSet([watch])
    for item in store.iter_items(since):
        found = watches.match(Document(title=item.title, body=item.body, language=item.language))
        yield BacktestHit(item, found[0]) if found else None
