"""Proxies from the environment, and the transport that routes each request by them.

Stage: fetch and deliver (HTTP set-up). Must not: read the environment per request.

``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and ``NO_PROXY`` (either case; the
lower-case one wins, as in curl and Python's ``urllib``) are read once, when a
``Fetcher`` or a delivery client is built. ``NO_PROXY`` lists host names, domain
suffixes (``example.com`` and ``.example.com`` both cover ``news.example.com``),
``host:port`` pairs, IP addresses (IPv6 with or without brackets) or ``*``.

``Routes`` is the one transport fetches and deliveries send through: it picks the
direct transport or the proxy's for each request by ``proxy_for``, the same answer
the fetcher's address guard uses to know that the address it connected to is the
proxy's, not the feed's. (httpx reads these variables itself only for a client whose
transport it builds; ours bring their own, ``keepalive``'s pool.) Each transport is
built on first use, so a pass that sends nothing builds none (closing one makes
anyio load its asyncio backend, ~25 ms).
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit, urlunsplit

import httpx

from monitor.keepalive import verified_context

Proxies = Mapping[str, str]  # scheme ("http", "https", "all", and "no") -> value


class ProxyUnusable(httpx.ProxyError):
    """The environment names a proxy httpx cannot use (an unknown scheme, SOCKS without
    socksio): a configuration problem, not a network failure worth retrying."""


def environment_proxies() -> dict[str, str]:
    """The proxy settings of the environment now ({} when none is set)."""
    return {scheme: value for scheme, value in urllib.request.getproxies().items() if value}


def proxy_for(url: str, proxies: Proxies) -> str | None:
    """The proxy URL that ``url`` goes through, or None to connect directly."""
    if not proxies:
        return None
    parts = urlsplit(url)
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy or _bypassed(parts.hostname or "", parts.port, proxies.get("no", "")):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"  # "proxy:3128" means HTTP


def _bypassed(host: str, port: int | None, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` covers the host (``urlsplit``'s: lower case, no brackets)."""
    for entry in no_proxy.lower().replace(" ", ",").split(","):
        if entry == "*":
            return True
        name, wanted = _host_and_port(entry)
        if not name or (wanted is not None and wanted != port):
            continue
        if host == name or host.endswith("." + name):
            return True
    return False


def _host_and_port(entry: str) -> tuple[str, int | None]:
    """``host``, ``.suffix``, ``host:port``, ``[v6]:port`` or a bare IPv6 address."""
    if entry.startswith("["):
        name, _, rest = entry[1:].partition("]")
        port = rest.removeprefix(":")
        return name, int(port) if port.isdigit() else None
    if entry.count(":") == 1:
        name, _, port = entry.partition(":")
        if port.isdigit():
            return name.lstrip("."), int(port)
    return entry.lstrip("."), None


def shown(proxy: str) -> str:
    """The proxy's URL without its credentials (for messages that reach logs)."""
    parts = urlsplit(proxy)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


class Routes(httpx.AsyncBaseTransport):
    """Sends each request directly or through the proxy the environment names for it."""

    def __init__(
        self,
        direct: Callable[[], httpx.AsyncBaseTransport],
        limits: httpx.Limits,
        proxies: Proxies,
    ) -> None:
        self._build_direct = direct
        self._limits = limits
        self._proxies = proxies
        self.direct: httpx.AsyncBaseTransport | None = None  # built on the first request
        self._proxied: dict[str, httpx.AsyncBaseTransport] = {}  # proxy URL -> transport

    def proxied(self, url: str) -> bool:
        """Whether ``url`` goes through a proxy (then the peer's address is the proxy's)."""
        return proxy_for(url, self._proxies) is not None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._transport_for(str(request.url)).handle_async_request(request)

    async def aclose(self) -> None:
        transports = [*self._proxied.values(), *([self.direct] if self.direct else [])]
        self.direct, self._proxied = None, {}
        for transport in transports:
            await transport.aclose()

    def _transport_for(self, url: str) -> httpx.AsyncBaseTransport:
        proxy = proxy_for(url, self._proxies)
        if proxy is None:
            if self.direct is None:
                self.direct = self._build_direct()
            return self.direct
        if proxy not in self._proxied:
            self._proxied[proxy] = self._proxy_transport(proxy)
        return self._proxied[proxy]

    def _proxy_transport(self, proxy: str) -> httpx.AsyncBaseTransport:
        try:  # the CA files we trust (SSL_CERT_FILE), for the proxy's own transport
            return httpx.AsyncHTTPTransport(
                proxy=proxy, verify=verified_context(), limits=self._limits
            )
        except ImportError:
            reason = "SOCKS proxies need httpx[socks] (socksio), which is not installed"
        except ValueError:  # (httpx's message shows the user name: not repeated here)
            reason = "not a proxy URL httpx can use (http, https, socks5 or socks5h)"
        raise ProxyUnusable(f"cannot use the proxy {shown(proxy)} from the environment: {reason}")
