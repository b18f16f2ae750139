"""The hot statements on the driver's cursor store and read exactly what SQLAlchemy would.

``DriverStatement`` runs a statement compiled by SQLAlchemy on the DBAPI cursor, with
the types' own processors looked up once. These tests run the same writes both ways,
on two databases, and compare what each stored (the raw column values, as SQLite
holds them) and what each read back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection

from monitor.driver_sql import DriverStatement
from monitor.errors import StorageError
from monitor.store import _NOT_MODIFIED, Store, _claim
from monitor.store_items import _item_insert
from monitor.store_polls import _POLL_SAVED
from monitor.tables import items, sources

# a time with microseconds, one without (SQLite stores both as text: same format?),
# and one given in another zone (stored as UTC)
TIMES = [
    datetime(2026, 11, 27, 8, 0, 0, 123456, tzinfo=UTC),
    datetime(2026, 11, 27, 8, 0, tzinfo=UTC),
    datetime(2026, 11, 27, 9, 30, tzinfo=timezone(timedelta(hours=-5))),
]
LEASE = timedelta(minutes=5)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    stores = (
        Store.open(f"sqlite:///{tmp_path / 'execute.db'}", "w1"),
        Store.open(f"sqlite:///{tmp_path / 'driver.db'}", "w1"),
    )
    for store in stores:
        with store.engine.begin() as conn:
            conn.execute(
                sources.insert(),
                [
                    {
                        "name": f"s{i}",
                        "url": f"https://x.org/{i}",
                        "consecutive_failures": 0,
                        "total_items": 0,
                    }
                    for i in range(3)
                ],
            )
    yield stores
    for store in stores:
        store.close()


def _stored(store: Store, table: str = "sources") -> list[tuple[Any, ...]]:
    path = store.engine.url.database
    assert path is not None
    with sqlite3.connect(path) as raw:
        return raw.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()  # noqa: S608


def _both(
    pair: tuple[Store, Store], statement: Any, parameters: dict[str, Any]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    by_execute, by_driver = pair
    with by_execute.engine.begin() as conn:
        result = conn.execute(statement, parameters)
        executed = [tuple(row) for row in result] if result.returns_rows else []
    driver = DriverStatement(statement, by_driver.engine.dialect)
    with by_driver.engine.begin() as conn:
        run = driver.run(conn, parameters)
    return executed, run


def test_a_claim_stores_and_returns_the_same_values(pair: tuple[Store, Store]) -> None:
    columns = DriverStatement(_claim(True, False), pair[1].engine.dialect).columns
    for i, now in enumerate(TIMES):
        parameters = {
            "c_name": f"s{i}",
            "c_now": now,
            "c_due": now + timedelta(hours=1),
            "c_worker": "worker-1",
            "c_until": now + LEASE,
        }
        executed, run = _both(pair, _claim(True, False), parameters)
        assert len(run) == 1
        assert run == executed
        assert dict(zip(columns, run[0], strict=True))["claim_expires_at"] == now + LEASE
    assert _stored(pair[0]) == _stored(pair[1])


def test_a_claim_that_matches_nothing_returns_no_row(pair: tuple[Store, Store]) -> None:
    parameters = {
        "c_name": "nobody",
        "c_now": TIMES[0],
        "c_due": TIMES[0],
        "c_worker": "w",
        "c_until": TIMES[0],
    }
    assert _both(pair, _claim(True, False), parameters) == ([], [])


def test_not_modified_stores_the_same_values(pair: tuple[Store, Store]) -> None:
    cases = [
        {
            "p_name": "s0",
            "p_now": TIMES[0],
            "p_next": TIMES[1],
            "p_moved_to": None,
            "p_etag": '"v2"',
            "p_last_modified": None,
        },
        {
            "p_name": "s1",
            "p_now": TIMES[2],
            "p_next": TIMES[2],
            "p_moved_to": "https://y.org/",
            "p_etag": None,
            "p_last_modified": "Wed, 21 Oct 2026 07:28:00 GMT",
        },
    ]
    for parameters in cases:
        assert _both(pair, _NOT_MODIFIED, parameters) == ([], [])
    assert _stored(pair[0]) == _stored(pair[1])
    # the literal values of the statement (status, failures) were written too
    row = _stored(pair[1])[0]
    assert "not_modified" in row


def test_a_saved_poll_stores_the_same_values(pair: tuple[Store, Store]) -> None:
    """The statement of every successful poll: a parameter used three times, CASEs."""
    for i, (stored, gap) in enumerate([(0, None), (3, 3600), (1, 0)]):
        parameters = {
            "p_name": f"s{i}",
            "p_etag": None if i else '"v1"',
            "p_last_modified": "Wed, 21 Oct 2026 07:28:00 GMT" if i == 2 else None,
            "p_now": TIMES[i],
            "p_next": TIMES[i] + timedelta(minutes=15),
            "p_stored": stored,
            "p_moved_to": None,
            "p_gap": gap,
            "p_body_hash": f"{i:032x}",
            "p_feed_url": "https://x.org/feed" if i == 1 else None,
            "p_entry_hashes": "abc" if i else None,
        }
        assert _both(pair, _POLL_SAVED, parameters) == ([], [])
    assert _stored(pair[0]) == _stored(pair[1])


def test_a_claim_through_the_store_reads_as_a_read_of_the_source(store: Store) -> None:
    now = TIMES[0]
    claimed = store.claim_source("a", "https://x.org/a", now=now, lease=LEASE, due_before=now)
    assert claimed is not None
    store.record_not_modified("a", now=now, next_poll_at=now, etag='"e"')
    later = now + timedelta(minutes=1)
    again = store.claim_source("a", "https://x.org/a", now=later, lease=LEASE, due_before=later)
    assert again is not None and again.etag == '"e"' and again.last_polled_at == now
    assert store.source_states()["a"] == again


def test_a_driver_error_is_a_storage_error(store: Store) -> None:
    statement = DriverStatement(_NOT_MODIFIED, store.engine.dialect)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE sources RENAME TO sources_gone")
        with pytest.raises(StorageError, match="database error: no such table: sources"):
            statement.run(conn, {"p_name": "a", "p_now": TIMES[0], "p_next": TIMES[0],
                                 "p_moved_to": None, "p_etag": None,
                                 "p_last_modified": None})  # fmt: skip


def test_a_naive_time_is_refused_as_by_sqlalchemy(store: Store) -> None:
    """The type's own bind processor runs: a naive datetime is refused, not stored."""
    statement = DriverStatement(_NOT_MODIFIED, store.engine.dialect)
    conn: Connection
    with store.engine.begin() as conn, pytest.raises(ValueError, match="naive datetime"):
        statement.run(conn, {"p_name": "a", "p_now": datetime(2026, 1, 1), "p_next": TIMES[0],
                             "p_moved_to": None, "p_etag": None,
                             "p_last_modified": None})  # fmt: skip


