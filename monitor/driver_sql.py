"""A few hot statements, compiled once by SQLAlchemy and run on the driver's cursor.

Stage: store (the main process's per-poll bookkeeping). Must not: store or read a
value differently from ``Connection.execute`` of the same statement.

Every poll claims its source, and every poll whose feed answers 304 records that:
two small UPDATEs per source and pass. Through ``Connection.execute`` each costs
~100 µs more CPU than SQLite itself (an execution context, parameter and result
processing for any statement, a ``Row`` per result), which at a thousand sources is
a sizeable share of a pass where nothing changed (``bench/bookkeeping.py``,
``docs/benchmarks.md``). ``DriverStatement`` compiles its statement once per dialect,
looks up each parameter's and each returned column's type processors once, and then
runs on the cursor of the connection's current transaction: the same SQL, the same
values in and out, no per-call SQLAlchemy machinery. It is for statements of fixed
shape (no ``IN`` lists, no optional clauses); everything else goes through
``Connection.execute``.

A driver error is raised as ``StorageError``, the error every store method raises.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import UpdateBase

from monitor.errors import StorageError

Processor = Callable[[Any], Any] | None


class DriverStatement:
    """One statement of fixed shape, compiled for one dialect (module docstring)."""

    def __init__(self, statement: UpdateBase, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self._sql = compiled.string
        self._dialect = dialect
        binds = compiled.binds
        # the parameters in the order the driver takes them (None: by name)
        self._order: tuple[str, ...] | None = (
            tuple(compiled.positiontup or ()) if compiled.positional else None
        )
        names = self._order if self._order is not None else tuple(binds)
        self._fixed = {n: binds[n].value for n in names if not binds[n].required}
        self._into: dict[str, Processor] = {
            n: binds[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names
        }
        # RETURNING columns: their names and how each value is read back
        returned = statement.returning_column_descriptions
        self.columns: tuple[str, ...] = tuple(c["name"] for c in returned)
        self._out: list[Processor] = [
            c["type"].dialect_impl(dialect).result_processor(dialect, None) for c in returned
        ]

    def run(self, conn: Connection, parameters: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Execute in ``conn``'s transaction; the returned rows (empty without RETURNING)."""
        with self._cursor(conn) as cursor:
            cursor.execute(self._sql, self._arguments(parameters))
            rows = cursor.fetchall() if self.columns else []
        out = self._out
        return [
            tuple(p(v) if p is not None else v for p, v in zip(out, row, strict=True))
            for row in rows
        ]

    def run_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Execute once per row, in one ``executemany`` (no RETURNING), in ``conn``'s
        transaction: the driver's parameter rows are built here, without SQLAlchemy's
        per-row dictionaries and compiled-parameter steps."""
        if self.columns:
            raise RuntimeError("run_many of a statement with RETURNING")  # a bug
        with self._cursor(conn) as cursor:
            cursor.executemany(self._sql, [self._arguments(row) for row in rows])

    def _arguments(self, parameters: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        """One execution's parameters as the driver takes them, each type-processed."""
        values = {**self._fixed, **parameters} if self._fixed else parameters
        bound = {n: (p(values[n]) if p is not None else values[n]) for n, p in self._into.items()}
        return [bound[n] for n in self._order] if self._order is not None else bound

    @contextlib.contextmanager
    def _cursor(self, conn: Connection) -> Iterator[Any]:
        """The driver's cursor in ``conn``'s transaction; a driver error as StorageError."""
        if conn.dialect is not self._dialect:
            raise RuntimeError("DriverStatement used with another dialect")  # a bug
        cursor = conn.connection.cursor()
        try:
            yield cursor
        except self._dialect.loaded_dbapi.Error as exc:
            raise StorageError(f"database error: {exc}") from exc
        finally:
            cursor.close()
