"""The pool's connections: asyncio streams, lazy housekeeping, never a connection the server closed."""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
from collections.abc import Awaitable, Callable
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
    SWEEP,
    _LinearPool,
    pooled_transport,
    verified_context,
)
from monitor.netstream import AsyncioBackend, has_input
from tests.servers import tls_server


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (RST), not an orderly end of stream (FIN)."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _connected(
    serve: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> tuple[asyncio.Server, httpcore.AsyncNetworkStream]:
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)


@pytest.mark.parametrize("server_does", ["close", "send", "reset"])
async def test_an_idle_connection_shows_what_the_server_did(server_does: str) -> None:
    """Open and quiet: not readable. Closed, reset or sent to: readable (so expired)."""
    act, done = asyncio.Event(), asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await act.wait()
        if server_does == "send":  # and keep the connection open until the test ends
            writer.write(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
            await writer.drain()
            await done.wait()
        elif server_does == "reset":
            _reset(writer)
        writer.close()

    server, stream = await _connected(serve)
    try:
        await asyncio.sleep(0.05)
        assert stream.get_extra_info("is_readable") is False
        act.set()
        for _ in range(100):  # (bounded: 1 s)
            if stream.get_extra_info("is_readable"):
                break
            await asyncio.sleep(0.01)
        assert stream.get_extra_info("is_readable") is True
    finally:
        done.set()
        await stream.aclose()
        server.close()
        await server.wait_closed()


async def test_the_stream_reads_writes_and_names_both_ends() -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write((await reader.readexactly(5)).upper())
        await writer.drain()
        writer.close()

    server, stream = await _connected(serve)
    try:
        await stream.write(b"")  # nothing to send: nothing sent
        await stream.write(b"hello")
        assert await stream.read(3, timeout=5) == b"HEL"
        assert await stream.read(100, timeout=5) == b"LO"
        assert await stream.read(100, timeout=5) == b""  # the end of the stream
        assert stream.get_extra_info("server_addr")[1] == server.sockets[0].getsockname()[1]
        assert stream.get_extra_info("client_addr")[0] == "127.0.0.1"
        assert stream.get_extra_info("ssl_object") is None
        assert stream.get_extra_info("something else") is None
    finally:
        await stream.aclose()
        server.close()
        await server.wait_closed()


async def test_socket_errors_become_httpcore_errors() -> None:
    """What httpx maps to its own exceptions, as with httpcore's stock backend."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.2)
        _reset(writer)

    server, stream = await _connected(silent)
    try:
        with pytest.raises(httpcore.ReadTimeout):
            await stream.read(10, timeout=0.05)
        with pytest.raises(httpcore.ReadError):  # reset by the server
            await stream.read(10, timeout=5)
    finally:
        await stream.aclose()
        server.close()
        await server.wait_closed()
    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(httpcore.ConnectError):
        await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)


def test_has_input_of_a_closed_socket_is_true() -> None:
    ours, theirs = socket.socketpair()
    try:
        assert has_input(ours) is False
        theirs.sendall(b"x")
        assert has_input(ours) is True
    finally:
        ours.close()
        theirs.close()
    assert has_input(ours) is True  # no file descriptor any more


def test_the_installed_httpx_gets_the_asyncio_backend() -> None:
    transport = pooled_transport(httpx.Limits(max_connections=4))
    assert isinstance(transport._pool._network_backend, AsyncioBackend)


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
                await asyncio.sleep(0.1)  # the server has closed it by now
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

    def __init__(self, idle: bool = True, expired: bool = False, closed: bool = False) -> None:
        self.idle, self.expired, self.closed = idle, expired, closed

    def is_closed(self) -> bool:
        return self.closed

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
    waiting = _waiting

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


def _waiting() -> Any:
    from httpcore._async.connection_pool import AsyncPoolRequest

    return AsyncPoolRequest(httpcore.Request("GET", "http://feeds.test/a"))


def test_between_sweeps_the_pool_does_not_walk_its_connections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stale idle connection stays listed until the next sweep, but is never handed
    to a request: the connection a request gets is asked first."""
    clock = [1000.0]
    monkeypatch.setattr("monitor.keepalive.time.monotonic", lambda: clock[0])
    pool = pooled_transport(httpx.Limits(max_connections=8, max_keepalive_connections=8))._pool
    assert pool._assign_requests_to_connections() == []  # the first call sweeps
    stale, fresh = FakeConnection(expired=True), FakeConnection()
    pool._connections = [stale, fresh]  # type: ignore[list-item]
    clock[0] += SWEEP / 2
    assert pool._assign_requests_to_connections() == []  # no request, no sweep due
    assert pool._connections == [stale, fresh]
    request = _waiting()
    pool._requests = [request]
    assert pool._assign_requests_to_connections() == [stale]  # asked before it is handed
    assert request.connection is fresh
    assert pool._connections == [fresh]
    other = FakeConnection(expired=True)
    pool._connections.append(other)  # type: ignore[arg-type]
    pool._requests = []
    clock[0] += SWEEP
    assert pool._assign_requests_to_connections() == [other]  # the sweep is due again


def test_a_full_pool_sweeps_at_once_to_make_room(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("monitor.keepalive.time.monotonic", lambda: clock[0])
    pool = pooled_transport(httpx.Limits(max_connections=2, max_keepalive_connections=2))._pool
    pool._assign_requests_to_connections()
    busy, gone = FakeConnection(idle=False), FakeConnection(idle=False, closed=True)
    pool._connections = [busy, gone]  # type: ignore[list-item]
    request = _waiting()
    pool._requests = [request]
    clock[0] += SWEEP / 2  # (no sweep due)
    pool._assign_requests_to_connections()
    assert gone not in pool._connections  # dropped to make room for a new connection
    assert request.connection is not None and request.connection not in (busy, gone)


async def test_a_request_is_woken_only_if_it_waits() -> None:
    """Setting httpcore's event builds an anyio event: done only for a waiting request."""
    pool = pooled_transport(httpx.Limits(max_connections=1, max_keepalive_connections=1))._pool
    joining, idle = _waiting(), FakeConnection()
    pool._connections, pool._requests = [idle], [joining]  # type: ignore[list-item]
    pool._assign_requests_to_connections()
    assert joining.connection is idle
    assert not joining._connection_acquired._backend  # no event was built
    assert await joining.wait_for_connection() is idle

    waiting, busy = _waiting(), FakeConnection(idle=False)
    pool._connections, pool._requests = [busy], [waiting]  # type: ignore[list-item]
    waiter = asyncio.create_task(waiting.wait_for_connection(timeout=5))
    await asyncio.sleep(0.01)  # it waits on its event now
    busy.idle = True
    pool._assign_requests_to_connections()
    assert await waiter is busy


async def test_loop_state_only_reads_what_the_loop_read_and_polls_no_socket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pool's sweeps ask every idle connection whether the server closed it; they
    answer from what the loop has read, without a poll() of each socket. The check
    before a connection is handed out still polls, and sees what the loop has not."""
    import select
    import threading

    from monitor import netstream

    listener = socket.create_server(("127.0.0.1", 0))
    send, stop = threading.Event(), threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        send.wait(5)
        conn.sendall(b"HTTP/1.1 408 Request Timeout\r\n\r\n")  # bytes nobody asked for
        stop.wait(5)
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    polls = []
    real = netstream.has_input
    monkeypatch.setattr(netstream, "has_input", lambda sock: polls.append(1) or real(sock))
    stream = await AsyncioBackend().connect_tcp("127.0.0.1", listener.getsockname()[1], timeout=5)
    try:
        with netstream.loop_state_only():
            assert stream.get_extra_info("is_readable") is False
        assert polls == []
        send.set()
        sock = stream.get_extra_info("socket")
        assert select.select([sock], [], [], 5)[0]  # arrived; the loop has not had a turn
        with netstream.loop_state_only():
            assert stream.get_extra_info("is_readable") is False  # not seen yet
        assert stream.get_extra_info("is_readable") is True  # the poll sees it
        await asyncio.sleep(0.05)  # the loop reads it
        with netstream.loop_state_only():
            assert stream.get_extra_info("is_readable") is True
        assert len(polls) == 1
    finally:
        stop.set()
        await stream.aclose()
        thread.join(5)
        listener.close()
