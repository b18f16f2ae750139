"""CPU per poll of a warm pass's two writes: the claim, and the not-modified record.

Stage: benchmark only (not a test).  Must not: touch anything but a database in a
temporary folder.

Every poll claims its source before fetching (``Store.claim_source``: an UPDATE ...
RETURNING) and, when the feed answers 304, records it (``Store.record_not_modified``:
an UPDATE).  A warm pass makes both for every source, from the event loop, so they
are part of its CPU per feed.  This measures them on a SQLite store of N sources:

* ``Store``, in transactions of ``--batch`` writes (``WriteBatch`` joins the writes of
  one turn of the event loop; a warm pass of 1,000 feeds averages ~2.4 per turn).
  Since the store runs these two statements as ``driver_sql.DriverStatement`` (the
  statement compiled once, the types' processors looked up once, the driver's cursor);
* the same statements through SQLAlchemy's ``Connection.execute``, in the same
  transactions, with the claim's row made into a ``SourceState``: how the store made
  them before;
* the same SQL, sent straight to the ``sqlite3`` cursor with the values pre-formatted:
  what SQLite itself costs, with no bind or result processing and no ``SourceState``.

    .venv/bin/python bench/bookkeeping.py                   # 1,000 sources, batches of 4
    .venv/bin/python bench/bookkeeping.py --batch 1 --runs 7
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import Connection  # noqa: E402

from monitor.store import _NOT_MODIFIED, Store, _claim, _source_state  # noqa: E402

LEASE = timedelta(minutes=5)


def _sqlite_time(value: datetime) -> str:
    """How SQLAlchemy stores an aware UTC datetime in SQLite."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")


def _per_write(store: Store, names: list[str], batch: int, write: Callable[[str], None]) -> float:
    """CPU seconds per write, made in transactions of ``batch`` writes."""
    start = time.process_time()
    for i in range(0, len(names), batch):
        with store.batch():
            for name in names[i : i + batch]:
                write(name)
    return (time.process_time() - start) / len(names)


def run(store: Store, names: list[str], batch: int) -> dict[str, float]:
    now = datetime.now(UTC)
    due = now + timedelta(hours=1)
    claim_sql = _claim(True, False).compile(dialect=store.engine.dialect)
    done_sql = _NOT_MODIFIED.compile(dialect=store.engine.dialect)

    def claim(name: str) -> None:
        if (
            store.claim_source(name, f"http://x/{name}", now=now, lease=LEASE, due_before=due)
            is None
        ):
            raise RuntimeError(f"{name} was not claimed")

    def record(name: str) -> None:
        store.record_not_modified(name, now=now, next_poll_at=now, etag='"e"')

    def connection() -> Connection:
        found = store._batch_connection()  # the transaction ``store.batch`` opened
        assert found is not None
        return found

    def executed_claim(name: str) -> None:
        values = {"c_name": name, "c_now": now, "c_due": due, "c_worker": store.worker,
                  "c_until": now + LEASE}  # fmt: skip
        row = connection().execute(_claim(True, False), values).first()
        if row is None:
            raise RuntimeError(f"{name} was not claimed")
        _source_state(dict(row._mapping))

    def executed_record(name: str) -> None:
        values = {"p_name": name, "p_now": now, "p_next": now, "p_moved_to": None,
                  "p_etag": '"e"', "p_last_modified": None}  # fmt: skip
        connection().execute(_NOT_MODIFIED, values)

    def cursor() -> sqlite3.Cursor:
        connection = store._batch_connection()  # the transaction ``store.batch`` opened
        assert connection is not None
        return cast(sqlite3.Connection, connection.connection.driver_connection).cursor()

    def raw_claim(name: str) -> None:
        values = {"c_name": name, "c_now": _sqlite_time(now), "c_due": _sqlite_time(due),
                  "c_worker": store.worker, "c_until": _sqlite_time(now + LEASE)}  # fmt: skip
        c = cursor()
        c.execute(claim_sql.string, [values[k] for k in claim_sql.positiontup or ()])
        if c.fetchone() is None:
            raise RuntimeError(f"{name} was not claimed")

    def raw_record(name: str) -> None:
        values = {"p_name": name, "p_now": _sqlite_time(now), "p_next": _sqlite_time(now),
                  "p_moved_to": None, "p_etag": '"e"', "p_last_modified": None}  # fmt: skip
        every = done_sql.construct_params(values)  # with the statement's literal values
        cursor().execute(done_sql.string, [every[k] for k in done_sql.positiontup or ()])

    return {
        "claim, Store": _per_write(store, names, batch, claim),
        "not modified, Store": _per_write(store, names, batch, record),
        "claim, Connection.execute": _per_write(store, names, batch, executed_claim),
        "not modified, Connection.execute": _per_write(store, names, batch, executed_record),
        "claim, sqlite3 cursor": _per_write(store, names, batch, raw_claim),
        "not modified, sqlite3 cursor": _per_write(store, names, batch, raw_record),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sources", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=4, help="writes per transaction")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nm-bookkeeping-") as tmp:
        store = Store.open(f"sqlite:///{tmp}/bench.db", "bench")
        names = [f"source-{i}" for i in range(args.sources)]
        now = datetime.now(UTC)
        for name in names:  # every source known and polled once, as before a warm pass
            store.claim_source(name, f"http://x/{name}", now=now, lease=LEASE, due_before=None)
            store.record_not_modified(name, now=now, next_poll_at=now, etag='"e"')
        results: dict[str, list[float]] = {}
        for _ in range(args.runs):
            for label, seconds in run(store, names, args.batch).items():
                results.setdefault(label, []).append(seconds)
        store.close()
    print(f"# {args.sources} sources, {args.batch} writes per transaction, "
          f"median of {args.runs} runs")  # fmt: skip
    print("| write | CPU per write, µs |")
    print("| --- | ---: |")
    for label, runs in results.items():
        print(f"| {label} | {statistics.median(runs) * 1e6:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
