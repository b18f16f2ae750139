"""Watch matching: the public API (compile watches, match documents, snippets, explain).

Stage: matching, between fetched/extracted items and alerting.  Must not: fetch, store,
read config files or send anything; it only decides which watches an item matches and why.

A watch is either ``terms`` (any term matches; a multi-word term is an exact phrase; a
trailing ``*`` is a wildcard) with optional ``exclude`` terms (any excluded term vetoes),
or a ``query`` in the query language.  Both compile to the same engine.  ``exclude`` may
also be combined with ``query`` (it is ANDed as ``NOT (x OR y)``).

Query language (full reference: docs/query-language.md)::

    visa                 stemmed word (English/Spanish by document language; visas, visa)
    "Havana consulate"   exact phrase of folded words, unstemmed
    consul*              trailing wildcard: a prefix of a folded word
    a AND b, a b         both (juxtaposition is AND)
    a OR b               either
    NOT a, -a            not
    a NEAR/5 b           within 5 words of each other, in either order, same field
    title:a, body:(...)  field scope
    ( ... )              grouping

Precedence, tightest first: ``( )`` and ``field:``  >  ``NEAR/n``  >  ``NOT``/``-``  >
``AND`` (explicit or implicit)  >  ``OR``.  ``a OR b c`` means ``a OR (b AND c)``;
``NOT a NEAR/3 b`` means ``NOT (a NEAR/3 b)``; ``-visa card`` means ``(NOT visa) AND card``.
Operators must be upper case.  A query must need at least one of its terms to be present
(``-visa`` alone is rejected: it would alert on every item).

Words match whole folded words (case and accents ignored).  Bare words are stemmed with
Snowball: English for ``en`` items, Spanish for ``es`` items, and either (a match if the
English or the Spanish stems agree) when the language is unknown or another one.
Phrases and wildcards are not stemmed.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.query_compile import matches_nothing_node
from monitor.query_explain import Explanation, explain, format_explanation
from monitor.query_match import CompiledWatch, WatchSet, primary_language
from monitor.query_parse import And, Node, Not, Or, Phrase, Term, check_term, parse_query
from monitor.query_types import Document, Hit, QuerySyntaxError, WatchMatch
from monitor.snippets import Snippet, make_snippet

__all__ = [
    "CompiledWatch",
    "Document",
    "Explanation",
    "Hit",
    "QuerySyntaxError",
    "Snippet",
    "WatchMatch",
    "WatchSet",
    "compile_watch",
    "explain",
    "format_explanation",
    "make_snippet",
]


def _term_node(term: str) -> Term | Phrase:
    text = term.strip()
    if not text:
        raise QuerySyntaxError(term, 1, "empty term")
    if any(c.isspace() for c in text):
        for word in text.split():
            check_term(word, 1 + text.find(word), text)
        return Phrase(" ".join(text.split()), 1)
    check_term(text, 1, text)
    return Term(text, 1)


def _one_of(nodes: list[Term | Phrase]) -> Node:
    return nodes[0] if len(nodes) == 1 else Or(tuple(nodes), 1)


def _source(nodes: list[Term | Phrase]) -> str:
    return " OR ".join(f'"{n.text}"' if isinstance(n, Phrase) else n.text for n in nodes)


def _as_tuple(value: Sequence[str], what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        raise TypeError(f"{what} must be a sequence of strings, not a string")
    return tuple(value)


def compile_watch(
    name: str,
    *,
    terms: Sequence[str] = (),
    exclude: Sequence[str] = (),
    query: str | None = None,
    languages: Sequence[str] = (),
) -> CompiledWatch:
    """Compile a watch once.  Raise ValueError unless exactly one of ``terms`` and
    ``query`` is given, and QuerySyntaxError (a ValueError) for a malformed query/term."""
    terms_t = _as_tuple(terms, "terms")
    exclude_t = _as_tuple(exclude, "exclude")
    wanted = (primary_language(lang) for lang in _as_tuple(languages, "languages"))
    langs = tuple(dict.fromkeys(lang for lang in wanted if lang))
    if query is not None and terms_t:
        raise ValueError(f"watch {name!r}: give either terms or query, not both")
    if query is None and not terms_t:
        raise ValueError(f"watch {name!r}: needs terms or a query")
    if query is not None:
        tree = parse_query(query)
        source = query
    else:
        nodes = [_term_node(t) for t in terms_t]
        tree, source = _one_of(nodes), _source(nodes)
    if exclude_t:
        excluded = [_term_node(t) for t in exclude_t]
        tree = And((tree, Not(_one_of(excluded), len(source) + 2)), 1)
        source = f"({source}) -({_source(excluded)})"
    watch = CompiledWatch.build(name, source, tree, langs)
    bad = matches_nothing_node(watch.root)
    if bad is not None:
        raise QuerySyntaxError(
            source,
            bad.column,
            "query matches items that contain none of its terms; add a term that must be present",
        )
    return watch
