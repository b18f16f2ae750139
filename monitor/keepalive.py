"""Cheaper keep-alive bookkeeping for httpx's connection pool.

Stage: fetch (HTTP client set-up). Must not: change what is sent or received.

httpcore's pool asks every idle connection "has the server closed you?" each time a
request joins or leaves the pool: a ``poll()`` on the socket, reached through anyio's
socket attributes (which call ``getpeername`` every time). With ``http.concurrency``
connections and hundreds of requests per pass that is the largest CPU cost of a pass
whose feeds answer 304 (measured in ``bench/profile_once.py``; see
``docs/benchmarks.md``). ``pooled_transport`` keeps httpx's own transport and wraps
its network backend so that an idle connection found open is not asked again for
``RECHECK`` seconds. A server that closes a connection inside that window is found
out the way any close racing a request is: the request fails as a transport error
and the fetcher retries it.

The pool's backend is reached through private attributes of httpx and httpcore; when
they are not there (another version) the transport is returned unchanged.
"""

# ruff: noqa: ASYNC109  (the signatures are httpcore's network-backend interface)

from __future__ import annotations

import ssl
import time
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

RECHECK = 0.05  # seconds an idle connection found open is trusted to stay open


def pooled_transport(limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """httpx's default async transport with the readability check cached."""
    transport = httpx.AsyncHTTPTransport(limits=limits)
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if isinstance(backend, httpcore.AsyncNetworkBackend):
        pool._network_backend = _Backend(backend)  # type: ignore[union-attr]
    return transport


class _Backend(httpcore.AsyncNetworkBackend):
    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(
            host, port, timeout=timeout, local_address=local_address,
            socket_options=socket_options,
        )  # fmt: skip
        return _Stream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_unix_socket(
            path, timeout=timeout, socket_options=socket_options
        )
        return _Stream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _Stream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._open_at = float("-inf")  # when the socket was last found not readable

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._open_at = float("-inf")  # bytes moved: the next check asks the socket
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._open_at = float("-inf")
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info != "is_readable":
            return self._inner.get_extra_info(info)
        now = time.monotonic()
        if now - self._open_at < RECHECK:
            return False
        readable = self._inner.get_extra_info(info)
        if not readable:
            self._open_at = now
        return readable
