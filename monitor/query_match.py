"""Matching engine: compiled watches, the shared term index, and per-document evaluation.

Stage: matching (syntax tree in, matches out).  Must not: parse query text (that is
``query_parse``), do I/O, or rescan a document per term or per watch.

How a document is matched (``WatchSet.match``):

1. Every field is folded once (``fold_aligned``) and scanned once with an Aho-Corasick
   automaton holding one *key* per watched word: a string that every word the term can
   match must start with (the folded word; a wildcard's prefix; for a stemmed word the
   common prefix of the word and its English/Spanish stems, trimmed where Snowball may
   rewrite a stem's tail).  A key hit counts only at the start of a word.
2. Each candidate word is looked up (memoised per word) in the exact, prefix and stem
   tables, giving the *atoms* (word-level matchers) it satisfies.  That is the document's
   index: atom -> occurrences.  Items without candidates stop here.
3. Only watches with a positive term among the found atoms are evaluated (inverted index
   atom -> watches); phrases and NEAR are checked around the found occurrences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import ahocorasick  # type: ignore[import-untyped, import-not-found, unused-ignore]

from monitor.query_compile import compile_tree, positive_atoms
from monitor.query_eval import (
    ANY,
    EN,
    ES,
    Atom,
    DocIndex,
    EvalNode,
    Leaf,
    atom_key,
)
from monitor.query_parse import Node
from monitor.query_types import FIELDS, Document, Hit, WatchMatch
from monitor.text import detect_language, fold, original_span, stem_en, stem_es

__all__ = ["CompiledWatch", "WatchSet", "index_document", "make_match", "primary_language"]


@dataclass(frozen=True, slots=True, eq=False)
class CompiledWatch:
    """A watch compiled once: its syntax tree, evaluation tree and trigger atoms.

    Build it with :func:`monitor.query.compile_watch` (or ``CompiledWatch.build``)."""

    name: str
    source: str  # the query text (synthesised for terms/exclude watches)
    tree: Node = field(repr=False)
    languages: tuple[str, ...]
    root: EvalNode = field(repr=False)
    triggers: frozenset[Atom] = field(repr=False)
    terms: tuple[str, ...] = field(repr=False)  # term labels in query order

    @classmethod
    def build(cls, name: str, source: str, tree: Node, languages: tuple[str, ...]) -> CompiledWatch:
        root = compile_tree(tree)
        labels = tuple(dict.fromkeys(leaf.label for leaf in root.leaves()))
        return cls(name, source, tree, languages, root, positive_atoms(root), labels)

    def leaves(self) -> list[Leaf]:
        return self.root.leaves()


class _Tables:
    """Word-level lookup tables for every atom of a set of watches."""

    def __init__(self, atoms: set[Atom]) -> None:
        self.exact: dict[str, list[Atom]] = {}
        self.prefix: dict[str, list[Atom]] = {}
        self.en: dict[str, list[Atom]] = {}
        self.es: dict[str, list[Atom]] = {}
        for atom in sorted(atoms):
            kind = atom[0]
            if kind == "p":
                self.prefix.setdefault(atom[1], []).append(atom)
            else:
                self.exact.setdefault(atom[1], []).append(atom)
            if kind == "s":
                self.en.setdefault(atom[2], []).append(atom)
                self.es.setdefault(atom[3], []).append(atom)
        self.memo: tuple[dict[str, tuple[Atom, ...]], ...] = ({}, {}, {})

    def atoms_of(self, lower_word: str, mode: int) -> tuple[Atom, ...]:
        """Atoms matched by one word (lower-cased, accents kept) under a stemming mode."""
        memo = self.memo[mode]
        found = memo.get(lower_word)
        if found is not None:
            return found
        f = fold(lower_word)
        res: list[Atom] = list(self.exact.get(f, ()))
        prefix = self.prefix
        if prefix:
            for i in range(1, len(f) + 1):
                res.extend(prefix.get(f[:i], ()))
        if mode != ES:
            res.extend(self.en.get(stem_en(f), ()))
        if mode != EN:
            res.extend(self.es.get(stem_es(lower_word), ()))
        found = tuple(dict.fromkeys(res))
        if len(memo) >= 200_000:
            memo.clear()
        memo[lower_word] = found
        return found


def _build_automaton(atoms: set[Atom]) -> object | None:
    keys: set[str] = set()
    for atom in atoms:
        keys.update(atom_key(atom))
    # A key that extends another key is redundant: the shorter one already fires there.
    minimal = {k for k in keys if not any(k[:i] in keys for i in range(1, len(k)))}
    if not minimal:
        return None
    automaton = ahocorasick.Automaton()
    for key in sorted(minimal):
        automaton.add_word(key, len(key))
    automaton.make_automaton()
    return automaton  # type: ignore[no-any-return, unused-ignore]


def primary_language(language: str | None) -> str | None:
    """``"en-US"`` -> ``"en"``; ``None`` or empty -> ``None``."""
    primary = (language or "").replace("_", "-").split("-")[0].strip().lower()
    return primary or None


def _stem_mode(language: str | None) -> int:
    primary = primary_language(language)
    return EN if primary == "en" else ES if primary == "es" else ANY


def index_document(doc: Document, automaton: object | None, tables: _Tables) -> DocIndex:
    """Fold and scan each field once; record occurrences of every watched atom."""
    ix = DocIndex(doc, _stem_mode(doc.language), tables.atoms_of)
    if automaton is None:
        return ix
    found = ix.found
    for fi, text in enumerate((doc.title, doc.body)):
        if not text:
            continue
        folded, offsets = ix.fold_field(fi)
        isalnum = str.isalnum
        for end, klen in automaton.iter(folded):  # type: ignore[attr-defined]
            start = end - klen + 1
            if start and isalnum(folded[start - 1]):
                continue
            word_end = ix.word_end(fi, start)
            ostart, oend = original_span(offsets, start, word_end)
            for atom in tables.atoms_of(text[ostart:oend].lower(), ix.mode):
                found.setdefault(atom, []).append((fi, start, word_end))
    return ix


class WatchSet:
    """Many compiled watches behind one shared index; ``match`` scans each item once."""

    def __init__(self, watches: Sequence[CompiledWatch]) -> None:
        self.watches: tuple[CompiledWatch, ...] = tuple(watches)
        atoms: set[Atom] = set()
        self._by_atom: dict[Atom, list[int]] = {}
        for i, watch in enumerate(self.watches):
            for leaf in watch.leaves():
                atoms.update(leaf.all_atoms())
            for atom in watch.triggers:
                self._by_atom.setdefault(atom, []).append(i)
        self.tables = _Tables(atoms)
        self._automaton = _build_automaton({a for w in self.watches for a in _keyed(w)})

    def index(self, doc: Document) -> DocIndex:
        return index_document(doc, self._automaton, self.tables)

    def match(self, doc: Document) -> list[WatchMatch]:
        """Every watch that matches ``doc``, in the order the watches were given."""
        ix = index_document(doc, self._automaton, self.tables)
        if not ix.found:
            return []
        candidates: set[int] = set()
        by_atom = self._by_atom
        for atom in ix.found:
            ids = by_atom.get(atom)
            if ids:
                candidates.update(ids)
        results = []
        language: str | None = doc.language
        detected = doc.language is not None
        for i in sorted(candidates):
            watch = self.watches[i]
            if watch.languages:
                if not detected:
                    language, detected = detect_language(doc.title + "\n" + doc.body), True
                primary = primary_language(language)
                if primary is not None and primary not in watch.languages:
                    continue
            if watch.root.test(ix):
                results.append(make_match(watch, ix))
        return results


def _keyed(watch: CompiledWatch) -> set[Atom]:
    return {leaf_alt.trigger for leaf in watch.leaves() for leaf_alt in leaf.alternatives}


def make_match(watch: CompiledWatch, ix: DocIndex) -> WatchMatch:
    """Build the WatchMatch (hits in original offsets) for a watch known to match."""
    raw = watch.root.hits(ix)
    if len(raw) > 1:
        raw = sorted(set(raw))
    cache = ix.hit_cache
    hits = []
    labels = set()
    for key in raw:
        hit = cache.get(key)
        if hit is None:
            fi, start, end, label = key
            ostart, oend = original_span(ix.offsets(fi), start, end)
            hit = cache[key] = Hit(FIELDS[fi], ostart, oend, label)
        hits.append(hit)
        labels.add(key[3])
    terms = watch.terms
    matched = terms if len(labels) == len(terms) else tuple(t for t in terms if t in labels)
    return WatchMatch(watch.name, matched, tuple(hits))
