"""Each fault of a hostile web against a real local server: a clear error or the right
content, bounded memory, and the other requests unaffected."""

from __future__ import annotations

import asyncio
import gzip
import time
import tracemalloc

import brotli
import pytest
import zstandard

from monitor.config import HttpSettings
from monitor.errors import (
    BodyTooLarge,
    FetchConnectError,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    ParseError,
)
from monitor.feeds import parse_feed
from monitor.fetch import Fetcher
from monitor.netguard import UnsafeURL
from tests.conftest import http_settings as http
from tests.feedgen import Entry, rss
from tests.servers import HTTPFixture, Route

FEED = rss("Desk", [Entry("Habána café: visa talks", "https://x.org/1", "Cuba")])


async def fetch_all(settings: HttpSettings, *urls: str) -> list[object]:
    async with Fetcher(settings) as fetcher:
        return await asyncio.gather(*(fetcher.fetch(u) for u in urls), return_exceptions=True)


async def test_faults_fail_alone(web: HTTPFixture) -> None:
    web.routes["/ok"] = Route(FEED)
    web.routes["/trickle"] = Route(FEED * 40, trickle=0.1)
    web.routes["/huge"] = Route(b"", filler=50_000_000)
    web.routes["/reset"] = Route(FEED * 10, reset_after=200)
    web.routes["/empty"] = Route(b"")
    web.routes["/gone"] = Route(b"", status=410)
    ok, trickle, huge, reset, empty, gone = await fetch_all(
        http(retries=1),
        *(web.url(p) for p in ["/ok", "/trickle", "/huge", "/reset", "/empty", "/gone"]),
    )
    assert not isinstance(ok, BaseException) and ok.body == FEED  # type: ignore[attr-defined]
    assert isinstance(trickle, FetchTimeout) and "within 2 s" in str(trickle)
    assert isinstance(huge, BodyTooLarge) and "1000000-byte limit" in str(huge)
    assert isinstance(reset, FetchConnectError) and "connection broke" in str(reset)
    assert not isinstance(empty, BaseException) and empty.body == b""  # type: ignore[attr-defined]
    with pytest.raises(ParseError, match="empty response"):
        parse_feed(b"", "u")
    assert isinstance(gone, HTTPStatusError) and gone.status == 410
    assert "gone for good" in str(gone)
    # the reset was retried (transient), the 410 was not (permanent)
    assert sum(1 for r in web.requests if r.path == "/reset") == 2
    assert sum(1 for r in web.requests if r.path == "/gone") == 1


