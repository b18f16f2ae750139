"""CPU per conditional GET: news-monitor's ``Fetcher`` against the HTTP clients under it.

Stage: benchmark only (not a test).  Must not: talk to anything but the feed farm it
starts on 127.0.0.1 (``bench/farm.py``, in another process, so the farm's CPU is not
counted), or download anything.

A warm pass is mostly conditional GETs answered ``304 Not Modified``; this measures
what one costs the polling process.  The farm serves N feeds; a first round collects
their ETags, then each client asks for every feed again with ``If-None-Match``, with
``C`` requests in flight, for ``--rounds`` rounds after one warm-up round, and the
CPU time of this process (``time.process_time``) is divided by the requests made.
The median over ``--runs`` runs is printed, with how many connections the farm
accepted per 100 requests (keep-alive: ideally C per client, whatever the rounds).

Rows:

* ``Fetcher.fetch``: what a poll calls (limits, retries, deadline, redirects, body
  cap, on httpx with the pool from ``monitor.keepalive``);
* ``httpx, stock transport``: a bare ``httpx.AsyncClient`` with httpx's own pool;
* ``httpx, monitor.keepalive pool``: the same client on ``pooled_transport``;
* ``httpx transport API``: the same transport asked directly
  (``handle_async_request``), with httpx's request and response models but without
  ``AsyncClient`` (its cookies, auth and redirect layers, and URL merging);
* ``httpcore alone``: that transport's httpcore pool asked directly, without httpx's
  request and response models, cookies, auth and redirect layers;
* ``aiohttp``: a bare ``aiohttp.ClientSession``, only when aiohttp is installed (it is
  not a dependency; ``.venv/bin/pip install aiohttp`` to see it).  Its import time is
  printed too: a ``once`` process pays it on every run.

    .venv/bin/python bench/http_client.py                      # 200 feeds, C = 32
    .venv/bin/python bench/http_client.py --latency 0.05 --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

import httpx  # noqa: E402
from profile_once import FarmProcess  # noqa: E402

from monitor.config import HttpSettings  # noqa: E402
from monitor.fetch import Fetcher  # noqa: E402
from monitor.keepalive import pooled_transport  # noqa: E402

Get = Callable[[str, str], Awaitable[int]]  # (url, etag) -> status


async def _rounds(get: Get, urls: list[str], etags: list[str], c: int, rounds: int) -> float:
    """CPU seconds per request over ``rounds`` rounds, after one warm-up round."""
    slots = asyncio.Semaphore(c)

    async def one(url: str, etag: str) -> int:
        async with slots:
            return await get(url, etag)

    async def everything() -> None:
        statuses = await asyncio.gather(*(one(u, e) for u, e in zip(urls, etags, strict=True)))
        if set(statuses) != {304}:
            raise RuntimeError(f"expected only 304 answers, got {sorted(set(statuses))}")

    await everything()  # warm-up: connections opened, caches filled
    start = time.process_time()
    for _ in range(rounds):
        await everything()
    return (time.process_time() - start) / (rounds * len(urls))


async def fetcher(urls: list[str], etags: list[str], c: int, rounds: int) -> float:
    settings = HttpSettings(concurrency=c, per_host=c, allow_private_networks=True)
    async with Fetcher(settings) as client:

        async def get(url: str, etag: str) -> int:
            return (await client.fetch(url, etag=etag)).status

        return await _rounds(get, urls, etags, c, rounds)


async def _httpx(transport: httpx.AsyncBaseTransport | None, urls: list[str], etags: list[str],
                 c: int, rounds: int) -> float:  # fmt: skip
    limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
    async with httpx.AsyncClient(transport=transport, limits=limits) as client:

        async def get(url: str, etag: str) -> int:
            async with client.stream("GET", url, headers={"If-None-Match": etag}) as response:
                await response.aread()
                return response.status_code

        return await _rounds(get, urls, etags, c, rounds)


async def httpx_stock(urls: list[str], etags: list[str], c: int, rounds: int) -> float:
    return await _httpx(None, urls, etags, c, rounds)


async def httpx_pooled(urls: list[str], etags: list[str], c: int, rounds: int) -> float:
    limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
    return await _httpx(pooled_transport(limits), urls, etags, c, rounds)


async def httpx_transport(urls: list[str], etags: list[str], c: int, rounds: int) -> float:
    """httpx's public transport API on the same pool, without ``AsyncClient`` around it."""
    limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
    timeout = httpx.Timeout(10.0).as_dict()
    async with pooled_transport(limits) as transport:

        async def get(url: str, etag: str) -> int:
            request = httpx.Request(
                "GET", url, headers={"If-None-Match": etag}, extensions={"timeout": timeout}
            )
            response = await transport.handle_async_request(request)
            try:
                await response.aread()
            finally:
                await response.aclose()
            return response.status_code

        return await _rounds(get, urls, etags, c, rounds)


