"""Fetcher policies against a real local server: which failures are retried, how long
the retries wait (Retry-After, exponential backoff with jitter), raw deflate and
deflate bombs, and the check of the address actually connected to."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import stamina

from monitor.config import HttpSettings
from monitor.errors import BodyTooLarge, HTTPStatusError
from monitor.fetch import Fetcher
from monitor.netguard import UnsafeURL
from monitor.retry_after import MAX_RETRY_AFTER, retry_after_seconds
from tests.conftest import http_settings
from tests.feedgen import Entry, rss
from tests.servers import HTTPFixture, Route, Seen

FEED = rss("Desk", [Entry("Habána café: visa talks", "https://x.org/1", "Cuba")])
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http(**overrides: object) -> HttpSettings:
    return http_settings(**{"timeout": 10.0, **overrides})


def count(web: HTTPFixture, path: str) -> int:
    return sum(1 for r in web.requests if r.path == path)


def in_seconds(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def imf_fixdate(when: datetime) -> str:
    """RFC 9110's preferred HTTP-date: ``Sun, 06 Nov 1994 08:49:37 GMT``."""
    return format_datetime(when.astimezone(UTC), usegmt=True)


def rfc850_date(when: datetime) -> str:
    """The obsolete ``Sunday, 06-Nov-94 08:49:37 GMT``."""
    when = when.astimezone(UTC)
    return f"{DAYS[when.weekday()]}, {when.day:02d}-{MONTHS[when.month - 1]}-{when:%y %H:%M:%S} GMT"


def asctime_date(when: datetime) -> str:
    """The obsolete ``Sun Nov  6 08:49:37 1994`` (no zone: HTTP dates are always UTC)."""
    when = when.astimezone(UTC)
    return f"{DAYS[when.weekday()][:3]} {MONTHS[when.month - 1]} {when.day:>2} {when:%H:%M:%S %Y}"


@pytest.fixture
def five_hours_west() -> Iterator[None]:
    """The process's local time zone is UTC-5 (restored afterwards)."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "XXX+05"  # POSIX form: needs no tz database
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


# 1. Retry-After on a 503 pauses the host ---------------------------------------------


async def test_503_retry_after_delays_the_whole_host(web: HTTPFixture) -> None:
    """A 503's Retry-After pauses every URL of that host, as a 429's does."""
    web.routes["/limited"] = Route(FEED, statuses=[503], headers={"Retry-After": "1"})
    web.routes["/other"] = Route(FEED, delay=0.05)
    async with Fetcher(http()) as fetcher:
        first = asyncio.create_task(fetcher.fetch(web.url("/limited")))
        for _ in range(500):  # bounded: at most ~5 s for the 503 to arrive
            if fetcher.host_delay(web.url("/other")) > 0 or first.done():
                break
            await asyncio.sleep(0.01)
        paused = fetcher.host_delay(web.url("/other"))
        other = await fetcher.fetch(web.url("/other"))
        assert (await first).body == FEED
    assert 0 < paused <= 1.0  # the whole host, not just /limited, was paused
    assert other.body == FEED
    limited = [r.at for r in web.requests if r.path == "/limited"]
    other_at = next(r.at for r in web.requests if r.path == "/other")
    assert len(limited) == 2  # the 503, then the retry after the pause
    assert other_at - limited[0] >= 0.9  # the other URL on that host waited for Retry-After
    assert limited[1] - limited[0] >= 0.9  # and so did the retry itself


# 2. 408 is transient ------------------------------------------------------------------


async def test_408_is_retried(web: HTTPFixture) -> None:
    """A 408 Request Timeout is transient: retried, and the retry's content is returned."""
    web.routes["/feed"] = Route(FEED, statuses=[408])
    async with Fetcher(http(retries=2)) as fetcher:
        result = await fetcher.fetch(web.url("/feed"))
    assert result.status == 200 and result.body == FEED
    assert count(web, "/feed") == 2


# 3. Retry-After as an HTTP-date ------------------------------------------------------


@pytest.mark.parametrize("form", [imf_fixdate, rfc850_date], ids=["imf-fixdate", "rfc850"])
def test_retry_after_http_date_in_30_s(form: object) -> None:
    """An HTTP-date Retry-After is the seconds from now until that date."""
    value = form(in_seconds(30))  # type: ignore[operator]
    assert retry_after_seconds(value) == pytest.approx(30, abs=3)


