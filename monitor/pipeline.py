"""The poll of one source, top to bottom (a pass over all sources is in ``passes``).

``poll_source`` reads like the pipeline: claim → conditional GET → not modified? →
parse → keep what is new → match → store (items and alerts in one transaction) →
release. Stage functions are pure; I/O happens only in fetch, store and deliver.
A source that fails is recorded and reported by name; it never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from monitor import health
from monitor.config import Settings, SourceConfig
from monitor.errors import FetchError, HTTPStatusError, ParseError
from monitor.fetch import ACCEPT_FEEDS, ACCEPT_HTML, Fetcher
from monitor.models import (
    Entry,
    FeedItem,
    FetchResult,
    ParsedFeed,
    PollOutcome,
)
from monitor.normalize import canonical_url
from monitor.polling import header_delay, next_failure_wait, next_success_wait
from monitor.prepare import (
    PollFacts,
    Prepared,
    judge,
    newest_entries,
    recent_items,
    sort_entries,
)
from monitor.redirects import same_origin
from monitor.runtime import Runtime, due_by, write_to
from monitor.schedule import format_duration, parse_cron
from monitor.store import PollToSave, SourceState, Store, short_hash_bytes
from monitor.workers import FeedJob

logger = logging.getLogger(__name__)

SOURCE_LEASE_MIN = timedelta(minutes=5)
_UTC = ZoneInfo("UTC")
T = TypeVar("T")


async def poll_source(
    rt: Runtime,
    source: SourceConfig,
    *,
    only_due: bool = True,
    polled_before: datetime | None = None,
) -> PollOutcome:
    """Poll one source if it is due and nobody else holds it.

    At most ``http.concurrency`` polls are in progress at once, from the claim to the
    stored result, so a large pass never holds more fetched bodies than that.
    """
    async with rt.host_turn(source), rt.slots:
        return await _poll_source(rt, source, only_due=only_due, polled_before=polled_before)


async def _poll_source(
    rt: Runtime, source: SourceConfig, *, only_due: bool, polled_before: datetime | None
) -> PollOutcome:
    settings, store = rt.settings, rt.store
    now = rt.clock()
    state = await rt.batched(
        partial(
            store.claim_source,
            source.name,
            source.url,
            now=now,
            lease=max(SOURCE_LEASE_MIN, timedelta(seconds=settings.http.timeout * 4)),
            due_before=due_by(settings, source, now) if only_due else None,
            polled_before=polled_before,
        )
    )
    if state is None:
        return PollOutcome(source.name, "skipped")
    started = time.perf_counter()
    try:
        if source.type == "page":
            refusal = await rt.robots.check(source.url, trusted=True)
            if refusal is not None:
                raise FetchError(f"not polled: {refusal}")
        url = state.feed_url or source.url
        result = await rt.fetcher.fetch(
            url,
            etag=state.etag,
            last_modified=state.last_modified,
            time_limit=source.timeout,
            headers=_headers_for(source, url),
            accept=ACCEPT_HTML if source.type == "page" else ACCEPT_FEEDS,
            trusted=state.feed_url is None,  # a feed found on a page is content, not config
        )
        if result.permanent_redirect:
            logger.warning(
                "source=%s moved permanently to %s: update its url in the config",
                source.name, result.permanent_redirect,
            )  # fmt: skip
        publisher = header_delay(result.headers, rt.clock())
        body_hash = short_hash_bytes(result.body) if not result.not_modified else None
        if result.not_modified or body_hash == state.body_hash:
            await rt.batched(
                partial(
                    store.record_not_modified,
                    source.name,
                    now=rt.clock(),
                    next_poll_at=_after_success(rt, source, state.publish_gap, publisher),
                    moved_to=result.permanent_redirect,
                    etag=result.etag,
                    last_modified=result.last_modified,
                ),
                urgent=False,  # the poll is over: the record may wait for company
            )
            await _health_after_success(rt, source, state, 0)
            return PollOutcome(
                source.name, "not_modified", elapsed=_since(started), fetch_seconds=result.elapsed
            )
        facts = PollFacts(
            etag=result.etag,
            last_modified=result.last_modified,
            moved_to=result.permanent_redirect,
            body_hash=body_hash,
            publisher=publisher,
            known_gap=state.publish_gap,
        )
        entries, stored, alerted = await _parse_and_store(rt, source, result, state, facts, now)
        await _health_after_success(rt, source, state, stored)
        return PollOutcome(
            source.name, "ok", items=entries, new_items=stored, matches=alerted,
            elapsed=_since(started), fetch_seconds=result.elapsed,
        )  # fmt: skip
    except (FetchError, ParseError) as exc:
        retry_after = exc.retry_after if isinstance(exc, HTTPStatusError) else None
        failures, error = state.consecutive_failures + 1, str(exc)
        # a feed found on the page that is gone or no feed now: discover it again next time
        gone = isinstance(exc, ParseError) or (
            isinstance(exc, HTTPStatusError) and exc.status in (404, 410)
        )
        forget = state.feed_url is not None and gone
        return await _write(
            rt, partial(_failed, rt, source, failures, error, started, retry_after, forget)
        )
    except asyncio.CancelledError:
        store.release_source(source.name)
        raise
    except Exception as exc:  # a bug must not stop the other sources
        logger.error("source=%s crashed", source.name, exc_info=exc)
        failures, error = state.consecutive_failures + 1, f"internal error: {exc!r}"
        return await _write(rt, partial(_failed, rt, source, failures, error, started, None))


async def _parse_and_store(
    rt: Runtime,
    source: SourceConfig,
    result: FetchResult,
    state: SourceState,
    facts: PollFacts,
    now: datetime,
) -> tuple[int, int, int]:
    """Parse, prepare and store a fetched body: (entries, items stored, alerts stored).

    A feed goes to a parse worker when the pass has them (it stores the poll itself);
    pages, ``full_text`` feeds and feeds to discover on a page are done here.
    """
    if rt.workers is not None and source.type == "feed" and not source.full_text:
        job = FeedJob(
            source=source.name,
            body=result.body,
            url=result.url,
            content_type=result.headers.get("content-type"),  # all the parser reads
            known_feed=state.feed_url,
            unchanged=state.entry_hashes,
            stored_before=state.total_items > 0,
            facts=facts,
            now=now,
            max_age=rt.settings.source_max_age(source),
        )
        done = await rt.workers.poll(job)
        if done is not None:
            return done
    prepared, feed_url = await prepare_poll(rt, source, result, state, now)
    return await asyncio.to_thread(
        save_prepared, rt.settings, rt.store, source, prepared, facts, feed_url, rt.clock()
    )


def save_prepared(
    settings: Settings,
    store: Store,
    source: SourceConfig,
    prepared: Prepared,
    facts: PollFacts,
    feed_url: str | None,
    now: datetime,
) -> tuple[int, int, int]:
    """Store a prepared poll (in one transaction); (entries, items stored, alerts stored)."""
    saved = store.save_polls([poll_to_save(settings, source, prepared, facts, feed_url, now)])[0]
    if isinstance(saved, Exception):  # pragma: no cover - a single poll's failure is raised
        raise saved
    return prepared.entries, *saved


def poll_to_save(
    settings: Settings,
    source: SourceConfig,
    prepared: Prepared,
    facts: PollFacts,
    feed_url: str | None,
    now: datetime,
) -> PollToSave:
    """What ``Store.save_polls`` stores of a prepared poll saved at ``now``."""
    gap = prepared.gap or facts.known_gap
    publisher = facts.publisher
    if prepared.publisher_delay is not None:
        publisher = max(publisher or timedelta(0), prepared.publisher_delay)
    return PollToSave(
        source.name,
        now=now,
        next_poll_at=next_poll_after_success(settings, source, gap, publisher, now),
        etag=facts.etag,
        last_modified=facts.last_modified,
        new_items=prepared.new_items,
        changed_items=prepared.changed_items,
        raw_refresh=prepared.refresh,
        moved_to=facts.moved_to,
        publish_gap=gap,
        body_hash=facts.body_hash,
        feed_url=feed_url,
        entry_hashes=prepared.entry_hashes,
        story_window=settings.stories.window,
        similarity=settings.stories.similarity,
    )


async def _health_after_success(
    rt: Runtime, source: SourceConfig, state: SourceState, new: int
) -> None:
    """Source health after a good poll: a write only when there is news (rarely)."""
    now = rt.clock()
    if health.success_has_news(rt.settings, state, new, now):
        await _write(rt, partial(health.after_success, rt.settings, rt.store, source, state, new),
                     now=now)  # fmt: skip


async def _write(rt: Runtime, call: Callable[..., T], /, **kwargs: Any) -> T:
    """A short write from the event loop: in a thread when another writer may hold the lock.

    Waiting for the lock on the event loop would stop every fetch in flight; a thread
    hop for every write would cost more CPU than the write when nobody else writes.
    (Parse workers write from other processes: ``writing`` sees their lock too.)
    """
    return await write_to(rt.store, partial(call, **kwargs))


def _headers_for(source: SourceConfig, url: str) -> dict[str, str] | None:
    """The source's configured headers, only for its own origin (they may be credentials)."""
    return source.headers if same_origin(url, source.url) else None


