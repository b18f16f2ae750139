"""Proxies from the environment: which URLs go through one, for fetches and deliveries."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import trustme

from monitor.config import HttpSettings, Settings
from monitor.errors import FetchError
from monitor.fetch import Fetcher
from monitor.keepalive import verified_context
from monitor.passes import delivery_client
from monitor.proxies import proxy_for
from tests.servers import HTTPFixture, Route, tls_server


@pytest.mark.parametrize(
    ("url", "proxies", "expected"),
    [
        ("http://a.example/feed", {}, None),
        ("http://a.example/feed", {"http": "http://p:3128"}, "http://p:3128"),
        ("https://a.example/feed", {"http": "http://p:3128"}, None),  # no HTTPS_PROXY
        ("https://a.example/feed", {"all": "http://p:3128"}, "http://p:3128"),
        ("https://a.example/feed", {"https": "p:3128"}, "http://p:3128"),  # scheme-less
        ("http://a.example/feed", {"http": "http://p", "no": "a.example"}, None),
        ("http://news.a.example/", {"http": "http://p", "no": "a.example"}, None),  # suffix
        ("http://a.example.org/", {"http": "http://p", "no": "a.example"}, "http://p"),
        ("http://a.example:8080/", {"http": "http://p", "no": "a.example:8080"}, None),
        ("http://a.example:8081/", {"http": "http://p", "no": "a.example:8080"}, "http://p"),
        ("http://u:pw@a.example/", {"http": "http://p", "no": "a.example"}, None),
        ("http://A.Example/", {"http": "http://p", "no": "a.example"}, None),
        ("http://anything/", {"http": "http://p", "no": "*"}, None),
        ("http://notexample.com/", {"http": "http://p", "no": "example.com"}, "http://p"),
        ("http://news.example.com/", {"http": "http://p", "no": ".example.com"}, None),
        ("http://a.example/", {"http": "http://p", "no": "b.example, a.example"}, None),
        ("http://[::1]:8080/", {"http": "http://p", "no": "localhost,127.0.0.1,::1"}, None),
        ("http://[::1]/", {"http": "http://p", "no": "[::1]"}, None),
        ("http://[::1]:8080/", {"http": "http://p", "no": "[::1]:8080"}, None),
        ("http://[::1]:8081/", {"http": "http://p", "no": "[::1]:8080"}, "http://p"),
        ("http://[::2]/", {"http": "http://p", "no": "::1"}, "http://p"),
    ],
)
def test_proxy_for(url: str, proxies: dict[str, str], expected: str | None) -> None:
    assert proxy_for(url, proxies) == expected


PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def _use_proxy(monkeypatch: pytest.MonkeyPatch, proxy: str, no_proxy: str | None = None) -> None:
    for name in PROXY_VARIABLES:  # whatever the machine has set, in either case
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    if no_proxy is not None:
        monkeypatch.setenv("NO_PROXY", no_proxy)


async def test_the_proxy_from_the_environment_is_used(
    web: HTTPFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``HTTP_PROXY`` sends the GET to the proxy, in absolute form; the name is never
    resolved here (``.test`` names resolve nowhere), and the proxy's loopback address is
    not mistaken for the feed's address by the private-network guard."""
    proxy = web  # this server plays the proxy: it answers whatever it is asked
    proxy.set_handler(lambda seen: (200, {"Content-Type": "application/rss+xml"}, b"<rss/>"))
    _use_proxy(monkeypatch, proxy.base)
    settings = HttpSettings(allow_private_networks=False, retries=0, timeout=5.0)
    async with Fetcher(settings) as fetcher:
        result = await fetcher.fetch("http://feeds.example.test/feed?x=1", etag='"v1"')
    assert result.status == 200 and result.body == b"<rss/>"
    [seen] = proxy.requests
    assert seen.path == "http://feeds.example.test/feed?x=1"
    assert seen.headers["host"] == "feeds.example.test"
    assert seen.headers["if-none-match"] == '"v1"'
    assert seen.headers["user-agent"].startswith("news-monitor/")


