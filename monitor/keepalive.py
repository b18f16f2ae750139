"""Cheaper keep-alive bookkeeping for httpx's connection pool.

Stage: fetch (HTTP client set-up). Must not: change what is sent or received.

httpcore's pool asks every idle connection "has the server closed you?" each time a
request joins or leaves the pool: a ``poll()`` on the socket, reached through anyio's
socket attributes (which build a table of them, calling ``getpeername``, every time;
``_Stream`` looks the socket up once and polls it directly). With ``http.concurrency``
connections and hundreds of requests per pass that is the largest CPU cost of a pass
whose feeds answer 304 (measured in ``bench/profile_once.py``; see
``docs/benchmarks.md``). ``pooled_transport`` keeps httpx's own transport and wraps
its network backend so that an idle connection found open is not asked again for
``RECHECK`` seconds. A server that closes a connection inside that window is found
out the way any close racing a request is: the request fails as a transport error
and the fetcher retries it.

Two more costs of httpx's stock transport are avoided the same way:

- Housekeeping. Each time a request joins or leaves the pool, httpcore's pool walks its
  connections and, for every idle one, builds a list of all of them again: with 32
  connections that is ~1,000 Python calls per request, more CPU than the request
  itself. ``_LinearPool`` does the same housekeeping in one walk (and counts *idle*
  connections against ``max_keepalive_connections``, as the setting means).
- CA certificates. Every transport loads certifi's bundle when it is built (~25 ms of
  CPU). The pool here is built with ``_UNLOADED``, a context that trusts nothing, and
  ``start_tls`` swaps it for ``verified_context()``, loaded once per process on the
  first TLS connection. If the swap were ever skipped, TLS would fail ("certificate
  verify failed"); it could never go unverified.

The pool's backend is reached through private attributes of httpx and httpcore; when
they are not there (another version) the stock transport is returned.
"""

# ruff: noqa: ASYNC109  (the signatures are httpcore's network-backend interface)

from __future__ import annotations

import functools
import select
import socket
import ssl
import time
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

RECHECK = 0.05  # seconds an idle connection found open is trusted to stay open

# A client context that trusts no certificate: what the pool is built with, never what
# a TLS connection uses (``_Stream.start_tls`` swaps it).
_UNLOADED = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
_POOL_FIELDS = ("_connections", "_requests", "_max_connections", "_max_keepalive_connections")


@functools.cache
def verified_context() -> ssl.SSLContext:
    """httpx's default verifying context (certifi's CA bundle), built on first use."""
    return httpx.create_ssl_context()


def pooled_transport(limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """httpx's default async transport with cheaper pool bookkeeping (module docstring)."""
    transport = httpx.AsyncHTTPTransport(limits=limits, verify=_UNLOADED)
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if (
        type(pool) is not httpcore.AsyncConnectionPool
        or not isinstance(backend, httpcore.AsyncNetworkBackend)
        or not all(hasattr(pool, name) for name in _POOL_FIELDS)
        or not httpcore.__version__.startswith("1.0.")
    ):
        return httpx.AsyncHTTPTransport(limits=limits)  # another httpx: the stock one
    pool._network_backend = _Backend(backend)
    pool.__class__ = _LinearPool
    return transport


class _LinearPool(httpcore.AsyncConnectionPool):
    """httpcore's pool with its housekeeping done in one walk over the connections."""

    def _assign_requests_to_connections(self) -> list[httpcore.AsyncConnectionInterface]:
        closing: list[httpcore.AsyncConnectionInterface] = []
        idle = 0
        for connection in list(self._connections):
            if connection.is_closed():
                self._connections.remove(connection)
            # only an idle connection can have expired (HTTP/1.1: the keep-alive clock
            # and the server-close check both start when it turns idle)
            elif connection.is_idle():
                if connection.has_expired() or idle >= self._max_keepalive_connections:
                    self._connections.remove(connection)
                    closing.append(connection)
                else:
                    idle += 1
        # A connection handed to a request that has not started on it yet still looks
        # idle; httpcore hands it to the next queued request too, which then fails
        # with ConnectionNotAvailable and goes round again (2-3 times per request in
        # a busy pass). Here a connection serves one request at a time (HTTP/1.1).
        taken = {id(r.connection) for r in self._requests if r.connection is not None}
        for pool_request in [r for r in self._requests if r.is_queued()]:
            origin = pool_request.request.url.origin
            free = [c for c in self._connections if id(c) not in taken]
            reusable = next(
                (c for c in free if c.can_handle_request(origin) and c.is_available()), None
            )
            if reusable is not None:
                connection = reusable
            else:
                if len(self._connections) >= self._max_connections:
                    spare = next((c for c in free if c.is_idle()), None)
                    if spare is None:
                        continue  # the pool is full of busy connections: the request waits
                    self._connections.remove(spare)  # an idle connection to another origin
                    closing.append(spare)
                connection = self.create_connection(origin)
                self._connections.append(connection)
            pool_request.assign_to_connection(connection)
            taken.add(id(connection))
        return closing


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
        self._socket: socket.socket | None = None  # looked up once: see ``_readable``
        self._looked_up = False

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
        if ssl_context is _UNLOADED:
            ssl_context = verified_context()
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info != "is_readable":
            return self._inner.get_extra_info(info)
        now = time.monotonic()
        if now - self._open_at < RECHECK:
            return False
        readable = self._readable()
        if not readable:
            self._open_at = now
        return readable

    def _readable(self) -> bool:
        """Whether the server sent something (a close) while the connection was idle.

        httpcore's anyio stream answers ``is_readable`` by looking its socket up
        through anyio's typed attributes, which build a table of every socket
        attribute on each call: most of the cost of a check. The socket is looked up
        once here and polled directly, as httpcore does (no socket: closed).
        """
        if not self._looked_up:
            self._socket, self._looked_up = self._inner.get_extra_info("socket"), True
        if self._socket is None:  # a stream without one: it answers itself
            return bool(self._inner.get_extra_info("is_readable"))
        return _has_input(self._socket)


def _has_input(sock: socket.socket) -> bool:
    """Whether reading ``sock`` would not block: data, an end of stream, or no socket."""
    fd = sock.fileno()
    if fd < 0:
        return True
    if not hasattr(select, "poll"):  # pragma: no cover - Windows
        return bool(select.select([fd], [], [], 0)[0])
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))
