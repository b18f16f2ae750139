"""Source health: tell the operator when a source breaks, recovers or goes quiet.

A failing source is never dropped — it backs off (``polling``) and keeps being tried.
After ``defaults.alert_after_failures`` consecutive failures it is reported once to
the ``admin`` channel with its last error, and once more when it recovers. A source
with no new item for ``defaults.stale_after`` is reported as stale, once, until it
publishes again. Every notice is also logged.
"""

from __future__ import annotations

import logging
from datetime import datetime

from monitor.config import Settings, SourceConfig
from monitor.notices import notify_admin
from monitor.schedule import format_duration
from monitor.store import SourceState, Store

logger = logging.getLogger(__name__)


def after_failure(
    settings: Settings, store: Store, source: SourceConfig, failures: int, error: str, now: datetime
) -> None:
    if failures != settings.defaults.alert_after_failures:
        return
    logger.error("source=%s has failed %d polls in a row: %s", source.name, failures, error)
    notify_admin(
        settings, store, now,
        f"Source {source.name} is failing",
        f"{failures} polls of {source.url} failed in a row; the last error: {error}. "
        "It keeps being tried, less often, and you will hear when it recovers.",
    )  # fmt: skip


def success_has_news(
    settings: Settings, before: SourceState, new_items: int, now: datetime
) -> bool:
    """Whether ``after_success`` has anything to record: a recovery or a source gone stale.

    Mostly not: the caller then skips the write (and its wait for the writer lock).
    """
    return _recovered(settings, before) or _went_stale(settings, before, new_items, now)


def _recovered(settings: Settings, before: SourceState) -> bool:
    return before.consecutive_failures >= settings.defaults.alert_after_failures


def _went_stale(settings: Settings, before: SourceState, new_items: int, now: datetime) -> bool:
    if new_items or before.stale_reported:
        return False
    last_new = before.last_new_at or before.first_polled_at
    return last_new is not None and now - last_new >= settings.defaults.stale_after


def after_success(
    settings: Settings,
    store: Store,
    source: SourceConfig,
    before: SourceState,
    new_items: int,
    now: datetime,
) -> None:
    if _recovered(settings, before):
        logger.info(
            "source=%s recovered after %d failures", source.name, before.consecutive_failures
        )
        notify_admin(
            settings, store, now,
            f"Source {source.name} recovered",
            f"{source.url} answered again after {before.consecutive_failures} failed polls.",
        )  # fmt: skip
    if not _went_stale(settings, before, new_items, now):
        return
    last_new = before.last_new_at or before.first_polled_at
    quiet = format_duration(settings.defaults.stale_after)
    logger.warning("source=%s is stale: no new item for more than %s", source.name, quiet)
    store.set_stale_reported(source.name)
    notify_admin(
        settings, store, now,
        f"Source {source.name} is stale",
        f"{source.url} has published nothing new for more than {quiet} "
        f"(last new item: {last_new:%Y-%m-%d %H:%M} UTC). Is the feed still the right one?",
    )  # fmt: skip
