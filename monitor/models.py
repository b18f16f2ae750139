"""Values passed between stages: frozen, typed, free of I/O.

Fetch produces a ``FetchResult``; feeds turn it into ``FeedItem`` values; the
pipeline reports a ``PollOutcome`` per source and a ``PassSummary`` per pass.
Digest payloads are plain JSON-ready dicts (``DigestPayload``) because they are
frozen into the database exactly as delivered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, NotRequired, TypedDict


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one HTTP GET returned. ``body`` is empty when ``not_modified``."""

    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    permanent_redirect: str | None = None
    elapsed: float = 0.0

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One entry of a feed or listing page, normalised."""

    key: str
    url: str | None
    canonical_url: str | None
    title: str
    summary: str
    published_at: datetime | None
    language: str | None = None
    content: str = ""

    @property
    def body(self) -> str:
        """The text matched against watches: article text when fetched, else summary."""
        return self.content or self.summary


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry as the feed has it: identity and a hash of its raw fields, cheap to get.

    ``build()`` makes the normalised ``FeedItem`` (text from HTML, canonical URL); a
    poll builds only the entries that are new or whose ``raw_hash`` changed.
    """

    key: str
    raw_hash: str = field(compare=False)  # a cache key: two parsers may spell a field apart
    published_at: datetime | None
    build: Callable[[], FeedItem] = field(compare=False, repr=False)

    @classmethod
    def of(cls, item: FeedItem) -> Entry:
        """An entry for an item that was cheap to build right away (pages, JSON Feed)."""
        raw = "\x1f".join((item.title, item.summary, item.content, item.url or ""))
        digest = hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]
        return cls(item.key, digest, item.published_at, lambda: item)


@dataclass(frozen=True, slots=True, eq=False)
class ParsedFeed:
    """A parsed feed. Two are equal when their entries and their built items are."""

    title: str | None
    entries: tuple[Entry, ...]
    language: str | None = None
    publisher_delay: timedelta | None = None  # RSS <ttl> or sy:updatePeriod/updateFrequency
    # entries read at the last poll, unchanged, left out of ``entries``: their dates
    skipped_dates: tuple[datetime | None, ...] = ()
    entry_hashes: str | None = None  # of every entry, for the next poll (fast reader only)

    @property
    def dates(self) -> tuple[datetime | None, ...]:
        """The dates of every entry in the document, skipped ones included."""
        return (*(e.published_at for e in self.entries), *self.skipped_dates)

    @property
    def size(self) -> int:
        """How many entries the document holds, skipped ones included."""
        return len(self.entries) + len(self.skipped_dates)

    @property
    def items(self) -> tuple[FeedItem, ...]:
        """Every entry built (for callers that need them all: checks and tests)."""
        return tuple(entry.build() for entry in self.entries)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ParsedFeed):
            return NotImplemented
        mine = (self.title, self.language, self.publisher_delay, self.entries, self.items)
        theirs = (other.title, other.language, other.publisher_delay, other.entries, other.items)
        return mine == theirs

    __hash__ = None  # type: ignore[assignment]  # mutable-looking value: equal, not hashable


@dataclass(frozen=True, slots=True)
class AlertMatch:
    """The watches of one subscriber that an item matched, ready to store."""

    subscriber: str
    watches: tuple[str, ...]
    matched_terms: tuple[str, ...]
    snippet: str
    highlights: tuple[tuple[int, int], ...] = ()
    on_update: bool = False  # the subscriber wants this item again when its text changes


@dataclass(frozen=True, slots=True)
class NewItem:
    """An item seen for the first time, with what it matched and its identities."""

    item: FeedItem
    alertable: bool
    alerts: tuple[AlertMatch, ...] = ()
    feed_hash: str | None = None
    raw_hash: str | None = None
    fingerprint: str | None = None
    sketch: bytes | None = None
    story_keys: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class ChangedItem:
    """A stored item whose feed entry changed since it was stored."""

    item_id: int
    item: FeedItem
    feed_hash: str
    alerts: tuple[AlertMatch, ...] = ()
    raw_hash: str | None = None


PollStatus = Literal["ok", "not_modified", "error", "skipped"]


@dataclass(frozen=True, slots=True)
class PollOutcome:
    source: str
    status: PollStatus
    items: int = 0
    new_items: int = 0
    matches: int = 0
    error: str | None = None
    elapsed: float = 0.0
    fetch_seconds: float | None = None  # the HTTP request alone


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    digest_id: str
    channel: str
    status: Literal["sent", "retry", "failed"]
    error: str | None = None


@dataclass(slots=True)
class PassSummary:
    """Counts for the end-of-pass log line and the exit code (mutable accumulator)."""

    polls: list[PollOutcome] = field(default_factory=list)
    digests_created: int = 0
    deliveries: list[DeliveryOutcome] = field(default_factory=list)

    @property
    def failed_sources(self) -> int:
        return sum(1 for p in self.polls if p.status == "error")

    @property
    def failed_deliveries(self) -> int:
        return sum(1 for d in self.deliveries if d.status != "sent")

    @property
    def ok(self) -> bool:
        return self.failed_sources == 0 and self.failed_deliveries == 0


class ReportedBy(TypedDict):
    source: str
    title: str
    url: str | None


class DigestEntry(TypedDict):
    title: str
    url: str | None
    source: str
    published_at: str | None
    watches: list[str]
    matched_terms: list[str]
    snippet: str
    highlights: NotRequired[list[list[int]]]
    also_reported_by: list[ReportedBy]
    updated: NotRequired[bool]


class DigestPayload(TypedDict):
    """The contract's webhook JSON; also what a digest is frozen as."""

    version: int
    digest_id: str
    subscriber: str
    created_at: str
    items: list[DigestEntry]
    more: NotRequired[int]
