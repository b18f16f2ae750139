"""Benchmark of the article extractor (monitor.extract) against a ground-truth set.

Usage::

    python bench/extraction.py [--data DIR] [--runs N] [--per-page] [--compare]
                               [--subset all|even|odd]

DIR holds ``html/<id>.html.gz`` (gzip UTF-8 pages) and ``ground-truth.json``
(``{id: {"articleBody": ..., "url": ...}}``); it defaults to
``../shared/extraction-dev`` relative to the repository root.

Scoring follows the set's README: tokens are ``\\w+`` matches (case kept), texts
become overlapping 4-token shingles (1-3 tokens make one shingle), and per page the
shingle multisets give tp/fp/fn, each divided by tp+fp+fn.  Precision is averaged
over pages with a non-empty prediction, recall over all pages, and F1 is the harmonic
mean of the two averages.

Only the extract call is timed (time.perf_counter), after decompressing.  With
``--runs N`` every page is timed N times and the median of its runs is used.
``--compare`` also runs trafilatura and resiliparse when they are importable; they are
never dependencies of the project.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from monitor.extract import extract_article  # noqa: E402

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "extraction-dev"
TOKEN_RE = re.compile(r"\w+")

Extractor = Callable[[str, str], str]


@dataclass(frozen=True, slots=True)
class PageScore:
    page_id: str
    tp: float
    fp: float
    fn: float
    ms: float

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp > 0 else None

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn > 0 else 0.0


def shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    tokens = TOKEN_RE.findall(text)
    if not tokens:
        return Counter()
    if len(tokens) < n:
        return Counter([tuple(tokens)])
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def score_page(truth: str, pred: str) -> tuple[float, float, float]:
    t, p = shingles(truth), shingles(pred)
    tp = sum((t & p).values())
    fp = sum(p.values()) - tp
    fn = sum(t.values()) - tp
    total = tp + fp + fn
    if total == 0:
        return 0.0, 0.0, 0.0
    return tp / total, fp / total, fn / total


def load_pages(data: Path) -> list[tuple[str, str, str, str]]:
    """(id, html, url, truth) for every page, sorted by id."""
    truth = json.loads((data / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for page_id in sorted(truth):
        raw = gzip.decompress((data / "html" / f"{page_id}.html.gz").read_bytes())
        html = raw.decode("utf-8", errors="replace")
        pages.append((page_id, html, truth[page_id].get("url", ""), truth[page_id]["articleBody"]))
    return pages


REASONS: Counter[str] = Counter()


def ours(html: str, url: str) -> str:
    article = extract_article(html, url)
    if article.reason:
        REASONS[article.reason] += 1
    return article.text


def comparators() -> dict[str, Extractor]:
    found: dict[str, Extractor] = {}
    try:
        import trafilatura

        def run_trafilatura(html: str, url: str) -> str:
            return trafilatura.extract(html, url=url, include_comments=False) or ""

        found["trafilatura"] = run_trafilatura
    except ImportError:
        pass
    try:
        from resiliparse.extract.html2text import extract_plain_text
        from resiliparse.parse.html import HTMLTree

        def run_resiliparse(html: str, url: str) -> str:
            return str(extract_plain_text(HTMLTree.parse(html), main_content=True))

        found["resiliparse"] = run_resiliparse
    except ImportError:
        pass
    return found


def run(
    extractor: Extractor, pages: list[tuple[str, str, str, str]], runs: int
) -> tuple[list[PageScore], dict[str, str]]:
    scores: list[PageScore] = []
    texts: dict[str, str] = {}
    for page_id, html, url, truth in pages:
        timings = []
        text = ""
        for _ in range(runs):
            start = time.perf_counter()
            text = extractor(html, url)
            timings.append((time.perf_counter() - start) * 1000)
        tp, fp, fn = score_page(truth, text)
        scores.append(PageScore(page_id, tp, fp, fn, statistics.median(timings)))
        texts[page_id] = text
    return scores, texts


def summarise(name: str, scores: list[PageScore]) -> str:
    precisions = [s.precision for s in scores if s.precision is not None]
    precision = statistics.fmean(precisions) if precisions else 0.0
    recall = statistics.fmean(s.recall for s in scores)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    empty = sum(1 for s in scores if s.precision is None)
    ms = sorted(s.ms for s in scores)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    slowest = max(scores, key=lambda s: s.ms)
    return (
        f"{name:12} P={precision:.3f} R={recall:.3f} F1={f1:.3f} empty={empty} "
        f"median={statistics.median(ms):.2f}ms p95={p95:.2f}ms max={slowest.ms:.2f}ms "
        f"(slowest {slowest.page_id[:12]})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--runs", type=int, default=1, help="time each page N times")
    parser.add_argument("--per-page", action="store_true", help="print per-page P/R/F")
    parser.add_argument("--compare", action="store_true", help="also run trafilatura etc.")
    parser.add_argument(
        "--subset",
        choices=("all", "even", "odd"),
        default="all",
        help="only pages at even or odd positions of the sorted ids (held-out discipline)",
    )
    parser.add_argument("--dump", type=Path, help="write each predicted text to DIR/<id>.txt")
    args = parser.parse_args(argv)

    pages = load_pages(args.data)
    if args.subset != "all":
        start = 0 if args.subset == "even" else 1
        pages = pages[start::2]
    extractors: dict[str, Extractor] = {"news-monitor": ours}
    if args.compare:
        extractors.update(comparators())

    print(f"{len(pages)} pages from {args.data}, {args.runs} run(s) per page")
    for name, extractor in extractors.items():
        scores, texts = run(extractor, pages, args.runs)
        if args.per_page:
            for s in scores:
                p = "-" if s.precision is None else f"{s.precision:.3f}"
                r = s.recall
                f = (
                    0.0
                    if s.precision is None or not (s.precision + r)
                    else (2 * s.precision * r / (s.precision + r))
                )
                print(f"  {name:12} {s.page_id[:12]} P={p:5} R={r:.3f} F={f:.3f} {s.ms:7.2f}ms")
        if args.dump and name == "news-monitor":
            args.dump.mkdir(parents=True, exist_ok=True)
            for page_id, text in texts.items():
                (args.dump / f"{page_id}.txt").write_text(text, encoding="utf-8")
        print(summarise(name, scores))
        if name == "news-monitor" and REASONS:
            given = ", ".join(f"{r!r} x{n // args.runs}" for r, n in REASONS.items())
            print(f"  reasons given: {given}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
