"""Evaluation trees: atoms (word matchers), per-document occurrence index, boolean nodes.

Stage: matching internals, built by ``query_compile`` and run by ``query_match``.
Must not: parse query text, scan a whole document per term (occurrences come from the one
scan in ``index_document``), or do I/O.

Atoms are tuples so they hash cheaply and dedupe across watches:

* ``("x", folded)`` — the exact folded word (quoted phrases);
* ``("p", folded_prefix)`` — a trailing wildcard, a prefix over folded words;
* ``("s", folded, english_stem, spanish_stem)`` — a bare word: matches a word with the same
  folded form, or the same stem in the document's language (either stem when unknown).
"""

from __future__ import annotations

from collections.abc import Callable

from monitor.query_types import Document, Hit
from monitor.text import WORD_RE, fold_aligned, original_span, stem_en, stem_es

EN, ES, ANY = 0, 1, 2
Atom = tuple[str, ...]
Occ = tuple[int, int, int]  # field index, start, end (folded offsets)
HitT = tuple[int, int, int, str]  # field index, start, end, term label
Span = tuple[int, int, int, tuple[HitT, ...]]


def stem_atom(folded: str, lower: str) -> Atom:
    return ("s", folded, stem_en(folded), stem_es(lower))


def _common_prefix(*words: str) -> str:
    first = min(words, key=len)
    for i, c in enumerate(first):
        if any(w[i] != c for w in words):
            return first[:i]
    return first


def atom_key(atom: Atom) -> list[str]:
    """Strings that every word matched by ``atom`` starts with (scanner keys)."""
    if atom[0] != "s":
        return [atom[1]]
    folded, en, es = atom[1], atom[2], atom[3]
    # Snowball English may end a stem in a rewritten i/e/l/y (city -> citi, dying -> die);
    # Spanish may end one in t (-encia -> -ent).  Everything before that is a true prefix.
    en_safe = en[:-2] if en.endswith("ie") else en[:-1] if en[-1:] in ("i", "e", "l", "y") else en
    es_safe = es[:-1] if es.endswith("t") else es
    key = _common_prefix(folded, en_safe, es_safe)
    return [key] if key else [k for k in {folded, en, es} if k]


class DocIndex:
    """One document's folded fields and the occurrences of every watched atom in it."""

    __slots__ = ("_folded", "atoms_of", "cache", "found", "hit_cache", "mode", "texts")

    def __init__(
        self, doc: Document, mode: int, atoms_of: Callable[[str, int], tuple[Atom, ...]]
    ) -> None:
        self.texts = (doc.title, doc.body)
        self.mode = mode
        self.atoms_of = atoms_of
        self.found: dict[Atom, list[Occ]] = {}
        self.cache: dict[object, object] = {}
        self.hit_cache: dict[HitT, Hit] = {}
        self._folded: list[tuple[str, list[int] | None] | None] = [None, None]

    def fold_field(self, fi: int) -> tuple[str, list[int] | None]:
        got = self._folded[fi]
        if got is None:
            got = self._folded[fi] = fold_aligned(self.texts[fi])
        return got

    def offsets(self, fi: int) -> list[int] | None:
        return self.fold_field(fi)[1]

    def word_end(self, fi: int, start: int) -> int:
        m = WORD_RE.match(self.fold_field(fi)[0], start)
        return m.end() if m else start

    def word_atoms(self, fi: int, start: int, end: int) -> tuple[Atom, ...]:
        ostart, oend = original_span(self.offsets(fi), start, end)
        return self.atoms_of(self.texts[fi][ostart:oend].lower(), self.mode)

    def next_word(self, fi: int, pos: int) -> tuple[int, int] | None:
        m = WORD_RE.search(self.fold_field(fi)[0], pos)
        return (m.start(), m.end()) if m else None

    def prev_word(self, fi: int, pos: int) -> tuple[int, int] | None:
        folded = self.fold_field(fi)[0]
        i = pos - 1
        while i >= 0 and not folded[i].isalnum():
            i -= 1
        if i < 0:
            return None
        end = i + 1
        while i >= 0 and folded[i].isalnum():
            i -= 1
        return i + 1, end

    def words_between(self, fi: int, start: int, end: int, limit: int) -> int:
        """Number of words in ``[start, end)``, counting no further than ``limit``."""
        count = 0
        for _ in WORD_RE.finditer(self.fold_field(fi)[0], start, end):
            count += 1
            if count >= limit:
                break
        return count


class AtomAlt:
    """A leaf alternative that is a single word atom."""

    __slots__ = ("trigger",)

    def __init__(self, atom: Atom) -> None:
        self.trigger = atom

    def all_atoms(self) -> tuple[Atom, ...]:
        return (self.trigger,)

    def occurrences(self, ix: DocIndex) -> list[Occ]:
        return ix.found.get(self.trigger, [])


class PhraseAlt:
    """Consecutive words; found via its most selective word, then checked around it."""

    __slots__ = ("atoms", "pivot", "trigger")

    def __init__(self, atoms: tuple[Atom, ...]) -> None:
        self.atoms = atoms
        self.pivot = max(range(len(atoms)), key=lambda i: (min(map(len, atom_key(atoms[i]))), -i))
        self.trigger = atoms[self.pivot]

    def all_atoms(self) -> tuple[Atom, ...]:
        return self.atoms

    def occurrences(self, ix: DocIndex) -> list[Occ]:
        cached = ix.cache.get(self)
        if cached is not None:
            return cached  # type: ignore[return-value]
        out: list[Occ] = []
        for fi, start, end in ix.found.get(self.trigger, ()):
            span = self._extend(ix, fi, start, end)
            if span is not None:
                out.append(span)
        ix.cache[self] = out
        return out

    def _extend(self, ix: DocIndex, fi: int, start: int, end: int) -> Occ | None:
        first, last = start, end
        for j in range(self.pivot - 1, -1, -1):
            word = ix.prev_word(fi, first)
            if word is None or self.atoms[j] not in ix.word_atoms(fi, *word):
                return None
            first = word[0]
        for j in range(self.pivot + 1, len(self.atoms)):
            word = ix.next_word(fi, last)
            if word is None or self.atoms[j] not in ix.word_atoms(fi, *word):
                return None
            last = word[1]
        return fi, first, last