def _new_item(n: int, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "i_source": f"s{n % 2}",
        "i_key_hash": f"{n:032x}",
        "i_url_hash": None if n % 3 else f"{n:031x}u",
        "i_item_key": f"https://x.org/{n}",
        "i_url": f"https://x.org/{n}",
        "i_canonical_url": None if n % 3 else f"https://x.org/{n}",
        "i_title": f"Título {n}",
        "i_summary": "Havana consulate resumes visas" * (n % 4),
        "i_content": "",
        "i_language": None if n % 2 else "es",
        "i_published_at": None if n % 5 == 0 else TIMES[n % 3],
        "i_first_seen_at": TIMES[(n + 1) % 3],
        "i_alertable": n % 2 == 0,
        "i_duplicate_of": None if n % 4 else n - 1,
        "i_feed_hash": f"{n:032x}",
        "i_raw_hash": f"{n + 1:032x}",
        "i_fingerprint": None if n % 2 else f"{n + 2:032x}",
        "i_story_id": None if n % 3 else n,
        "i_revision": 0,
        "i_sketch": None if n % 2 else bytes(range(n % 7, n % 7 + 8)),
    }
    row.update(changes)
    return row


def test_new_items_in_one_executemany_store_what_sqlalchemy_stores(
    pair: tuple[Store, Store],
) -> None:
    """Every column type of an item (times, a flag, bytes, NULLs); a key stored twice in
    one batch is ignored, as by SQLAlchemy's executemany of the same statement."""
    rows = [_new_item(n) for n in range(12)]
    rows.append(_new_item(3, i_title="the same key again"))  # (s1, key 3): ignored
    by_execute, by_driver = pair
    statement = _item_insert("sqlite", returning=False)
    with by_execute.engine.begin() as conn:
        conn.execute(statement, rows)
    with by_driver.engine.begin() as conn:
        DriverStatement(statement, by_driver.engine.dialect).run_many(conn, rows)
    stored = _stored(by_driver, "items")
    assert len(stored) == 12
    assert stored == _stored(by_execute, "items")
    with by_driver.engine.connect() as conn:
        again = conn.execute(items.select().where(items.c.key_hash == f"{3:032x}")).one()
    assert again.title == "Título 3" and again.published_at == TIMES[0]
    assert again.first_seen_at == TIMES[1] and again.alertable is False


def test_a_new_item_returns_its_id_and_a_stored_key_returns_none(store: Store) -> None:
    one = DriverStatement(_item_insert("sqlite", returning=True), store.engine.dialect)
    with store.engine.begin() as conn:
        first = one.run(conn, _new_item(0))
        second = one.run(conn, _new_item(1))
        ignored = one.run(conn, _new_item(0, i_title="again"))
    assert first == [(1,)] and second == [(2,)] and ignored == []


def test_run_many_refuses_a_statement_with_returning(store: Store) -> None:
    one = DriverStatement(_item_insert("sqlite", returning=True), store.engine.dialect)
    with store.engine.begin() as conn, pytest.raises(RuntimeError, match="RETURNING"):
        one.run_many(conn, [_new_item(0)])


def test_a_driver_error_in_run_many_is_a_storage_error(store: Store) -> None:
    """A NOT NULL column left NULL: the driver's error names the column."""
    many = DriverStatement(_item_insert("sqlite", returning=False), store.engine.dialect)
    with store.engine.begin() as conn, pytest.raises(StorageError, match=r"items\.title"):
        many.run_many(conn, [_new_item(0), _new_item(1, i_title=None)])
