"""Short writes from the event loop, made together: one transaction for a few at a time.

Stage: pipeline (the main process's bookkeeping writes). Must not: change what any
single write does, or let one failing write undo another.

Every poll makes a claim before it fetches and, when its feed answers 304, a
not-modified write after: two transactions of ~0.1 ms of overhead each, on the event
loop. Polls run side by side, so these writes arrive in bursts (the first
``http.concurrency`` claims of a pass together; answers that arrive in one read of the
sockets together). ``WriteBatch`` collects the writes made in one turn of the loop and
runs them in one transaction (``Database.batch``), in a thread when another writer
holds the lock, as ``pipeline._write`` does for a single one. If the batch fails,
nothing of it was stored, and each write is run again on its own, so only the write
that fails reports a failure.

A transaction costs more than the short writes in it (~0.12 ms: the writer lock,
BEGIN, COMMIT; ``bench/bookkeeping.py``), and in a warm pass the writes of one turn
are ~2 on average. A write that nothing waits to start on (``urgent=False``: the
record of a poll that is over) waits up to ``SETTLE_TURNS`` turns of the loop for
company; a claim (a poll waits on it to fetch) is sent on the next turn, and takes
the waiting records with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from monitor.store import Store

T = TypeVar("T")
SETTLE_TURNS = 3  # turns of the loop a batch of records only may wait for more writes
Runner = Callable[[Callable[[], Any]], Awaitable[Any]]


class WriteBatch:
    """Coalesces the writes of a turn of the event loop (or a few) into one transaction."""

    def __init__(self, store: Store, run: Runner) -> None:
        self._store = store
        self._run = run  # how one write is made from the loop (``pipeline._write``)
        self._pending: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._urgent = False  # a pending write has a poll waiting to go on

    async def __call__(self, call: Callable[[], T], *, urgent: bool = True) -> T:
        """Make ``call`` in the next batch; ``urgent=False``: it may wait a few turns."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((call, future))
        self._urgent = self._urgent or urgent
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # the other writes of this turn join in the meantime
        for _ in range(SETTLE_TURNS - 1):
            if self._urgent:
                break
            await asyncio.sleep(0)  # records only: the next turns' writes may join too
        batch, self._pending, self._flushing = self._pending, [], None
        self._urgent = False
        calls = [call for call, _ in batch]
        try:
            results = await self._run(lambda: self._together(calls))
        except asyncio.CancelledError:  # cancelled with the pass: so are the waiting polls
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc=exc)
                return
            for call, future in batch:  # rolled back as a whole: each alone, one fails alone
                try:
                    result = await self._run(call)
                except Exception as alone:
                    _settle(future, exc=alone)
                else:
                    _settle(future, result)
            return
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result)

    def _together(self, calls: list[Callable[[], Any]]) -> list[Any]:
        if len(calls) == 1:
            return [calls[0]()]
        with self._store.batch():
            return [call() for call in calls]


def _settle(
    future: asyncio.Future[Any], result: Any = None, exc: BaseException | None = None
) -> None:
    if future.done():  # its poll was cancelled meanwhile
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
