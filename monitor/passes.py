"""One pass (``news-monitor once``) and the pieces the daemon shares with it.

A pass polls every due source concurrently (``pipeline.poll_source`` each), freezes
the digests whose schedule is due, then drains the outbox, and logs one line per
source and a summary. Returns counts; the CLI turns them into the exit code.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

import httpx

from monitor.config import Settings, SourceConfig
from monitor.digest import due_grace, first_due, new_payload
from monitor.fetch import Fetcher
from monitor.keepalive import pooled_transport
from monitor.models import PassSummary, PollOutcome
from monitor.pipeline import poll_source
from monitor.proxies import Routes, environment_proxies
from monitor.runtime import Runtime, due_by
from monitor.schedule import Immediate
from monitor.store import Store
from monitor.workers import ParseWorkers

logger = logging.getLogger(__name__)

# A ``once`` pass treats a retry due within this margin as due, so the next cron pass
# always retries a delivery that failed on the previous one (the first wait is ~5 s).
ONCE_GRACE = timedelta(seconds=30)
DELIVERY_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)  # httpx's


def create_due_digests(rt: Runtime, *, immediate_only: bool = False) -> list[str]:
    """Freeze a digest for every subscriber whose schedule is due; return their names."""
    created: list[str] = []
    for sub in rt.settings.subscribers:
        schedule = sub.parsed_schedule
        if immediate_only and not isinstance(schedule, Immediate):
            continue
        now = rt.clock()
        if sub.is_quiet(now):
            continue  # matches wait and go out together when the quiet hours end
        if not isinstance(schedule, Immediate):
            due_at = rt.store.next_digest_at(sub.name, first=first_due(schedule, now))
            if due_at > now + due_grace(schedule):
                continue

        payload = rt.store.create_digest(
            sub.name,
            channels=sub.channels,
            now=now,
            max_items=sub.max_items,
            min_items=1 if isinstance(schedule, Immediate) else sub.min_items,
            due_before=now + due_grace(schedule),
            next_digest_at=schedule.next_after(now),
            build=partial(new_payload, sub.name, now),
        )
        if payload is not None:
            created.append(sub.name)
            logger.info(
                "digest %s for subscriber=%s: %d items%s",
                payload["digest_id"], sub.name, len(payload["items"]),
                f" ({payload['more']} more carried over)" if payload.get("more") else "",
            )  # fmt: skip
    return created


def log_poll(outcome: PollOutcome, settings: Settings) -> None:
    if outcome.status == "error":
        logger.warning("source=%s status=error: %s", outcome.source, outcome.error)
    elif outcome.status == "skipped":
        logger.info("source=%s status=skipped (not due, or another worker has it)", outcome.source)
    else:
        logger.info(
            "source=%s status=%s items=%d new=%d matches=%d elapsed=%.2fs",
            outcome.source, outcome.status, outcome.items, outcome.new_items, outcome.matches,
            outcome.elapsed,
        )  # fmt: skip


Progress = Callable[[int, int], None]  # (sources done, sources in the pass)


async def poll_sources(
    rt: Runtime, *, all_sources: bool, summary: PassSummary, progress: Progress | None = None
) -> None:
    """Poll every due source (every source with ``all_sources``) concurrently.

    ``progress`` is told after each source; the per-source lines are logged at the
    end, in config order, so a progress display is not interleaved with them.
    """
    pass_started = rt.clock()
    total = len(rt.settings.sources)
    done = 0
    later = set() if all_sources else not_due(rt, pass_started)

    async def one(source: SourceConfig) -> PollOutcome:
        nonlocal done
        if source.name in later:
            outcome = PollOutcome(source.name, "skipped")
        else:
            outcome = await poll_source(
                rt, source, only_due=not all_sources,
                polled_before=pass_started if all_sources else None,
            )  # fmt: skip
        done += 1
        if progress is not None:
            progress(done, total)
        return outcome

    outcomes = await asyncio.gather(*(one(source) for source in rt.settings.sources))
    for outcome in outcomes:
        log_poll(outcome, rt.settings)
        summary.polls.append(outcome)


def not_due(rt: Runtime, now: datetime) -> set[str]:
    """The sources whose next poll is later than ``now`` plus their due margin.

    One read of every source's state instead of a claim (a write) per source: a cron
    pass that finds most sources not due skips them without touching the writer lock.
    A source not listed here is still claimed, and the claim checks again.
    """
    next_polls = rt.store.next_polls()
    return {
        source.name
        for source in rt.settings.sources
        if (at := next_polls.get(source.name)) is not None and at > due_by(rt.settings, source, now)
    }


def log_summary(summary: PassSummary) -> None:
    polled = [p for p in summary.polls if p.status != "skipped"]
    sent = sum(1 for d in summary.deliveries if d.status == "sent")
    logger.info(
        "pass complete: sources ok=%d failed=%d skipped=%d new_items=%d matches=%d "
        "digests=%d deliveries sent=%d failed=%d",
        len(polled) - summary.failed_sources, summary.failed_sources,
        len(summary.polls) - len(polled), sum(p.new_items for p in summary.polls),
        sum(p.matches for p in summary.polls), summary.digests_created, sent,
        summary.failed_deliveries,
    )  # fmt: skip


async def run_once(
    settings: Settings,
    store: Store,
    clock: Callable[[], datetime],
    *,
    all_sources: bool = False,
    progress: Progress | None = None,
    workers: ParseWorkers | None = None,
) -> PassSummary:
    """One pass for cron-style jobs: poll due sources, freeze due digests, drain the outbox.

    ``workers``: parse workers for the CPU work of the polls (see ``monitor.workers``).
    """
    summary = PassSummary()
    async with Fetcher(settings.http) as fetcher:
        rt = Runtime.create(settings, store, fetcher, clock, workers)
        await poll_sources(rt, all_sources=all_sources, summary=summary, progress=progress)
        summary.digests_created = len(create_due_digests(rt))
    if store.has_due_deliveries(due_before=clock() + ONCE_GRACE):
        # imported here: rendering and channels are not needed by a pass with nothing to send
        from monitor import outbox
        from monitor.channels import ChannelContext, build_channels

        async with delivery_client(settings) as http:
            channels = build_channels(settings, ChannelContext(http, settings.path.parent))
            summary.deliveries = await outbox.drain(
                settings, store, channels, clock, grace=ONCE_GRACE
            )
    prune(settings, store, clock())
    log_summary(summary)
    return summary


def prune(settings: Settings, store: Store, now: datetime) -> None:
    """Retention: forget old items and digests, drop clustering data past the window."""
    deleted = store.prune(
        now=now,
        retention=timedelta(days=settings.storage.retention_days),
        story_window=settings.stories.window,
    )
    if deleted:
        logger.info("pruned %d items older than %d days", deleted, settings.storage.retention_days)


def delivery_client(settings: Settings) -> httpx.AsyncClient:
    """The HTTP client channels use: no redirects (a 3xx is not a delivery).

    Requests go through the proxy the environment names for them, by the same rule
    as fetches (``proxies.Routes``).
    """
    routes = Routes(lambda: pooled_transport(DELIVERY_LIMITS), DELIVERY_LIMITS,
                    environment_proxies())  # fmt: skip
    return httpx.AsyncClient(
        transport=routes,
        timeout=httpx.Timeout(30.0),
        follow_redirects=False,
        headers={"User-Agent": settings.http.user_agent},
        trust_env=False,  # proxies: ``routes``
    )
