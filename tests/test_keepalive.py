"""The pool's keep-alive check: cached briefly, never hiding a connection the server closed."""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path
from typing import Any

import httpcore
import httpx
import pytest
import trustme

from monitor.config import HttpSettings
from monitor.fetch import Fetcher, FetchError
from monitor.keepalive import (
    _UNLOADED,
    RECHECK,
    _Backend,
    _LinearPool,
    _Stream,
    pooled_transport,
    verified_context,
)
from tests.servers import tls_server


class Inner(httpcore.AsyncNetworkStream):
    def __init__(self) -> None:
        self.readable = False
        self.asked = 0

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            self.asked += 1
            return self.readable
        if info == "socket":
            return None  # (a stream without a socket: asked "is_readable" every time)
        return f"inner {info}"


class OverSocket(Inner):
    """A stream over a real socket, counting how often the socket is looked up."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock = sock
        self.lookups = 0

    def get_extra_info(self, info: str) -> Any:
        if info == "socket":
            self.lookups += 1
            return self.sock
        return super().get_extra_info(info)


async def test_an_open_idle_connection_is_asked_once_per_window() -> None:
    inner = Inner()
    stream = _Stream(inner)
    assert [stream.get_extra_info("is_readable") for _ in range(50)] == [False] * 50
    assert inner.asked == 1
    assert stream.get_extra_info("server_addr") == "inner server_addr"
    await stream.read(10)  # traffic: the next check asks the socket again
    stream.get_extra_info("is_readable")
    assert inner.asked == 2
    await asyncio.sleep(RECHECK * 1.5)
    inner.readable = True  # the server closed it: seen once the window is over
    assert stream.get_extra_info("is_readable") is True
    assert stream.get_extra_info("is_readable") is True  # a closed socket is never cached
    assert inner.asked == 4


async def test_the_socket_is_looked_up_once_and_polled_directly() -> None:
    """A real socket pair: an idle socket is not readable; once the peer closes it (or
    sends anything) it is, and a closed socket counts as readable (expired)."""
    ours, theirs = socket.socketpair()
    try:
        inner = OverSocket(ours)
        stream = _Stream(inner)
        assert stream.get_extra_info("is_readable") is False
        await stream.read(10)  # traffic: the next check polls the socket again
        assert stream.get_extra_info("is_readable") is False
        theirs.close()
        await stream.write(b"x")
        assert stream.get_extra_info("is_readable") is True  # the end of stream is waiting
        assert inner.lookups == 1 and inner.asked == 0  # looked up once, never through anyio
    finally:
        ours.close()
        theirs.close()
    fresh = _Stream(OverSocket(ours))  # closed: no file descriptor any more
    assert fresh.get_extra_info("is_readable") is True


def test_the_installed_httpx_gets_the_cached_check() -> None:
    transport = pooled_transport(httpx.Limits(max_connections=4))
    assert isinstance(transport._pool._network_backend, _Backend)


async def test_a_connection_the_server_closed_is_not_reused() -> None:
    """A real server on 127.0.0.1 closes each keep-alive connection 20 ms after answering."""
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        body = b"<rss version='2.0'><channel><title>t</title></channel></rss>"
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
        writer.write(head.encode() + body)
        await writer.drain()
        await asyncio.sleep(0.02)
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = HttpSettings(allow_private_networks=True, retries=0)  # no retry to hide a failure
    try:
        async with Fetcher(settings) as fetcher:
            for _ in range(3):
                result = await fetcher.fetch(f"http://127.0.0.1:{port}/feed")
                assert result.status == 200
                await asyncio.sleep(RECHECK + 0.1)  # the server has closed it by now
    finally:
        server.close()
        await server.wait_closed()
    assert connections == 3


async def test_a_304_leaves_the_connection_open_for_the_next_request() -> None:
    """A warm pass is mostly 304s: each must not cost a new connection (or TLS handshake)."""
    connections = 0
    served = asyncio.Event()  # the server's side closed (the client closed first)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        body = b"<rss version='2.0'><channel><title>t</title></channel></rss>"
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if b"if-none-match" in head.lower():
                    writer.write(b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\n')
                else:
                    writer.write(
                        f'HTTP/1.1 200 OK\r\nETag: "v1"\r\nContent-Length: {len(body)}\r\n\r\n'
                        .encode() + body
                    )  # fmt: skip
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            served.set()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = HttpSettings(allow_private_networks=True, retries=0)
    try:
        async with Fetcher(settings) as fetcher:
            first = await fetcher.fetch(f"http://127.0.0.1:{port}/feed")
            statuses = [first.status]
            for _ in range(3):
                again = await fetcher.fetch(f"http://127.0.0.1:{port}/feed", etag=first.etag)
                statuses.append(again.status)
        await asyncio.wait_for(served.wait(), 5)  # no socket left open when the loop ends
    finally:
        server.close()
        await server.wait_closed()
    assert statuses == [200, 304, 304, 304]
    assert connections == 1


class FakeConnection:
    """What the pool asks of a connection: an open HTTP/1.1 one, idle or busy."""

    def __init__(self, idle: bool = True, expired: bool = False) -> None:
        self.idle, self.expired = idle, expired

    def is_closed(self) -> bool:
        return False

    def has_expired(self) -> bool:
        assert self.idle, "a busy connection cannot have expired: not asked"
        return self.expired

    def is_idle(self) -> bool:
        return self.idle

    def is_available(self) -> bool:
        return self.idle

    def can_handle_request(self, origin: object) -> bool:
        return True


def test_the_pool_keeps_at_most_max_keepalive_idle_connections() -> None:
    transport = pooled_transport(httpx.Limits(max_connections=8, max_keepalive_connections=2))
    pool = transport._pool
    assert isinstance(pool, _LinearPool)
    idle = [FakeConnection() for _ in range(5)]
    pool._connections = list(idle)  # type: ignore[arg-type]
    closing = pool._assign_requests_to_connections()
    assert pool._connections == idle[:2]
    assert closing == idle[2:]


def test_the_pool_is_built_with_a_context_that_trusts_nothing() -> None:
    """Certificates are loaded on the first TLS connection; a skipped swap fails closed."""
    transport = pooled_transport(httpx.Limits(max_connections=4))
    assert transport._pool._ssl_context is _UNLOADED
    assert _UNLOADED.verify_mode == ssl.CERT_REQUIRED and _UNLOADED.check_hostname
    assert _UNLOADED.cert_store_stats()["x509_ca"] == 0


async def _tls_fetch(monkeypatch: pytest.MonkeyPatch, *, trusted: bool) -> int:
    ca = trustme.CA()
    if trusted:
        client_context = ssl.create_default_context()
        ca.configure_trust(client_context)
        monkeypatch.setattr("monitor.keepalive.verified_context", lambda: client_context)
    async with (
        tls_server(ca, "127.0.0.1", b"ok") as port,
        Fetcher(HttpSettings(allow_private_networks=True, retries=0)) as fetcher,
    ):
        return (await fetcher.fetch(f"https://127.0.0.1:{port}/feed")).status


async def test_tls_is_verified_with_the_context_loaded_on_first_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(FetchError, match=r"(?i)certificate"):
        await _tls_fetch(monkeypatch, trusted=False)  # certifi does not know the test CA
    assert await _tls_fetch(monkeypatch, trusted=True) == 200


async def test_a_private_ca_from_ssl_cert_file_is_trusted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``SSL_CERT_FILE`` names the CAs a fetch trusts (a company's own CA, say)."""
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    verified_context.cache_clear()  # loaded once per process: load it with the variable set
    try:
        async with (
            tls_server(ca, "127.0.0.1", b"ok") as port,
            Fetcher(HttpSettings(allow_private_networks=True, retries=0)) as fetcher,
        ):
            result = await fetcher.fetch(f"https://127.0.0.1:{port}/feed")
    finally:
        verified_context.cache_clear()  # the next test loads certifi's bundle again
    assert (result.status, result.body) == (200, b"ok")