def test_retry_after_http_date_in_the_past_is_zero() -> None:
    """A Retry-After date already past means no wait, not a negative one."""
    assert retry_after_seconds(imf_fixdate(in_seconds(-3600))) == 0.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


@pytest.mark.parametrize(
    "value",
    [None, "", "   ", "soon", "1.5", "-3", "Mon, 99 Foo 2026 25:61:00 GMT", "120 seconds"],
)
def test_retry_after_garbage_is_none(value: str | None) -> None:
    """A Retry-After that is neither delay-seconds nor an HTTP-date is ignored (None)."""
    assert retry_after_seconds(value) is None


@pytest.mark.parametrize("value", ["9" * 400, "31536000", "Fri, 01 Jan 9999 00:00:00 GMT"])
def test_a_retry_after_beyond_a_day_counts_as_a_day(value: str) -> None:
    """No Retry-After pauses a host for good (an overflowing one used to be infinite)."""
    assert retry_after_seconds(value) == MAX_RETRY_AFTER


def test_retry_after_asctime_date_is_utc(five_hours_west: None) -> None:
    """The asctime HTTP-date form is UTC whatever the machine's time zone."""
    assert retry_after_seconds(asctime_date(in_seconds(30))) == pytest.approx(30, abs=3)


async def test_unicode_digit_retry_after_is_ignored(web: HTTPFixture) -> None:
    """A Retry-After of non-ASCII 'digits' is garbage: the fetch just retries the 503."""
    web.routes["/feed"] = Route(FEED, statuses=[503], headers={"Retry-After": "\u00b2"})
    async with Fetcher(http(retries=1)) as fetcher:
        result = await fetcher.fetch(web.url("/feed"))
    assert result.body == FEED


async def test_429_with_a_far_http_date_fails_at_once(
    web: HTTPFixture, caplog: pytest.LogCaptureFixture
) -> None:
    """A 429 whose HTTP-date Retry-After is over 30 s away fails at once, carrying the wait."""
    far = imf_fixdate(in_seconds(600))
    web.routes["/limited"] = Route(FEED, status=429, headers={"Retry-After": far})
    web.routes["/other"] = Route(FEED)
    with caplog.at_level(logging.INFO, logger="monitor.fetch"):
        async with Fetcher(http(retries=3)) as fetcher:
            with pytest.raises(HTTPStatusError) as caught:
                await fetcher.fetch(web.url("/limited"))
            # the host stays paused: another URL there fails without a request
            with pytest.raises(HTTPStatusError, match="Retry-After") as other:
                await fetcher.fetch(web.url("/other"))
    assert caught.value.status == 429
    assert "asks to wait" in str(caught.value)
    assert "still failing" not in str(caught.value)  # failed at once, not at the deadline
    assert not [r for r in caplog.records if "retry" in r.getMessage()]  # no wait was begun
    assert caught.value.retry_after == pytest.approx(600, abs=5)
    assert other.value.retry_after == pytest.approx(600, abs=5)
    assert count(web, "/limited") == 1  # not retried
    assert count(web, "/other") == 0


# 4. Timeouts are transient ----------------------------------------------------------


async def test_a_read_timeout_is_retried(
    web: HTTPFixture, caplog: pytest.LogCaptureFixture
) -> None:
    """A request that times out (httpx's per-operation timeout) is retried within the deadline."""
    calls = itertools.count()

    def slow_once(seen: Seen) -> tuple[int, dict[str, str], bytes]:
        if seen.path == "/feed" and next(calls) == 0:
            time.sleep(1.5)  # past the 0.5 s read timeout; the fetch deadline is 10 s
        return 200, {"Content-Type": "application/rss+xml"}, FEED

    web.set_handler(slow_once)
    with caplog.at_level(logging.INFO, logger="monitor.fetch"):
        async with Fetcher(http(timeout=0.5, retries=2)) as fetcher:
            result = await fetcher.fetch(web.url("/feed"), time_limit=10)
    assert result.body == FEED
    assert count(web, "/feed") == 2
    retries = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == 1 and "stopped answering; retry 1 in" in retries[0]


# 5. Exponential backoff with jitter --------------------------------------------------


