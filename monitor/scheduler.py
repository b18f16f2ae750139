"""The daemon (``news-monitor run``): APScheduler 3.x ``AsyncIOScheduler`` wiring and signals.

Jobs: one per source (its interval with jitter, or its cron), one per scheduled
subscriber, and an outbox drain every few seconds; every source is polled once at
start-up. Jobs coalesce and never overlap themselves. Whether a source or digest
is really due is decided by the database (shared with other workers), so a job
firing is only a wake-up. SIGTERM/SIGINT stop taking work; in-flight polls and
deliveries get ``SHUTDOWN_GRACE`` seconds to finish, then the process exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor import outbox
from monitor.channels import ChannelContext, build_channels
from monitor.config import Settings, SourceConfig
from monitor.fetch import Fetcher
from monitor.passes import create_due_digests, delivery_client, log_poll, prune
from monitor.pipeline import Runtime, poll_source
from monitor.schedule import Every, Immediate
from monitor.store import Store

logger = logging.getLogger(__name__)

SHUTDOWN_GRACE = 20.0
DRAIN_EVERY = timedelta(seconds=2)


class Daemon:
    """Owns the scheduler, the HTTP clients and the set of jobs in flight."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        clock: Callable[[], datetime],
        *,
        shutdown_grace: float = SHUTDOWN_GRACE,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.shutdown_grace = shutdown_grace
        self.stop = asyncio.Event()
        self._inflight: set[asyncio.Task[Any]] = set()
        self._scheduler = AsyncIOScheduler(timezone=UTC)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._request_stop, sig)
        async with Fetcher(self.settings.http) as fetcher, delivery_client(self.settings) as http:
            self.runtime = Runtime.create(self.settings, self.store, fetcher, self.clock)
            self.channels = build_channels(
                self.settings, ChannelContext(http, self.settings.path.parent)
            )
            self._add_jobs()
            self._scheduler.start()
            logger.info(
                "daemon started: %d sources, %d subscribers",
                len(self.settings.sources), len(self.settings.subscribers),
            )  # fmt: skip
            await self.stop.wait()
            self._scheduler.shutdown(wait=False)
            await self._finish_inflight()
        logger.info("daemon stopped")
        return 0

    def _request_stop(self, sig: signal.Signals) -> None:
        if not self.stop.is_set():
            logger.info("%s received: finishing in-flight work, then stopping", sig.name)
            self.stop.set()

    async def _finish_inflight(self) -> None:
        pending = {t for t in self._inflight if not t.done()}
        if not pending:
            return
        _done, still = await asyncio.wait(pending, timeout=self.shutdown_grace)
        for task in still:
            task.cancel()
        if still:
            logger.warning("stopped %d jobs still running after the grace period", len(still))
            await asyncio.gather(*still, return_exceptions=True)

    def _add_jobs(self) -> None:
        now = datetime.now(UTC)
        for source in self.settings.sources:
            self._scheduler.add_job(
                self._tracked, self._source_trigger(source), args=[self._poll, source],
                id=f"source:{source.name}", coalesce=True, max_instances=1,
                misfire_grace_time=60, next_run_time=now,
            )  # fmt: skip
        for sub in self.settings.subscribers:
            schedule = sub.parsed_schedule
            if isinstance(schedule, Immediate):
                continue
            trigger: Any = (
                IntervalTrigger(seconds=schedule.interval.total_seconds(), timezone=UTC)
                if isinstance(schedule, Every)
                else schedule.trigger()
            )
            self._scheduler.add_job(
                self._tracked, trigger, args=[self._digests], id=f"subscriber:{sub.name}",
                coalesce=True, max_instances=1, misfire_grace_time=300,
            )  # fmt: skip
        self._scheduler.add_job(
            self._tracked, IntervalTrigger(seconds=DRAIN_EVERY.total_seconds(), timezone=UTC),
            args=[self._drain], id="outbox", coalesce=True, max_instances=1,
        )  # fmt: skip
        self._scheduler.add_job(
            self._tracked, IntervalTrigger(days=1, timezone=UTC), args=[self._prune],
            id="retention", coalesce=True, max_instances=1, next_run_time=now,
        )  # fmt: skip

    def _source_trigger(self, source: SourceConfig) -> Any:
        if source.cron is not None:
            return CronTrigger.from_crontab(source.cron, timezone=UTC)
        seconds = self.settings.source_interval(source).total_seconds()
        return IntervalTrigger(seconds=seconds, jitter=min(seconds * 0.1, 60), timezone=UTC)

    async def _tracked(self, job: Callable[..., Awaitable[None]], *args: Any) -> None:
        if self.stop.is_set():
            return
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            await job(*args)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a job's bug must not kill the daemon
            logger.error("job %s crashed", getattr(job, "__name__", job), exc_info=exc)
        finally:
            if task is not None:
                self._inflight.discard(task)

    async def _poll(self, source: SourceConfig) -> None:
        outcome = await poll_source(self.runtime, source)
        if outcome.status != "skipped":
            log_poll(outcome, self.settings)
        if outcome.matches:
            create_due_digests(self.runtime, immediate_only=True)
            await self._drain()

    async def _digests(self) -> None:
        if create_due_digests(self.runtime):
            await self._drain()

    async def _prune(self) -> None:
        prune(self.settings, self.store, self.clock())

    async def _drain(self) -> None:
        await outbox.drain(self.settings, self.store, self.channels, self.clock)
