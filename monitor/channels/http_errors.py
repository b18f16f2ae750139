"""Post to chat/webhook services, and map their answers and httpx exceptions to errors.

``post`` keeps at most ``MAX_ANSWER`` bytes of an answer's body (what a service says
about a failure is short) and gives the whole exchange the channel's ``timeout``: an
endpoint that answers with an endless body, or trickles it, costs no more memory or
time than that. A body that does not decode is kept as far as it did: the status
decides whether the delivery went through.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import httpx

from monitor.errors import PermanentDeliveryError, TransientDeliveryError
from monitor.retry_after import retry_after_seconds as parse_retry_after

PERMANENT_STATUSES = frozenset({401, 403, 404, 410})
MAX_ANSWER = 64 * 1024  # bytes of an answer's body kept
_NOT_COPIED = frozenset({b"content-encoding", b"content-length", b"transfer-encoding"})


async def post(
    http: httpx.AsyncClient,
    url: str,
    *,
    content: bytes,
    headers: Mapping[str, str],
    seconds: float,
) -> httpx.Response:
    """POST ``content``: the answer, with at most MAX_ANSWER bytes of its (decoded) body.

    Raises ``httpx.ReadTimeout`` when the whole exchange takes longer than ``seconds``.
    """
    kept = bytearray()
    try:
        async with asyncio.timeout(seconds):
            exchange = http.stream("POST", url, content=content, headers=headers, timeout=seconds)
            async with exchange as answer:
                try:
                    async for chunk in answer.aiter_bytes():
                        kept += chunk
                        if len(kept) >= MAX_ANSWER:
                            break  # the rest is never read: the connection is closed
                except httpx.DecodingError:
                    pass  # not the gzip (br, zstd) it claims: the status still says it all
    except TimeoutError:
        raise httpx.ReadTimeout(f"no whole answer within {seconds:g} s") from None
    copied = [(k, v) for k, v in answer.headers.raw if k.lower() not in _NOT_COPIED]  # as sent
    return httpx.Response(
        answer.status_code,
        headers=copied,
        content=bytes(kept[:MAX_ANSWER]),
        request=answer.request,
        extensions={"reason_phrase": answer.extensions.get("reason_phrase", b"")},
    )


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` as seconds (at most a day), else None: the fetcher's own reading."""
    return parse_retry_after(response.headers.get("retry-after"))


def raise_for_answer(channel: str, response: httpx.Response) -> None:
    """Raise the right DeliveryError unless the service answered 2xx."""
    if response.is_success:
        return
    what = f"channel {channel}: HTTP {response.status_code} {response.reason_phrase}".rstrip()
    if response.status_code in PERMANENT_STATUSES:
        raise PermanentDeliveryError(what)
    raise TransientDeliveryError(what, retry_after=retry_after_seconds(response))


def transport_failure(channel: str, exc: httpx.HTTPError) -> TransientDeliveryError:
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "network error"
    detail = type(exc).__name__
    return TransientDeliveryError(f"channel {channel}: {kind} ({detail})")
