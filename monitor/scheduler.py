"""The daemon (``news-monitor run``): APScheduler 3.x ``AsyncIOScheduler`` wiring and signals.

Jobs: one per source (its interval with jitter, or its cron), one per scheduled
subscriber, a digest check every minute (quiet hours ending, other workers' alerts),
an outbox drain every few seconds and daily retention pruning; every source is
polled once at start-up. Jobs coalesce, never overlap themselves, and tolerate a
late start (misfire grace). Whether a source or digest is really due is decided by
the database (shared with other workers), so a job firing is only a wake-up.

Signals: SIGTERM/SIGINT stop taking work; in-flight polls and deliveries get
``server.shutdown_grace`` to finish, then the process exits 0. SIGHUP reloads the
config: sources, watches, channels and subscribers added, changed or removed take
effect without a restart; an invalid file is rejected and the running config kept.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor import config, outbox
from monitor.channels import Channel, ChannelContext, build_channels
from monitor.config import Settings, SourceConfig
from monitor.errors import ConfigError
from monitor.fetch import Fetcher
from monitor.logs import add_secrets
from monitor.metrics import Metrics
from monitor.passes import create_due_digests, delivery_client, log_poll, prune
from monitor.pipeline import poll_source
from monitor.runtime import Runtime
from monitor.schedule import Every, Immediate
from monitor.server import StatusServer
from monitor.store import Store

logger = logging.getLogger(__name__)

DRAIN_EVERY = timedelta(seconds=2)
DIGEST_CHECK_EVERY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Generation:
    """Everything derived from one version of the config; swapped whole on reload."""

    settings: Settings
    runtime: Runtime
    channels: dict[str, Channel]


class Daemon:
    """Owns the scheduler, the HTTP clients, the status endpoint and the jobs in flight."""

    def __init__(self, settings: Settings, store: Store, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock
        self.stop = asyncio.Event()
        self.metrics = Metrics(store)
        self._first = settings
        self._inflight: set[asyncio.Task[Any]] = set()
        self._scheduler = AsyncIOScheduler(timezone=UTC)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._request_stop, sig)
        loop.add_signal_handler(signal.SIGHUP, self._request_reload)
        settings = self._first
        async with Fetcher(settings.http) as fetcher, delivery_client(settings) as http:
            self._fetcher, self._http = fetcher, http
            self.generation = self._build(settings)
            self._add_jobs()
            self._scheduler.start()
            server = self._start_server(settings)
            logger.info(
                "daemon started: %d sources, %d subscribers",
                len(settings.sources), len(settings.subscribers),
            )  # fmt: skip
            await self.stop.wait()
            self._scheduler.pause()  # no new jobs; shutdown() would cancel the running ones
            await self._finish_inflight(self.generation.settings.server.shutdown_grace)
            self._scheduler.shutdown(wait=False)
            if server is not None:
                server.stop()
        logger.info("daemon stopped")
        return 0

    # -- configuration -------------------------------------------------------------

    def _build(self, settings: Settings) -> Generation:
        runtime = Runtime.create(settings, self.store, self._fetcher, self.clock)
        channels = build_channels(settings, ChannelContext(self._http, settings.path.parent))
        return Generation(settings, runtime, channels)

    def _request_reload(self) -> None:
        task = asyncio.get_running_loop().create_task(self._reload())
        self._inflight.add(task)  # a reference, so the task is not collected mid-way
        task.add_done_callback(self._inflight.discard)

    async def _reload(self) -> None:
        path: Path = self.generation.settings.path
        try:
            settings = config.load(path)
        except ConfigError as exc:
            logger.error("SIGHUP: the new config is invalid; keeping the running one:\n%s", exc)
            return
        add_secrets(settings.secrets())
        try:
            generation = self._build(settings)
        except Exception as exc:  # a bug must not leave the daemon half-reloaded
            logger.error("SIGHUP: cannot apply the new config (%r); keeping the running one", exc)
            return
        for change in restart_needed(self.generation.settings, settings):
            logger.warning("SIGHUP: %s take effect at the next restart", change)
        self.generation = generation
        for job in self._scheduler.get_jobs():
            if job.id.startswith(("source:", "subscriber:")):
                job.remove()
        self._add_source_and_subscriber_jobs()
        logger.info(
            "SIGHUP: config reloaded: %d sources, %d subscribers",
            len(settings.sources), len(settings.subscribers),
        )  # fmt: skip

    # -- jobs ------------------------------------------------------------------------

    def _add_jobs(self) -> None:
        now = datetime.now(UTC)
        self._add_source_and_subscriber_jobs()
        self._scheduler.add_job(
            self._tracked, IntervalTrigger(seconds=DRAIN_EVERY.total_seconds(), timezone=UTC),
            args=[self._drain], id="outbox", coalesce=True, max_instances=1,
        )  # fmt: skip
        every_minute = IntervalTrigger(seconds=DIGEST_CHECK_EVERY.total_seconds(), timezone=UTC)
        self._scheduler.add_job(
            self._tracked, every_minute, args=[self._digests], id="digests", coalesce=True,
            max_instances=1,
        )  # fmt: skip
        self._scheduler.add_job(
            self._tracked, IntervalTrigger(days=1, timezone=UTC), args=[self._prune],
            id="retention", coalesce=True, max_instances=1, next_run_time=now,
        )  # fmt: skip

    def _add_source_and_subscriber_jobs(self) -> None:
        now = datetime.now(UTC)
        settings = self.generation.settings
        for source in settings.sources:
            trigger = self._source_trigger(settings, source)
            self._scheduler.add_job(
                self._tracked, trigger, args=[self._poll, source.name],
                id=f"source:{source.name}", coalesce=True, max_instances=1,
                misfire_grace_time=60, next_run_time=now, replace_existing=True,
            )  # fmt: skip
        for sub in settings.subscribers:
            schedule = sub.parsed_schedule
            if isinstance(schedule, Immediate):
                continue
            when: Any = (
                IntervalTrigger(seconds=schedule.interval.total_seconds(), timezone=UTC)
                if isinstance(schedule, Every)
                else schedule.trigger()
            )
            self._scheduler.add_job(
                self._tracked, when, args=[self._digests], id=f"subscriber:{sub.name}",
                coalesce=True, max_instances=1, misfire_grace_time=300, replace_existing=True,
            )  # fmt: skip

    @staticmethod
    def _source_trigger(settings: Settings, source: SourceConfig) -> Any:
        if source.cron is not None:
            return CronTrigger.from_crontab(source.cron, timezone=UTC)
        seconds = settings.source_min_interval(source).total_seconds()
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

    async def _poll(self, name: str) -> None:
        generation = self.generation
        source = next((s for s in generation.settings.sources if s.name == name), None)
        if source is None:
            return  # removed by a reload while the job was waiting
        outcome = await poll_source(generation.runtime, source)
        self.metrics.record_poll(outcome)
        if outcome.status != "skipped":
            log_poll(outcome, generation.settings)
        if outcome.matches:
            await self._digests(immediate_only=True)

    async def _digests(self, *, immediate_only: bool = False) -> None:
        # in a thread: freezing a digest waits for the write lock, as polls save theirs
        created = await asyncio.to_thread(
            partial(create_due_digests, self.generation.runtime, immediate_only=immediate_only)
        )
        if created:
            self.metrics.record_digests(created)
            await self._drain()

    async def _drain(self) -> None:
        generation = self.generation
        outcomes = await outbox.drain(
            generation.settings, self.store, generation.channels, self.clock
        )
        self.metrics.record_deliveries(outcomes)

    async def _prune(self) -> None:
        prune(self.generation.settings, self.store, self.clock())

    # -- status and shutdown ---------------------------------------------------------

    def _start_server(self, settings: Settings) -> StatusServer | None:
        address = settings.server.address
        if address is None:
            return None
        server = StatusServer(address, self.metrics, self._readiness, atom_feeds(settings))
        server.start()
        return server

    def _readiness(self) -> tuple[bool, str]:
        if not self._scheduler.running or self.stop.is_set():
            return False, "scheduler not running"
        try:
            self.store.ping()
        except Exception as exc:
            return False, f"storage unreachable: {exc}"
        return True, "ready"

    def _request_stop(self, sig: signal.Signals) -> None:
        if not self.stop.is_set():
            logger.info("%s received: finishing in-flight work, then stopping", sig.name)
            self.stop.set()

    async def _finish_inflight(self, grace: timedelta) -> None:
        pending = {t for t in self._inflight if not t.done()}
        if not pending:
            return
        _done, still = await asyncio.wait(pending, timeout=grace.total_seconds())
        for task in still:
            task.cancel()
        if still:
            logger.warning("stopped %d jobs still running after the grace period", len(still))
            await asyncio.gather(*still, return_exceptions=True)


def restart_needed(old: Settings, new: Settings) -> list[str]:
    """The changes between two configs that a reload cannot apply (set up at start)."""
    changes = [f"[{section}] changes" for section in ("http", "storage", "server")
               if getattr(old, section) != getattr(new, section)]  # fmt: skip
    if atom_feeds(old) != atom_feeds(new):
        changes.append("new or moved atom feeds (served at /feeds/)")
    return changes


def atom_feeds(settings: Settings) -> dict[str, Path]:
    """The atom channels' files, by channel name, as the status endpoint serves them."""
    return {c.name: settings.resolve_path(c.path) for c in settings.channels if c.type == "atom"}
