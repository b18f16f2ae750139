"""Cheaper keep-alive bookkeeping for httpx's connection pool.

Stage: fetch (HTTP client set-up). Must not: change what is sent or received.

``pooled_transport`` keeps httpx's own transport and its httpcore pool, with three
costs of the stock one taken out (each measured in ``bench/http_client.py``; see
``docs/benchmarks.md``):

- Sockets. httpcore reaches sockets through anyio, which per read or write opens a
  cancel scope, yields to the loop once more and switches reading on and off; the
  pool's connections use ``netstream.AsyncioBackend`` (asyncio's streams) instead.
  Asking an idle connection "has the server closed you?" is then a look at the
  reader and one ``poll()``, not a walk through anyio's socket attributes.
- Housekeeping. Each time a request joins or leaves the pool, httpcore's pool walks its
  connections and, for every idle one, builds a list of all of them again: with 32
  connections that is ~1,000 Python calls per request, more CPU than the request
  itself. ``_LinearPool`` does the same housekeeping in one walk (and counts *idle*
  connections against ``max_keepalive_connections``, as the setting means), and walks
  at most every ``SWEEP`` seconds: in between, a closed, expired or surplus idle
  connection just stays in the list a little longer. What that could change is
  checked where it matters: a connection is asked whether it has expired before it is
  handed to a request, and a full pool walks at once to make room.
- CA certificates. Every transport loads certifi's bundle when it is built (~25 ms of
  CPU). The pool here is built with ``_UNLOADED``, a context that trusts nothing, and
  the backend swaps it for ``verified_context()`` when it starts TLS, loaded once per
  process on the first TLS connection. If the swap were ever skipped, TLS would fail
  ("certificate verify failed"); it could never go unverified.
- Locks and shields. httpcore's per-connection locks and per-response cancel shields
  are anyio's, whose first use imports anyio's asyncio backend; ``httpcore_sync``
  makes them asyncio's.

The pool's backend is reached through private attributes of httpx and httpcore; when
they are not there (another version) the stock transport is returned.
"""

from __future__ import annotations

import functools
import ssl
import time
from typing import Any

import httpcore
import httpx

from monitor import httpcore_sync
from monitor.netstream import AsyncioBackend, loop_state_only

SWEEP = 0.05  # seconds between the pool's walks over all its connections

# A client context that trusts no certificate: what the pool is built with, never what
# a TLS connection uses (``_tls_context`` swaps it).
_UNLOADED = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
_POOL_FIELDS = ("_connections", "_requests", "_max_connections", "_max_keepalive_connections")


@functools.cache
def verified_context() -> ssl.SSLContext:
    """httpx's default verifying context (certifi's CA bundle), built on first use."""
    return httpx.create_ssl_context()


def _tls_context(given: ssl.SSLContext) -> ssl.SSLContext:
    return verified_context() if given is _UNLOADED else given


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
    pool._network_backend = AsyncioBackend(_tls_context)
    pool.__class__ = _LinearPool
    httpcore_sync.install()
    return transport


class _LinearPool(httpcore.AsyncConnectionPool):
    """httpcore's pool with its housekeeping done in one walk, at most every ``SWEEP`` s."""

    _swept_at = float("-inf")  # when ``_sweep`` last walked the connections

    def _assign_requests_to_connections(self) -> list[httpcore.AsyncConnectionInterface]:
        closing: list[httpcore.AsyncConnectionInterface] = []
        now = time.monotonic()
        if now - self._swept_at >= SWEEP:
            closing = self._sweep(now)
        queued = [r for r in self._requests if r.is_queued()]
        if not queued:
            return closing
        # A connection handed to a request that has not started on it yet still looks
        # idle; httpcore hands it to the next queued request too, which then fails
        # with ConnectionNotAvailable and goes round again (2-3 times per request in
        # a busy pass). Here a connection serves one request at a time (HTTP/1.1).
        taken = {id(r.connection) for r in self._requests if r.connection is not None}
        for pool_request in queued:
            origin = pool_request.request.url.origin
            connection = self._reusable(origin, taken, closing)
            if connection is None:
                if len(self._connections) >= self._max_connections and self._swept_at < now:
                    closing += self._sweep(now)  # closed or expired ones make room
                if len(self._connections) >= self._max_connections:
                    spare = next(
                        (c for c in self._connections if id(c) not in taken and c.is_idle()),
                        None,
                    )
                    if spare is None:
                        continue  # the pool is full of busy connections: the request waits
                    self._connections.remove(spare)  # an idle connection to another origin
                    closing.append(spare)
                connection = self.create_connection(origin)
                self._connections.append(connection)
            _hand(pool_request, connection)
            taken.add(id(connection))
        return closing

    async def _close_connections(self, closing: list[httpcore.AsyncConnectionInterface]) -> None:
        # httpcore opens a cancel-shielding scope (anyio's) even when there is nothing
        # to close, twice per request
        if closing:
            await super()._close_connections(closing)

    def _reusable(
        self,
        origin: httpcore.Origin,
        taken: set[int],
        closing: list[httpcore.AsyncConnectionInterface],
    ) -> httpcore.AsyncConnectionInterface | None:
        """The first free connection to ``origin`` that has not expired (those close)."""
        for connection in list(self._connections):
            if id(connection) in taken or not connection.can_handle_request(origin):
                continue
            if not connection.is_available():
                continue
            if connection.has_expired():  # keep-alive over, or the server closed it
                self._connections.remove(connection)
                closing.append(connection)
                continue
            return connection
        return None

    def _sweep(self, now: float) -> list[httpcore.AsyncConnectionInterface]:
        """Drop closed connections; close expired and surplus idle ones.

        A server's close is read from what the loop has read, without a ``poll()`` of
        every idle socket (half the pool's polls in a warm pass): a close that arrived
        since the loop's last turn is seen by the next sweep, or by the check before
        the connection is handed out (``_reusable``), which polls.
        """
        self._swept_at = now
        closing: list[httpcore.AsyncConnectionInterface] = []
        idle = 0
        with loop_state_only():
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
        return closing


def _hand(pool_request: Any, connection: httpcore.AsyncConnectionInterface) -> None:
    """Give ``pool_request`` its connection; wake it only if it already waits.

    A request that finds a connection as it joins the pool (most do) never waits for
    the event httpcore sets here, and setting it builds an anyio event (the backend
    sniffed again) for nothing. A request's event is set up once it waits on it.
    """
    event = getattr(pool_request, "_connection_acquired", None)
    if getattr(event, "_backend", True):  # it waits (or waited) on its event, or unknown
        pool_request.assign_to_connection(connection)
    else:
        pool_request.connection = connection  # checked before it would wait