async def test_50mb_body_keeps_memory_bounded(web: HTTPFixture) -> None:
    web.routes["/huge"] = Route(b"", filler=50_000_000, declare_length=False)
    tracemalloc.start()
    try:
        (huge,) = await fetch_all(http(max_bytes=1_000_000, retries=0), web.url("/huge"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(huge, BodyTooLarge)
    assert peak < 8_000_000


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("br", lambda b: brotli.compress(b, quality=4)),
     ("zstd", zstandard.ZstdCompressor().compress)],
)  # fmt: skip
async def test_compression_bombs_stop_at_the_cap(
    web: HTTPFixture, encoding: str, compress: object
) -> None:
    bomb = compress(b"\0" * 100_000_000)  # type: ignore[operator]
    web.routes["/bomb"] = Route(
        bomb, content_type="application/xml", headers={"Content-Encoding": encoding}
    )
    web.routes["/feed"] = Route(compress(FEED), headers={"Content-Encoding": encoding})  # type: ignore[operator]
    tracemalloc.start()
    try:
        bombed, feed = await fetch_all(http(retries=0), web.url("/bomb"), web.url("/feed"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(bombed, BodyTooLarge) and "decompressed body" in str(bombed)
    assert peak < 10_000_000
    assert not isinstance(feed, BaseException) and feed.body == FEED  # type: ignore[attr-defined]


async def test_deflate_is_decoded(web: HTTPFixture) -> None:
    import zlib

    web.routes["/deflate"] = Route(zlib.compress(FEED), headers={"Content-Encoding": "deflate"})
    (result,) = await fetch_all(http(), web.url("/deflate"))
    assert result.body == FEED  # type: ignore[attr-defined]


async def test_redirect_loop_and_limit(web: HTTPFixture) -> None:
    web.routes["/a"] = Route(b"", status=302, headers={"Location": "/b"})
    web.routes["/b"] = Route(b"", status=302, headers={"Location": "/a"})
    for n in range(8):
        web.routes[f"/chain{n}"] = Route(b"", status=302, headers={"Location": f"/chain{n + 1}"})
    loop, chain = await fetch_all(http(), web.url("/a"), web.url("/chain0"))
    assert isinstance(loop, FetchError) and "redirect loop" in str(loop)
    assert isinstance(chain, FetchError) and "more than 5 redirects" in str(chain)


async def test_redirect_to_loopback_is_refused_for_content(web: HTTPFixture) -> None:
    web.routes["/secret"] = Route(b"internal admin page")
    web.routes["/jump"] = Route(b"", status=302, headers={"Location": web.url("/secret")})
    guarded = http(allow_private_networks=False, retries=0)
    async with Fetcher(guarded) as fetcher:
        # a configured (trusted) URL may be on loopback, but where it redirects may not
        with pytest.raises(UnsafeURL, match="loopback, private"):
            await fetcher.fetch(web.localhost_url("/jump"))
        # a content URL (an article link) may not be on loopback at all
        with pytest.raises(UnsafeURL, match=r"127\.0\.0\.1"):
            await fetcher.fetch(web.url("/secret"), trusted=False)
        assert (await fetcher.fetch(web.url("/secret"))).body == b"internal admin page"
    assert sum(1 for r in web.requests if r.path == "/secret") == 1  # only the trusted fetch


async def test_permanent_redirect_is_reported(web: HTTPFixture) -> None:
    web.routes["/old"] = Route(b"", status=301, headers={"Location": "/new"})
    web.routes["/new"] = Route(FEED)
    web.routes["/temp"] = Route(b"", status=302, headers={"Location": "/new"})
    moved, temp = await fetch_all(http(), web.url("/old"), web.url("/temp"))
    assert moved.permanent_redirect == web.url("/new")  # type: ignore[attr-defined]
    assert temp.permanent_redirect is None  # type: ignore[attr-defined]


async def test_503_then_200(web: HTTPFixture) -> None:
    web.routes["/flaky"] = Route(FEED, statuses=[503, 502])
    (result,) = await fetch_all(http(timeout=10), web.url("/flaky"))
    assert not isinstance(result, BaseException) and result.body == FEED  # type: ignore[attr-defined]
    assert sum(1 for r in web.requests if r.path == "/flaky") == 3


async def test_429_retry_after_delays_the_whole_host(web: HTTPFixture) -> None:
    web.routes["/limited"] = Route(FEED, statuses=[429], headers={"Retry-After": "1"})
    web.routes["/other"] = Route(FEED, delay=0.05)
    started = time.monotonic()
    async with Fetcher(http(timeout=10)) as fetcher:
        first = asyncio.create_task(fetcher.fetch(web.url("/limited")))
        await asyncio.sleep(0.3)  # the 429 has arrived; the host is now paused
        other = await fetcher.fetch(web.url("/other"))
        assert (await first).body == FEED
    assert other.body == FEED
    limited = next(r.at for r in web.requests if r.path == "/limited")
    other_at = next(r.at for r in web.requests if r.path == "/other")
    assert other_at - limited >= 0.9  # the other URL on that host waited for Retry-After
    assert time.monotonic() - started >= 1.0


async def test_long_retry_after_fails_with_the_wait(web: HTTPFixture) -> None:
    web.routes["/limited"] = Route(FEED, status=429, headers={"Retry-After": "3600"})
    (result,) = await fetch_all(http(), web.url("/limited"))
    assert isinstance(result, HTTPStatusError) and result.retry_after == 3600
    assert "asks to wait 3600 s" in str(result)
    assert sum(1 for r in web.requests if r.path == "/limited") == 1


async def test_permanent_4xx_not_retried_transient_5xx_retried(web: HTTPFixture) -> None:
    web.routes["/forbidden"] = Route(b"", status=403)
    web.routes["/broken"] = Route(b"", status=500)
    forbidden, broken = await fetch_all(
        http(retries=2, timeout=10), web.url("/forbidden"), web.url("/broken")
    )
    assert isinstance(forbidden, HTTPStatusError) and isinstance(broken, HTTPStatusError)
    counts = {p: sum(1 for r in web.requests if r.path == p) for p in ("/forbidden", "/broken")}
    assert counts == {"/forbidden": 1, "/broken": 3}


async def test_retries_are_logged_and_none_are_made_when_switched_off(
    web: HTTPFixture, caplog: pytest.LogCaptureFixture
) -> None:
    """stamina is set up on the first failure only; its retry log line is ours."""
    web.routes["/flaky"] = Route(FEED, statuses=[503])
    web.routes["/down"] = Route(b"", status=503)
    with caplog.at_level("INFO", logger="monitor.fetch"):
        (flaky,) = await fetch_all(http(timeout=10), web.url("/flaky"))
        (down,) = await fetch_all(http(retries=0), web.url("/down"))
    assert flaky.body == FEED  # type: ignore[attr-defined]
    assert any("503" in r.message and "retry 1 in" in r.message for r in caplog.records)
    assert isinstance(down, HTTPStatusError) and down.status == 503
    assert sum(1 for r in web.requests if r.path == "/down") == 1


async def test_a_deadline_that_runs_out_while_retrying_names_the_failure(
    web: HTTPFixture,
) -> None:
    web.routes["/down"] = Route(b"", status=503)
    (result,) = await fetch_all(http(timeout=1.2, retries=10), web.url("/down"))
    assert isinstance(result, HTTPStatusError) and result.status == 503
    assert "still failing after 1.2 s" in str(result)
    assert sum(1 for r in web.requests if r.path == "/down") >= 2


async def test_per_host_and_global_limits(web: HTTPFixture) -> None:
    for n in range(12):
        web.routes[f"/f{n}"] = Route(FEED, delay=0.15)
    urls = [web.url(f"/f{n}") for n in range(6)] + [
        web.localhost_url(f"/f{n}") for n in range(6, 12)
    ]
    results = await fetch_all(http(per_host=2, concurrency=3), *urls)
    assert all(not isinstance(r, BaseException) for r in results)
    per_host = web.max_in_flight
    assert max(per_host.values()) == 2 and len(per_host) == 2
    assert web.max_total == 3


async def test_user_agent_and_accept_encoding(web: HTTPFixture) -> None:
    web.routes["/ok"] = Route(FEED)
    await fetch_all(http(), web.url("/ok"))
    (request,) = web.requests
    assert request.headers["user-agent"].startswith("news-monitor/")
    assert "+http" in request.headers["user-agent"]  # a contact URL
    assert request.headers["accept-encoding"] == "gzip, deflate, br, zstd"


@pytest.mark.parametrize(
    ("declared", "sent", "content_type"),
    [("ISO-8859-1", "utf-8", "application/rss+xml"),
     ("UTF-8", "cp1252", "application/rss+xml"),
     ("ISO-8859-1", "utf-8", "text/xml; charset=iso-8859-1"),
     ("UTF-8", "cp1252", "text/xml; charset=utf-8"),
     ("windows-1252", "utf-8-sig", "text/xml; charset=windows-1252")],
)  # fmt: skip
async def test_charset_disagreements_give_the_right_text(
    web: HTTPFixture, declared: str, sent: str, content_type: str
) -> None:
    text = FEED.decode().replace('encoding="UTF-8"', f'encoding="{declared}"')
    web.routes["/feed"] = Route(text.encode(sent), content_type=content_type)
    (result,) = await fetch_all(http(), web.url("/feed"))
    feed = parse_feed(result.body, result.url, result.headers)  # type: ignore[attr-defined]
    assert feed.items[0].title == "Habána café: visa talks"