async def read_feed(
    fetcher: Fetcher,
    source: SourceConfig,
    result: FetchResult,
    known_feed: str | None,
    *,
    unchanged: str | None = None,
) -> tuple[ParsedFeed, str | None]:
    """Parse a feed; an HTML page that advertises a feed is followed to it once.

    Returns the parsed feed and the feed URL found on the page (None when the source
    URL is itself a feed), which later polls fetch directly. ``unchanged``: the entry
    hashes of the last poll (``feeds.parse_feed``).
    """
    from monitor.feeds import parse_feed  # here: a pass where every feed answers 304 needs none

    try:
        parsed = await asyncio.to_thread(
            parse_feed, result.body, result.url, result.headers, unchanged
        )
        return parsed, known_feed
    except ParseError:
        from monitor.pages import looks_like_html  # imported here: only for pages, not feeds

        if known_feed is not None or not looks_like_html(result.body):
            raise
    from monitor.pages import decode_html, discover_feeds

    found = discover_feeds(decode_html(result.body, result.headers.get("content-type")), result.url)
    if not found:
        raise ParseError("not a feed: an HTML page that advertises no RSS, Atom or JSON feed")
    logger.info("source=%s: the page advertises a feed at %s; following it", source.name, found[0])
    feed = await fetcher.fetch(
        found[0], time_limit=source.timeout, headers=_headers_for(source, found[0]), trusted=False
    )
    parsed = await asyncio.to_thread(parse_feed, feed.body, feed.url, feed.headers, unchanged)
    return parsed, found[0]


