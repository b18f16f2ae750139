"""Parse workers: the CPU work of a large ``once`` pass on the machine's other cores.

Parsing a feed, building its new items, their identities and their alerts is pure
CPU work (``prepare``), and storing them is much of the rest. In one process it all
shares one core with fetching (the GIL); a pass over many feed sources hands each
fetched feed to a worker process, which prepares it and stores the poll, while the
main process fetches, claims, and sends. Feeds fetched while every worker is busy
wait, and the next free worker takes several at once and stores their polls in one
transaction (``Store.save_polls``): one commit instead of several, when there is
most to write. Writers of every process queue on the database's writer lock
(``db``), and each poll sees every poll stored before it, so story clustering and
alerts come out as in one process (there, too, which copy of a story counts as the
first follows the order in which polls finish). Pages, ``full_text`` feeds and feed
discovery (they fetch) stay in the main process.

Workers are forked, before the CLI opens the database or starts any thread: a fork
copies only the thread that calls it, and a lock another thread held would stay
locked in the child. Each worker opens its own database connection, and exits by
itself within a second when the pass is killed (no shutdown reaches it then); a
fork that fails leaves the pass in one process. Where fork is
not available, or threads already run (the daemon), there are no workers and the
pass runs in one process, as it always can.

``NEWS_MONITOR_PARSE_WORKERS`` sets how many (``0``: none); by default one per CPU
the process may use, for passes of at least ``MIN_SOURCES`` feed sources.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.engine import make_url

from monitor.config import Settings
from monitor.errors import ParseError
from monitor.matching import Matcher
from monitor.prepare import PollFacts, Prepared, newest_entries, prepare_parsed
from monitor.store import PollToSave, Store

logger = logging.getLogger(__name__)

ENV = "NEWS_MONITOR_PARSE_WORKERS"
MIN_SOURCES = 16  # fewer feed sources gain less than starting the workers costs
MAX_DEFAULT = 4
MAX_BATCH = 8  # polls a worker stores in one transaction at most


@dataclass(slots=True)
class _Worker:
    """A worker process's own state, set up once when it starts."""

    settings: Settings
    matcher: Matcher
    store: Store | None = None

    def own_store(self) -> Store:
        if self.store is None:  # opened in the worker: no connection crosses the fork
            url = self.settings.storage.url
            self.store = Store.connect(url, f"parse-worker-{os.getpid()}")
        return self.store


_WORKER: _Worker | None = None


def _start_worker(settings: Settings, parent: int | None = None) -> None:
    global _WORKER
    _WORKER = _Worker(settings, Matcher.from_settings(settings))
    if parent is not None:  # a worker outlives a killed pass by a second at most
        threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


