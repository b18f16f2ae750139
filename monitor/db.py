"""Database access: engine, migrations on open, short transactions, claims.

The database is the only state shared between passes, daemons and workers. Every
query runs in one short transaction; none is held across network I/O. Work that two
processes could both try (polling a source, sending a delivery) is *claimed* with a
conditional UPDATE and a lease that expires, so a crashed worker's claims lapse. On
SQLite every write transaction starts with ``BEGIN IMMEDIATE`` and waits on the busy
timeout, so concurrent processes queue instead of failing with "database is locked";
threads of one process queue on a lock first, and processes on an exclusive ``flock``
of ``<database>.lock`` (SQLite's busy handler sleeps up to 100 ms between tries; a
lock wakes the next writer at once; the busy timeout stays as the fallback for a
writer that cannot use the lock file). Read-only transactions
(``_read``) start with a deferred ``BEGIN`` and, in WAL mode, wait for nobody.
This module knows connections and transactions, not rows.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows: SQLite's busy timeout alone
    fcntl = None  # type: ignore[assignment]

from sqlalchemy import Column, Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.dml import Insert, UpdateBase

from monitor import migrations
from monitor.driver_sql import DriverStatement
from monitor.errors import StorageError

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT = 60.0


def short_hash(value: str) -> str:
    """128-bit hex digest used to index keys and URLs compactly."""
    return short_hash_bytes(value.encode("utf-8"))


def short_hash_bytes(value: bytes) -> str:
    return hashlib.sha256(value).hexdigest()[:32]


class Database:
    """An engine plus the worker identity used for claims."""

    def __init__(self, engine: Engine, worker: str) -> None:
        self.engine = engine
        self.worker = worker
        # SQLite takes one writer at a time: this process's writers queue here
        self._write_lock = threading.RLock() if engine.dialect.name == "sqlite" else None
        self._writer_file = _WriterFile.for_database(engine)  # writers of other processes
        self._write_depth = 0  # nested write transactions of the thread holding the lock
        self._writers = 0  # write transactions running or waiting in this process
        self._writers_lock = threading.Lock()  # (+= is not atomic across threads)
        self._batch: tuple[int, Connection] | None = None  # (thread, connection) of ``batch``
        # story keys held by so many items that they are no sign of one story, learnt
        # while storing (``store_items``); written only inside write transactions
        self._common_keys: set[int] = set()
        # by id of the statement, kept with it (so that its id is never another's)
        self._driver_statements: dict[int, tuple[UpdateBase, DriverStatement]] = {}

    @classmethod
    def open(cls, url: str, worker: str) -> Any:
        """Connect, configure and migrate. Raises StorageError naming the database."""
        parsed = make_url(url)
        shown = parsed.render_as_string(hide_password=True)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            folder = Path(parsed.database).parent
            if not folder.is_dir():
                raise StorageError(
                    f"cannot open database {parsed.database}: {folder} is not a directory"
                )
            shown = parsed.database
        try:
            engine = _create_engine(url)
            with engine.begin() as conn:
                applied = migrations.upgrade(conn)
        except SQLAlchemyError as exc:
            reason = getattr(exc, "orig", None) or exc
            raise StorageError(f"cannot open database {shown}: {reason}") from None
        if applied:
            logger.info("database %s migrated to version %d", shown, max(applied))
        return cls(engine, worker)

    @classmethod
    def connect(cls, url: str, worker: str) -> Any:
        """A connection to a database that ``open`` has already migrated (a helper process)."""
        return cls(_create_engine(url), worker)

    def close(self) -> None:
        self.engine.dispose()
        if self._writer_file is not None:
            self._writer_file.close()

    def ping(self) -> None:
        """Raise StorageError unless the database answers a trivial query."""
        with self._read() as conn:  # a readiness probe must not queue behind writers
            conn.exec_driver_sql("SELECT 1")

    @contextmanager
    def batch(self) -> Iterator[None]:
        """The write transactions this thread opens inside the block join one transaction:
        committed when the block ends, rolled back as a whole if anything in it fails."""
        with self._tx() as conn:
            self._batch = (threading.get_ident(), conn)
            try:
                yield
            finally:
                self._batch = None

    def _on_driver(self, statement: UpdateBase) -> DriverStatement:
        """``statement`` compiled once for this database, to run on the driver's cursor.

        For the hot statements of fixed shape only (``driver_sql``), built once (module
        level or cached): each is compiled once and kept for the life of the store.
        """
        found = self._driver_statements.get(id(statement))
        if found is None:
            found = (statement, DriverStatement(statement, self.engine.dialect))
            self._driver_statements[id(statement)] = found
        return found[1]

    def _batch_connection(self) -> Connection | None:
        """The transaction of ``batch`` when this thread is inside one (its writes join it)."""
        batch = self._batch
        return batch[1] if batch is not None and batch[0] == threading.get_ident() else None

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        """A write transaction (or a read that must see the latest commit and then write)."""
        batched = self._batch_connection()
        if batched is not None:
            yield batched  # inside ``batch``: its transaction
            return
        if self._write_lock is None:
            with self._transaction(read_only=False) as conn:
                yield conn
            return
        with self._writers_lock:
            self._writers += 1
        try:
            with self._write_lock:
                outer = self._write_depth == 0
                if outer and self._writer_file is not None:
                    self._writer_file.acquire()
                self._write_depth += 1
                try:
                    with self._transaction(read_only=False) as conn:
                        yield conn
                finally:
                    self._write_depth -= 1
                    if outer and self._writer_file is not None:
                        self._writer_file.release()
        finally:
            with self._writers_lock:
                self._writers -= 1

    @property
    def writing(self) -> bool:
        """Whether a write transaction of this process is running or waiting, or another
        process holds the writer lock file (SQLite).

        A caller on the event loop runs its own write in a thread then, so that it
        does not stop the loop while it waits for the lock.
        """
        if self._writers > 0:
            return True
        if self._writer_file is None or self._write_lock is None:
            return False
        # probe the file lock only while no thread of ours can be taking it: the probe
        # takes and drops it on the same descriptor, which would drop theirs too
        if not self._write_lock.acquire(blocking=False):
            return True
        try:
            return self._writer_file.held_elsewhere()
        finally:
            self._write_lock.release()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A read-only transaction: one consistent snapshot, no write lock taken."""
        with self._transaction(read_only=True) as conn:
            yield conn

    @contextmanager
    def _transaction(self, *, read_only: bool) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                if read_only:
                    conn = conn.execution_options(news_monitor_read_only=True)
                with conn.begin():
                    yield conn
        except SQLAlchemyError as exc:
            raise StorageError(f"database error: {getattr(exc, 'orig', None) or exc}") from exc

    @staticmethod
    def _insert_ignore(
        conn: Connection, table: Table, *keys: str, returning: Column[Any] | None = None
    ) -> Insert:
        """INSERT that does nothing when the row exists (by the unique ``keys``).

        Built once per dialect and table; execute it with the row as parameters, so
        SQLAlchemy's statement cache is hit instead of keying on literal values.
        """
        return insert_ignore(conn.dialect.name, table, keys, returning)