async def httpcore_pooled(urls: list[str], etags: list[str], c: int, rounds: int) -> float:
    """httpcore alone, on the pool of ``monitor.keepalive``: what httpx adds, by difference."""
    limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
    pool = pooled_transport(limits)._pool  # the httpcore pool under httpx's transport
    async with pool:

        async def get(url: str, etag: str) -> int:
            headers = [(b"Host", b"127.0.0.1"), (b"If-None-Match", etag.encode())]
            async with pool.stream("GET", url, headers=headers) as response:
                await response.aread()
                return int(response.status)

        return await _rounds(get, urls, etags, c, rounds)


async def aiohttp_bare(urls: list[str], etags: list[str], c: int, rounds: int) -> float:
    import aiohttp  # type: ignore[import-not-found, unused-ignore]

    connector = aiohttp.TCPConnector(limit=c)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:

        async def get(url: str, etag: str) -> int:
            async with session.get(url, headers={"If-None-Match": etag}) as response:
                await response.read()
                return int(response.status)

        return await _rounds(get, urls, etags, c, rounds)


def import_ms(module: str) -> float:
    """Median wall time of ``import module`` in a fresh interpreter (5 runs)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    runs = []
    for _ in range(5):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True)  # fmt: skip
        runs.append(float(done.stdout))
    return statistics.median(runs) * 1000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--feeds", type=int, default=200)
    ap.add_argument("--latency", type=float, default=0.0, help="seconds the farm adds")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)

    clients: list[tuple[str, Callable[..., Coroutine[Any, Any, float]]]] = [
        ("`Fetcher.fetch`", fetcher),
        ("httpx, stock transport", httpx_stock),
        ("httpx, `monitor.keepalive` pool", httpx_pooled),
        ("httpx transport API, `monitor.keepalive` pool", httpx_transport),
        ("httpcore alone, `monitor.keepalive` pool", httpcore_pooled),
    ]
    if importlib.util.find_spec("aiohttp") is not None:
        clients.append(("aiohttp (not a dependency)", aiohttp_bare))
    else:
        print("aiohttp is not installed: its row is left out")

    with tempfile.TemporaryDirectory(prefix="nm-http-") as tmp:
        farm = FarmProcess(args.feeds, args.latency, 1, Path(tmp))
        try:
            urls: list[str] = farm.call("GET", "/_control/feeds")

            async def first() -> list[str]:
                async with httpx.AsyncClient() as client:
                    answers = await asyncio.gather(*(client.get(u) for u in urls))
                return [a.headers["etag"] for a in answers]

            etags = asyncio.run(first())
            cpu: dict[str, list[float]] = {name: [] for name, _ in clients}
            conns: dict[str, list[float]] = {name: [] for name, _ in clients}
            for _ in range(args.runs):  # alternate the clients inside every run
                for name, run in clients:
                    before = farm.call("GET", "/_control/stats")["connections"]
                    cpu[name].append(asyncio.run(run(urls, etags, args.concurrency, args.rounds)))
                    opened = farm.call("GET", "/_control/stats")["connections"] - before
                    conns[name].append(100 * opened / ((args.rounds + 1) * len(urls)))
        finally:
            farm.stop()

    print(f"# {args.feeds} feeds, {args.concurrency} in flight, farm latency {args.latency:g} s, "
          f"{args.rounds} rounds after a warm-up, median of {args.runs} runs")  # fmt: skip
    print("| client | CPU per 304, ms | connections per 100 requests |")
    print("| --- | ---: | ---: |")
    for name, _ in clients:
        print(f"| {name} | {statistics.median(cpu[name]) * 1000:.3f} "
              f"| {statistics.median(conns[name]):.1f} |")  # fmt: skip
    imports: dict[str, Any] = {"httpx": import_ms("httpx")}
    if importlib.util.find_spec("aiohttp") is not None:
        imports["aiohttp"] = import_ms("aiohttp")
    print("import time, fresh interpreter: " + ", ".join(
        f"{name} {ms:.0f} ms" for name, ms in imports.items()))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
