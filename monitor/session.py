"""The fetcher's HTTP session: what of an ``httpx.AsyncClient`` a fetch needs.

Stage: fetch (HTTP client set-up). Must not: follow redirects (the fetcher does, hop
by hop, checking each one).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Mapping

import httpx

from monitor.config import HttpSettings
from monitor.decode import ACCEPT_ENCODING
from monitor.keepalive import pooled_transport
from monitor.proxies import Routes, environment_proxies


class Session:
    """The fetcher's GETs: cookies, default headers and credentials over ``Routes``.

    httpx's public transport API (``handle_async_request``) without an
    ``AsyncClient`` around it: the fetcher follows redirects itself, so the client's
    URL merging and redirect layers would only cost CPU (~0.18 ms of a conditional
    GET's ~0.8, ``bench/http_client.py``). What of the client a fetch needs is here:
    headers merged case-insensitively over the defaults, credentials written in a
    source's URL (``https://user:password@host/feed``) sent as HTTP Basic auth, a
    per-operation timeout, and the cookies of one fetch (a consent check that sets one
    and sends you back must see it on the next hop). Cookies are not kept from one
    fetch to the next: a daemon would collect every site's, and pay for them on every
    request (the jar walks its domains each time).
    """

    def __init__(self, settings: HttpSettings, transport: httpx.AsyncBaseTransport | None) -> None:
        concurrency = settings.concurrency
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        # an injected transport (a test's) answers everything: no proxy then
        proxies = environment_proxies() if transport is None else {}
        self.routes = Routes(lambda: transport or pooled_transport(limits), limits, proxies)
        self._defaults = httpx.Headers(
            {"User-Agent": settings.user_agent, "Accept-Encoding": ACCEPT_ENCODING}
        )
        self._timeout = httpx.Timeout(settings.timeout).as_dict()

    def proxied(self, url: str) -> bool:
        """Whether ``url`` goes through a proxy (then the peer's address is the proxy's)."""
        return self.routes.proxied(url)

    @contextlib.asynccontextmanager
    async def get(
        self, url: str, headers: Mapping[str, str], cookies: httpx.Cookies
    ) -> AsyncIterator[httpx.Response]:
        """GET ``url`` with the fetch's ``cookies`` (and keep what it sets there); the
        response's body is read by the caller and closed on exit."""
        merged = self._defaults.copy()
        merged.update(headers)
        request = httpx.Request(
            "GET", _parsed(url), headers=merged, extensions={"timeout": self._timeout}
        )
        if request.url.userinfo and "authorization" not in request.headers:
            basic = httpx.BasicAuth(request.url.username, request.url.password)
            request = next(basic.sync_auth_flow(request))
        if cookies:
            cookies.set_cookie_header(request)
        response = await self.routes.handle_async_request(request)
        response.request = request
        try:
            if "set-cookie" in response.headers:
                cookies.extract_cookies(response)
            yield response
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        await self.routes.aclose()


@functools.lru_cache(maxsize=4096)
def _parsed(url: str) -> httpx.URL:
    """``url`` parsed once: a pass or a daemon asks the same URLs again and again, and
    httpx parses a URL string on every request (~16 µs; ``httpx.URL`` is immutable)."""
    return httpx.URL(url)