async def test_no_proxy_hosts_are_fetched_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    with HTTPFixture() as proxy, HTTPFixture() as web:
        web.routes["/feed"] = Route(b"<rss/>")
        _use_proxy(monkeypatch, proxy.base, no_proxy="127.0.0.1")
        settings = HttpSettings(allow_private_networks=True, retries=0, timeout=5.0)
        async with Fetcher(settings) as fetcher:
            result = await fetcher.fetch(web.url("/feed"))
    assert result.body == b"<rss/>"
    assert [r.path for r in web.requests] == ["/feed"] and proxy.requests == []


async def test_an_unusable_proxy_fails_the_fetch_with_its_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _use_proxy(monkeypatch, "ftp://127.0.0.1:9")  # httpx speaks to HTTP(S) and SOCKS proxies
    settings = HttpSettings(allow_private_networks=True, retries=0, timeout=5.0)
    async with Fetcher(settings) as fetcher:
        with pytest.raises(FetchError, match=r"cannot use the proxy ftp://127\.0\.0\.1:9"):
            await fetcher.fetch("http://feeds.example.test/feed")


async def test_webhook_deliveries_go_through_the_proxy(
    web: HTTPFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = web
    _use_proxy(monkeypatch, proxy.base)
    settings = Settings.model_validate({})
    async with delivery_client(settings) as http:
        response = await http.post("http://hooks.example.test/incoming", json={"text": "hi"})
    assert response.status_code == 200
    [seen] = proxy.posts()
    assert seen.path == "http://hooks.example.test/incoming" and seen.body == b'{"text":"hi"}'


async def test_https_goes_through_the_proxy_in_a_verified_tunnel(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``HTTPS_PROXY``: a CONNECT tunnel to the feed's name (never resolved here), and TLS
    inside it verified against the CAs of ``SSL_CERT_FILE`` (a company's own CA)."""
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    tunnels: list[bytes] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        writer.close()

    handlers: list[asyncio.Task[None]] = []

    async def proxy_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        head = await reader.readuntil(b"\r\n\r\n")
        tunnels.append(head.split(b"\r\n", 1)[0])  # "CONNECT host:port HTTP/1.1"
        # every tunnel leads to the test's feed server, whatever name it was asked for
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", feed_port)
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    _use_proxy(monkeypatch, "http://127.0.0.1:9")  # (for http:// URLs: none here)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    verified_context.cache_clear()  # loaded once per process: load it with the variable set
    settings = HttpSettings(allow_private_networks=False, retries=0, timeout=5.0)
    try:
        async with tls_server(ca, "feeds.example.test", b"<rss/>") as feed_port:
            proxy = await asyncio.start_server(proxy_server, "127.0.0.1", 0)
            monkeypatch.setenv(
                "HTTPS_PROXY", f"http://127.0.0.1:{proxy.sockets[0].getsockname()[1]}"
            )
            async with proxy:
                async with Fetcher(settings) as fetcher:
                    result = await fetcher.fetch(f"https://feeds.example.test:{feed_port}/feed")
                await asyncio.wait_for(asyncio.gather(*handlers), 5)  # the tunnel closes
    finally:
        verified_context.cache_clear()
    assert (result.status, result.body) == (200, b"<rss/>")
    assert tunnels == [f"CONNECT feeds.example.test:{feed_port} HTTP/1.1".encode()]


async def test_a_proxy_password_never_reaches_an_error_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Errors go to logs, the database and admin alerts: the proxy is named without it."""
    _use_proxy(monkeypatch, "ftp://alice:s3cret@127.0.0.1:9")
    settings = HttpSettings(allow_private_networks=True, retries=0, timeout=5.0)
    async with Fetcher(settings) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch("http://feeds.example.test/feed")
    assert "cannot use the proxy ftp://127.0.0.1:9" in str(caught.value)
    assert "s3cret" not in str(caught.value) and "alice" not in str(caught.value)


async def test_deliveries_follow_no_proxy_like_fetches(monkeypatch: pytest.MonkeyPatch) -> None:
    """A webhook on a ``NO_PROXY`` host is called directly, as a feed there is fetched."""
    with HTTPFixture() as proxy, HTTPFixture() as hooks:
        _use_proxy(monkeypatch, proxy.base, no_proxy="localhost, 127.0.0.1")
        async with delivery_client(Settings.model_validate({})) as http:
            response = await http.post(hooks.url("/incoming"), json={"text": "hi"})
    assert response.status_code == 200
    assert [r.path for r in hooks.posts()] == ["/incoming"] and proxy.requests == []
