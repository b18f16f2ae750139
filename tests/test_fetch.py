"""Fetcher: conditional GET, status handling, deadline and body cap."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from monitor.config import HttpSettings
from monitor.errors import (
    BodyTooLarge,
    FetchConnectError,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
)
from monitor.fetch import Fetcher
from monitor.redirects import same_origin
from tests.servers import HTTPFixture, Route


async def fetch_with(
    handler: httpx.MockTransport, url: str = "https://x.org/feed", **kw: object
) -> object:
    settings = HttpSettings(max_bytes=4096, allow_private_networks=True, retries=0)
    async with Fetcher(settings, transport=handler) as fetcher:
        return await fetcher.fetch(url, **kw)  # type: ignore[arg-type]


async def test_conditional_headers_and_304() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(304, headers={"ETag": '"v1"'})

    result = await fetch_with(
        httpx.MockTransport(handler), etag='"v1"', last_modified="Mon, 23 Nov 2026 10:00:00 GMT"
    )
    assert result.not_modified  # type: ignore[attr-defined]
    assert result.etag == '"v1"'  # type: ignore[attr-defined]
    assert seen[0].headers["If-None-Match"] == '"v1"'
    assert seen[0].headers["If-Modified-Since"] == "Mon, 23 Nov 2026 10:00:00 GMT"
    assert seen[0].headers["User-Agent"].startswith("news-monitor/")


async def test_200_keeps_validators() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, content=b"<rss/>", headers={"ETag": '"v2"', "Last-Modified": "X"}
        )

    result = await fetch_with(httpx.MockTransport(handler))
    assert result.body == b"<rss/>"  # type: ignore[attr-defined]
    assert (result.etag, result.last_modified) == ('"v2"', "X")  # type: ignore[attr-defined]


@pytest.mark.parametrize("status", [404, 500, 410, 403])
async def test_error_status_raises_with_status(status: int) -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(status))
    with pytest.raises(HTTPStatusError) as caught:
        await fetch_with(transport)
    assert caught.value.status == status
    assert str(status) in str(caught.value)


async def test_declared_length_over_cap() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, content=b"x" * 10_000))
    with pytest.raises(BodyTooLarge, match="4096-byte limit"):
        await fetch_with(transport)


async def test_permanent_redirect_is_reported() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/old":
            return httpx.Response(301, headers={"Location": "https://x.org/new"})
        return httpx.Response(200, content=b"<rss/>")

    result = await fetch_with(httpx.MockTransport(handler), url="https://x.org/old")
    assert result.permanent_redirect == "https://x.org/new"  # type: ignore[attr-defined]


async def test_connect_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(FetchConnectError, match="could not connect"):
        await fetch_with(httpx.MockTransport(handler))


async def test_real_server_deadline_and_streaming_cap(web: HTTPFixture) -> None:
    web.routes["/slow"] = Route(b"<rss/>", delay=3)
    web.routes["/big"] = Route(b"y" * 50_000)
    web.routes["/ok"] = Route(b"<rss/>")
    settings = HttpSettings(timeout=0.5, max_bytes=20_000)
    async with Fetcher(settings) as fetcher:
        slow, big, ok = await asyncio.gather(
            fetcher.fetch(web.url("/slow")),
            fetcher.fetch(web.url("/big")),
            fetcher.fetch(web.url("/ok")),
            return_exceptions=True,
        )
    assert isinstance(slow, FetchTimeout)
    assert isinstance(big, BodyTooLarge)
    assert not isinstance(ok, BaseException) and ok.body == b"<rss/>"


async def test_configured_headers_stay_on_their_origin() -> None:
    """A redirect to another origin gets no configured header (they may be credentials)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "x.org" and request.url.path == "/feed":
            return httpx.Response(302, headers={"Location": "/moved"})
        if request.url.host == "x.org":
            return httpx.Response(302, headers={"Location": "https://cdn.example/feed"})
        return httpx.Response(200, content=b"<rss/>")

    result = await fetch_with(
        httpx.MockTransport(handler), headers={"Authorization": "Bearer s3cret", "X-Key": "k"}
    )
    assert result.status == 200  # type: ignore[attr-defined]
    assert [r.url.host for r in seen] == ["x.org", "x.org", "cdn.example"]
    assert seen[1].headers["Authorization"] == "Bearer s3cret"  # same origin: kept
    assert "Authorization" not in seen[2].headers and "X-Key" not in seen[2].headers
    assert seen[2].headers["User-Agent"].startswith("news-monitor/")


