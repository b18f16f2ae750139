"""httpcore's locks, events and shields on asyncio's primitives (``monitor.httpcore_sync``)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import httpcore
import pytest
from httpcore import _synchronization as sync

from monitor import httpcore_sync
from tests.servers import HTTPFixture, Route


def test_a_process_that_fetches_never_loads_anyio_s_asyncio_backend(web: HTTPFixture) -> None:
    """Loading it cost ~25 ms of CPU in every pass that fetched: the first connection's
    lock was an anyio lock. Fetches, 304s and the client's close go through asyncio's
    primitives now (in a fresh interpreter)."""
    web.routes["/feed.xml"] = Route(b"<rss version='2.0'><channel><title>t</title></channel></rss>")
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from monitor.config import HttpSettings
        from monitor.fetch import Fetcher

        async def main():
            settings = HttpSettings(allow_private_networks=True, retries=0, concurrency=2)
            async with Fetcher(settings) as fetcher:
                first = await fetcher.fetch({web.url("/feed.xml")!r})
                again = await asyncio.gather(*(
                    fetcher.fetch({web.url("/feed.xml")!r}, etag=first.etag) for _ in range(6)
                ))
            print(first.status, sorted({{r.status for r in again}}))

        asyncio.run(main())
        print("anyio backend loaded:", "anyio._backends._asyncio" in sys.modules)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split("\n")[:2] == ["200 [304]", "anyio backend loaded: False"]


async def test_the_lock_excludes_and_the_shield_lets_asyncio_s_cancellation_through() -> None:
    assert httpcore_sync.install()
    lock, order = sync.AsyncLock(), []

    async def hold(name: str) -> None:
        async with lock:
            order.append(f"{name} in")
            await asyncio.sleep(0.01)
            order.append(f"{name} out")

    await asyncio.gather(hold("a"), hold("b"))
    assert order == ["a in", "a out", "b in", "b out"]
    assert isinstance(lock._anyio_lock, asyncio.Lock)

    async def shielded() -> None:
        with sync.AsyncShieldCancellation():
            await asyncio.sleep(5)

    task = asyncio.create_task(shielded())
    await asyncio.sleep(0.01)
    task.cancel()  # anyio's shield did not hold this off either
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_request_waiting_for_a_connection_in_vain_gets_a_pool_timeout() -> None:
    assert httpcore_sync.install()
    event = sync.AsyncEvent()
    with pytest.raises(httpcore.PoolTimeout):
        await event.wait(timeout=0.01)
    later = sync.AsyncEvent()
    waiter = asyncio.create_task(later.wait(timeout=5))
    await asyncio.sleep(0.01)
    later.set()
    await asyncio.wait_for(waiter, 1)


def test_outside_an_asyncio_loop_httpcore_s_own_set_up_runs() -> None:
    assert httpcore_sync.install()
    lock = sync.AsyncLock()
    with pytest.raises(RuntimeError):  # no event loop: sniffio cannot tell, as before
        lock.setup()
