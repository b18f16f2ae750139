"""The current database tables, as SQLAlchemy Core objects for building queries.

The schema itself is created and upgraded by ``migrations``; a test checks that a
migrated database has exactly these columns. Keys and URLs are indexed through
short hashes so indexes stay small as the store grows.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware UTC time")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("applied_at", UTCDateTime, nullable=False),
)

sources = Table(
    "sources",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("url", Text, nullable=False),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("first_polled_at", UTCDateTime),
    Column("last_polled_at", UTCDateTime),
    Column("last_success_at", UTCDateTime),
    Column("next_poll_at", UTCDateTime),
    Column("last_status", String(20)),
    Column("last_error", Text),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("total_items", Integer, nullable=False, default=0),
    Column("claimed_by", String(200)),
    Column("claim_expires_at", UTCDateTime),
    Column("moved_to", Text, info={"since": 2}),
    Column("publish_gap", Integer, info={"since": 2}),  # seconds between recent items
    Column("body_hash", String(32), info={"since": 2}),  # skip re-parsing an identical body
    Column("feed_url", Text, info={"since": 2}),  # the feed an HTML source URL advertises
    Column("last_new_at", UTCDateTime, info={"since": 5}),  # when it last had a new item
    Column("stale_reported", Boolean, info={"since": 5}),
    # hashes of the last parsed body's entries: unchanged ones are not read again
    Column("entry_hashes", Text, info={"since": 7}),
)

items = Table(
    "items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(100), nullable=False),
    Column("key_hash", String(32), nullable=False),
    Column("url_hash", String(32)),
    Column("item_key", Text, nullable=False),
    Column("url", Text),
    Column("canonical_url", Text),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("content", Text, nullable=False),
    Column("language", String(16)),
    Column("published_at", UTCDateTime),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("alertable", Boolean, nullable=False),
    Column("duplicate_of", Integer),
    Column("feed_hash", String(32), info={"since": 3}),  # what the feed said: detects updates
    Column("fingerprint", String(32), info={"since": 3}),  # the same text under a new key/URL
    Column("story_id", Integer, info={"since": 3}),  # the first item of its story
    Column("revision", Integer, info={"since": 3}),  # 0, then +1 per update seen
    Column("updated_at", UTCDateTime, info={"since": 3}),
    Column("sketch", LargeBinary, info={"since": 3}),  # cleared after the story window
    Column("raw_hash", String(32), info={"since": 6}),  # the entry as the feed spelled it
)

# Candidate index for story clustering: each item's smallest shingle hashes, kept for
# the story window only (``stories``).
story_keys = Table(
    "story_keys",
    metadata,
    Column("key", Integer, primary_key=True, autoincrement=False),
    Column("item_id", Integer, primary_key=True, autoincrement=False),
    info={"since": 3},
    sqlite_with_rowid=False,
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subscriber", String(100), nullable=False),
    Column("item_id", Integer, nullable=False),
    Column("watches", Text, nullable=False),
    Column("matched_terms", Text, nullable=False),
    Column("snippet", Text, nullable=False),
    Column("highlights", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("digest_id", String(64)),
    Column("story_id", Integer, info={"since": 3}),
    Column("revision", Integer, info={"since": 3}),  # > 0: an update of an alerted item
)

digests = Table(
    "digests",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("subscriber", String(100), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("item_count", Integer, nullable=False),
    Column("payload", Text, nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("digest_id", String(64), nullable=False),
    Column("channel", String(100), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_attempt_at", UTCDateTime),
    Column("sent_at", UTCDateTime),
    Column("last_error", Text),
    Column("claimed_by", String(200)),
    Column("claim_expires_at", UTCDateTime),
    Column("parts_sent", Integer, info={"since": 4}),  # of a digest split into messages
)

subscriber_state = Table(
    "subscriber_state",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("next_digest_at", UTCDateTime),
    Column("last_digest_at", UTCDateTime),
)

# Indexes. ``info={"since": N}`` on a table, column or index says which migration
# introduced it (absent means 1); ``migrations`` derives each upgrade from these.
Index("ix_items_source_key", items.c.source, items.c.key_hash, unique=True)
Index("ix_items_url_hash", items.c.url_hash)
Index("ix_items_first_seen", items.c.first_seen_at)
Index("ix_items_fingerprint", items.c.fingerprint, info={"since": 3})
Index("ix_items_story", items.c.story_id, info={"since": 3})
# ix_items_sketched, the items that still keep a sketch, is partial: migration 8 makes it
# in SQL (SQLAlchemy's partial-index options are per dialect, and naming PostgreSQL's
# here would load that dialect on every start, ~25 ms)
Index(
    "ix_alerts_subscriber_story",
    alerts.c.subscriber, alerts.c.story_id, alerts.c.revision,
    unique=True, info={"since": 3},
)  # fmt: skip
Index("ix_alerts_pending", alerts.c.subscriber, alerts.c.digest_id)
# prune finds the alerts of the items it deletes, and the digests past retention, through
# these instead of reading every alert and digest (both grow for the whole retention)
Index("ix_alerts_item", alerts.c.item_id, info={"since": 9})
Index("ix_digests_created", digests.c.created_at, info={"since": 9})
Index("ix_deliveries_digest_channel", deliveries.c.digest_id, deliveries.c.channel, unique=True)
Index("ix_deliveries_due", deliveries.c.status, deliveries.c.next_attempt_at)
