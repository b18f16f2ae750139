"""Compile syntax trees into evaluation trees; find each watch's trigger atoms.

Stage: compiling watches (once per watch).  Must not: parse query text (``query_parse``)
or look at documents (``query_eval`` evaluates, ``query_match`` indexes).
"""

from __future__ import annotations

import itertools

from monitor.query_eval import (
    Alt,
    AndNode,
    Atom,
    AtomAlt,
    EvalNode,
    Leaf,
    NearNode,
    NotNode,
    OrNode,
    PhraseAlt,
    atom_key,
    stem_atom,
)
from monitor.query_parse import And, Node, Not, Or, Phrase, Term
from monitor.text import fold_aligned, tokenize

__all__ = ["compile_tree", "matches_nothing_node", "positive_atoms"]


def term_alternatives(text: str) -> tuple[Alt, ...]:
    """Alternatives for a bare term: a stemmed word; ``e-mail`` is ``e mail`` or ``email``."""
    wildcard = text.endswith("*")
    body = text[:-1] if wildcard else text
    toks = tokenize(body)
    lowers = [body[t.start : t.end].lower() for t in toks]
    last = len(toks) - 1

    def word(norm: str, lower: str, is_last: bool) -> Atom:
        return ("p", norm) if wildcard and is_last else stem_atom(norm, lower)

    if len(toks) == 1:
        return (AtomAlt(word(toks[0].norm, lowers[0], True)),)
    pairs = enumerate(zip(toks, lowers, strict=True))
    alts: list[Alt] = [PhraseAlt(tuple(word(t.norm, lw, i == last) for i, (t, lw) in pairs))]
    seps = [body[a.end : b.start] for a, b in itertools.pairwise(toks)]
    if all(len(s) == 1 and fold_aligned(s)[0] in ("-", "'") for s in seps):
        alts.append(AtomAlt(word("".join(t.norm for t in toks), "".join(lowers), True)))
    return tuple(alts)


def phrase_alternatives(text: str) -> tuple[Alt, ...]:
    """A quoted phrase: exact folded words (a word followed by ``*`` is a prefix)."""
    atoms: list[Atom] = []
    for t in tokenize(text):
        star = text[t.end : t.end + 1] == "*"
        atoms.append(("p", t.norm) if star else ("x", t.norm))
    if len(atoms) == 1:
        return (AtomAlt(atoms[0]),)
    return (PhraseAlt(tuple(atoms)),)


_FIELD_INDEX = {"title": 0, "body": 1}


def compile_tree(node: Node) -> EvalNode:
    """Turn a syntax tree into an evaluation tree."""
    if isinstance(node, Term):
        field = _FIELD_INDEX[node.field] if node.field else None
        return Leaf(node.text, field, term_alternatives(node.text), node.column)
    if isinstance(node, Phrase):
        field = _FIELD_INDEX[node.field] if node.field else None
        return Leaf(node.text, field, phrase_alternatives(node.text), node.column)
    if isinstance(node, And):
        return AndNode(tuple(compile_tree(c) for c in node.children), node.column)
    if isinstance(node, Or):
        return OrNode(tuple(compile_tree(c) for c in node.children), node.column)
    if isinstance(node, Not):
        return NotNode(compile_tree(node.child), node.column)
    return NearNode(compile_tree(node.left), compile_tree(node.right), node.distance, node.column)


def positive_atoms(root: EvalNode) -> frozenset[Atom]:
    """Atoms of which at least one must occur for ``root`` to be true (trigger atoms).

    For AND and NEAR one operand's set suffices (the smallest, then the one with the
    longest scanner keys, i.e. the rarest words); OR needs all of its operands' sets."""

    def rank(atoms: frozenset[Atom]) -> tuple[int, int]:
        return len(atoms), -min(len(k) for a in atoms for k in atom_key(a))

    def need(node: EvalNode) -> frozenset[Atom] | None:
        if isinstance(node, Leaf):
            return frozenset(alt.trigger for alt in node.alternatives)
        if isinstance(node, NotNode):
            inner = node.child
            return need(inner.child) if isinstance(inner, NotNode) else None
        if isinstance(node, NearNode):
            options = [need(node.left), need(node.right)]
        elif isinstance(node, OrNode):
            parts = [need(c) for c in node.children]
            if any(p is None for p in parts):
                return None
            return frozenset().union(*parts)  # type: ignore[arg-type]
        else:
            options = [need(c) for c in node.children]
        usable = [o for o in options if o]
        return min(usable, key=rank) if usable else None

    found = need(root)
    return found if found else frozenset(_all_positive(root))


def _all_positive(root: EvalNode) -> set[Atom]:
    out: set[Atom] = set()

    def walk(node: EvalNode, positive: bool) -> None:
        if isinstance(node, Leaf):
            if positive:
                out.update(alt.trigger for alt in node.alternatives)
        elif isinstance(node, NotNode):
            walk(node.child, not positive)
        elif isinstance(node, NearNode):
            walk(node.left, positive)
            walk(node.right, positive)
        else:
            for child in node.children:
                walk(child, positive)

    walk(root, True)
    return out


def matches_nothing_node(root: EvalNode) -> NotNode | None:
    """If the tree is true for a document containing none of its terms, return the NOT
    responsible (such a query would alert on every item); otherwise ``None``."""

    def empty(node: EvalNode) -> bool:
        if isinstance(node, Leaf | NearNode):
            return False
        if isinstance(node, NotNode):
            return not empty(node.child)
        if isinstance(node, OrNode):
            return any(empty(c) for c in node.children)
        return all(empty(c) for c in node.children)

    def culprit(node: EvalNode) -> NotNode | None:
        if isinstance(node, NotNode):
            return node
        if isinstance(node, AndNode | OrNode):
            for c in node.children:
                if empty(c):
                    return culprit(c)
        return None

    return culprit(root) if empty(root) else None
