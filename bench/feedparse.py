"""Parse-stage throughput: feedparser-based ``parse_feed_reference`` vs ``parse_feed``.

Stage: benchmark only (not a test).  Must not: download anything, open a socket, or
depend on files outside the repository.

Generates the feed farm's documents in process (``bench/farm.py``'s generator and
renderer; no server): N feeds as after ``reset()`` and, with ``--published K``, after
K ``publish()`` rounds.  On one core (the process is pinned to one CPU where the OS
allows it), after a warm-up pass, each parser reads every feed once per run; the
table gives the median over the runs of feeds/s and items/s, in CPU time
(``time.process_time``) and in wall time.  Rows:

* ``parse_feed_reference``: feedparser, then the FeedItem normalisation (html_to_text,
  canonical URLs) that both paths share;
* ``parse_feed``: the fast path (``monitor.fastfeed``), falling back to feedparser;
* ``parse_feed`` on the same feeds after one more ``publish()``, given each feed's
  entry hashes from the first version (a re-poll: unchanged entries are skipped);
* the reading alone, without building FeedItem values: ``feedparser.parse``,
  ``parse_fast`` with the shared normalisation stubbed out, and ``fastfeedparser.parse``
  (only when it is installed: it is not a dependency; ``.venv/bin/pip install
  fastfeedparser`` to see it; it returns its own dicts, not the values compared here).

It also prints how many feeds took the fast path, and checks that both parse_feed
variants return identical values for every feed.

    .venv/bin/python bench/feedparse.py                      # 200 feeds, 5 runs
    .venv/bin/python bench/feedparse.py --feeds 200 --runs 7 --published 1
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from types import ModuleType
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

import feedparser  # noqa: E402

from monitor import feeds  # noqa: E402
from monitor.fastfeed import parse_fast  # noqa: E402
from monitor.feeds import parse_feed, parse_feed_reference  # noqa: E402


def load_farm() -> ModuleType:
    spec = importlib.util.spec_from_file_location("farm", BENCH / "farm.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["farm"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def farm_documents(
    feeds: int, seed: int, published: int, now: float | None = None
) -> list[tuple[bytes, str]]:
    """The bodies FeedFarm serves after reset() and ``published`` publish() rounds."""
    farm = load_farm()
    return list(farm.documents(farm.FeedGenerator(seed), feeds, published, now))


def feedparser_only(body: bytes, url: str) -> Any:
    return feedparser.parse(body, response_headers={"content-location": url}, sanitize_html=False)


@contextmanager
def without_items() -> Iterator[None]:
    """parse_fast stops at the feedparser-shaped entries (no FeedItem values built)."""
    build = feeds.feed_from_entries
    feeds.feed_from_entries = lambda feed, entries, url, **_: entries  # type: ignore[assignment, return-value]
    try:
        yield
    finally:
        feeds.feed_from_entries = build


def measure(
    parse: Callable[[bytes, str], Any], docs: list[tuple[bytes, str]], runs: int
) -> tuple[float, float]:
    """Median seconds per pass over ``docs``: (CPU, wall)."""
    for body, url in docs:  # warm-up
        parse(body, url)
    cpu, wall = [], []
    for _ in range(runs):
        c0, w0 = time.process_time(), time.perf_counter()
        for body, url in docs:
            parse(body, url)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return statistics.median(cpu), statistics.median(wall)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--feeds", type=int, default=200)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--published", type=int, default=0, help="publish() rounds before reading")
    ap.add_argument("--cpu", type=int, default=None, help="pin to this CPU (default: the first)")
    args = ap.parse_args(argv)

    if hasattr(os, "sched_setaffinity"):
        cpu = args.cpu if args.cpu is not None else min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        print(f"pinned to CPU {cpu}")
    now = float(int(time.time()))
    docs = farm_documents(args.feeds, args.seed, args.published, now)
    # the same feeds after one more new item, and the entry hashes of ``docs`` (a re-poll)
    newer = farm_documents(args.feeds, args.seed, args.published + 1, now)
    last_poll = {url: parse_feed(body, url).entry_hashes for body, url in docs}
    fast = sum(parse_fast(body, url) is not None for body, url in docs)
    mismatches = sum(parse_feed(b, u) != parse_feed_reference(b, u) for b, u in docs)
    items = sum(len(parse_feed(body, url).items) for body, url in docs)
    size = sum(len(body) for body, _ in docs) / len(docs) / 1024
    print(
        f"{len(docs)} farm feeds (seed {args.seed}, {args.published} published rounds), "
        f"{items} items, {size:.0f} KiB per feed; fast path: {fast} of {len(docs)}; "
        f"parse_feed == parse_feed_reference: {len(docs) - mismatches} of {len(docs)}"
    )

    rows: list[tuple[str, Callable[[bytes, str], Any]]] = [
        # "+ items": every entry built (normalised), as on a source's first poll
        ("reference + items (feedparser)", lambda b, u: parse_feed_reference(b, u).items),
        ("parse_feed + items", lambda b, u: parse_feed(b, u).items),
        # entries only (keys, raw hashes), as on a re-poll where every item is known
        ("parse_feed, entries only", parse_feed),
        # a re-poll after one new item, with the last poll's entry hashes (fastfeed_chunks)
        (
            "parse_feed, +1 new, unchanged skipped",
            lambda b, u: parse_feed(b, u, None, last_poll[u]),
        ),
        ("feedparser.parse alone", feedparser_only),
        ("parse_fast reading alone", parse_fast),
    ]
    try:
        import fastfeedparser  # type: ignore[import-untyped, import-not-found, unused-ignore]

        rows.append(("fastfeedparser.parse alone", lambda body, url: fastfeedparser.parse(body)))
    except ImportError:
        print("fastfeedparser is not installed: its row is left out")

    print(f"\nmedian of {args.runs} runs, one core")
    print(f"{'':36} {'feeds/s':>9} {'items/s':>9} {'ms/feed':>8}   {'wall feeds/s':>12}")
    reference_cpu = None
    for name, parse in rows:
        with without_items() if name.startswith("parse_fast") else nullcontext():
            # (parse_fast alone skips building entries too)
            cpu, wall = measure(parse, newer if "+1 new" in name else docs, args.runs)
        reference_cpu = reference_cpu or cpu
        print(
            f"{name:36} {len(docs) / cpu:9.1f} {items / cpu:9.0f} {cpu / len(docs) * 1000:8.2f}"
            f"   {len(docs) / wall:12.1f}   x{reference_cpu / cpu:.1f}"
        )
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
