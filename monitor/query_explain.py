"""Explain why a watch does or does not match a document (for the CLI and for debugging).

Stage: diagnostics on top of matching.  Must not: change how matching decides (it reuses
the same index and evaluation tree), or do I/O (the CLI prints ``format_explanation``).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from monitor.query_eval import (
    AndNode,
    DocIndex,
    EvalNode,
    Leaf,
    NearNode,
    NotNode,
    OrNode,
    PhraseAlt,
)
from monitor.query_match import CompiledWatch, WatchSet, make_match, primary_language
from monitor.query_types import FIELDS, Document, WatchMatch
from monitor.text import detect_language, original_span, tokenize

__all__ = ["Clause", "Explanation", "TermHit", "TermReport", "explain", "format_explanation"]

_CONTEXT = 40


@dataclass(frozen=True, slots=True)
class TermHit:
    """One occurrence of a term: offsets into the field, word position, text and context."""

    field: str
    start: int
    end: int
    word_index: int
    text: str
    context: str


@dataclass(frozen=True, slots=True)
class TermReport:
    term: str
    field: str | None  # field scope, None = title or body
    hits: tuple[TermHit, ...]


@dataclass(frozen=True, slots=True)
class Clause:
    """A node of the query tree (pre-order) with its result for the document."""

    depth: int
    label: str
    result: bool


@dataclass(frozen=True, slots=True)
class Explanation:
    watch: str
    query: str
    matched: bool
    language: str | None
    language_ok: bool
    clauses: tuple[Clause, ...]
    terms: tuple[TermReport, ...]
    failed: str | None  # the clause that made the match fail, if it failed
    match: WatchMatch | None


def _label(node: EvalNode) -> str:
    if isinstance(node, Leaf):
        scope = f"{FIELDS[node.field]}:" if node.field is not None else ""
        quoted = any(isinstance(a, PhraseAlt) for a in node.alternatives)
        text = f'"{node.label}"' if quoted and " " in node.label else node.label
        return scope + text
    if isinstance(node, NotNode):
        return "NOT"
    if isinstance(node, NearNode):
        return f"NEAR/{node.distance}"
    return "OR" if isinstance(node, OrNode) else "AND"


def _children(node: EvalNode) -> tuple[EvalNode, ...]:
    if isinstance(node, Leaf):
        return ()
    if isinstance(node, NotNode):
        return (node.child,)
    if isinstance(node, NearNode):
        return (node.left, node.right)
    return node.children


def _render(node: EvalNode) -> str:
    if isinstance(node, Leaf):
        return _label(node)
    if isinstance(node, NotNode):
        return f"NOT {_render(node.child)}"
    kids = f" {_label(node)} ".join(_render(c) for c in _children(node))
    return f"({kids})"


def _failed(node: EvalNode, ix: DocIndex) -> EvalNode | None:
    """The innermost clause responsible for ``node`` being false."""
    if node.test(ix):
        return None
    if isinstance(node, AndNode) and not isinstance(node, OrNode):
        for child in node.children:
            if not child.test(ix):
                return _failed(child, ix) or child
    if isinstance(node, NearNode):
        for side in (node.left, node.right):
            if not side.test(ix):
                return _failed(side, ix) or side
    return node


def _term_hits(ix: DocIndex, leaf: Leaf, doc: Document) -> tuple[TermHit, ...]:
    out = []
    texts = (doc.title, doc.body)
    starts = [[t.start for t in tokenize(text)] for text in texts]
    for fi, s, e in leaf.occ(ix):
        start, end = original_span(ix.offsets(fi), s, e)
        text = texts[fi]
        lo, hi = max(0, start - _CONTEXT), min(len(text), end + _CONTEXT)
        context = " ".join(f"{text[lo:start]}[{text[start:end]}]{text[end:hi]}".split())
        word = bisect.bisect_left(starts[fi], start)
        out.append(TermHit(FIELDS[fi], start, end, word, text[start:end], context))
    return tuple(out)


def explain(watch: CompiledWatch, doc: Document) -> Explanation:
    """Evaluate ``watch`` on ``doc`` and report the tree, every term's hits and what failed."""
    ws = WatchSet([watch])
    ix = ws.index(doc)
    language = doc.language
    if watch.languages and language is None:
        language = detect_language(doc.title + "\n" + doc.body)
    primary = primary_language(language)
    language_ok = not watch.languages or primary is None or primary in watch.languages
    clauses: list[Clause] = []

    def walk(node: EvalNode, depth: int) -> None:
        clauses.append(Clause(depth, _label(node), node.test(ix)))
        for child in _children(node):
            walk(child, depth + 1)

    walk(watch.root, 0)
    reports: list[TermReport] = []
    seen: set[int] = set()
    for leaf in watch.leaves():
        if id(leaf) not in seen:
            seen.add(id(leaf))
            scope = FIELDS[leaf.field] if leaf.field is not None else None
            reports.append(TermReport(leaf.label, scope, _term_hits(ix, leaf, doc)))
    tree_ok = watch.root.test(ix)
    failed_node = _failed(watch.root, ix)
    failed = _render(failed_node) if failed_node is not None else None
    if tree_ok and not language_ok:
        failed = f"languages {list(watch.languages)} (item language: {language})"
    matched = tree_ok and language_ok
    return Explanation(
        watch=watch.name,
        query=watch.source,
        matched=matched,
        language=language,
        language_ok=language_ok,
        clauses=tuple(clauses),
        terms=tuple(reports),
        failed=failed,
        match=make_match(watch, ix) if matched else None,
    )


def format_explanation(e: Explanation) -> str:
    """Human-readable, multi-line rendering of an Explanation."""
    lines = [
        f"watch:  {e.watch}",
        f"query:  {e.query}",
        f"result: {'MATCH' if e.matched else 'no match'}",
        f"language: {e.language or 'unknown'}"
        + ("" if e.language_ok else " (not one of the watch's languages)"),
        "tree:",
    ]
    for c in e.clauses:
        lines.append(f"  {'yes' if c.result else 'no '}  {'  ' * c.depth}{c.label}")
    lines.append("terms:")
    for t in e.terms:
        scope = f" (in {t.field})" if t.field else ""
        count = f"{len(t.hits)} hit" + ("" if len(t.hits) == 1 else "s")
        lines.append(f"  {t.term}{scope}: {count}")
        for h in t.hits:
            lines.append(f"    {h.field} {h.start}-{h.end} word {h.word_index}: {h.context}")
    if e.failed:
        lines.append(f"failed: {e.failed}")
    return "\n".join(lines)
