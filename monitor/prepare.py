"""Prepare stage: a parsed feed's entries sorted into what the poll stores (pure CPU).

Which entries are new, which stored ones changed, their built items, identities and
alerts. The poll runs it in this process (``pipeline``) or, for a large pass, in a
parse worker on another core (``workers``); both give the same ``Prepared``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.matching import Matcher
from monitor.models import ChangedItem, Entry, FeedItem, NewItem, ParsedFeed
from monitor.polling import publishing_gap
from monitor.store import KnownItem, short_hash
from monitor.stories import identify, index_keys


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