def test_the_pool_closes_expired_idle_connections_and_leaves_busy_ones_alone() -> None:
    pool = pooled_transport(httpx.Limits(max_connections=8, max_keepalive_connections=8))._pool
    busy, fresh = FakeConnection(idle=False), FakeConnection()
    stale = FakeConnection(expired=True)
    pool._connections = [busy, fresh, stale]  # type: ignore[list-item]
    assert pool._assign_requests_to_connections() == [stale]
    assert pool._connections == [busy, fresh]


async def test_an_idle_connection_goes_to_one_waiting_request_at_a_time() -> None:
    """httpcore gives it to every queued request; all but one then fail and go round."""
    from httpcore._async.connection_pool import AsyncPoolRequest

    def waiting() -> AsyncPoolRequest:
        return AsyncPoolRequest(httpcore.Request("GET", "http://feeds.test/a"))

    full = pooled_transport(httpx.Limits(max_connections=1, max_keepalive_connections=1))._pool
    idle, first, second = FakeConnection(), waiting(), waiting()
    full._connections, full._requests = [idle], [first, second]  # type: ignore[list-item]
    full._assign_requests_to_connections()
    assert first.connection is idle
    assert second.connection is None  # the pool is full: it waits for a connection

    roomy = pooled_transport(httpx.Limits(max_connections=2, max_keepalive_connections=2))._pool
    idle, first, second = FakeConnection(), waiting(), waiting()
    roomy._connections, roomy._requests = [idle], [first, second]  # type: ignore[list-item]
    roomy._assign_requests_to_connections()
    assert first.connection is idle
    assert second.connection is not None and second.connection is not idle  # a new one
    assert len(roomy._connections) == 2
