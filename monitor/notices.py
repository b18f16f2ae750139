"""Operational notices for the channel named ``admin``: a delivery given up, a source
broken, recovered or stale.

A notice is a one-item digest for the pseudo-subscriber ``admin``, frozen and queued
through the same outbox as any digest, so it is retried like one. Nothing happens
when no channel is named ``admin``. Notices about the admin channel itself are not
sent (they could only fail the same way).
"""

from __future__ import annotations

import logging
from datetime import datetime

from monitor.config import Settings
from monitor.digest import isoformat, new_digest_id
from monitor.models import DigestPayload
from monitor.store import Store

logger = logging.getLogger(__name__)

ADMIN = "admin"


def notify_admin(settings: Settings, store: Store, now: datetime, title: str, text: str) -> bool:
    """Queue a notice to the admin channel; False when there is none."""
    if ADMIN not in {c.name for c in settings.channels}:
        return False
    payload: DigestPayload = {
        "version": 1,
        "digest_id": new_digest_id(now),
        "subscriber": ADMIN,
        "created_at": isoformat(now) or "",
        "items": [
            {
                "title": title,
                "url": None,
                "source": "news-monitor",
                "published_at": isoformat(now),
                "watches": ["operations"],
                "matched_terms": [],
                "snippet": text,
                "also_reported_by": [],
            }
        ],
    }
    store.queue_notice(payload, channel=ADMIN, now=now)
    logger.info("admin notice queued: %s", title)
    return True
