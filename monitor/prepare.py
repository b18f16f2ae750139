"""Prepare stage: a parsed feed's entries sorted into what the poll stores (pure CPU).

Which entries are new, which stored ones changed, their built items, identities and
alerts. The poll runs it in this process (``pipeline``) or, for a large pass, in a
parse worker on another core (``workers``); both give the same ``Prepared``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.matching import Matcher
from monitor.models import ChangedItem, Entry, FeedItem, NewItem, ParsedFeed
from monitor.polling import publishing_gap
from monitor.store import KnownItem, short_hash
from monitor.stories import identify, index_keys

logger = logging.getLogger(__name__)

# Entries a poll reads at most. A feed listing more (an archive, or a hostile one:
# 10 MB holds 100,000 minimal items) would cost seconds of CPU and hundreds of MB to
# build, identify and store, and could flood a digest; the newest are kept.
MAX_ENTRIES_PER_POLL = 1000


@dataclass(frozen=True, slots=True)
class Prepared:
    """What a poll stores, ready for ``Store.save_poll``."""

    entries: int  # entries in the feed, new or not
    gap: timedelta | None  # how often the feed publishes (None: not enough dated items)
    publisher_delay: timedelta | None  # RSS <ttl>, sy:updatePeriod
    new_items: list[NewItem]
    changed_items: list[ChangedItem]
    refresh: dict[int, str]  # stored item id -> new raw hash (re-spelled, same text)
    entry_hashes: str | None = None  # the document's entries, for the next poll

    @classmethod
    def of(
        cls,
        parsed: ParsedFeed,
        sorted_: Sorted,
        new_items: list[NewItem],
        changed_items: list[ChangedItem],
    ) -> Prepared:
        return cls(
            entries=parsed.size,
            gap=publishing_gap(parsed.dates),
            publisher_delay=parsed.publisher_delay,
            new_items=new_items,
            changed_items=changed_items,
            refresh=sorted_.refresh,
            entry_hashes=parsed.entry_hashes,
        )


@dataclass(frozen=True, slots=True)
class PollFacts:
    """What the fetch told about a poll, stored with its items (``pipeline.save_prepared``)."""

    etag: str | None
    last_modified: str | None
    moved_to: str | None  # a permanent redirect's target
    body_hash: str | None
    publisher: timedelta | None  # the wait the HTTP headers ask for
    known_gap: timedelta | None  # the publishing pace stored at the last poll


@dataclass(slots=True)
class Sorted:
    """Entries sorted against what the source has stored; only these were built."""

    fresh: dict[str, FeedItem]  # never seen
    changed: dict[str, FeedItem]  # stored, and the feed's text of it changed
    raw: dict[str, str]  # key -> raw hash, of the built entries
    refresh: dict[int, str]  # stored item id -> raw hash: spelled differently, same text


def newest_entries(parsed: ParsedFeed, source: str) -> ParsedFeed:
    """``parsed`` with at most MAX_ENTRIES_PER_POLL entries: the newest, in feed order.

    When every entry has a date, the newest by date are kept (a feed may list its
    newest last); otherwise the first ones, as most feeds list the newest first. The
    entries left out still count in ``size`` and ``dates`` (``skipped_dates``), and
    the document's entry hashes are dropped, so the next poll reads every entry
    again rather than skip the left-out ones as read.
    """
    entries = parsed.entries
    if len(entries) <= MAX_ENTRIES_PER_POLL:
        return parsed
    dated = [(e.published_at, -n) for n, e in enumerate(entries) if e.published_at is not None]
    if len(dated) == len(entries):  # newest first; among equal dates, feed order
        kept = {-minus_n for _date, minus_n in sorted(dated, reverse=True)[:MAX_ENTRIES_PER_POLL]}
    else:
        kept = set(range(MAX_ENTRIES_PER_POLL))
    logger.warning(
        "source=%s: the feed lists %d entries; only the newest %d are read",
        source, parsed.size, MAX_ENTRIES_PER_POLL,
    )  # fmt: skip
    return dataclasses.replace(
        parsed,
        entries=tuple(e for n, e in enumerate(entries) if n in kept),
        skipped_dates=(
            *parsed.skipped_dates,
            *(e.published_at for n, e in enumerate(entries) if n not in kept),
        ),
        entry_hashes=None,
    )


def sort_entries(entries: Sequence[Entry], known: Mapping[str, KnownItem]) -> Sorted:
    """New entries and stored ones whose text changed, built; the rest cost a hash."""
    out = Sorted({}, {}, {}, {})
    for entry in entries:
        seen = known.get(entry.key)
        if entry.key in out.raw or (seen is not None and seen.raw_hash == entry.raw_hash):
            continue
        out.raw[entry.key] = entry.raw_hash
        item = entry.build()
        if seen is None:
            out.fresh[entry.key] = item
        elif seen.feed_hash != feed_hash(item):
            out.changed[entry.key] = item
        else:  # spelled differently by the feed (or another parser), same text
            out.refresh[seen.item_id] = entry.raw_hash
    return out


def is_too_old(item: FeedItem, now: datetime, max_age: timedelta) -> bool:
    """Items older than ``max_age`` (by published date) are stored but never alerted."""
    return item.published_at is not None and item.published_at < now - max_age


def recent_items(sorted_: Sorted, now: datetime, max_age: timedelta) -> list[FeedItem]:
    """The new and changed items young enough to alert (and to fetch full text for)."""
    both = (*sorted_.fresh.values(), *sorted_.changed.values())
    return [i for i in both if not is_too_old(i, now, max_age)]


def judge(
    matcher: Matcher,
    sorted_: Sorted,
    ready: Mapping[str, FeedItem],
    known: Mapping[str, KnownItem],
) -> tuple[list[NewItem], list[ChangedItem]]:
    """Identities and alerts of the new and changed items (``ready``: young enough)."""
    new_items = []
    for key, item in sorted_.fresh.items():
        raw_hash = sorted_.raw[key]
        full = ready.get(key)
        if full is None:
            new_items.append(
                NewItem(item, alertable=False, feed_hash=feed_hash(item), raw_hash=raw_hash)
            )
            continue
        content_id, text_sketch = identify(full.title, full.body)
        new_items.append(
            NewItem(
                full,
                alertable=True,
                alerts=matcher.alerts_for(full),
                feed_hash=feed_hash(item),
                raw_hash=raw_hash,
                fingerprint=content_id,
                sketch=text_sketch.to_bytes() if text_sketch else None,
                story_keys=index_keys(text_sketch) if text_sketch else (),
            )
        )
    changed_items = [
        ChangedItem(
            item_id=known[key].item_id,
            item=ready.get(key, item),
            feed_hash=feed_hash(item),
            alerts=matcher.alerts_for(ready[key]) if key in ready else (),
            raw_hash=sorted_.raw[key],
        )
        for key, item in sorted_.changed.items()
    ]
    return new_items, changed_items


def prepare_parsed(
    matcher: Matcher,
    parsed: ParsedFeed,
    known: Mapping[str, KnownItem],
    now: datetime,
    max_age: timedelta,
) -> Prepared:
    """The whole stage for a feed without ``full_text`` (nothing to fetch on the way)."""
    sorted_ = sort_entries(parsed.entries, known)
    ready = {i.key: i for i in recent_items(sorted_, now, max_age)}
    new_items, changed_items = judge(matcher, sorted_, ready, known)
    return Prepared.of(parsed, sorted_, new_items, changed_items)


def feed_hash(item: FeedItem) -> str:
    """What the feed says about an item, normalised (before any article fetch)."""
    return short_hash("\x1f".join((item.title, item.summary, item.content)))
