"""Snippets: a short excerpt of an item around its best cluster of hits, with highlights.

Stage: presentation helper after matching.  Must not: match text, fold or rewrite words
(it only cuts the original text and collapses whitespace), or do I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.query_types import Document, Hit

__all__ = ["ELLIPSIS", "Snippet", "make_snippet"]

ELLIPSIS = "…"
_SPACE_RUN = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Snippet:
    """Excerpt text and the ``[start, end)`` character ranges within it to highlight."""

    text: str
    highlights: tuple[tuple[int, int], ...]


def _is_word(c: str) -> bool:
    return c.isalnum()


def _best_window(spans: list[tuple[int, int]], budget: int) -> tuple[int, int]:
    """The run of hits that fits in ``budget`` characters and has the most hits."""
    best = (0, 0)
    best_count = 0
    j = 0
    for i, (start, _) in enumerate(spans):
        j = max(j, i)
        while j + 1 < len(spans) and spans[j + 1][1] - start <= budget:
            j += 1
        if j - i + 1 > best_count:
            best_count, best = j - i + 1, (i, j)
    i, j = best
    return spans[i][0], max(end for _, end in spans[i : j + 1])


def _window(text: str, spans: list[tuple[int, int]], budget: int) -> tuple[int, int]:
    if spans:
        cs, ce = _best_window(spans, budget)
        ce = min(ce, cs + budget)
    else:
        cs = ce = 0
    slack = budget - (ce - cs)
    start = max(0, cs - slack // 3)  # a little context before, more after
    end = min(len(text), start + budget)
    start = max(0, min(start, end - budget))
    return _snap(text, start, end, cs, ce)


def _snap(text: str, start: int, end: int, cs: int, ce: int) -> tuple[int, int]:
    """Move cut points inwards to whitespace (else to a word boundary), keeping the hits."""
    if start > 0 and not text[start - 1].isspace():
        space = next((k for k in range(start, cs) if text[k].isspace()), -1)
        if space != -1:
            start = space + 1
        while start < cs and _is_word(text[start - 1]) and _is_word(text[start]):
            start += 1
    if end < len(text) and not text[end].isspace():
        space = text.rfind(" ", ce, end)
        space = max(space, text.rfind("\n", ce, end))
        if space > ce:
            end = space
        while end > ce and _is_word(text[end - 1]) and _is_word(text[end]):
            end -= 1
    return start, end


def make_snippet(doc: Document, hits: Sequence[Hit], max_chars: int = 240) -> Snippet:
    """An excerpt of at most ``max_chars`` characters of the body (the title if no hit is
    in the body) around the densest cluster of hits; ``…`` marks cuts, whitespace runs
    are collapsed, and highlights are relative to the returned text.  Without any hit,
    the start of the body."""
    body_hits = [h for h in hits if h.field == "body"]
    title_hits = [h for h in hits if h.field == "title"]
    if body_hits or not title_hits:
        text, used = (doc.body, body_hits) if doc.body or body_hits else (doc.title, [])
    else:
        text, used = doc.title, title_hits
    spans = sorted({(h.start, h.end) for h in used if 0 <= h.start < h.end <= len(text)})
    budget = max(1, max_chars - 2 * len(ELLIPSIS))
    start, end = _window(text, spans, budget)
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return _render(text, start, end, spans)


def _render(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> Snippet:
    prefix = ELLIPSIS if text[:start].strip() else ""
    suffix = ELLIPSIS if text[end:].strip() else ""
    out: list[str] = [prefix]
    position = [0] * (end - start + 1)  # original index - start -> output index
    pos = len(prefix)
    last = start
    for m in _SPACE_RUN.finditer(text, start, end):
        out.append(text[last : m.start()])
        for k in range(last, m.start()):
            position[k - start] = pos + (k - last)
        pos += m.start() - last
        out.append(" ")
        for k in range(m.start(), m.end()):
            position[k - start] = pos
        pos += 1
        last = m.end()
    out.append(text[last:end])
    for k in range(last, end + 1):
        position[k - start] = pos + (k - last)
    highlights: list[tuple[int, int]] = []
    for s, e in spans:
        s, e = max(s, start), min(e, end)
        if s >= e:
            continue
        hs, he = position[s - start], position[e - start]
        if highlights and hs <= highlights[-1][1]:
            highlights[-1] = (highlights[-1][0], max(he, highlights[-1][1]))
        else:
            highlights.append((hs, he))
    return Snippet("".join(out) + suffix, tuple(highlights))
