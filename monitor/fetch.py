"""Fetch stage: polite, bounded HTTP GETs that survive a hostile web.

``Fetcher`` owns the HTTP session of a pass or of the daemon (``session``), so its limits
hold across every source: at most ``http.concurrency`` requests in flight overall
and ``http.per_host`` per host. Each ``fetch`` has one deadline for everything
(retries, redirects, headers and body, so a slow-trickle server cannot hold it);
retries transient failures (connect errors, timeouts, 5xx, 408, 429) with
exponential backoff and jitter (stamina); follows at most ``MAX_REDIRECTS``
redirects itself, checking each hop against ``netguard``; decodes gzip, deflate,
brotli and zstd with the body cap enforced on the decoded bytes while streaming;
and honours ``Retry-After`` on 429/503 for the whole host. It returns a
``FetchResult`` (304 is a result, not an exception) and raises only
``FetchError`` subclasses. It never parses bodies and never touches storage.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

if TYPE_CHECKING:
    from stamina.instrumentation import RetryDetails

from monitor.config import HttpSettings
from monitor.decode import decode_chunk, decoder_for, flush_chain
from monitor.errors import (
    BodyTooLarge,
    FetchConnectError,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
)
from monitor.models import FetchResult
from monitor.netguard import check_address, check_url
from monitor.proxies import ProxyUnusable
from monitor.redirects import redirect_target, same_origin, valid_url
from monitor.retry_after import retry_after_seconds
from monitor.session import Session

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 5
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})
MAX_INLINE_RETRY_AFTER = 30.0  # wait this long inside one fetch; longer waits fail the poll
ACCEPT_HTML = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
ACCEPT_FEEDS = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.8, */*;q=0.5"
)
STATUS_ADVICE = {
    410: "the source is gone for good: remove it or replace its url in the config",
    404: "check the source's url",
    401: "the server wants credentials: set headers for this source",
    403: "the server refuses news-monitor (blocked user agent or region?)",
}


class _Transient(FetchError):
    """Internal: a failure worth another attempt (wrapped before leaving ``fetch``)."""

    def __init__(self, error: FetchError, url: str, wait: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.url = url
        self.wait = wait


def _log_retry(details: RetryDetails) -> None:
    cause = details.caused_by
    if isinstance(cause, _Transient):
        logger.info(
            "GET %s: %s; retry %d in %.1f s",
            cause.url, cause.error, details.retry_num, details.wait_for,
        )  # fmt: skip


def _start(budget: asyncio.Timeout, seconds: float) -> None:
    if budget.when() is None:
        budget.reschedule(asyncio.get_running_loop().time() + seconds)


def _noted(error: FetchError, note: str) -> FetchError:
    message = f"{error} ({note})"
    if isinstance(error, HTTPStatusError):
        return HTTPStatusError(message, error.status, retry_after=error.retry_after)
    return type(error)(message)


class Fetcher:
    """Shared HTTP client with politeness limits. Use as an async context manager."""

    def __init__(
        self,
        settings: HttpSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._monotonic = monotonic
        self._session = Session(settings, transport)
        self._entered = False
        self._global = asyncio.Semaphore(settings.concurrency)
        # a host's semaphore lives while a request holds or awaits it: a daemon that
        # fetches article pages from ever more hosts keeps none of them for good
        self._per_host: weakref.WeakValueDictionary[str, asyncio.Semaphore] = (
            weakref.WeakValueDictionary()
        )
        self._host_not_before: dict[str, float] = {}  # pauses from Retry-After, pruned

    async def __aenter__(self) -> Fetcher:
        self._entered = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._entered = False
        await self._session.aclose()

    def _host_turn(self, host: str) -> asyncio.Semaphore:
        turn = self._per_host.get(host)
        if turn is None:
            turn = self._per_host[host] = asyncio.Semaphore(self._settings.per_host)
        return turn

    def host_delay(self, url: str) -> float:
        """Seconds until ``url``'s host may be asked again (after a Retry-After)."""
        host = (urlsplit(url).hostname or "").lower()
        return max(0.0, self._host_not_before.get(host, 0.0) - self._monotonic())

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        time_limit: float | None = None,
        max_bytes: int | None = None,
        accept: str = ACCEPT_FEEDS,
        headers: dict[str, str] | None = None,
        trusted: bool = True,
    ) -> FetchResult:
        """GET ``url`` within the limits; raises FetchError naming the problem.

        ``trusted``: the URL comes from the config. Content URLs (``trusted=False``)
        and every redirect target must resolve to public addresses unless
        ``http.allow_private_networks`` is set.
        """
        deadline = time_limit or self._settings.timeout
        conditional: dict[str, str] = {}
        if etag:
            conditional["If-None-Match"] = etag
        if last_modified:
            conditional["If-Modified-Since"] = last_modified
        request_headers = {"Accept": accept, **(headers or {}), **conditional}
        # a redirect to another origin gets none of the configured headers (credentials)
        foreign_headers = {"Accept": accept, **conditional}
        started = time.perf_counter()
        failures: list[FetchError] = []

        def retry_hook(exc: BaseException) -> bool | float:
            if isinstance(exc, _Transient):
                failures.append(exc.error)
                return exc.wait if exc.wait is not None else True
            return False

        try:
            # The deadline starts when the request gets its turn under the concurrency
            # limits, not while it queues behind other sources.
            async with asyncio.timeout(None) as budget:

                def attempt() -> Awaitable[FetchResult]:
                    return self._follow(
                        url,
                        (request_headers, foreign_headers),
                        max_bytes or self._settings.max_bytes,
                        trusted,
                        lambda: _start(budget, deadline),
                    )

                try:
                    result = await attempt()
                except _Transient as first:
                    result = await self._retry(first, attempt, retry_hook)
        except TimeoutError:
            if failures:  # the deadline ran out while retrying: report the real cause
                raise _noted(failures[-1], f"still failing after {deadline:g} s") from None
            raise FetchTimeout(f"no complete answer within {deadline:g} s") from None
        except _Transient as transient:
            raise transient.error from None
        return FetchResult(
            url=result.url,
            status=result.status,
            headers=result.headers,
            body=result.body,
            etag=result.etag,
            last_modified=result.last_modified,
            permanent_redirect=result.permanent_redirect,
            elapsed=time.perf_counter() - started,
        )

    async def _retry(
        self,
        first: _Transient,
        attempt: Callable[[], Awaitable[FetchResult]],
        retry_hook: Callable[[BaseException], bool | float],
    ) -> FetchResult:
        """The attempts after a transient failure, with stamina's backoff and jitter.

        Most fetches succeed at once and never pay for stamina (its import and ~50 µs
        a fetch); the first failure is replayed as stamina's first attempt, so every
        wait is the one stamina would have made.
        """
        import stamina  # here: see the docstring
        from stamina.instrumentation import set_on_retry_hooks

        set_on_retry_hooks([_log_retry])  # our own log line instead of stamina's default
        replay: _Transient | None = first
        result: FetchResult | None = None
        async for retrying in stamina.retry_context(
            on=retry_hook,
            attempts=1 + self._settings.retries,
            timeout=None,
            wait_initial=0.5,
            wait_max=10.0,
            wait_jitter=0.5,
        ):
            with retrying:
                if replay is not None:
                    failure, replay = replay, None
                    raise failure
                result = await attempt()
        if result is None:  # pragma: no cover - stamina re-raises the last failure
            raise first
        return result

    async def _follow(
        self,
        url: str,
        header_sets: tuple[dict[str, str], dict[str, str]],
        cap: int,
        trusted: bool,
        started: Callable[[], None],
    ) -> FetchResult:
        if not self._entered:
            raise RuntimeError("Fetcher used outside 'async with'")
        guard = not self._settings.allow_private_networks
        permanent = True  # every hop so far was a 301/308
        seen = {url}
        current = valid_url(url)
        cookies = httpx.Cookies()  # this fetch's, for its redirects (``Session``)
        for hop in range(MAX_REDIRECTS + 1):
            checked = guard and (hop > 0 or not trusted)
            headers = header_sets[0] if same_origin(current, url) else header_sets[1]
            host = (urlsplit(current).hostname or "").lower()
            await self._wait_for_host(host)
            # the host's turn first: a request waiting for its host holds no global slot
            async with self._host_turn(host), self._global:
                started()
                if checked:
                    await check_url(current)
                try:
                    async with self._session.get(current, headers, cookies) as response:
                        if checked and not self._session.proxied(current):
                            _check_peer(host, response)  # (through a proxy: the proxy's address)
                        location = response.headers.get("location")
                        if response.is_redirect and location:
                            target = redirect_target(current, location)
                            permanent = permanent and response.status_code in (301, 308)
                            # back to a URL already asked: a loop, unless this answer set a
                            # cookie (a consent or session check that sends you back)
                            if target in seen and "set-cookie" not in response.headers:
                                raise FetchError(f"redirect loop at {target}")
                            seen.add(target)
                            current = target
                            continue
                        moved = current if permanent and hop > 0 else None
                        return await self._answer(response, host, headers, cap, moved)
                except httpx.TimeoutException:
                    raise _Transient(
                        FetchTimeout("the server stopped answering"), current
                    ) from None
                except httpx.InvalidURL as exc:
                    raise FetchError(f"invalid URL: {exc}") from None
                except httpx.DecodingError as exc:  # bodies are decoded here (``decode``)
                    raise FetchError(f"could not decode the body: {exc}") from None
                except ProxyUnusable as exc:  # the environment's proxy: no retry mends it
                    raise FetchError(str(exc)) from None
                except httpx.TransportError as exc:
                    raise _Transient(
                        FetchConnectError(_describe_transport_error(exc)), current
                    ) from None
        raise FetchError(f"more than {MAX_REDIRECTS} redirects")

    async def _wait_for_host(self, host: str) -> None:
        """Honour a host's Retry-After: wait briefly, or fail at once when it is long."""
        wait = self._host_not_before.get(host, 0.0) - self._monotonic()
        if wait > MAX_INLINE_RETRY_AFTER:
            raise HTTPStatusError(
                f"{host} asked news-monitor to wait (Retry-After); {wait:.0f} s left",
                429,
                retry_after=wait,
            )
        if wait > 0:
            logger.debug("waiting %.1f s for %s (Retry-After)", wait, host)
            await asyncio.sleep(wait)

    async def _answer(
        self,
        response: httpx.Response,
        host: str,
        sent: dict[str, str],
        cap: int,
        moved: str | None,
    ) -> FetchResult:
        status = response.status_code
        if status == 304:
            # read the (empty) body: a response closed before its end closes the
            # connection, and every 304 of a warm pass would cost a new one. Raw: a
            # 304 naming content codings ("br, zstd") has no body to decode, and
            # httpx's decoders fail on that ("Zstandard data is incomplete")
            if not response.is_stream_consumed:  # else built in memory (MockTransport)
                async for _chunk in response.aiter_raw():
                    pass
            return FetchResult(
                url=str(response.url),
                status=304,
                headers=dict(response.headers),
                etag=response.headers.get("etag") or sent.get("If-None-Match"),
                last_modified=response.headers.get("last-modified")
                or sent.get("If-Modified-Since"),
                permanent_redirect=moved,
            )
        if status >= 400:
            raise self._status_error(response, host)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise BodyTooLarge(f"body of {int(declared)} bytes is over the {cap}-byte limit")
        if response.is_stream_consumed:  # a response built in memory (httpx.MockTransport)
            body = bytearray(response.content)
            if len(body) > cap:
                raise BodyTooLarge(f"body is over the {cap}-byte limit")
        else:
            chain = decoder_for(response.headers.get("content-encoding"))
            body = bytearray()
            async for raw in response.aiter_raw():
                body += decode_chunk(chain, raw, cap - len(body))
            body += flush_chain(chain, cap - len(body))
        return FetchResult(
            url=str(response.url),
            status=status,
            headers=dict(response.headers),
            body=bytes(body),
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            permanent_redirect=moved,
        )

    def _status_error(self, response: httpx.Response, host: str) -> FetchError:
        status = response.status_code
        message = f"HTTP {status} {response.reason_phrase}".strip()
        if status in STATUS_ADVICE:
            message += f": {STATUS_ADVICE[status]}"
        retry_after = retry_after_seconds(response.headers.get("retry-after"))
        if status in (429, 503) and retry_after is not None:
            now = self._monotonic()
            paused = {h: t for h, t in self._host_not_before.items() if t > now}  # (prune)
            paused[host] = max(paused.get(host, 0.0), now + retry_after)
            self._host_not_before = paused
            message += f" (the server asks to wait {retry_after:.0f} s)"
        error = HTTPStatusError(message, status, retry_after=retry_after)
        if status not in RETRYABLE_STATUSES:
            return error
        if retry_after is not None and retry_after > MAX_INLINE_RETRY_AFTER:
            return error
        return _Transient(error, str(response.url), wait=retry_after)


def _check_peer(host: str, response: httpx.Response) -> None:
    """The address actually connected to must be public too (DNS can change)."""
    stream = response.extensions.get("network_stream")
    peer = stream.get_extra_info("server_addr") if stream is not None else None
    if peer:
        check_address(host, str(peer[0]))


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
