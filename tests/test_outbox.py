"""Outbox: retries with backoff, permanent failures, giving up, exactly-once recording."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor import outbox
from monitor.channels import Progress
from monitor.config import DeliverySettings, Settings
from monitor.digest import new_payload
from monitor.errors import PermanentDeliveryError, TransientDeliveryError
from monitor.models import AlertMatch, FeedItem, NewItem
from monitor.render import RenderedDigest
from monitor.store import Store

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


class Scripted:
    """A channel that raises the scripted errors, then accepts."""

    def __init__(self, name: str, *errors: Exception) -> None:
        self.name = name
        self.errors = list(errors)
        self.sent: list[str] = []

    async def send(self, digest: RenderedDigest, progress: Progress) -> None:
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append(digest.digest_id)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    db = Store.open(f"sqlite:///{tmp_path / 'o.db'}", "w")
    db.claim_source("s", "u", now=NOW, lease=timedelta(minutes=5), due_before=NOW)
    entry = FeedItem("k", "https://x.org/k", "https://x.org/k", "Cuba", "s", NOW)
    match = AlertMatch("newsroom", ("w",), ("Cuba",), "Cuba", ())
    db.save_poll("s", now=NOW, next_poll_at=NOW, etag=None, last_modified=None,
                 new_items=[NewItem(entry, True, (match,))])  # fmt: skip
    db.create_digest("newsroom", channels=["hook"], now=NOW, max_items=10, due_before=NOW,
                     next_digest_at=NOW, build=lambda p, m: new_payload("newsroom", NOW, p, m))  # fmt: skip
    yield db
    db.close()


def settings() -> Settings:
    return Settings(delivery=DeliverySettings())


async def test_500_500_200_delivers_once_with_growing_waits(store: Store) -> None:
    clock = Clock()
    hook = Scripted("hook", TransientDeliveryError("HTTP 500"), TransientDeliveryError("HTTP 500"))
    first = await outbox.drain(settings(), store, {"hook": hook}, clock)
    assert [o.status for o in first] == ["retry"]
    assert await outbox.drain(settings(), store, {"hook": hook}, clock) == []  # not due yet
    clock.now += timedelta(seconds=6)  # first retry is due within about 5 s
    assert [o.status for o in await outbox.drain(settings(), store, {"hook": hook}, clock)] == [
        "retry"
    ]
    clock.now += timedelta(seconds=6)
    assert await outbox.drain(settings(), store, {"hook": hook}, clock) == []  # second wait ~10 s
    clock.now += timedelta(seconds=6)
    done = await outbox.drain(settings(), store, {"hook": hook}, clock)
    assert [o.status for o in done] == ["sent"]
    assert len(hook.sent) == 1 and hook.sent[0] == done[0].digest_id
    clock.now += timedelta(hours=2)
    assert await outbox.drain(settings(), store, {"hook": hook}, clock) == []
    assert store.delivery_counts() == {"sent": 1}


async def test_permanent_failure_is_not_retried(store: Store) -> None:
    clock = Clock()
    hook = Scripted("hook", PermanentDeliveryError("channel hook: HTTP 401 Unauthorized"))
    (outcome,) = await outbox.drain(settings(), store, {"hook": hook}, clock)
    assert outcome.status == "failed" and "401" in (outcome.error or "")
    clock.now += timedelta(days=1)
    assert await outbox.drain(settings(), store, {"hook": hook}, clock) == []
    assert store.delivery_counts() == {"failed": 1}


async def test_retry_after_is_honoured(store: Store) -> None:
    clock = Clock()
    hook = Scripted("hook", TransientDeliveryError("HTTP 429", retry_after=120))
    await outbox.drain(settings(), store, {"hook": hook}, clock)
    clock.now += timedelta(seconds=60)
    assert await outbox.drain(settings(), store, {"hook": hook}, clock) == []
    clock.now += timedelta(seconds=61)
    assert [o.status for o in await outbox.drain(settings(), store, {"hook": hook}, clock)] == [
        "sent"
    ]


async def test_gives_up_after_the_limit(store: Store) -> None:
    clock = Clock()
    hook = Scripted("hook", *[TransientDeliveryError("HTTP 503")] * 100)
    statuses = []
    for _ in range(40):
        statuses += [o.status for o in await outbox.drain(settings(), store, {"hook": hook}, clock)]
        clock.now += timedelta(hours=1, minutes=10)
    assert statuses[-1] == "failed"
    assert statuses.count("failed") == 1
    assert store.delivery_counts() == {"failed": 1}


async def test_missing_channel_stays_queued(store: Store) -> None:
    (outcome,) = await outbox.drain(settings(), store, {}, Clock())
    assert outcome.status == "retry" and "no longer in the config" in (outcome.error or "")


def test_backoff_doubles_and_caps() -> None:
    policy = DeliverySettings()
    waits = [outbox.retry_delay(n, policy, None).total_seconds() for n in range(1, 15)]
    assert 4.5 <= waits[0] <= 5.5
    assert 9 <= waits[1] <= 11
    assert max(waits) <= 3600 * 1.1


def parts_saved(store: Store) -> list[int]:
    with store.engine.connect() as conn:
        return list(conn.exec_driver_sql("SELECT parts_sent FROM deliveries").scalars())


async def test_each_accepted_part_is_saved_before_the_next_is_sent(store: Store) -> None:
    """A process killed between parts must not send the accepted ones again."""
    seen_in_db: list[list[int]] = []

    class ThreeParts:
        name = "hook"

        async def send(self, digest: RenderedDigest, progress: Progress) -> None:
            for _ in range(progress.done, 3):
                progress.part_sent()
                seen_in_db.append(parts_saved(store))

    (outcome,) = await outbox.drain(settings(), store, {"hook": ThreeParts()}, Clock())
    assert outcome.status == "sent"
    assert seen_in_db == [[1], [2], [3]]


async def test_a_large_backlog_is_claimed_a_batch_at_a_time(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No claim waits behind others long enough to expire; each due delivery is tried once."""
    names = [f"c{n}" for n in range(20)]
    entry = FeedItem("k2", "https://x.org/k2", "https://x.org/k2", "Cuba again", "s", NOW)
    match = AlertMatch("newsroom", ("w",), ("Cuba",), "Cuba", ())
    store.claim_source("s", "u", now=NOW, lease=timedelta(minutes=5), due_before=NOW)
    store.save_poll("s", now=NOW, next_poll_at=NOW, etag=None, last_modified=None,
                    new_items=[NewItem(entry, True, (match,))])  # fmt: skip
    store.create_digest("newsroom", channels=names, now=NOW, max_items=10, due_before=NOW,
                        next_digest_at=NOW, build=lambda p, m: new_payload("newsroom", NOW, p, m))  # fmt: skip
    claimed: list[int] = []
    claim = store.claim_due_deliveries

    def counting(**kw: object) -> list[object]:
        found = claim(**kw)  # type: ignore[arg-type]
        claimed.append(len(found))
        return found  # type: ignore[return-value]

    monkeypatch.setattr(store, "claim_due_deliveries", counting)
    channels = {n: Scripted(n) for n in ["hook", *names]}
    channels["c3"] = Scripted("c3", TransientDeliveryError("HTTP 500"))
    clock = Clock()
    outcomes = await outbox.drain(settings(), store, channels, clock, grace=timedelta(minutes=5))
    assert sorted(o.status for o in outcomes) == ["retry"] + ["sent"] * 20
    assert max(claimed) <= outbox.MAX_PARALLEL_DELIVERIES and claimed[-1] == 0
    assert all(len(c.sent) == 1 for n, c in channels.items() if n != "c3")
