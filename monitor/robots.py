"""robots.txt for page sources and fetched article pages (RFC 9309, parsed by Protego).

One robots.txt per origin, fetched through the same ``Fetcher`` (so the same limits
and safety rules apply) and cached: a day when read, ten minutes when it could not
be. A missing robots.txt (4xx) allows everything; an unreachable one (5xx, network
error) disallows everything for now, as RFC 9309 asks. Feeds named in the config
are not checked: subscribing to a feed is what the publisher offers it for.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from protego import Protego

from monitor.errors import FetchError, HTTPStatusError
from monitor.fetch import Fetcher

ROBOTS_AGENT = "news-monitor"  # the product token robots.txt groups match
READ_TTL = 24 * 3600.0
ERROR_TTL = 600.0
MAX_ROBOTS_BYTES = 512_000
PRUNE_AT = 256  # cached origins before expired entries are looked for


@dataclass(frozen=True, slots=True)
class _Rules:
    parser: Protego | None  # None: a blanket rule
    allow_all: bool
    reason: str
    expires: float


class RobotsPolicy:
    """Answers "may news-monitor fetch this URL?" per the site's robots.txt."""

    def __init__(self, fetcher: Fetcher, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetcher = fetcher
        self._clock = clock
        self._cache: dict[str, _Rules] = {}
        self._prune_at = PRUNE_AT  # entries kept before the expired ones are dropped
        # one read per origin at a time; a lock lives only while a check holds or awaits it
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def check(self, url: str, *, trusted: bool) -> str | None:
        """None when allowed, else the reason it is not."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}".lower()
        rules = await self._rules(origin, trusted)
        if rules.parser is None:
            return None if rules.allow_all else rules.reason
        if rules.parser.can_fetch(url, ROBOTS_AGENT):
            return None
        return f"disallowed by {origin}/robots.txt"

    async def _rules(self, origin: str, trusted: bool) -> _Rules:
        cached = self._cache.get(origin)
        if cached is not None and cached.expires > self._clock():
            return cached
        lock = self._locks.get(origin)
        if lock is None:
            lock = self._locks[origin] = asyncio.Lock()
        async with lock:
            cached = self._cache.get(origin)
            if cached is not None and cached.expires > self._clock():
                return cached
            rules = await self._read(origin, trusted)
            self._remember(origin, rules)
            return rules

    def _remember(self, origin: str, rules: _Rules) -> None:
        """Cache ``rules``; past ``_prune_at`` entries, drop the expired ones first (a
        daemon with ``full_text`` sources meets ever more origins)."""
        if len(self._cache) >= self._prune_at:
            now = self._clock()
            self._cache = {o: r for o, r in self._cache.items() if r.expires > now}
            self._prune_at = max(PRUNE_AT, 2 * len(self._cache))
        self._cache[origin] = rules

    async def _read(self, origin: str, trusted: bool) -> _Rules:
        now = self._clock()
        try:
            result = await self._fetcher.fetch(
                f"{origin}/robots.txt",
                accept="text/plain, */*;q=0.1",
                max_bytes=MAX_ROBOTS_BYTES,
                trusted=trusted,
            )
        except HTTPStatusError as exc:
            if 400 <= exc.status < 500 and exc.status != 429:  # (RFC 9309: 429 is "unreachable")
                return _Rules(None, True, "no robots.txt", now + READ_TTL)
            return _Rules(None, False, f"robots.txt unreachable ({exc})", now + ERROR_TTL)
        except FetchError as exc:
            return _Rules(None, False, f"robots.txt unreachable ({exc})", now + ERROR_TTL)
        text = result.body.decode("utf-8", errors="replace")
        return _Rules(Protego.parse(text), True, "", now + READ_TTL)
