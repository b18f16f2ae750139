"""Store: migrations, claims with leases, dedupe of items, digests frozen once."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, inspect, text

from monitor import db, migrations, tables
from monitor.digest import new_payload
from monitor.errors import StorageError
from monitor.models import AlertMatch, FeedItem, NewItem
from monitor.store import Store

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


def item(key: str, url: str | None = None, title: str = "Title") -> FeedItem:
    url = url or f"https://x.org/{key}"
    return FeedItem(key, url, url, title, "summary", NOW - timedelta(hours=1))


def alert(subscriber: str = "newsroom") -> AlertMatch:
    return AlertMatch(subscriber, ("cuba-visas",), ("Cuba",), "about Cuba", ((6, 10),))


def test_migrated_schema_matches_table_definitions(store: Store) -> None:
    inspector = inspect(store.engine)
    for table in tables.metadata.sorted_tables:
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        assert columns == {c.name for c in table.columns}, table.name
        indexes = {i["name"] for i in inspector.get_indexes(table.name)}
        assert {i.name for i in table.indexes} <= indexes
    with store.engine.connect() as conn:
        assert migrations.applied_versions(conn) == set(migrations.MIGRATIONS)
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_a_new_database_another_process_is_creating_is_waited_for(tmp_path: Path) -> None:
    """Two ``once`` processes starting together on a new database: the second one's
    switch to WAL mode finds the file locked, and waits instead of failing."""
    import sqlite3
    import threading
    import time

    path = tmp_path / "new.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("CREATE TABLE other_process (x)")

    def finish() -> None:
        time.sleep(0.4)
        holder.execute("COMMIT")
        holder.close()

    threading.Thread(target=finish).start()
    started = time.monotonic()
    store = Store.open(f"sqlite:///{path}", "b")
    try:
        assert time.monotonic() - started >= 0.3  # it waited for the other writer
        with store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        store.close()


def test_reopening_does_not_migrate_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    Store.open(url, "a").close()
    again = Store.open(url, "b")
    with again.engine.begin() as conn:
        assert migrations.upgrade(conn) == []
    again.close()


def test_unopenable_database_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder" / "x.db"
    with pytest.raises(StorageError, match=re.escape(str(missing))):
        Store.open(f"sqlite:///{missing}", "a")
    (tmp_path / "adir.db").mkdir()
    with pytest.raises(StorageError, match=r"adir\.db"):
        Store.open(f"sqlite:///{tmp_path / 'adir.db'}", "a")


def test_claim_is_exclusive_until_released_or_expired(store: Store, tmp_path: Path) -> None:
    other = Store.open(str(store.engine.url), "worker-b")
    state = store.claim_source("s", "https://x.org/f", now=NOW, lease=LEASE, due_before=NOW)
    assert state is not None and state.first_polled_at is None
    assert other.claim_source("s", "https://x.org/f", now=NOW, lease=LEASE, due_before=NOW) is None
    # a crashed worker's claim expires
    later = NOW + LEASE + timedelta(seconds=1)
    assert other.claim_source("s", "https://x.org/f", now=later, lease=LEASE, due_before=later)
    other.close()


def test_claim_respects_next_poll_and_polled_before(store: Store) -> None:
    assert store.claim_source("s", "u", now=NOW, lease=LEASE, due_before=NOW)
    store.save_poll("s", now=NOW, next_poll_at=NOW + timedelta(minutes=15), etag='"e"',
                    last_modified=None, new_items=[])  # fmt: skip
    soon = NOW + timedelta(minutes=1)
    assert store.claim_source("s", "u", now=soon, lease=LEASE, due_before=soon) is None
    # --all ignores the due time but not a poll made after the pass started
    assert (
        store.claim_source("s", "u", now=soon, lease=LEASE, due_before=None, polled_before=NOW)
        is None
    )
    state = store.claim_source("s", "u", now=soon, lease=LEASE, due_before=None, polled_before=soon)
    assert state is not None and state.etag == '"e"'


def test_next_polls(store: Store) -> None:
    assert store.next_polls() == {}
    store.claim_source("s", "u", now=NOW, lease=LEASE, due_before=NOW)
    store.claim_source("t", "v", now=NOW, lease=LEASE, due_before=NOW)
    assert store.next_polls() == {"s": None, "t": None}  # never polled: due at once
    store.save_poll("s", now=NOW, next_poll_at=NOW + timedelta(minutes=15), etag=None,
                    last_modified=None, new_items=[])  # fmt: skip
    assert store.next_polls() == {"s": NOW + timedelta(minutes=15), "t": None}


def test_changed_url_forgets_validators(store: Store) -> None:
    store.claim_source("s", "https://a/", now=NOW, lease=LEASE, due_before=NOW)
    store.save_poll("s", now=NOW, next_poll_at=NOW, etag='"e"', last_modified="lm", new_items=[])
    state = store.claim_source("s", "https://b/", now=NOW, lease=LEASE, due_before=NOW)
    assert state is not None and state.etag is None and state.last_modified is None


def test_items_stored_once_and_duplicate_urls_not_alerted(store: Store) -> None:
    store.claim_source("s1", "u1", now=NOW, lease=LEASE, due_before=NOW)
    new = [NewItem(item("a"), True, (alert(),)), NewItem(item("b"), False, (alert(),))]
    assert store.save_poll("s1", now=NOW, next_poll_at=NOW, etag=None, last_modified=None,
                           new_items=new) == (2, 1)  # fmt: skip
    assert set(store.known_items("s1", ["a", "b", "c"])) == {"a", "b"}
    # the same story (same canonical URL) from another source is stored, not alerted
    store.claim_source("s2", "u2", now=NOW, lease=LEASE, due_before=NOW)
    again = [NewItem(item("other-guid", url="https://x.org/a"), True, (alert(),))]
    assert store.save_poll("s2", now=NOW, next_poll_at=NOW, etag=None, last_modified=None,
                           new_items=again) == (1, 0)  # fmt: skip


@pytest.mark.parametrize("few", [0, 10], ids=["executemany", "one-by-one"])
def test_copies_within_one_poll_join_their_original(
    store: Store, monkeypatch: pytest.MonkeyPatch, few: int
) -> None:
    """A feed listing one story twice (same URL, or same text under another URL) in
    one poll: both rows stored, the copy points at the original and is not alerted.
    Both ways of inserting a poll's items (by count) give the same rows."""
    monkeypatch.setattr("monitor.store_items.FEW_ITEMS", few)
    store.claim_source("s1", "u1", now=NOW, lease=LEASE, due_before=NOW)
    new = [
        NewItem(item("a"), True, (alert(),), fingerprint="fp-a"),
        NewItem(item("a-again", url="https://x.org/a"), True, (alert(),)),
        NewItem(item("b"), True, (alert("desk"),), fingerprint="fp-b"),
        NewItem(
            item("b-moved", url="https://x.org/elsewhere"),
            True,
            (alert("desk"),),
            fingerprint="fp-b",
        ),
        NewItem(item("c"), True, (alert(),)),
    ]
    assert store.save_poll("s1", now=NOW, next_poll_at=NOW, etag=None, last_modified=None,
                           new_items=new) == (5, 3)  # fmt: skip
    with store.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT item_key, id, duplicate_of, story_id, alertable FROM items ORDER BY id")
        ).all()
    by_key = {r.item_key: r for r in rows}
    assert by_key["a-again"].duplicate_of == by_key["a"].id
    assert by_key["a-again"].story_id == by_key["a"].story_id == by_key["a"].id
    assert by_key["b-moved"].duplicate_of == by_key["b"].id
    assert by_key["b-moved"].story_id == by_key["b"].id
    assert by_key["c"].story_id == by_key["c"].id and by_key["c"].duplicate_of is None
    assert not by_key["a-again"].alertable and not by_key["b-moved"].alertable
    # the same keys again in a later poll: nothing new is stored
    store.claim_source("s1", "u1", now=NOW, lease=LEASE, due_before=None)
    assert store.save_poll("s1", now=NOW, next_poll_at=NOW, etag=None, last_modified=None,
                           new_items=new[:2]) == (0, 0)  # fmt: skip


