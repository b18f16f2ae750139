"""Fetch stage: one polite, bounded HTTP GET at a time.

``Fetcher`` owns the ``httpx.AsyncClient`` for a pass or a daemon. It enforces the
global in-flight limit (``http.concurrency``), the per-host limit
(``http.per_host``), a whole-request deadline (headers and body together), and the
body cap while streaming, and it sends conditional requests. It returns a
``FetchResult`` (``status == 304`` is a result, not an exception) and raises only
``FetchError`` subclasses. It never parses bodies and never touches storage.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from types import TracebackType
from urllib.parse import urlsplit

import httpx

from monitor.config import HttpSettings
from monitor.errors import (
    BodyTooLarge,
    FetchConnectError,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
)
from monitor.models import FetchResult

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 5
ACCEPT_FEEDS = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.8, */*;q=0.5"
)


class Fetcher:
    """Shared HTTP client with politeness limits. Use as an async context manager."""

    def __init__(
        self,
        settings: HttpSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._global = asyncio.Semaphore(settings.concurrency)
        self._per_host: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(settings.per_host)
        )

    async def __aenter__(self) -> Fetcher:
        self._client = httpx.AsyncClient(
            transport=self._transport,
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            timeout=httpx.Timeout(self._settings.timeout),
            limits=httpx.Limits(
                max_connections=self._settings.concurrency,
                max_keepalive_connections=self._settings.concurrency,
            ),
            headers={"User-Agent": self._settings.user_agent},
            trust_env=True,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        time_limit: float | None = None,
        max_bytes: int | None = None,
        accept: str = ACCEPT_FEEDS,
    ) -> FetchResult:
        """GET ``url`` within the limits; raises FetchError naming the problem."""
        if self._client is None:
            raise RuntimeError("Fetcher used outside 'async with'")
        deadline = time_limit or self._settings.timeout
        cap = max_bytes or self._settings.max_bytes
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        host = (urlsplit(url).hostname or "").lower()
        started = time.perf_counter()
        async with self._global, self._per_host[host]:
            try:
                async with asyncio.timeout(deadline):
                    result = await self._get(self._client, url, headers, cap)
            except TimeoutError:
                raise FetchTimeout(f"no complete answer within {deadline:g} s") from None
            except httpx.TooManyRedirects:
                raise FetchError(f"more than {MAX_REDIRECTS} redirects") from None
            except httpx.TimeoutException:
                raise FetchTimeout(f"timed out (limit {deadline:g} s)") from None
            except httpx.DecodingError as exc:
                raise FetchError(f"could not decode the compressed body: {exc}") from None
            except httpx.InvalidURL as exc:
                raise FetchError(f"invalid URL: {exc}") from None
            except httpx.TransportError as exc:
                raise FetchConnectError(_describe_transport_error(exc)) from None
        elapsed = time.perf_counter() - started
        return FetchResult(
            url=result.url,
            status=result.status,
            headers=result.headers,
            body=result.body,
            etag=result.etag,
            last_modified=result.last_modified,
            permanent_redirect=result.permanent_redirect,
            elapsed=elapsed,
        )

    @staticmethod
    async def _get(
        client: httpx.AsyncClient, url: str, headers: dict[str, str], cap: int
    ) -> FetchResult:
        async with client.stream("GET", url, headers=headers) as response:
            moved = next(
                (str(r.headers.get("location", "")) for r in response.history
                 if r.status_code in (301, 308)),
                None,
            )  # fmt: skip
            if response.status_code == 304:
                return FetchResult(
                    url=str(response.url),
                    status=304,
                    headers=dict(response.headers),
                    etag=response.headers.get("etag") or headers.get("If-None-Match"),
                    last_modified=response.headers.get("last-modified")
                    or headers.get("If-Modified-Since"),
                    permanent_redirect=moved and str(response.url),
                )
            if response.status_code >= 400:
                reason = response.reason_phrase or ""
                raise HTTPStatusError(
                    f"HTTP {response.status_code} {reason}".strip(), response.status_code
                )
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > cap:
                raise BodyTooLarge(f"body of {int(declared)} bytes is over the {cap}-byte limit")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > cap:
                    raise BodyTooLarge(f"body is over the {cap}-byte limit")
                chunks.append(chunk)
            return FetchResult(
                url=str(response.url),
                status=response.status_code,
                headers=dict(response.headers),
                body=b"".join(chunks),
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
                permanent_redirect=moved and str(response.url),
            )


def _describe_transport_error(exc: httpx.TransportError) -> str:
    kind = {
        httpx.ConnectError: "could not connect",
        httpx.ReadError: "connection broke while reading",
        httpx.WriteError: "connection broke while sending",
        httpx.RemoteProtocolError: "the server broke the HTTP protocol",
        httpx.ProxyError: "proxy error",
    }.get(type(exc), "network error")
    detail = str(exc).strip()
    return f"{kind}: {detail}" if detail else kind