def _exit_with(parent: int) -> None:
    """End this worker once its parent is gone (killed: no shutdown ever comes)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _worker() -> _Worker:
    if _WORKER is None:  # pragma: no cover - only reachable if the pool skipped _start_worker
        raise RuntimeError("parse worker used before it was started")
    return _WORKER


@dataclass(frozen=True, slots=True)
class FeedJob:
    """One fetched feed for a worker to prepare and store (pickled to its process)."""

    source: str
    body: bytes
    url: str
    content_type: str | None
    known_feed: str | None  # the feed found on the source's page (None: the URL is a feed)
    unchanged: str | None  # entry hashes of the source's last poll
    stored_before: bool  # whether the source has ever stored an item (else none is known)
    facts: PollFacts
    now: datetime  # when the poll started (``max_age`` counts from it)
    max_age: timedelta


def _prepare_in_worker(job: FeedJob) -> Prepared | None:
    """Parse and prepare one feed; None when it is an HTML page to look for a feed on."""
    worker = _worker()
    from monitor.feeds import parse_feed  # here: the main process may never need it

    headers = {"content-type": job.content_type} if job.content_type else {}
    try:
        parsed = parse_feed(job.body, job.url, headers, job.unchanged)
    except ParseError:
        from monitor.pages import looks_like_html

        if job.known_feed is None and looks_like_html(job.body):
            return None  # discovery fetches: the main process does it
        raise
    parsed = newest_entries(parsed, job.source)
    keys = [e.key for e in parsed.entries]
    known = worker.own_store().known_items(job.source, keys) if job.stored_before else {}
    return prepare_parsed(worker.matcher, parsed, known, job.now, job.max_age)


# What a worker did with one job of a batch: (entries, stored, alerts); None for an HTML
# page to look for a feed on (the main process does that); or the poll's exception.
Outcome = tuple[int, int, int] | None | Exception


def _poll_batch_in_worker(jobs: list[FeedJob]) -> list[Outcome]:
    """Parse, prepare and store fetched feeds' polls, all stored in one transaction.

    Each job's failure (a feed that does not parse, a bug) is its own outcome; the
    others are stored all the same (``Store.save_polls``).
    """
    from monitor.pipeline import poll_to_save  # loaded before the fork: no import here

    worker = _worker()
    outcomes: list[Outcome] = []
    to_save: list[tuple[int, int, PollToSave]] = []  # (job, entries, poll)
    for at, job in enumerate(jobs):
        try:
            prepared = _prepare_in_worker(job)
            if prepared is None:
                outcomes.append(None)
                continue
            config = next(s for s in worker.settings.sources if s.name == job.source)
            saved_at = datetime.now(UTC)
            poll = poll_to_save(
                worker.settings, config, prepared, job.facts, job.known_feed, saved_at
            )
        except Exception as exc:  # the poll fails, by name, in the main process
            outcomes.append(exc)
            continue
        outcomes.append(None)
        to_save.append((at, prepared.entries, poll))
    if to_save:
        saved = worker.own_store().save_polls([poll for _at, _entries, poll in to_save])
        for (at, entries, _poll), result in zip(to_save, saved, strict=True):
            outcomes[at] = result if isinstance(result, Exception) else (entries, *result)
    return outcomes


class ParseWorkers:
    """A pool of forked parse workers for one pass.

    Each worker has at most one batch of jobs at a time. A job that arrives while
    every worker is busy waits, and the next worker free takes up to ``MAX_BATCH``
    waiting jobs at once and stores them in one transaction: under load (a cold
    pass) commits are fewer and larger, and a lone job still goes at once.
    """

    def __init__(self, pool: ProcessPoolExecutor, count: int) -> None:
        self._pool = pool
        self.count = count
        self._broken = False
        self._busy = 0  # batches in the workers now
        self._waiting: list[tuple[FeedJob, asyncio.Future[Outcome]]] = []

    @classmethod
    def start(cls, settings: Settings) -> ParseWorkers | None:
        """Fork the workers now, or None when the pass should run in one process."""
        count = worker_count(settings)
        if count == 0:
            return None
        if "fork" not in multiprocessing.get_all_start_methods():
            return None
        if threading.active_count() > 1:  # see the module docstring
            return None
        pool = ProcessPoolExecutor(
            count,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_start_worker,
            initargs=(settings, os.getpid()),
        )
        try:
            pool.submit(int)  # with fork, the first submit forks every worker, before any thread
        except OSError as exc:  # no process left under the limits, no memory to fork
            logger.warning("cannot start parse workers (%s); the pass runs in one process", exc)
            pool.shutdown(wait=False, cancel_futures=True)
            return None
        logger.debug("%d parse workers started", count)
        return cls(pool, count)

    async def poll(self, job: FeedJob) -> tuple[int, int, int] | None:
        """Parse, prepare and store a fetched feed: (entries, stored, alerts), or None.

        None means the caller does it in this process: for an HTML page to look for a
        feed on, and once a worker has died (nothing is lost: the poll's claim is
        still held, and the main process stores it). The poll's own failure (a feed
        that does not parse) is raised.
        """
        if self._broken:
            return None
        done: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting.append((job, done))
        self._dispatch()
        try:
            outcome = await done
        except asyncio.CancelledError:
            self._waiting = [(j, f) for j, f in self._waiting if f is not done]
            raise
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def _dispatch(self) -> None:
        """Hand waiting jobs to the free workers, a batch each."""
        while self._waiting and self._busy < self.count and not self._broken:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            try:
                future = self._pool.submit(_poll_batch_in_worker, [job for job, _ in batch])
            except BrokenProcessPool:
                self._lost(batch)
                return
            self._busy += 1
            asyncio.wrap_future(future).add_done_callback(partial(self._finished, batch))

    def _finished(
        self, batch: list[tuple[FeedJob, asyncio.Future[Outcome]]], future: asyncio.Future[Any]
    ) -> None:
        self._busy -= 1
        if future.cancelled():
            for _job, done in batch:
                if not done.done():
                    done.cancel()
        elif isinstance(future.exception(), BrokenProcessPool):
            self._lost(batch)
        elif future.exception() is not None:  # pragma: no cover - the batch catches its own
            for _job, done in batch:
                if not done.done():
                    done.set_exception(future.exception())  # type: ignore[arg-type]
        else:
            for (_job, done), outcome in zip(batch, future.result(), strict=True):
                if not done.done():
                    done.set_result(outcome)
        self._dispatch()

    def _lost(self, batch: list[tuple[FeedJob, asyncio.Future[Outcome]]]) -> None:
        """A worker died: these jobs, and every one still waiting, go back to the caller."""
        if not self._broken:
            logger.warning("a parse worker died; the pass goes on in one process")
        self._broken = True
        for _job, done in [*batch, *self._waiting]:
            if not done.done():
                done.set_result(None)
        self._waiting = []

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def worker_count(settings: Settings) -> int:
    """How many workers a pass over ``settings``' sources gets (0: none)."""
    eligible = sum(1 for s in settings.sources if s.type == "feed" and not s.full_text)
    url = make_url(settings.storage.url)
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return 0  # a database in this process's memory: a worker could not read it
    raw = os.environ.get(ENV, "").strip()
    if raw:
        try:
            wanted = int(raw)
            if wanted < 0:
                raise ValueError(raw)
        except ValueError:
            logger.warning("%s=%r is not a number of workers (0 or more); ignored", ENV, raw)
        else:
            return wanted if eligible else 0
    if eligible < MIN_SOURCES:
        return 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(cpus or 1, MAX_DEFAULT) if (cpus or 1) > 1 else 0