def parse_listing(source: SourceConfig, result: FetchResult) -> ParsedFeed:
    """A ``page`` source: its article links become items; no links is an error."""
    from monitor.pages import decode_html, find_links, page_language  # page sources only

    html = decode_html(result.body, result.headers.get("content-type"))
    links = find_links(html, result.url, source.links)
    if not links:
        if source.links:
            raise ParseError(
                f"selector {source.links!r} matched no article links: the page layout "
                "may have changed; check the selector"
            )
        raise ParseError("found no article links on the page; set a links selector")
    language = page_language(html)
    items = tuple(
        FeedItem(
            key=canonical_url(link.url),
            url=link.url,
            canonical_url=canonical_url(link.url),
            title=link.title,
            summary="",
            published_at=link.published_at,
            language=language,
        )
        for link in links
    )
    return ParsedFeed(title=None, entries=tuple(Entry.of(i) for i in items), language=language)


async def prepare_poll(
    rt: Runtime, source: SourceConfig, result: FetchResult, state: SourceState, now: datetime
) -> tuple[Prepared, str | None]:
    """Parse, sort, identify and match in this process (``workers`` does it elsewhere).

    Returns what to store and the feed URL found on the page (``read_feed``). The CPU
    work runs off the event loop, so fetches keep flowing.
    """
    max_age = rt.settings.source_max_age(source)
    if source.type == "page":
        parsed, feed_url = parse_listing(source, result), None
    else:
        parsed, feed_url = await read_feed(
            rt.fetcher, source, result, state.feed_url, unchanged=state.entry_hashes
        )
    parsed = newest_entries(parsed, source.name)
    # a source that never stored an item knows none of its entries (a first poll): no read
    keys = [e.key for e in parsed.entries]
    known = rt.store.known_items(source.name, keys) if state.total_items else {}
    sorted_ = await asyncio.to_thread(sort_entries, parsed.entries, known)
    recent = recent_items(sorted_, now, max_age)
    if source.full_text and recent:
        from monitor.articles import with_article_text  # full_text sources only

        recent = await with_article_text(rt.fetcher, rt.robots, source.name, recent)
    ready = {i.key: i for i in recent}
    new_items, changed_items = await asyncio.to_thread(judge, rt.matcher, sorted_, ready, known)
    return Prepared.of(parsed, sorted_, new_items, changed_items), feed_url


def _after_success(
    rt: Runtime, source: SourceConfig, gap: timedelta | None, publisher: timedelta | None
) -> datetime:
    return next_poll_after_success(rt.settings, source, gap, publisher, rt.clock())


def next_poll_after_success(
    settings: Settings,
    source: SourceConfig,
    gap: timedelta | None,
    publisher: timedelta | None,
    now: datetime,
) -> datetime:
    """When to poll ``source`` again after a successful poll at ``now``."""
    if source.cron is not None:
        earliest = now + min(publisher or timedelta(0), settings.defaults.max_backoff)
        return parse_cron(source.cron, _UTC).next_after(earliest)
    wait = next_success_wait(
        interval=settings.source_interval(source),
        min_interval=settings.source_min_interval(source),
        max_backoff=settings.defaults.max_backoff,
        gap=gap,
        publisher=publisher,
    )
    return now + wait


def _failed(
    rt: Runtime,
    source: SourceConfig,
    failures: int,
    error: str,
    started: float,
    retry_after: float | None,
    forget_feed: bool = False,
) -> PollOutcome:
    settings, now = rt.settings, rt.clock()
    interval = settings.source_interval(source)
    if source.cron is not None:
        interval = parse_cron(source.cron, _UTC).next_after(now) - now
    wait = next_failure_wait(
        interval=interval,
        max_backoff=settings.defaults.max_backoff,
        failures=failures,
        retry_after=retry_after,
    )
    rt.store.record_poll_failure(
        source.name, now=now, error=error, next_poll_at=now + wait, forget_feed=forget_feed
    )
    if forget_feed:
        error = f"{error}; the page will be read again to find its feed"
    health.after_failure(settings, rt.store, source, failures, error, now)
    if failures > 1:
        error = f"{error} ({failures} failures in a row; next try in {format_duration(wait)})"
    return PollOutcome(source.name, "error", error=error, elapsed=_since(started))


def _since(started: float) -> float:
    return time.perf_counter() - started
