"""Mutation fuzzing of what reads remote input: feeds, pages, JSON Feeds, HTTP answers.

    .venv/bin/python scripts/fuzz.py feeds --seconds 120 --seed 1
    .venv/bin/python scripts/fuzz.py pages --seconds 120
    .venv/bin/python scripts/fuzz.py json --seconds 60
    .venv/bin/python scripts/fuzz.py http --cases 4000

Each case is a seed document (the test fixtures, the benchmark farm's feeds, the
extraction pages in ``../shared/extraction-dev`` when present) with random cuts, byte
flips, copies and inserted constructs known to trouble parsers. A case fails when it
raises anything but the error the entry point promises (``ParseError``,
``FetchError``), or runs past ``--alarm`` seconds; it is saved to ``--out`` and
printed, and the exit status is 1. ``http`` answers with mutated responses from a
server on 127.0.0.1. Nothing is fetched from anywhere else. Deterministic for a seed
and a number of cases; ``--seconds`` bounds the wall time instead.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import random
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from monitor.config import HttpSettings  # noqa: E402
from monitor.errors import FetchError, ParseError  # noqa: E402
from monitor.extract import extract_article  # noqa: E402
from monitor.feeds import parse_feed, parse_feed_reference  # noqa: E402
from monitor.fetch import Fetcher  # noqa: E402
from monitor.pages import decode_html, discover_feeds, find_links, page_language  # noqa: E402

FEED_SNIPPETS = [
    b"<![CDATA[", b"]]>", b"&#x0;", b"&#xD800;", b"&#99999999;", b"&nbsp;", b"<!DOCTYPE x>",
    b'encoding="utf-16"', b'encoding="punycode"', b"\x00", b"\xff\xfe", b"\xef\xbb\xbf",
    b"<pubDate>Mon, 99 Foo 99999 99:99:99 +9999</pubDate>", b"<updated>9999-99-99T99:99Z</updated>",
    b"<ttl>99999999999999999999</ttl>", b"<sy:updateFrequency>-5</sy:updateFrequency>",
    b"<link>http://[::1</link>", b"<link>javascript:alert(1)</link>", b"<guid></guid>", b"<id/>",
    b"<entry>", b"</entry>", b"<item>", b"</item>", b'xml:base="http://[x"', b"</width>",
    b'<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">', b"<textinput>",
]  # fmt: skip
PAGE_SNIPPETS = [
    b"<meta charset=idna>", b'<link rel="canonical" href="http://[::1">', b'<a href="http://[x">',
    b'<a href="/2026/11/28/a-story-about-visa-talks">Visa talks resume in Havana this week</a>',
    b'<link rel="alternate" type="application/rss+xml" href="http://[::1">', b"<time datetime=-1>",
    b'<script type="application/ld+json">{"@type":"NewsArticle","datePublished":[1]}</script>',
    b"&#99999999;", b"\x00", b"<svg><title>x</title>", b"<table><tr><td>", b"<template>",
    b'<base href="http://[x">', b"<article>", b"</article>",
    b"<p>" + b"Visa talks. " * 30 + b"</p>",
]  # fmt: skip
HTTP_ANSWERS = [
    b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 81\r\n"
    b'ETag: "a"\r\n\r\n'
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>',
    b"HTTP/1.1 301 Moved\r\nLocation: /other\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 429 Slow\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n",
    b'HTTP/1.1 304 Not Modified\r\nETag: "a"\r\n\r\n',
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
]
HTTP_SNIPPETS = [
    b"\r\n", b"Content-Length: -1\r\n", b"Content-Length: 5, 6\r\n", b"Content-Encoding: gzip\r\n",
    b"Content-Encoding: br, zstd, deflate\r\n", b'ETag: "\xff"\r\n', b"Location: http://[::1\r\n",
    b"Location: ftp://x/\r\n", b"Retry-After: 99999999999999999999\r\n", b"HTTP/1.1 999 X\r\n",
    b"Cache-Control: max-age=99999999999999999999\r\n", b"Transfer-Encoding: chunked\r\n",
    b"ffffffffffffffffff\r\n", b"\x00", b" folded\r\n", b"X: " + b"y" * 20000 + b"\r\n",
]  # fmt: skip


class _Slow(Exception):
    """The alarm rang: the case ran too long."""


def mutate(rng: random.Random, seed: bytes, snippets: list[bytes], span: int) -> bytes:
    data = bytearray(seed)
    for _ in range(rng.randint(1, 6)):
        op, at = rng.random(), rng.randrange(len(data) + 1)
        if op < 0.35:
            data[at:at] = rng.choice(snippets)
        elif op < 0.55:
            del data[at : at + rng.randint(1, span)]
        elif op < 0.7 and data:
            data[min(at, len(data) - 1)] = rng.randrange(256)
        elif op < 0.8:
            del data[at:]
        else:
            start = rng.randrange(len(data) + 1)
            data[at:at] = data[start : start + rng.randint(1, span)]
    return bytes(data)


def feed_case(body: bytes, rng: random.Random) -> None:
    headers = rng.choice([None, {"content-type": "text/xml; charset=iso-8859-1"},
                          {"content-type": "application/rss+xml; charset=idna"}])  # fmt: skip
    for parse in (parse_feed, parse_feed_reference):
        try:
            parsed = parse(body, "https://news.example.org/feed", headers)
        except ParseError:
            continue
        for entry in parsed.entries:
            entry.build()


def page_case(body: bytes, rng: random.Random) -> None:
    html = decode_html(body, rng.choice([None, "text/html; charset=punycode", "text/html"]))
    base = rng.choice(["https://news.example.org/world/", "http://[::1]/x"])
    find_links(html, base)
    discover_feeds(html, base)
    page_language(html)
    extract_article(html, base)


def json_document(rng: random.Random) -> bytes:
    values: list[object] = [None, True, -1, 1e308, 10**30, "", "x", "http://[::1", "99999-01-01",
                            [], {}, [None], "&#99999999;", "\x00", "<b>x</b>", "\ud800",
                            "\x1b[2J", "<p>&#27;]0;x&#7;</p>"]  # fmt: skip
    keys = ["id", "url", "external_url", "title", "content_html", "content_text", "summary",
            "date_published", "date_modified", "language"]  # fmt: skip
    items = [
        {k: rng.choice(values) for k in rng.sample(keys, rng.randint(0, len(keys)))}
        for _ in range(rng.randint(0, 4))
    ]
    version = rng.choice(["https://jsonfeed.org/version/1.1", None, 1])
    document = {"version": version, "title": rng.choice(values), "items": items}
    return json.dumps(document).encode()


def seeds(kind: str) -> list[bytes]:
    fixtures = REPO / "tests" / "fixtures"
    if kind == "feeds":
        import farm  # bench/farm.py: the benchmark's generated feeds

        found = [body for body, _url in farm.documents(farm.FeedGenerator(1), 12)]
        found += [p.read_bytes() for p in sorted(fixtures.rglob("*.xml"))]
        return [body[:20_000] for body in found]
    pages = sorted((REPO.parent / "shared" / "extraction-dev" / "html").glob("*.html.gz"))[:40]
    found = [gzip.decompress(p.read_bytes())[:150_000] for p in pages]
    return found + [p.read_bytes() for p in sorted(fixtures.rglob("*.html"))]


def run_local(args: argparse.Namespace, rng: random.Random) -> int:
    case: Callable[[bytes, random.Random], None] = page_case if args.kind == "pages" else feed_case
    pool = seeds(args.kind) if args.kind != "json" else []
    snippets = PAGE_SNIPPETS if args.kind == "pages" else FEED_SNIPPETS
    signal.signal(signal.SIGALRM, _ring)
    failures, done, end = 0, 0, time.monotonic() + args.seconds
    while done < args.cases and time.monotonic() < end:
        if args.kind == "json":
            body = json_document(rng)
        else:
            body = mutate(rng, rng.choice(pool), snippets, 500)
        done += 1
        signal.setitimer(signal.ITIMER_REAL, args.alarm)
        try:
            case(body, rng)
        except Exception as exc:  # any other exception is the finding
            failures += 1
            _report(args.out, args.kind, done, body, exc)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    print(f"{args.kind}: {done} cases, {failures} failing")
    return 1 if failures else 0


def _ring(_signum: int, _frame: object) -> None:
    raise _Slow


def _report(out: Path, kind: str, number: int, body: bytes, exc: BaseException) -> None:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{kind}-{number}.bin"
    path.write_bytes(body)
    where = traceback.extract_tb(exc.__traceback__)[-1]
    print(f"{path}: {type(exc).__name__}: {str(exc)[:120]} ({where.filename}:{where.lineno})")


async def run_http(args: argparse.Namespace, rng: random.Random) -> int:
    served: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
            served.append(mutate(rng, rng.choice(HTTP_ANSWERS), HTTP_SNIPPETS, 20))
            writer.write(served[-1])
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = HttpSettings(
        timeout=2.0, max_bytes=1_000_000, allow_private_networks=True, retries=0
    )
    failures, done, end = 0, 0, time.monotonic() + args.seconds
    async with Fetcher(settings) as fetcher:
        while done < args.cases and time.monotonic() < end:
            served.clear()
            done += 1
            try:
                await fetcher.fetch(f"http://127.0.0.1:{port}/feed", etag='"a"')
            except FetchError:
                pass
            except Exception as exc:  # any other exception is the finding
                failures += 1
                _report(args.out, "http", done, b"\n---\n".join(served), exc)
    server.close()
    print(f"http: {done} cases, {failures} failing")
    return 1 if failures else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("kind", choices=["feeds", "pages", "json", "http"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cases", type=int, default=10**9, help="stop after this many cases")
    ap.add_argument("--seconds", type=float, default=60.0, help="or after this long")
    ap.add_argument("--alarm", type=float, default=10.0, help="seconds a case may take")
    ap.add_argument("--out", type=Path, default=Path("fuzz-failures"))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    if args.kind == "http":
        return asyncio.run(run_http(args, rng))
    return run_local(args, rng)


if __name__ == "__main__":
    sys.exit(main())
