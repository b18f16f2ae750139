"""Safety for URLs that come from content: no loopback, private, link-local or multicast.

Article links and redirect targets are chosen by whoever wrote the feed or page, so
they must not make news-monitor reach services on the operator's own network
(SSRF). A URL passes when every address its host resolves to is globally routable
and not multicast; the fetcher checks each redirect hop before connecting and the
address it actually connected to before reading a body. Configured source URLs are
trusted and not checked. ``http.allow_private_networks = true`` turns this off.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from monitor.errors import FetchConnectError, FetchError


class UnsafeURL(FetchError):
    """Raised by ``fetch`` for a content URL that resolves to a non-public address."""


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def check_address(host: str, address: str) -> None:
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        raise UnsafeURL(f"{host} resolved to an unparseable address {address!r}") from None
    if not is_public(parsed):
        raise UnsafeURL(
            f"refusing to fetch {host}: it resolves to {parsed}, a loopback, private, "
            "link-local or multicast address (set http.allow_private_networks = true to allow)"
        )


async def check_url(url: str) -> None:
    """Resolve the URL's host and raise UnsafeURL unless every address is public."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        raise FetchError(f"invalid URL without a host: {url!r}")
    try:
        check_address(host, str(ipaddress.ip_address(host)))
        return
    except ValueError:
        pass  # a name, not a literal address
    port = parts.port or (443 if parts.scheme == "https" else 80)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchConnectError(f"cannot resolve {host}: {exc.strerror}") from None
    for info in infos:
        check_address(host, str(info[4][0]))
