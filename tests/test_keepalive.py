"""The pool's keep-alive check: cached briefly, never hiding a connection the server closed."""

from __future__ import annotations

import asyncio
from typing import Any

import httpcore
import httpx

from monitor.config import HttpSettings
from monitor.fetch import Fetcher
from monitor.keepalive import RECHECK, _Backend, _Stream, pooled_transport


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
        return f"inner {info}"


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