def test_digest_freezes_pending_alerts_once_and_carries_the_rest(store: Store) -> None:
    store.claim_source("s1", "u1", now=NOW, lease=LEASE, due_before=NOW)
    new = [NewItem(item(k), True, (alert(),)) for k in "abc"]
    store.save_poll("s1", now=NOW, next_poll_at=NOW, etag=None, last_modified=None, new_items=new)

    def make(max_items: int) -> dict[str, object] | None:
        return store.create_digest(  # type: ignore[return-value]
            "newsroom", channels=["desk", "hook"], now=NOW, max_items=max_items,
            due_before=NOW, next_digest_at=NOW, build=lambda p, m: new_payload("newsroom", NOW, p, m),
        )  # fmt: skip

    first = make(2)
    assert first is not None and len(first["items"]) == 2 and first["more"] == 1  # type: ignore[arg-type]
    second = make(2)
    assert second is not None and len(second["items"]) == 1 and "more" not in second  # type: ignore[arg-type]
    assert make(2) is None
    due = store.claim_due_deliveries(now=NOW, due_before=NOW, lease=LEASE)
    assert sorted((d.digest_id, d.channel) for d in due) == sorted(
        (d["digest_id"], c)
        for d in (first, second)
        for c in ("desk", "hook")  # type: ignore[index]
    )
    # claimed deliveries are not handed out twice
    assert store.claim_due_deliveries(now=NOW, due_before=NOW, lease=LEASE) == []
    store.finish_delivery(due[0].id, now=NOW, status="sent")
    assert store.delivery_counts() == {"sent": 1, "pending": 3}


