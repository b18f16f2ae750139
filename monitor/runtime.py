"""What a pass or the daemon polls with, and when a source is due.

Stage: pipeline (set-up). Must not: fetch, parse or store anything itself.

``Runtime`` carries the settings, store, fetcher, compiled watches, robots.txt cache,
the places a poll takes (``http.concurrency``), each host's turns (``http.per_host``)
and the batched writes; ``poll_source`` (``pipeline``) takes it as its one argument.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar
from urllib.parse import urlsplit

from monitor.config import Settings, SourceConfig
from monitor.fetch import Fetcher
from monitor.matching import Matcher
from monitor.robots import RobotsPolicy
from monitor.store import Store
from monitor.workers import ParseWorkers
from monitor.write_batch import WriteBatch

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Runtime:
    """Everything a pass needs, passed in rather than looked up."""

    settings: Settings
    store: Store
    fetcher: Fetcher
    matcher: Matcher
    robots: RobotsPolicy
    clock: Callable[[], datetime]
    slots: asyncio.Semaphore  # polls in progress, fetched bodies included: bounds memory
    batched: WriteBatch  # claims and not-modified writes, made together (write_batch)
    workers: ParseWorkers | None = None  # parse workers on other cores (a large pass)
    hosts: defaultdict[str, asyncio.Semaphore] = field(init=False)  # ``host_turn``

    def __post_init__(self) -> None:
        per_host = self.settings.http.per_host
        object.__setattr__(self, "hosts", defaultdict(lambda: asyncio.Semaphore(per_host)))

    def host_turn(self, source: SourceConfig) -> asyncio.Semaphore:
        """At most ``http.per_host`` polls of one host take a slot at once.

        A poll waits for its host's turn before it takes one of the ``slots``: polls
        queued behind a busy host do not sit on slots that other hosts' polls could
        use (the fetcher's own per-host limit is taken per request, and covers
        redirects to other hosts).
        """
        return self.hosts[(urlsplit(source.url).hostname or "").lower()]

    @classmethod
    def create(
        cls,
        settings: Settings,
        store: Store,
        fetcher: Fetcher,
        clock: Callable[[], datetime],
        workers: ParseWorkers | None = None,
    ) -> Runtime:
        """Compile the watches once and share one robots.txt cache for the run."""
        slots = asyncio.Semaphore(settings.http.concurrency)
        batched = WriteBatch(store, partial(write_to, store))
        return cls(settings, store, fetcher, Matcher.from_settings(settings),
                   RobotsPolicy(fetcher), clock, slots, batched, workers)  # fmt: skip


def due_margin(interval: timedelta) -> timedelta:
    """How early a source counts as due: 10 % of its interval, between 5 s and 2 min.

    A ``*/15`` cron pass that starts a second early still polls a 15-minute source.
    """
    return min(max(interval * 0.1, timedelta(seconds=5)), timedelta(minutes=2))


def due_by(settings: Settings, source: SourceConfig, now: datetime) -> datetime:
    """A source is due at ``now`` when its next poll is at or before this time."""
    return now + due_margin(settings.source_interval(source))


async def write_to(store: Store, call: Callable[[], T]) -> T:
    """``pipeline._write`` for a call with its arguments bound (``WriteBatch`` runs its
    batches so)."""
    if store.writing:
        return await asyncio.to_thread(call)
    return call()