async def test_redirect_to_a_non_http_url_fails_at_once() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(302, headers={"Location": "file:///etc/passwd"})

    settings = HttpSettings(allow_private_networks=True, retries=3)
    async with Fetcher(settings, transport=httpx.MockTransport(handler)) as fetcher:
        with pytest.raises(FetchError, match="non-HTTP URL: file:///etc/passwd"):
            await fetcher.fetch("https://x.org/feed")
    assert len(seen) == 1  # a permanent failure: not retried


async def test_a_cookie_check_that_sends_you_back_is_not_a_loop() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/check":
            return httpx.Response(302, headers={"Location": "/feed", "Set-Cookie": "ok=1; Path=/"})
        if "ok=1" not in request.headers.get("cookie", ""):
            return httpx.Response(302, headers={"Location": "/check"})
        return httpx.Response(200, content=b"<rss/>")

    result = await fetch_with(httpx.MockTransport(handler))
    assert result.status == 200  # type: ignore[attr-defined]
    assert [r.url.path for r in seen] == ["/feed", "/check", "/feed"]


async def test_client_is_built_on_the_first_request_and_closed_on_exit() -> None:
    class Transport(httpx.MockTransport):
        closed = 0

        async def aclose(self) -> None:
            Transport.closed += 1

    transport = Transport(lambda request: httpx.Response(304))
    settings = HttpSettings(allow_private_networks=True, retries=0)
    async with Fetcher(settings, transport=transport) as fetcher:
        pass  # a pass with nothing due: no client built, none to close
    assert fetcher._session.routes.direct is None and Transport.closed == 0
    async with Fetcher(settings, transport=transport) as fetcher:
        assert (await fetcher.fetch("https://x.org/feed")).not_modified
        assert fetcher._session.routes.direct is not None
    assert fetcher._session.routes.direct is None and Transport.closed == 1
    with pytest.raises(RuntimeError, match="outside 'async with'"):
        await fetcher.fetch("https://x.org/feed")


async def test_credentials_in_the_url_are_sent_as_basic_auth(web: HTTPFixture) -> None:
    """``https://user:password@host/feed`` in the config: HTTP Basic auth, as browsers do;
    a configured ``Authorization`` header wins."""
    web.routes["/private"] = Route(b"<rss/>")
    url = web.url("/private").replace("http://", "http://reader:s%33cret@")  # s3cret, escaped
    settings = HttpSettings(allow_private_networks=True, retries=0)
    async with Fetcher(settings) as fetcher:
        assert (await fetcher.fetch(url)).body == b"<rss/>"
        await fetcher.fetch(url, headers={"Authorization": "Bearer t0ken"})
    first, second = web.requests
    assert first.headers["authorization"] == "Basic cmVhZGVyOnMzY3JldA=="  # reader:s3cret
    assert second.headers["authorization"] == "Bearer t0ken"
    assert "reader" not in first.path


@pytest.mark.parametrize(
    "location", ["http://[bad/feed", "http://127.0.0.1:99999/feed", "http://x.org:port/feed"]
)
async def test_a_malformed_redirect_target_fails_the_fetch_cleanly(
    web: HTTPFixture, location: str
) -> None:
    """A ``Location`` no URL parser accepts is the server's fault, reported as a FetchError
    (not a crash of the poll), and not retried."""
    web.routes["/feed"] = Route(b"", status=302, headers={"Location": location})
    settings = HttpSettings(allow_private_networks=True, retries=2)
    async with Fetcher(settings) as fetcher:
        with pytest.raises(FetchError, match="invalid redirect target"):
            await fetcher.fetch(web.url("/feed"))
    assert len(web.requests) == 1