def test_scheduled_digest_waits_until_due(store: Store) -> None:
    later = NOW + timedelta(hours=1)
    assert store.next_digest_at("weekly", first=later) == later
    assert store.next_digest_at("weekly", first=NOW) == later  # first value sticks
    assert store.create_digest("weekly", channels=["x"], now=NOW, max_items=5, due_before=NOW,
                               next_digest_at=later, build=lambda p, m: new_payload("weekly", NOW, p, m)) is None  # fmt: skip


def test_upgrade_from_version_2_keeps_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = {v: m for v, m in migrations.MIGRATIONS.items() if v <= 2}
    monkeypatch.setattr(migrations, "MIGRATIONS", old)
    v2 = Store.open(url, "w")
    with v2.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO items (source, key_hash, item_key, title, summary, content, first_seen_at,"
            " alertable) VALUES ('s', 'k', 'k', 'Cuba', '', '', '2026-11-27 08:00:00', 1)"
        )
        conn.exec_driver_sql(
            "INSERT INTO alerts (subscriber, item_id, watches, matched_terms, snippet, highlights,"
            " created_at) VALUES ('d', 1, '[]', '[]', '', '[]', '2026-11-27 08:00:00')"
        )
    v2.close()
    monkeypatch.undo()
    upgraded = Store.open(url, "w")
    with upgraded.engine.connect() as conn:
        assert migrations.applied_versions(conn) == set(migrations.MIGRATIONS)
        assert conn.exec_driver_sql("SELECT story_id, revision FROM items").one() == (1, 0)
        assert conn.exec_driver_sql("SELECT story_id, revision FROM alerts").one() == (1, 0)
        names = {i["name"] for i in inspect(conn).get_indexes("alerts")}
    assert "ix_alerts_subscriber_item" not in names and "ix_alerts_subscriber_story" in names
    assert "ix_alerts_item" in names
    pending, total = upgraded.pending_alerts("d", 10)
    assert total == 1 and pending[0].title == "Cuba"
    upgraded.close()


async def test_a_write_from_the_event_loop_waits_for_the_lock_in_a_thread(store: Store) -> None:
    """While another thread holds the write lock, the event loop keeps running."""
    import asyncio
    import threading
    from functools import partial
    from types import SimpleNamespace

    from monitor.pipeline import _write

    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store._tx():
            held.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(5) and store.writing
    timer = threading.Timer(0.3, release.set)  # not on the loop: a blocked loop cannot hang this
    timer.start()
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    await _write(SimpleNamespace(store=store), partial(store.release_source, "x"))  # type: ignore[arg-type]
    ticker.cancel()
    holder.join()
    assert ticks >= 10  # the loop ran while the write waited ~0.3 s for the lock
    assert not store.writing


def test_stock_phrase_story_keys_are_remembered_until_prune(store: Store) -> None:
    from monitor.store_stories import COMMON_KEY
    from monitor.stories import Sketch

    text_sketch = Sketch(tuple(range(1, 17))).to_bytes()
    for i in range(COMMON_KEY + 2):  # key 5 ends up held by more than COMMON_KEY items
        store.claim_source(f"s{i}", f"u{i}", now=NOW, lease=LEASE, due_before=NOW)
        new = [NewItem(item(f"k{i}"), True, sketch=text_sketch, story_keys=(5, 1000 + i))]
        store.save_poll(f"s{i}", now=NOW, next_poll_at=NOW, etag=None, last_modified=None,
                        new_items=new)  # fmt: skip
    assert store._common_keys == {5}  # later polls leave it out of the candidate query
    store.prune(now=NOW, retention=timedelta(days=90), story_window=timedelta(days=3))
    assert store._common_keys == set()  # pruning takes holders away: learn again