class _WriterFile:
    """An exclusive ``flock`` on ``<database>.lock``: one writer at a time across processes.

    Opened lazily, once per process (a forked child opens its own). Where ``flock`` or
    the file is not available, writers fall back to SQLite's busy timeout; so does a
    writer that waited ``patience`` seconds (a stuck holder must not stop every other
    writer for good: SQLite's timeout then reports "database is locked").
    The wait polls every 0.1-1 ms: a blocking ``flock`` cannot time out.
    """

    def __init__(self, path: str, patience: float = SQLITE_BUSY_TIMEOUT) -> None:
        self.path = path
        self.patience = patience
        self._fd: int | None = None
        self._broken = False
        self._held = False

    @classmethod
    def for_database(cls, engine: Engine) -> _WriterFile | None:
        database = engine.url.database
        if engine.dialect.name != "sqlite" or database in (None, "", ":memory:"):
            return None
        if database.startswith("file:") or fcntl is None:
            return None
        return cls(os.path.abspath(database) + ".lock")

    def acquire(self) -> None:
        if self._broken or fcntl is None:
            return
        if self._fd is None:
            try:
                self._fd = _open_like(self.path, self.path.removesuffix(".lock"))
            except OSError as exc:
                logger.debug("no writer lock file %s (%s); using the busy timeout", self.path, exc)
                self._broken = True
                return
        delay, give_up = 0.0001, 0.0
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                now = time.monotonic()
                give_up = give_up or now + self.patience
                if now >= give_up:
                    logger.warning(
                        "the writer lock %s was held for over %g s; waiting on the database",
                        self.path, self.patience,
                    )  # fmt: skip
                    return
                time.sleep(delay)
                delay = min(delay * 2, 0.001)
                continue
            except OSError as exc:  # a file system without flock (some NFS, FUSE mounts)
                self._give_up(exc)
                return
            self._held = True
            return

    def _give_up(self, exc: OSError) -> None:
        logger.warning("cannot lock %s (%s); writers wait on the database instead", self.path, exc)
        self._broken = True

    def release(self) -> None:
        if self._held and self._fd is not None and fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._held = False

    def held_elsewhere(self) -> bool:
        """Whether another process holds the lock now (a moment later it may not)."""
        if self._fd is None or fcntl is None or self._held:
            return False
        if self._broken:
            return False
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError as exc:
            self._give_up(exc)
            return False
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        return False

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _open_like(path: str, database: str) -> int:
    """Open (or create) ``path`` read-write with the database file's permissions.

    SQLite gives its -wal and -shm files the database's permissions, so every user who
    may write the database may use them; the lock file follows the same rule (0600
    when the database cannot be read yet). The mode is set explicitly: the umask
    would take group write away from a group-shared database.
    """
    try:
        mode = os.stat(database).st_mode & 0o666
    except OSError:
        mode = 0o600
    fd = os.open(path, os.O_RDWR | os.O_CREAT, mode)
    with suppress(OSError):  # not ours (another user created it): leave it
        if os.fstat(fd).st_mode & 0o777 != mode:
            os.fchmod(fd, mode)
    return fd