async def test_a_content_url_with_a_bad_port_fails_the_fetch_cleanly() -> None:
    settings = HttpSettings(allow_private_networks=True, retries=0)
    async with Fetcher(settings, transport=httpx.MockTransport(lambda r: httpx.Response(200))) as f:
        with pytest.raises(FetchError, match="invalid URL"):
            await f.fetch("http://x.org:99999/article", trusted=False)


async def test_a_long_running_fetcher_keeps_no_state_for_hosts_it_is_done_with() -> None:
    """A daemon fetches article pages from ever more hosts: their per-host semaphores go
    when no request holds them, and Retry-After pauses once they have run out."""
    now = [1000.0]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host.startswith("busy"):
            return httpx.Response(429, headers={"Retry-After": "60"})
        return httpx.Response(200, content=b"<rss/>")

    settings = HttpSettings(allow_private_networks=True, retries=0, per_host=1)
    transport = httpx.MockTransport(handler)
    async with Fetcher(settings, transport=transport, monotonic=lambda: now[0]) as fetcher:
        pages = [fetcher.fetch(f"https://site{i}.example/a", trusted=False) for i in range(50)]
        assert all(r.body == b"<rss/>" for r in await asyncio.gather(*pages))
        assert len(fetcher._per_host) == 0
        with pytest.raises(HTTPStatusError):
            await fetcher.fetch("https://busy1.example/feed")
        assert fetcher.host_delay("https://busy1.example/other") == 60
        now[0] += 61  # busy1's pause is over ...
        with pytest.raises(HTTPStatusError):
            await fetcher.fetch("https://busy2.example/feed")
        assert set(fetcher._host_not_before) == {"busy2.example"}  # ... and forgotten


async def test_cookies_live_for_one_fetch_and_its_redirects() -> None:
    """A daemon must not collect every site's cookies (nor pay for them on each request)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"<rss/>", headers={"Set-Cookie": "id=1; Path=/"})

    settings = HttpSettings(allow_private_networks=True, retries=0)
    async with Fetcher(settings, transport=httpx.MockTransport(handler)) as fetcher:
        await fetcher.fetch("https://x.org/feed")
        await fetcher.fetch("https://x.org/feed")
    assert [r.headers.get("cookie") for r in seen] == [None, None]


async def test_a_304_naming_content_codings_is_read_raw_and_keeps_its_connection() -> None:
    """A 304 has no body, whatever its Content-Encoding says. Read through httpx's
    decoders, "br, zstd, deflate" raised DecodingError ("Zstandard data is
    incomplete") out of the fetch: found by a fuzzing server, an internal error on
    every poll of such a source."""
    connections = 0
    answer = (
        b'HTTP/1.1 304 Not Modified\r\nContent-Encoding: br, zstd, deflate\r\nETag: "v1"\r\n\r\n'
    )

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        try:
            for _ in range(2):  # bounded: this test asks twice
                await reader.readuntil(b"\r\n\r\n")
                writer.write(answer)
                await writer.drain()
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = HttpSettings(timeout=2.0, allow_private_networks=True, retries=0)
    try:
        async with Fetcher(settings) as fetcher:
            for _ in range(2):
                result = await fetcher.fetch(f"http://127.0.0.1:{port}/feed", etag='"v1"')
                assert (result.status, result.etag, result.body) == (304, '"v1"', b"")
    finally:
        server.close()
        await server.wait_closed()
    assert connections == 1


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("https://x.org/feed", "https://x.org/feed", True),
        ("https://x.org/feed", "https://X.ORG/other?q=1", True),
        ("https://x.org/feed", "http://x.org/feed", False),
        ("https://x.org/feed", "https://x.org:8443/feed", False),
        ("https://x.org/feed", "https://cdn.x.org/feed", False),
    ],
)
def test_same_origin(a: str, b: str, same: bool) -> None:
    """Configured headers (credentials) go only to the source's own origin."""
    assert same_origin(a, b) is same
    assert same_origin(b, a) is same