Alt = AtomAlt | PhraseAlt


class Leaf:
    """A query term as written (``label``), optionally scoped to one field."""

    __slots__ = ("alternatives", "column", "field", "label", "simple")

    def __init__(self, label: str, field: int | None, alts: tuple[Alt, ...], column: int) -> None:
        self.label = label
        self.field = field
        self.alternatives = alts
        self.column = column
        # a single word in any field: presence of its atom is the whole test
        only = alts[0] if len(alts) == 1 else None
        self.simple = only.trigger if isinstance(only, AtomAlt) and field is None else None

    def leaves(self) -> list[Leaf]:
        return [self]

    def all_atoms(self) -> set[Atom]:
        return {a for alt in self.alternatives for a in alt.all_atoms()}

    def occ(self, ix: DocIndex) -> list[Occ]:
        alts = self.alternatives
        if self.field is None and len(alts) == 1:
            return alts[0].occurrences(ix)
        cached = ix.cache.get(self)
        if cached is None:
            if len(alts) == 1:
                found = alts[0].occurrences(ix)
            else:
                found = sorted({o for alt in alts for o in alt.occurrences(ix)})
            if self.field is not None:
                found = [o for o in found if o[0] == self.field]
            ix.cache[self] = cached = found
        return cached  # type: ignore[return-value]

    def test(self, ix: DocIndex) -> bool:
        if self.simple is not None:
            return self.simple in ix.found
        return bool(self.occ(ix))

    def spans(self, ix: DocIndex) -> list[Span]:
        return [(fi, s, e, ((fi, s, e, self.label),)) for fi, s, e in self.occ(ix)]

    def hits(self, ix: DocIndex) -> list[HitT]:
        return [(fi, s, e, self.label) for fi, s, e in self.occ(ix)]


class AndNode:
    __slots__ = ("children", "column")

    def __init__(self, children: tuple[EvalNode, ...], column: int) -> None:
        self.children = children
        self.column = column

    def leaves(self) -> list[Leaf]:
        return [leaf for c in self.children for leaf in c.leaves()]

    def test(self, ix: DocIndex) -> bool:
        for c in self.children:  # noqa: SIM110 - a plain loop is faster than all(genexpr)
            if not c.test(ix):
                return False
        return True

    def spans(self, ix: DocIndex) -> list[Span]:
        return [s for c in self.children for s in c.spans(ix)]

    def hits(self, ix: DocIndex) -> list[HitT]:
        return [h for c in self.children for h in c.hits(ix)]


class OrNode(AndNode):
    __slots__ = ()

    def test(self, ix: DocIndex) -> bool:
        for c in self.children:  # noqa: SIM110 - a plain loop is faster than any(genexpr)
            if c.test(ix):
                return True
        return False

    def hits(self, ix: DocIndex) -> list[HitT]:
        return [h for c in self.children if c.test(ix) for h in c.hits(ix)]


class NotNode:
    __slots__ = ("child", "column")

    def __init__(self, child: EvalNode, column: int) -> None:
        self.child = child
        self.column = column

    def leaves(self) -> list[Leaf]:
        return self.child.leaves()

    def test(self, ix: DocIndex) -> bool:
        return not self.child.test(ix)

    def spans(self, ix: DocIndex) -> list[Span]:
        return []

    def hits(self, ix: DocIndex) -> list[HitT]:
        return []


class NearNode:
    """Both sides within ``distance`` words of each other, in either order, same field."""

    __slots__ = ("column", "distance", "left", "right")

    def __init__(self, left: EvalNode, right: EvalNode, distance: int, column: int) -> None:
        self.left, self.right, self.distance, self.column = left, right, distance, column

    def leaves(self) -> list[Leaf]:
        return self.left.leaves() + self.right.leaves()

    def test(self, ix: DocIndex) -> bool:
        return bool(self.spans(ix))

    def spans(self, ix: DocIndex) -> list[Span]:
        cached = ix.cache.get(self)
        if cached is not None:
            return cached  # type: ignore[return-value]
        out: list[Span] = []
        rights = self.right.spans(ix) if self.left.test(ix) else []
        for a in self.left.spans(ix) if rights else ():
            for b in rights:
                if a[0] == b[0] and self._close(ix, a, b):
                    out.append((a[0], min(a[1], b[1]), max(a[2], b[2]), a[3] + b[3]))
        ix.cache[self] = out
        return out

    def _close(self, ix: DocIndex, a: Span, b: Span) -> bool:
        if a[1] < b[2] and b[1] < a[2]:
            return True  # overlapping
        first, second = (a, b) if a[1] < b[1] else (b, a)
        between = ix.words_between(first[0], first[2], second[1], self.distance)
        return between < self.distance

    def hits(self, ix: DocIndex) -> list[HitT]:
        return [h for span in self.spans(ix) for h in span[3]]


EvalNode = Leaf | AndNode | OrNode | NotNode | NearNode
