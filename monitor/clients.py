"""The fetcher's HTTP clients: one for direct connections, one per proxy in use.

Stage: fetch (HTTP client set-up). Must not: read the environment per request.

Proxies come from the standard environment variables ``HTTP_PROXY``, ``HTTPS_PROXY``,
``ALL_PROXY`` and ``NO_PROXY`` (either case; the lower-case one wins, as in curl and
Python's ``urllib``), read once when a ``Fetcher`` or a delivery client is built.
Python's own rule decides whether a URL goes through a proxy (``urllib.request``:
``NO_PROXY`` lists host names, domain suffixes, ``host:port`` pairs, or ``*``), so the
fetcher routes a request and judges the address it connected to (``netguard``: a
proxy's address is not the feed's) by the same answer.

httpx reads those variables only for a client whose transport it builds itself. The
direct client brings its own (``keepalive``), so proxied requests get a client of
their own here, built on first use; so does the direct one, and a pass that fetches
nothing builds none (closing a client makes anyio load its asyncio backend, ~25 ms).
"""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import Mapping
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


class FetchClients:
    """The clients of one ``Fetcher``, built on first use and closed together."""

    def __init__(self, settings: HttpSettings, transport: httpx.AsyncBaseTransport | None) -> None:
        self._settings = settings
        self._transport = transport
        # an injected transport (a test's) answers everything: no proxy then
        self._proxies = environment_proxies() if transport is None else {}
        self.direct: httpx.AsyncClient | None = None
        self._proxied: dict[str, httpx.AsyncClient] = {}  # proxy URL -> its client

    def proxied(self, url: str) -> bool:
        """Whether ``url`` goes through a proxy (then the peer's address is the proxy's)."""
        return proxy_for(url, self._proxies) is not None

    def for_url(self, url: str) -> httpx.AsyncClient:
        """The client for ``url``: through the proxy the environment names for it, if any."""
        proxy = proxy_for(url, self._proxies)
        if proxy is None:
            if self.direct is None:
                transport = self._transport or pooled_transport(self._limits())
                self.direct = self._build(transport=transport)
            return self.direct
        client = self._proxied.get(proxy)
        if client is None:
            try:  # for the proxy's own transport, which httpx builds: the CA files we trust
                client = self._build(proxy=proxy, verify=verified_context())
            except (ImportError, ValueError) as exc:  # a SOCKS proxy without socksio, a bad URL
                message = f"cannot use the proxy {proxy} from the environment: {exc}"
                raise FetchError(message) from None
            self._proxied[proxy] = client
        return client

    async def aclose(self) -> None:
        clients = [*self._proxied.values(), *([self.direct] if self.direct else [])]
        self.direct, self._proxied = None, {}
        for client in clients:
            await client.aclose()

    def _limits(self) -> httpx.Limits:
        concurrency = self._settings.concurrency
        return httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    def _build(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        proxy: str | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=transport,
            proxy=proxy,
            verify=verify,
            follow_redirects=False,
            timeout=httpx.Timeout(self._settings.timeout),
            limits=self._limits(),
            headers={
                "User-Agent": self._settings.user_agent,
                "Accept-Encoding": ACCEPT_ENCODING,
            },
            trust_env=False,  # proxies: here; CA files (SSL_CERT_FILE): ``keepalive``
        )