async def test_backoff_is_exponential_with_jitter(
    web: HTTPFixture, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Waits between retries double (0.5, 1, 2 s) plus up to 0.5 s of jitter that varies."""
    assert not stamina.is_testing()  # testing mode would zero every wait
    slept: list[float] = []

    async def no_real_wait(delay: float) -> None:  # stamina's sleep: record, do not wait
        slept.append(delay)
        await asyncio.sleep(0)

    # stamina's own sleep (private: a rename makes this line fail, not the test pass)
    monkeypatch.setattr("stamina._core._smart_sleep", no_real_wait)
    runs: list[list[float]] = []
    async with Fetcher(http(retries=3)) as fetcher:
        for _ in range(2):
            web.routes["/flaky"] = Route(FEED, statuses=[503, 503, 503])
            caplog.clear()
            before = len(slept)
            with caplog.at_level(logging.INFO, logger="monitor.fetch"):
                result = await fetcher.fetch(web.url("/flaky"))
            assert result.body == FEED
            waits = slept[before:]
            logged = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
            # the waits slept are the ones stamina chose and our retry log line reports
            assert [m.rpartition("; ")[2] for m in logged] == [
                f"retry {n} in {w:.1f} s" for n, w in enumerate(waits, 1)
            ]
            assert len(waits) == 3
            runs.append(waits)
    assert count(web, "/flaky") == 8  # 4 attempts a run
    for waits in runs:
        for n, wait in enumerate(waits):
            base = 0.5 * 2**n  # wait_initial * exp_base ** (retry - 1)
            assert base <= wait <= base + 0.5, (n, waits)
        assert waits[0] < waits[1] < waits[2]
    assert runs[0] != runs[1]  # jitter: two runs do not wait alike


# 6. Raw deflate and deflate bombs -----------------------------------------------------


def raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-15)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize("size", [1, 4000], ids=["one-chunk", "many-chunks"])
async def test_raw_deflate_is_decoded(web: HTTPFixture, size: int) -> None:
    """A deflate body without the zlib header (as some servers send) is decoded."""
    body = FEED if size == 1 else b"".join(os.urandom(16).hex().encode() for _ in range(size)) * 2
    sent = raw_deflate(body)
    assert sent[:1] != b"x" and sent != zlib.compress(body)  # really headerless
    web.routes["/raw"] = Route(sent, headers={"Content-Encoding": "deflate"})
    async with Fetcher(http()) as fetcher:
        result = await fetcher.fetch(web.url("/raw"))
    assert result.body == body


@pytest.mark.parametrize("pack", [zlib.compress, raw_deflate], ids=["zlib", "raw"])
async def test_deflate_bomb_stops_at_the_cap(web: HTTPFixture, pack: object) -> None:
    """A deflate bomb (50 MB of zeros) fails with BodyTooLarge in bounded memory."""
    zeros = b"\0" * 50_000_000
    bomb = pack(zeros)  # type: ignore[operator]
    del zeros
    assert len(bomb) < 100_000
    web.routes["/bomb"] = Route(
        bomb, content_type="application/xml", headers={"Content-Encoding": "deflate"}
    )
    tracemalloc.start()
    try:
        async with Fetcher(http(retries=0)) as fetcher:
            with pytest.raises(BodyTooLarge, match="decompressed body is over the 1000000-byte"):
                await fetcher.fetch(web.url("/bomb"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000


# 7. The address actually connected to (DNS rebinding) -----------------------------------


async def test_peer_address_is_checked_when_dns_said_public(
    web: HTTPFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A content URL whose DNS said public but which connected to 127.0.0.1 is refused."""
    for name in PROXY_VARIABLES:  # through a proxy the peer is the proxy: not checked
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    resolved: list[str] = []

    async def dns_said_public(url: str) -> None:
        resolved.append(url)

    monkeypatch.setattr("monitor.fetch.check_url", dns_said_public)
    web.routes["/feed"] = Route(FEED)
    web.routes["/big"] = Route(b"", filler=200_000)  # over the cap: refused before any body
    async with Fetcher(http(allow_private_networks=False, retries=2, max_bytes=100_000)) as fetcher:
        with pytest.raises(UnsafeURL, match=r"resolves to 127\.0\.0\.1"):
            await fetcher.fetch(web.url("/feed"), trusted=False)
        with pytest.raises(UnsafeURL, match=r"resolves to 127\.0\.0\.1"):
            await fetcher.fetch(web.url("/big"), trusted=False)  # not BodyTooLarge
        trusted = await fetcher.fetch(web.url("/feed"))  # a config URL is not checked
    assert trusted.body == FEED
    assert resolved == [web.url("/feed"), web.url("/big")]  # the pre-connect check ran
    assert count(web, "/feed") == 2  # the refusal is final: not retried
    assert count(web, "/big") == 1