# built once per dialect, table and keys: SQLAlchemy caches the compiled form by statement
@functools.cache
def insert_ignore(
    dialect_name: str, table: Table, keys: tuple[str, ...], returning: Column[Any] | None
) -> Insert:
    statement: Insert
    if dialect_name == "postgresql":  # imported here: it pulls in every PostgreSQL driver
        from sqlalchemy.dialects import postgresql

        statement = postgresql.insert(table).on_conflict_do_nothing(index_elements=list(keys))
    else:
        statement = sqlite.insert(table).on_conflict_do_nothing(index_elements=list(keys))
    return statement.returning(returning) if returning is not None else statement


def _set_wal(cursor: sqlite3.Cursor) -> None:
    """``PRAGMA journal_mode=WAL``, waiting while another process holds the database.

    Switching a new database to WAL needs it to itself, and SQLite answers "database
    is locked" at once instead of waiting out the busy timeout (two ``once`` processes
    that start together on a new database). Once a file is in WAL mode it stays so.
    """
    give_up = time.monotonic() + SQLITE_BUSY_TIMEOUT
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > give_up:
                raise
            time.sleep(0.01)


def _create_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # preserve_rowcount: the store counts what an INSERT ... ON CONFLICT DO NOTHING
        # added; without it SQLAlchemy reports -1 for an INSERT on PostgreSQL (psycopg)
        return create_engine(url, pool_pre_ping=True, execution_options={"preserve_rowcount": True})
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        _set_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        read_only = conn.get_execution_options().get("news_monitor_read_only", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine
