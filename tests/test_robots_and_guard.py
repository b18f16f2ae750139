"""robots.txt (Protego) per host with a cache; public-address checks for content URLs."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from monitor.config import HttpSettings
from monitor.fetch import Fetcher
from monitor.netguard import UnsafeURL, check_url, is_public
from monitor.robots import PRUNE_AT, READ_TTL, RobotsPolicy
from tests.servers import HTTPFixture, Route

ROBOTS = b"""User-agent: *
Disallow: /private/

User-agent: news-monitor
Disallow: /no-monitors/
Allow: /
"""


async def test_robots_rules_cached_per_host(web: HTTPFixture) -> None:
    web.routes["/robots.txt"] = Route(ROBOTS, content_type="text/plain")
    settings = HttpSettings(allow_private_networks=True, retries=0)
    async with Fetcher(settings) as fetcher:
        robots = RobotsPolicy(fetcher)
        assert await robots.check(web.url("/news/1"), trusted=True) is None
        assert await robots.check(web.url("/private/x"), trusted=True) is None  # our group allows
        reason = await robots.check(web.url("/no-monitors/x"), trusted=True)
        assert reason is not None and "robots.txt" in reason
        await robots.check(web.url("/news/2"), trusted=True)
        # another host name is another robots.txt
        assert await robots.check(web.localhost_url("/news/1"), trusted=True) is None
    assert [r.headers["host"].split(":")[0] for r in web.requests if r.path == "/robots.txt"] == [
        "127.0.0.1",
        "localhost",
    ]


async def test_missing_robots_allows_unreachable_disallows(web: HTTPFixture) -> None:
    settings = HttpSettings(allow_private_networks=True, retries=0, timeout=2)
    async with Fetcher(settings) as fetcher:
        robots = RobotsPolicy(fetcher)
        assert await robots.check(web.url("/a"), trusted=True) is None  # 404: allowed
    web.routes["/robots.txt"] = Route(b"", status=503)
    async with Fetcher(settings) as fetcher:
        robots = RobotsPolicy(fetcher)
        reason = await robots.check(web.url("/a"), trusted=True)
        assert reason is not None and "unreachable" in reason


async def test_robots_of_a_private_content_host_is_refused(web: HTTPFixture) -> None:
    async with Fetcher(HttpSettings(retries=0)) as fetcher:
        reason = await RobotsPolicy(fetcher).check(web.url("/a"), trusted=False)
    assert reason is not None and "loopback" in reason
    assert web.requests == []


@pytest.mark.parametrize(
    ("address", "public"),
    [("93.184.216.34", True), ("2606:2800:220:1:248:1893:25c8:1946", True),
     ("127.0.0.1", False), ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False),
     ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("224.0.0.1", False),
     ("239.255.255.250", False), ("::1", False), ("fe80::1", False), ("fc00::1", False),
     ("ff02::1", False), ("::ffff:127.0.0.1", False), ("::ffff:10.0.0.1", False)],
)  # fmt: skip
def test_public_addresses(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1/", "http://[::1]:8080/x", "http://localhost/admin", "http://169.254.169.254/latest/meta-data/",
     "http://10.0.0.5/feed", "http://0.0.0.0/"],
)  # fmt: skip
async def test_check_url_refuses_private_targets(url: str) -> None:
    with pytest.raises(UnsafeURL):
        await check_url(url)


async def test_check_url_accepts_public_literal() -> None:
    await check_url("https://93.184.216.34/feed")


async def test_robots_answered_429_is_unreachable_not_missing(web: HTTPFixture) -> None:
    web.routes["/robots.txt"] = Route(b"", status=429)
    settings = HttpSettings(allow_private_networks=True, retries=0, timeout=2)
    async with Fetcher(settings) as fetcher:
        reason = await RobotsPolicy(fetcher).check(web.url("/a"), trusted=True)
    assert reason is not None and "unreachable" in reason  # RFC 9309: 429 is not "no rules"


async def test_the_robots_cache_forgets_expired_origins() -> None:
    """A daemon with ``full_text`` sources meets ever more origins: once the cache holds
    ``PRUNE_AT`` of them, the expired ones go before another is added."""
    now = [0.0]
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.host)
        return httpx.Response(200, content=b"User-agent: *\nDisallow: /private/\n")

    settings = HttpSettings(allow_private_networks=True, retries=0)
    async with Fetcher(settings, transport=httpx.MockTransport(handler)) as fetcher:
        robots = RobotsPolicy(fetcher, clock=lambda: now[0])
        for i in range(PRUNE_AT):
            assert await robots.check(f"https://site{i}.example/a", trusted=False) is None
        now[0] += READ_TTL + 1  # every one of them expired
        fresh = "https://fresh.example/private/x"
        assert (
            await robots.check(fresh, trusted=False)
            == "disallowed by https://fresh.example/robots.txt"
        )
        assert list(robots._cache) == ["https://fresh.example"]
        assert len(robots._locks) == 0  # no check in progress: no lock kept
        assert await robots.check("https://fresh.example/a", trusted=False) is None
    assert len(asked) == PRUNE_AT + 1  # the fresh origin's rules were read once, then cached
