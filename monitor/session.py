"""The fetcher's HTTP session: a transport for direct connections and one per proxy.

Stage: fetch (HTTP client set-up). Must not: read the environment per request.

Proxies come from the standard environment variables ``HTTP_PROXY``, ``HTTPS_PROXY``,
``ALL_PROXY`` and ``NO_PROXY`` (either case; the lower-case one wins, as in curl and
Python's ``urllib``), read once when a ``Fetcher`` or a delivery client is built.
Python's own rule decides whether a URL goes through a proxy (``urllib.request``:
``NO_PROXY`` lists host names, domain suffixes, ``host:port`` pairs, or ``*``), so the
fetcher routes a request and judges the address it connected to (``netguard``: a
proxy's address is not the feed's) by the same answer.

httpx reads those variables only for a client whose transport it builds itself; the
fetcher brings its own transports. Each is built on first use, so a pass that
fetches nothing builds none (closing one makes anyio load its asyncio backend, ~25 ms).
"""

from __future__ import annotations

import contextlib
import urllib.request
from collections.abc import AsyncIterator, Mapping
from urllib.parse import urlsplit

import httpx

from monitor.config import HttpSettings
from monitor.decode import ACCEPT_ENCODING
from monitor.errors import FetchError
from monitor.keepalive import pooled_transport, verified_context

Proxies = Mapping[str, str]  # scheme ("http", "https", "all", and "no") -> value


def environment_proxies() -> dict[str, str]:
    """The proxy settings of the environment now ({} when none is set)."""
    return {scheme: value for scheme, value in urllib.request.getproxies().items() if value}


def proxy_for(url: str, proxies: Proxies) -> str | None:
    """The proxy URL that ``url`` goes through, or None to connect directly."""
    if not proxies:
        return None
    parts = urlsplit(url)
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy:
        return None
    host = parts.netloc.rpartition("@")[2].lower()  # host[:port], without credentials
    # (in urllib on every platform since Python 3.0, though typeshed does not list it)
    if urllib.request.proxy_bypass_environment(host, dict(proxies)):  # type: ignore[attr-defined]
        return None
    return proxy if "://" in proxy else f"http://{proxy}"  # "proxy:3128" means HTTP


class Session:
    """The fetcher's GETs: a transport per route, cookies, and the default headers.

    httpx's public transport API (``handle_async_request``) without an
    ``AsyncClient`` around it: the fetcher follows redirects itself and sends no
    auth, so the client's URL merging, auth and redirect layers would only cost CPU
    (~0.18 ms of a conditional GET's ~0.8, ``bench/http_client.py``). What of the
    client a fetch needs is here: headers merged case-insensitively over the
    defaults, a per-operation timeout, and cookies kept across requests (a consent
    check that sets one and sends you back must see it on the next hop).
    """

    def __init__(self, settings: HttpSettings, transport: httpx.AsyncBaseTransport | None) -> None:
        self._settings = settings
        self._injected = transport  # a test's: it answers everything, no proxy then
        self._proxies = environment_proxies() if transport is None else {}
        self.direct: httpx.AsyncBaseTransport | None = None  # built on the first request
        self._proxied: dict[str, httpx.AsyncBaseTransport] = {}  # proxy URL -> transport
        self._defaults = httpx.Headers(
            {"User-Agent": settings.user_agent, "Accept-Encoding": ACCEPT_ENCODING}
        )
        self._timeout = httpx.Timeout(settings.timeout).as_dict()
        self._cookies = httpx.Cookies()

    def proxied(self, url: str) -> bool:
        """Whether ``url`` goes through a proxy (then the peer's address is the proxy's)."""
        return proxy_for(url, self._proxies) is not None

    @contextlib.asynccontextmanager
    async def get(self, url: str, headers: Mapping[str, str]) -> AsyncIterator[httpx.Response]:
        """GET ``url``; the response's body is read by the caller and closed on exit."""
        merged = self._defaults.copy()
        merged.update(headers)
        request = httpx.Request("GET", url, headers=merged, extensions={"timeout": self._timeout})
        if self._cookies:
            self._cookies.set_cookie_header(request)
        response = await self._transport_for(url).handle_async_request(request)
        response.request = request
        try:
            if "set-cookie" in response.headers:
                self._cookies.extract_cookies(response)
            yield response
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        transports = [*self._proxied.values(), *([self.direct] if self.direct else [])]
        self.direct, self._proxied = None, {}
        for transport in transports:
            await transport.aclose()

    def _transport_for(self, url: str) -> httpx.AsyncBaseTransport:
        """Through the proxy the environment names for ``url``, if any; else direct."""
        proxy = proxy_for(url, self._proxies)
        if proxy is None:
            if self.direct is None:
                self.direct = self._injected or pooled_transport(self._limits())
            return self.direct
        transport = self._proxied.get(proxy)
        if transport is None:
            try:  # the CA files we trust (SSL_CERT_FILE), for the proxy's own transport
                transport = httpx.AsyncHTTPTransport(
                    proxy=proxy, verify=verified_context(), limits=self._limits()
                )
            except (ImportError, ValueError) as exc:  # a SOCKS proxy without socksio, a bad URL
                message = f"cannot use the proxy {proxy} from the environment: {exc}"
                raise FetchError(message) from None
            self._proxied[proxy] = transport
        return transport

    def _limits(self) -> httpx.Limits:
        concurrency = self._settings.concurrency
        return httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
