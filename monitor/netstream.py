"""httpcore's network backend on asyncio's own streams, without anyio in between.

Stage: fetch (HTTP client set-up). Must not: change what is sent or received.

httpcore talks to sockets through a small interface (``AsyncNetworkBackend``:
connect; a stream's read, write, start_tls, close and extra info). On asyncio its
stock backend is anyio's, which per read or write opens a cancel scope for the
timeout, yields to the loop an extra time (a "checkpoint"), and, per read, resumes
and pauses reading on the socket (two ``epoll_ctl`` calls). For a conditional GET
answered 304 that is most of the socket's cost (``bench/http_client.py``).
``AsyncioBackend`` gives httpcore ``asyncio.open_connection``'s reader and writer
instead; timeouts are ``asyncio.timeout``, and errors become the httpcore exceptions
the anyio backend raises (httpx maps those to its own: ``ReadTimeout``,
``ConnectError``...).

It serves direct connections only: proxies keep httpx's own transport (TLS inside
TLS, to an HTTPS proxy, needs anyio's in-memory TLS).
"""

# ruff: noqa: ASYNC109  (the signatures are httpcore's network-backend interface)

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import select
import socket
import ssl
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpcore

_INFO = {"client_addr": "sockname", "server_addr": "peername", "ssl_object": "ssl_object"}
# whether ``is_readable`` also polls the socket (``loop_state_only`` turns it off)
_POLL_SOCKETS = contextvars.ContextVar("news_monitor_poll_sockets", default=True)


@contextlib.contextmanager
def loop_state_only() -> Iterator[None]:
    """Within the block, an idle connection's ``is_readable`` answers from what the loop
    has read (an end of stream, a reset, bytes nobody asked for), without a ``poll()``
    of its socket: what arrived since the loop's last turn is not seen yet."""
    token = _POLL_SOCKETS.set(False)
    try:
        yield
    finally:
        _POLL_SOCKETS.reset(token)


@contextlib.contextmanager
def _mapped(timeout_error: type[Exception], other: type[Exception]) -> Iterator[None]:
    """httpcore's exception for a timeout (``timeout_error``) or a socket error."""
    try:
        yield
    except TimeoutError as exc:
        raise timeout_error(str(exc) or "timed out") from exc
    except OSError as exc:  # resets, refusals, TLS failures (ssl.SSLError is one)
        raise other(str(exc) or type(exc).__name__) from exc


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """TCP connections as asyncio streams (Unix sockets are not needed here).

    ``tls_context`` picks the context a TLS connection really uses from the one the
    pool passes (``keepalive`` builds its pool with a placeholder).
    """

    def __init__(
        self, tls_context: Callable[[ssl.SSLContext], ssl.SSLContext] = lambda given: given
    ) -> None:
        self._tls_context = tls_context

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        local = (local_address, 0) if local_address else None
        with _mapped(httpcore.ConnectTimeout, httpcore.ConnectError):
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, local_addr=local, happy_eyeballs_delay=0.25
                )
        sock = writer.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return AsyncioStream(reader, writer, self._tls_context)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:  # pragma: no cover - no transport asks for one
        raise httpcore.ConnectError("Unix sockets are not supported here")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection: asyncio's reader and writer behind httpcore's stream interface."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        tls_context: Callable[[ssl.SSLContext], ssl.SSLContext] = lambda given: given,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._tls_context = tls_context

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with _mapped(httpcore.ReadTimeout, httpcore.ReadError):
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)  # b"" at the end of the stream

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        with _mapped(httpcore.WriteTimeout, httpcore.WriteError):
            async with asyncio.timeout(timeout):
                self._writer.write(buffer)
                await self._writer.drain()

    async def aclose(self) -> None:
        self._writer.close()  # the loop finishes closing it (a TLS close, too)

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with _mapped(httpcore.ConnectTimeout, httpcore.ConnectError):
                async with asyncio.timeout(timeout):
                    await self._writer.start_tls(
                        self._tls_context(ssl_context), server_hostname=server_hostname
                    )
        except BaseException:
            self._writer.transport.abort()
            raise
        return self  # the writer now speaks TLS over the same reader

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return self._readable()
        if info == "socket":
            return self._writer.get_extra_info("socket")
        if info in _INFO:
            return self._writer.get_extra_info(_INFO[info])
        return None

    def _readable(self) -> bool:
        """Whether the idle connection has input or is gone (the server closed it).

        The loop reads the socket as data arrives, so what it already read (bytes
        nobody asked for, an end of stream, a reset) shows on the reader and the
        transport, not on the socket.
        """
        if self._writer.transport.is_closing() or self._reader.at_eof():
            return True
        if self._reader.exception() is not None or getattr(self._reader, "_buffer", None):
            return True
        if not _POLL_SOCKETS.get():
            return False
        sock = self._writer.get_extra_info("socket")
        return sock is None or has_input(sock)


def has_input(sock: socket.socket) -> bool:
    """Whether reading ``sock`` would not block: data, an end of stream, or no socket."""
    fd = sock.fileno()
    if fd < 0:
        return True
    if not hasattr(select, "poll"):  # pragma: no cover - Windows
        return bool(select.select([fd], [], [], 0)[0])
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))