def test_writers_of_all_processes_queue_on_the_lock_file(store: Store, tmp_path: Path) -> None:
    """Another process holding ``<database>.lock`` counts as a writer: a write from the
    event loop then waits in a thread, and a write waits until the lock is free."""
    import subprocess
    import sys
    import threading
    import time

    store.claim_source("s1", "u1", now=NOW, lease=LEASE, due_before=NOW)  # opens the lock file
    lock = tmp_path / "test.db.lock"
    assert lock.exists() and not store.writing
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR); "
         "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()",
         str(lock)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert store.writing
        done = threading.Event()

        def write() -> None:
            store.release_source("s1")
            done.set()

        writer = threading.Thread(target=write)
        writer.start()
        time.sleep(0.3)
        assert not done.is_set()  # waiting for the other process
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)
    writer.join(timeout=10)
    assert done.is_set() and not store.writing


def test_a_stuck_lock_holder_does_not_stop_writers_for_good(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import subprocess
    import sys
    import time

    store.claim_source("s1", "u1", now=NOW, lease=LEASE, due_before=NOW)
    assert store._writer_file is not None
    store._writer_file.patience = 0.3
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR); "
         "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()",
         str(tmp_path / "test.db.lock")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        store.release_source("s1")  # waits out its patience, then writes on SQLite's lock
        assert 0.3 <= time.monotonic() - started < 5
        assert "was held for over 0.3 s" in caplog.text
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)


def test_a_file_system_without_flock_falls_back_to_the_busy_timeout(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import errno

    from monitor import db

    def no_locks(*_args: object) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(db.fcntl, "flock", no_locks)
    assert store.claim_source("s1", "u1", now=NOW, lease=LEASE, due_before=NOW) is not None
    assert not store.writing
    store.release_source("s1")
    assert "cannot lock" in caplog.text and "No locks available" in caplog.text


def test_without_a_usable_lock_file_writes_still_work(tmp_path: Path) -> None:
    (tmp_path / "x.db.lock").mkdir()  # not a file: the lock cannot be opened
    store = Store.open(f"sqlite:///{tmp_path / 'x.db'}", "w")
    try:
        assert store.claim_source("s1", "u1", now=NOW, lease=LEASE, due_before=NOW) is not None
        assert not store.writing
    finally:
        store.close()


def test_the_lock_file_gets_the_database_file_s_permissions(tmp_path: Path) -> None:
    """As SQLite's -wal and -shm files: whoever may write the database may take the lock."""
    import os
    import stat

    database = tmp_path / "shared.db"
    Store.open(f"sqlite:///{database}", "w").close()
    os.chmod(database, 0o664)  # a database shared with a group
    store = Store.open(f"sqlite:///{database}", "w")
    try:
        store.claim_source("s1", "u1", now=NOW, lease=LEASE, due_before=NOW)  # a write
        assert stat.S_IMODE(os.stat(tmp_path / "shared.db.lock").st_mode) == 0o664
    finally:
        store.close()


def test_prune_reads_the_story_window_not_every_older_item(store: Store) -> None:
    """Every ``once`` pass prunes: its lookups of the window's first item and of the
    sketches to clear go through indexes bounded by the story window (at 200,000 older
    items, 0.45 s a pass before, 3 ms after), its deletions through indexes too."""
    executed: list[tuple[str, object]] = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def record(conn: object, cursor: object, statement: str, parameters: object,
               context: object, executemany: bool) -> None:  # fmt: skip
        executed.append((statement, parameters))

    store.prune(now=datetime.now(UTC), retention=timedelta(days=90), story_window=timedelta(days=3))
    event.remove(store.engine, "before_cursor_execute", record)

    def plan(start: str) -> str:
        statement, parameters = next((s, p) for s, p in executed if s.startswith(start))
        with store.engine.connect() as conn:
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)  # type: ignore[arg-type]
            return " | ".join(str(row[-1]) for row in rows)

    assert "ix_items_first_seen" in plan("SELECT min(items.id")
    assert "ix_items_sketched" in plan("UPDATE items SET sketch")
    # alerts and digests grow for the whole retention: no deletion reads all of them (at
    # 100,000 alerts, 15 ms a pass before, 2 ms after)
    for start in ("DELETE FROM deliveries", "DELETE FROM digests", "DELETE FROM alerts",
                  "DELETE FROM items"):  # fmt: skip
        steps = plan(start)
        assert "SCAN alerts" not in steps and "SCAN digests" not in steps, steps
    names = {i["name"] for i in inspect(store.engine).get_indexes("items")}
    assert "ix_items_sketched" in names


