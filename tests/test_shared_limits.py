"""``http.concurrency`` and ``http.per_host`` hold across every source of a pass, and a
busy host's queue does not hold the slots other hosts could use."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

from monitor.config import HttpSettings
from monitor.fetch import Fetcher
from tests.conftest import run_cli, start_cli, write_config
from tests.feedgen import Entry, rss
from tests.servers import HTTPFixture, Route

FEED = rss("Desk", [Entry("Havana consulate reopens", "https://x.org/1", "Cuba")])


def _config(tmp_path: Path, urls: list[str], concurrency: int, per_host: int) -> Path:
    sources = "".join(
        f'[[sources]]\nname = "s{i}"\nurl = "{url}"\n\n' for i, url in enumerate(urls)
    )
    return write_config(
        tmp_path,
        f"""
[storage]
url = "sqlite:///{tmp_path / "state.db"}"

[http]
timeout = 10
concurrency = {concurrency}
per_host = {per_host}
allow_private_networks = true

{sources}
[[watches]]
name = "cuba"
terms = ["Cuba"]

[[channels]]
name = "out"
type = "file"
path = "{tmp_path / "out"}"

[[subscribers]]
name = "desk"
watches = ["cuba"]
channels = ["out"]
""",
    )


def _two_hosts(web: HTTPFixture, delay: float) -> list[str]:
    """Eight slow feeds, four under each of the server's two host names."""
    urls = []
    for i in range(4):
        for name, base in (("a", web.url), ("b", web.localhost_url)):
            web.routes[f"/{name}{i}"] = Route(FEED, delay=delay)
            urls.append(base(f"/{name}{i}"))
    return urls


def _arrivals(web: HTTPFixture) -> dict[str, float]:
    return {r.path: r.at for r in web.requests}


def test_a_pass_keeps_both_limits_across_its_sources(web: HTTPFixture, tmp_path: Path) -> None:
    """Eight sources on two hosts: never more than ``per_host`` requests to a host or
    ``concurrency`` in all, however the polls are spread over the pass."""
    urls = _two_hosts(web, delay=0.3)
    result = run_cli("once", "--all", config=_config(tmp_path, urls, concurrency=3, per_host=2))
    assert result.returncode == 0, result.stderr
    assert len(web.requests) == 8
    assert sorted(web.max_in_flight.values()) == [2, 2]  # each host, at most (and at) 2
    assert web.max_total == 3


def test_sources_of_a_busy_host_do_not_hold_the_slots(web: HTTPFixture, tmp_path: Path) -> None:
    """Four slow sources on one host, listed first, then one on another host: with one
    request per host and two in all, the other host's source is asked while the first
    host is still busy with its first source, not after all four."""
    urls = []
    for i in range(4):
        web.routes[f"/a{i}"] = Route(FEED, delay=0.4)
        urls.append(web.url(f"/a{i}"))
    web.routes["/b"] = Route(FEED)
    urls.append(web.localhost_url("/b"))
    result = run_cli("once", "--all", config=_config(tmp_path, urls, concurrency=2, per_host=1))
    assert result.returncode == 0, result.stderr
    arrivals = _arrivals(web)
    assert len(arrivals) == 5
    first_a = min(arrivals[f"/a{i}"] for i in range(4))
    later_a = sorted(arrivals[f"/a{i}"] for i in range(4))[1:]
    assert first_a < arrivals["/b"] < later_a[0]
    assert web.max_in_flight[web.base.removeprefix("http://")] == 1


async def test_a_request_waiting_for_its_host_holds_no_global_slot(web: HTTPFixture) -> None:
    """In one ``Fetcher``: requests queued behind a busy host leave the global slots to
    requests for other hosts."""
    for i in range(6):
        web.routes[f"/a{i}"] = Route(b"<rss/>", delay=0.3)
    web.routes["/b"] = Route(b"<rss/>")
    settings = HttpSettings(concurrency=3, per_host=1, allow_private_networks=True, retries=0)
    async with Fetcher(settings) as fetcher:
        busy = [asyncio.create_task(fetcher.fetch(web.url(f"/a{i}"))) for i in range(6)]
        await asyncio.sleep(0.05)  # the six are queued (one in flight) before the other host
        other = await fetcher.fetch(web.localhost_url("/b"))
        assert other.body == b"<rss/>"
        assert sum(task.done() for task in busy) <= 1  # asked while the busy host still works
        for task in busy:
            assert (await task).body == b"<rss/>"
    assert web.max_in_flight[web.base.removeprefix("http://")] == 1


def test_the_daemon_keeps_both_limits_across_its_sources(web: HTTPFixture, tmp_path: Path) -> None:
    """``run``: the start-up polls of eight sources on two hosts share one set of limits."""
    urls = _two_hosts(web, delay=0.3)
    config = _config(tmp_path, urls, concurrency=3, per_host=2)
    daemon = start_cli("run", config=config)
    try:
        deadline = time.monotonic() + 30
        while len(web.requests) < 8 and daemon.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=30)
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert len(web.requests) == 8, err
    assert sorted(web.max_in_flight.values()) == [2, 2]
    assert web.max_total == 3
