"""Storage stage for a successful poll: its items, alerts and source state, in one commit.

``save_polls`` stores several polls in one transaction (each seeing the ones before
it), so a busy parse worker commits once for the few feeds it prepared together
(``workers``). Every method is one transaction (see ``db``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Integer, bindparam, case, func, update
from sqlalchemy.exc import SQLAlchemyError

from monitor.errors import StorageError
from monitor.models import ChangedItem, NewItem
from monitor.store_items import ItemQueries
from monitor.store_stories import Lookup
from monitor.stories import SAME_STORY
from monitor.tables import UTCDateTime, sources


@dataclass(frozen=True, slots=True)
class PollToSave:
    """A successful poll's results, as ``Store.save_polls`` stores them."""

    name: str
    now: datetime
    next_poll_at: datetime
    etag: str | None
    last_modified: str | None
    new_items: Sequence[NewItem]
    changed_items: Sequence[ChangedItem] = ()
    raw_refresh: Mapping[int, str] | None = None  # stored item id -> new raw hash
    moved_to: str | None = None
    publish_gap: timedelta | None = None
    body_hash: str | None = None
    feed_url: str | None = None
    entry_hashes: str | None = None
    story_window: timedelta = timedelta(days=3)
    similarity: float = SAME_STORY


# A successful poll, in one prepared statement (save_poll runs for every source and pass).
_NOW = bindparam("p_now", type_=UTCDateTime)
_STORED = bindparam("p_stored", type_=Integer)
_POLL_SAVED = (
    update(sources)
    .where(sources.c.name == bindparam("p_name"))
    .values(
        etag=bindparam("p_etag"),
        last_modified=bindparam("p_last_modified"),
        first_polled_at=func.coalesce(sources.c.first_polled_at, _NOW),
        last_polled_at=_NOW,
        last_success_at=_NOW,
        next_poll_at=bindparam("p_next"),
        last_status="ok",
        last_error=None,
        consecutive_failures=0,
        total_items=sources.c.total_items + _STORED,
        last_new_at=case((_STORED > 0, _NOW), else_=sources.c.last_new_at),
        stale_reported=case((_STORED > 0, False), else_=sources.c.stale_reported),
        moved_to=bindparam("p_moved_to"),
        publish_gap=bindparam("p_gap"),
        body_hash=bindparam("p_body_hash"),
        feed_url=bindparam("p_feed_url"),
        entry_hashes=bindparam("p_entry_hashes"),
        claimed_by=None,
        claim_expires_at=None,
    )
)


class PollQueries(ItemQueries):
    """Saving polls (mixed into ``Store``)."""

    def save_poll(
        self,
        name: str,
        *,
        now: datetime,
        next_poll_at: datetime,
        etag: str | None,
        last_modified: str | None,
        new_items: Sequence[NewItem],
        changed_items: Sequence[ChangedItem] = (),
        raw_refresh: Mapping[int, str] | None = None,
        moved_to: str | None = None,
        publish_gap: timedelta | None = None,
        body_hash: str | None = None,
        feed_url: str | None = None,
        entry_hashes: str | None = None,
        story_window: timedelta = timedelta(days=3),
        similarity: float = SAME_STORY,
    ) -> tuple[int, int]:
        """Store a successful poll in one transaction; release the claim.

        Returns (items stored, alerts stored). Story identity: see ``store_items``.
        """
        poll = PollToSave(
            name, now, next_poll_at, etag, last_modified, new_items, changed_items,
            raw_refresh, moved_to, publish_gap, body_hash, feed_url, entry_hashes,
            story_window, similarity,
        )  # fmt: skip
        saved = self.save_polls([poll])[0]
        if isinstance(saved, Exception):  # pragma: no cover - one poll's failure is raised
            raise saved
        return saved

    def save_polls(self, polls: Sequence[PollToSave]) -> list[tuple[int, int] | Exception]:
        """Store several successful polls in one transaction, in order; release their claims.

        One commit for all of them: a pass with more fetched feeds than workers stores
        a few at a time (``workers``), and each commit rewrites every page its polls
        touched (the story-key index is spread over all its pages). Each poll sees the
        ones before it, as in separate transactions. With several polls, each runs in
        a savepoint: one that fails is rolled back alone, and its exception takes its
        place in the result; a single poll's failure is raised, as is a failed commit.
        Returns (items stored, alerts stored) for each poll.
        """
        # The first poll's story lookup is made in a read snapshot, before the writer
        # lock (``looked_ahead``); the others inside the transaction, where they see
        # the polls before them. (A catch-up of those in Python, after lookups made
        # ahead for every poll, cost more CPU than these lookups: 1 s more a cold pass.)
        aheads: list[Lookup | None] = [
            self.looked_ahead(p.name, p.new_items, p.now - p.story_window, p.similarity)
            if at == 0
            else None
            for at, p in enumerate(polls)
        ]
        saved: list[tuple[int, int] | Exception] = []
        with self._tx() as conn:
            for poll, ahead in zip(polls, aheads, strict=True):
                if len(polls) == 1:
                    saved.append(self._save_poll(conn, poll, ahead))
                    continue
                try:
                    with conn.begin_nested():
                        saved.append(self._save_poll(conn, poll, ahead))
                except SQLAlchemyError as exc:
                    saved.append(StorageError(f"database error: {getattr(exc, 'orig', exc)}"))
                except Exception as exc:  # a bug in one poll must not lose the others
                    saved.append(exc)
        return saved

    def _save_poll(
        self, conn: Connection, poll: PollToSave, ahead: Lookup | None
    ) -> tuple[int, int]:
        since = poll.now - poll.story_window
        stored, alerted = self._store_new(
            conn, poll.name, poll.new_items, poll.now, since, poll.similarity, ahead
        )
        self._refresh_raw_hashes(conn, poll.raw_refresh or {})
        for changed in poll.changed_items:
            alerted += self._store_change(conn, changed, poll.now)
        gap = poll.publish_gap
        self._on_driver(_POLL_SAVED).run(
            conn,
            {
                "p_name": poll.name,
                "p_etag": poll.etag,
                "p_last_modified": poll.last_modified,
                "p_now": poll.now,
                "p_next": poll.next_poll_at,
                "p_stored": stored,
                "p_moved_to": poll.moved_to,
                "p_gap": int(gap.total_seconds()) if gap else None,
                "p_body_hash": poll.body_hash,
                "p_feed_url": poll.feed_url,
                "p_entry_hashes": poll.entry_hashes,
            },
        )
        return stored, alerted