def test_prune_deletes_what_is_past_retention_and_keeps_what_still_waits(store: Store) -> None:
    """Past retention: digested alerts, their items, and digests whose deliveries are
    done go; an item whose alert still waits for a digest, and a digest with a pending
    delivery, stay."""
    old, retention = NOW - timedelta(days=100), timedelta(days=90)
    store.claim_source("s", "u", now=old, lease=LEASE, due_before=None)
    for key, subscriber in (("sent", "a"), ("waiting", "b"), ("queued", "c")):
        store.save_poll("s", now=old, next_poll_at=old, etag=None, last_modified=None,
                        new_items=[NewItem(item(key), True, (alert(subscriber),))])  # fmt: skip
    for subscriber in ("a", "c"):  # b's alert is never put in a digest
        store.create_digest(subscriber, channels=["mail"], now=old, max_items=5, due_before=old,
                            next_digest_at=old, build=lambda p, m, s=subscriber: new_payload(s, old, p, m))  # type: ignore[misc]  # fmt: skip
    due = store.claim_due_deliveries(now=old, due_before=old, lease=LEASE)
    sent = next(d for d in due if d.payload["subscriber"] == "a")
    store.finish_delivery(sent.id, now=old, status="sent")  # c's delivery is still pending

    assert store.prune(now=NOW, retention=retention, story_window=timedelta(days=3)) == 2
    with store.engine.connect() as conn:
        kept = conn.exec_driver_sql("SELECT item_key FROM items").scalars().all()
        alerted = conn.exec_driver_sql("SELECT subscriber FROM alerts ORDER BY 1").scalars().all()
        digested = conn.exec_driver_sql("SELECT subscriber FROM digests").scalars().all()
        delivering = conn.exec_driver_sql("SELECT status FROM deliveries").scalars().all()
    assert kept == ["waiting"]  # its alert waits for b's next digest
    assert alerted == ["b"]
    assert digested == ["c"] and delivering == ["pending"]


def test_a_postgresql_engine_counts_inserted_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL (psycopg), SQLAlchemy reports -1 as an INSERT's row count unless
    asked to keep it, and the store counts what INSERT ... ON CONFLICT DO NOTHING added
    (alerts, fallback deliveries): every alert counted -1. No PostgreSQL server runs in
    the tests yet, so this checks the engine's options (the counts were checked by hand
    against PostgreSQL 15 with psycopg 3)."""
    made: dict[str, object] = {}

    def record(url: str, **options: object) -> object:
        made.update(options, url=url)
        return object()

    monkeypatch.setattr(db, "create_engine", record)
    db._create_engine("postgresql+psycopg://news@127.0.0.1/news")
    assert made["execution_options"] == {"preserve_rowcount": True}


def test_migrations_wait_for_each_other_on_postgresql() -> None:
    """Two processes starting together on a new PostgreSQL database both created the
    tables and the second failed (exit 3): migrations now take an advisory lock held to
    the end of their transaction. (Checked by hand against PostgreSQL 15: two ``once``
    passes started together on a new database both exit 0, each source polled once.)"""

    class Recorder:
        def __init__(self, name: str) -> None:
            self.dialect = type("Dialect", (), {"name": name})()
            self.sent: list[str] = []

        def exec_driver_sql(self, sql: str) -> None:
            self.sent.append(sql)

    postgresql, sqlite = Recorder("postgresql"), Recorder("sqlite")
    migrations.lock_for_migrations(postgresql)  # type: ignore[arg-type]
    migrations.lock_for_migrations(sqlite)  # type: ignore[arg-type]
    assert postgresql.sent == [f"SELECT pg_advisory_xact_lock({migrations.MIGRATION_LOCK})"]
    assert sqlite.sent == []  # BEGIN IMMEDIATE already lets one writer in at a time
