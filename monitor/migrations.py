"""Schema migrations: create and upgrade the database, one numbered step at a time.

``MIGRATIONS`` lists every step. A step creates the tables, columns and indexes of
``tables`` marked ``info={"since": N}`` with its number (unmarked means 1), then runs
its optional data change. Applied steps are recorded in ``schema_migrations``; the
whole upgrade runs in one transaction under a write lock, so two processes that
start together upgrade once. This module changes the schema only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Column, Connection, Index, MetaData, Table, inspect, select, text
from sqlalchemy.schema import CreateIndex, CreateTable

from monitor import tables

Step = Callable[[Connection], None]


def _stories_backfill(conn: Connection) -> None:
    """Existing items are their own stories; alerts become per story, revision 0."""
    conn.execute(text("DROP INDEX IF EXISTS ix_alerts_subscriber_item"))
    conn.execute(text("UPDATE items SET story_id = id, revision = 0 WHERE story_id IS NULL"))
    conn.execute(
        text(
            "UPDATE alerts SET revision = 0, story_id = "
            "(SELECT items.story_id FROM items WHERE items.id = alerts.item_id) "
            "WHERE story_id IS NULL"
        )
    )


def _sketched_index(conn: Connection) -> None:
    """The items that still keep a sketch (the story window's): prune clears the expired
    ones through it instead of reading every item outside the window."""
    conn.execute(
        text("CREATE INDEX IF NOT EXISTS ix_items_sketched ON items (id) WHERE sketch IS NOT NULL")
    )


# version -> (description, optional data change run after the schema change)
MIGRATIONS: dict[int, tuple[str, Step | None]] = {
    1: ("initial schema: sources, items, alerts, digests, deliveries", None),
    2: ("sources: moved_to, publish_gap, body_hash, feed_url (polling, feed discovery)", None),
    3: ("stories: fingerprints, story clusters, update revisions", _stories_backfill),
    4: ("deliveries: parts_sent (digests split into several messages)", None),
    5: ("sources: last_new_at, stale_reported (source health notices)", None),
    6: ("items: raw_hash (unchanged entries are not normalised again)", None),
    7: ("sources: entry_hashes (entries unchanged since the last poll are not read again)", None),
    8: (
        "items: ix_items_sketched (prune clears expired sketches without reading old items)",
        _sketched_index,
    ),
    9: ("alerts: ix_alerts_item; digests: ix_digests_created (prune reads what it deletes)", None),
}
LATEST = max(MIGRATIONS)


def _since(obj: Table | Column[object] | Index) -> int:
    return int(obj.info.get("since", 1))


def applied_versions(conn: Connection) -> set[int]:
    if not inspect(conn).has_table(tables.schema_migrations.name):
        return set()
    return set(conn.execute(select(tables.schema_migrations.c.version)).scalars())


# the key of the PostgreSQL advisory lock that migrations take (any fixed 64-bit number)
MIGRATION_LOCK = 0x6E6D2D6D696772  # "nm-migr"


def lock_for_migrations(conn: Connection) -> None:
    """On PostgreSQL, wait for any other process migrating the same database.

    Processes that start together on a new database would both create the tables, and
    the second fails on the first's ("duplicate key … schema_migrations"). The lock is
    held to the end of the caller's transaction, and DDL is transactional there, so the
    second finds everything done. SQLite needs none: a write transaction there is
    ``BEGIN IMMEDIATE``, one at a time.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")


def upgrade(conn: Connection) -> list[int]:
    """Apply every missing step inside the caller's transaction; return the versions applied."""
    lock_for_migrations(conn)
    if not inspect(conn).has_table(tables.schema_migrations.name):
        conn.execute(CreateTable(tables.schema_migrations))
    done = applied_versions(conn)
    ran = []
    for version in sorted(MIGRATIONS):
        if version in done:
            continue
        _apply_schema(conn, version)
        description, data_step = MIGRATIONS[version]
        if data_step is not None:
            data_step(conn)
        conn.execute(
            tables.schema_migrations.insert().values(
                version=version, name=description, applied_at=datetime.now(UTC)
            )
        )
        ran.append(version)
    return ran


def _apply_schema(conn: Connection, version: int) -> None:
    for table in tables.metadata.sorted_tables:
        if table is tables.schema_migrations:
            continue
        if _since(table) == version:
            snapshot = Table(
                table.name,
                MetaData(),
                *(c._copy() for c in table.columns if _since(c) <= version),
                **table.kwargs,
            )
            conn.execute(CreateTable(snapshot))
        elif _since(table) < version:
            for column in table.columns:
                if _since(column) == version:
                    kind = column.type.compile(dialect=conn.dialect)
                    conn.execute(
                        text(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}')
                    )
        for index in table.indexes:
            if max(_since(table), _since(index)) == version:
                conn.execute(CreateIndex(index))
