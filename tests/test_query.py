"""Tests for the watch matching engine and its query language (monitor.query)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from monitor import query_match
from monitor.query import (
    CompiledWatch,
    Document,
    QuerySyntaxError,
    WatchSet,
    compile_watch,
    explain,
    format_explanation,
)

SEED = Path(__file__).parent / "fixtures" / "seed" / "us-cuba-visa-talks.txt"


def seed_doc(language: str | None = "en") -> Document:
    title, body = SEED.read_text(encoding="utf-8").split("\n", 1)
    return Document(title, body, language)


def matches(doc: Document, **watch: object) -> bool:
    compiled = compile_watch("w", **watch)  # type: ignore[arg-type]
    return bool(WatchSet([compiled]).match(doc))


# --- terms / exclude (phase 1) -------------------------------------------------------------


def test_terms_any_term_matches() -> None:
    doc = Document("Talks in Habána", "")
    assert matches(doc, terms=["Cuba", "Havana", "Habana"])
    assert not matches(doc, terms=["Cuba", "Havana"])


def test_terms_whole_words_case_and_accent_insensitive() -> None:
    assert matches(Document("", "LA HABANA hoy"), terms=["Habána"])
    assert not matches(Document("", "Visalia, California"), terms=["visa"])
    assert not matches(Document("", "Cubatão, Brazil"), terms=["Cuba"])
    assert matches(Document("", "Cuba’s foreign ministry"), terms=["cuba"])


def test_terms_multi_word_term_is_a_phrase() -> None:
    doc = Document("", "the consulate in Havana")
    assert not matches(doc, terms=["Havana consulate"])
    assert matches(Document("", "the Havana consulate reopened"), terms=["Havana consulate"])


def test_exclude_vetoes() -> None:
    doc = Document("Visa Inc earnings", "Visa Inc said card volumes grew; visa fees unchanged.")
    assert matches(doc, terms=["visa"])
    assert not matches(doc, terms=["visa"], exclude=["Visa Inc"])
    assert matches(Document("", "US visa talks"), terms=["visa"], exclude=["Visa Inc"])


def test_terms_and_query_compile_to_the_same_engine() -> None:
    doc = seed_doc()
    by_terms = compile_watch("t", terms=["consul*", "Guyana"], exclude=["Panama City"])
    by_query = compile_watch("q", query='(consul* OR Guyana) -"Panama City"')
    assert type(by_terms.root) is type(by_query.root)
    assert [m.watch for m in WatchSet([by_terms, by_query]).match(doc)] == []
    doc2 = Document("", "Cubans must apply for visas in Guyana and at the consular office.")
    got = WatchSet([by_terms, by_query]).match(doc2)
    assert [m.watch for m in got] == ["t", "q"]
    assert got[0].matched_terms == got[1].matched_terms == ("consul*", "Guyana")
    assert [(h.start, h.end) for h in got[0].hits] == [(h.start, h.end) for h in got[1].hits]


def test_compile_watch_requires_exactly_one_of_terms_and_query() -> None:
    with pytest.raises(ValueError, match="not both"):
        compile_watch("w", terms=["a"], query="b")
    with pytest.raises(ValueError, match="needs terms or a query"):
        compile_watch("w")
    with pytest.raises(TypeError):
        compile_watch("w", terms="visa")


def test_bad_term_is_a_syntax_error() -> None:
    with pytest.raises(QuerySyntaxError) as err:
        compile_watch("w", terms=["visa", "***"])
    assert err.value.column == 1


def test_hits_point_into_original_text() -> None:
    doc = Document("Rodríguez in La Habána", "Ministro Rodríguez — “Habána”.")
    got = WatchSet([compile_watch("w", terms=["rodriguez", "habana"])]).match(doc)
    assert len(got) == 1
    texts = [
        (h.field, (doc.title if h.field == "title" else doc.body)[h.start : h.end])
        for h in got[0].hits
    ]
    assert texts == [
        ("title", "Rodríguez"),
        ("title", "Habána"),
        ("body", "Rodríguez"),
        ("body", "Habána"),
    ]


def test_watchset_tokenises_each_document_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Document] = []
    real = query_match.index_document

    def counting(doc: Document, *args: object) -> object:
        calls.append(doc)
        return real(doc, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(query_match, "index_document", counting)
    watches = [compile_watch(f"w{i}", terms=[f"term{i}", "Cuba"]) for i in range(50)]
    watches.append(compile_watch("q", query="Havana NEAR/6 consul* OR visa*"))
    got = WatchSet(watches).match(seed_doc())
    assert len(got) == 51
    assert len(calls) == 1


# --- the table of query cases ------------------------------------------------------------------

CASES = tomllib.loads((Path(__file__).parent / "data" / "query_cases.toml").read_text("utf-8"))[
    "case"
]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_query_case(case: dict[str, Any]) -> None:
    if case.get("seed"):
        doc = seed_doc(case.get("language", "en"))
    else:
        doc = Document(case.get("title", ""), case.get("body", ""), case.get("language"))
    watch = compile_watch(
        case["name"],
        query=case.get("query"),
        terms=case.get("watch_terms", ()),
        exclude=case.get("watch_exclude", ()),
        languages=case.get("watch_languages", ()),
    )
    got = WatchSet([watch]).match(doc)
    assert bool(got) == case["match"], explain_text(watch, doc)
    if not got:
        return
    (match,) = got
    texts = [(doc.title if h.field == "title" else doc.body)[h.start : h.end] for h in match.hits]
    if "matched" in case:
        assert list(match.matched_terms) == case["matched"]
    if "highlights" in case:
        assert texts == case["highlights"]
    for text in case.get("highlights_include", ()):
        assert text in texts


def explain_text(watch: CompiledWatch, doc: Document) -> str:
    return format_explanation(explain(watch, doc))


def test_case_table_is_big_and_names_are_unique() -> None:
    names = [c["name"] for c in CASES]
    assert len(names) >= 60
    assert len(set(names)) == len(names)


# --- syntax errors ------------------------------------------------------------------------------

SYNTAX_ERRORS = [
    ("(visa OR cuba", 1, "unclosed '('"),
    ("visa OR cuba)", 13, "unmatched ')'"),
    ('"Havana consulate', 1, "unterminated quote"),
    ('visa "Havana', 6, "unterminated quote"),
    ("visa AND", 6, "AND needs a term on its right"),
    ("OR visa", 1, "OR needs a term on its left"),
    ("visa OR OR cuba", 6, "OR needs a term on its right"),
    ("visa NOT", 6, "NOT needs a term on its right"),
    ("visa -", 6, "'-' must be followed by a term"),
    ("visa NEAR/3", 6, "NEAR needs a term on its right"),
    ("visa NEAR/x cuba", 6, "NEAR needs a distance"),
    ("visa NEAR cuba", 6, "NEAR needs a distance"),
    ("visa NEAR/0 cuba", 6, "NEAR needs a distance"),
    ("visa NEAR/500 cuba", 6, "NEAR needs a distance"),
    ("a NEAR/3 (b AND c)", 10, "NEAR operands must be terms"),
    ("a NEAR/3 -b", 10, "cannot be negated"),
    ("", 1, "empty query"),
    ("   ", 1, "empty query"),
    ("()", 1, "empty parentheses"),
    ('visa ""', 6, "empty phrase"),
    ("headline:visa", 1, "unknown field 'headline:'"),
    ("visa title:", 6, "'title:' must be followed by a term"),
    ("title:(body:visa)", 8, "inside another field scope"),
    ("con*sul", 4, "'*' is only allowed at the end"),
    ("c*", 1, "wildcard needs at least 2 letters"),
    ("visa &&", 6, "has no letters or digits"),
    ("-visa", 1, "matches items that contain none of its terms"),
    ("visa OR -cuba", 9, "matches items that contain none of its terms"),
]


@pytest.mark.parametrize(("query", "column", "message"), SYNTAX_ERRORS)
def test_syntax_error_column_and_message(query: str, column: int, message: str) -> None:
    with pytest.raises(QuerySyntaxError) as err:
        compile_watch("w", query=query)
    assert err.value.column == column
    assert message in err.value.message
    assert err.value.query == query
    assert isinstance(err.value, ValueError)


def test_syntax_error_renders_caret_under_column() -> None:
    with pytest.raises(QuerySyntaxError) as err:
        compile_watch("w", query="Havana NEAR/x consul*")
    assert str(err.value) == (
        "NEAR needs a distance from 1 to 100, written NEAR/5\nHavana NEAR/x consul*\n       ^"
    )


# --- languages -----------------------------------------------------------------------------------


def test_language_detection_only_when_a_watch_needs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = query_match.detect_language

    def counting(text: str) -> str | None:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(query_match, "detect_language", counting)
    plain = compile_watch("plain", query="Cuba")
    es1 = compile_watch("es1", query="Cuba", languages=["es"])
    es2 = compile_watch("es2", terms=["visa"], languages=["ES"])
    english = seed_doc(language=None)
    assert [m.watch for m in WatchSet([plain]).match(english)] == ["plain"]
    assert calls == []
    assert [m.watch for m in WatchSet([plain, es1, es2]).match(english)] == ["plain"]
    assert len(calls) == 1  # detected once for both watches
    assert [m.watch for m in WatchSet([es1]).match(seed_doc(language="es"))] == ["es1"]
    assert len(calls) == 1  # the caller's language is trusted


def test_language_region_subtag_is_ignored() -> None:
    watch = compile_watch("w", query="Cuba", languages=["en"])
    assert WatchSet([watch]).match(Document("Cuba", "", "en-US"))


# --- explain -------------------------------------------------------------------------------------


def test_explain_match() -> None:
    watch = compile_watch("cuba", query='Havana NEAR/6 consul* -"Visa Inc"')
    e = explain(watch, seed_doc())
    assert e.matched and e.failed is None
    assert [(c.depth, c.label, c.result) for c in e.clauses] == [
        (0, "AND", True),
        (1, "NEAR/6", True),
        (2, "Havana", True),
        (2, "consul*", True),
        (1, "NOT", True),
        (2, '"Visa Inc"', False),
    ]
    consul = next(t for t in e.terms if t.term == "consul*")
    (hit,) = consul.hits
    assert hit.text == "consular" and hit.field == "body"
    assert seed_doc().body[hit.start : hit.end] == "consular"
    assert "limited [consular] services in Havana" in hit.context
    assert e.match is not None and e.match.matched_terms == ("Havana", "consul*")
    text = format_explanation(e)
    assert "result: MATCH" in text
    assert "yes      consul*" in text
    assert "Visa Inc: 0 hits" in text


def test_explain_names_the_failing_clause() -> None:
    watch = compile_watch("w", query="Cuba AND title:deport* AND visa")
    e = explain(watch, seed_doc())
    assert not e.matched
    assert e.failed == "title:deport*"
    assert "failed: title:deport*" in format_explanation(e)
    hits = {t.term: len(t.hits) for t in e.terms}
    assert hits["deport*"] == 0 and hits["Cuba"] > 5


def test_explain_word_positions() -> None:
    e = explain(compile_watch("w", query="gamma"), Document("", "alpha, beta  gamma"))
    (hit,) = e.terms[0].hits
    assert (hit.word_index, hit.start, hit.end) == (2, 13, 18)


def test_explain_language_failure() -> None:
    watch = compile_watch("w", query="Cuba", languages=["es"])
    e = explain(watch, seed_doc(language=None))
    assert not e.matched and not e.language_ok
    assert e.language == "en"
    assert e.failed is not None and "languages" in e.failed


def test_each_field_is_folded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor import query_eval

    calls: list[str] = []
    real = query_eval.fold_aligned

    def counting(text: str) -> tuple[str, list[int] | None]:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(query_eval, "fold_aligned", counting)
    watches = [
        compile_watch("a", query='"consular services" NEAR/3 Havana'),
        compile_watch("b", query="title:visa* Cuba -Panama"),
        compile_watch("c", terms=["Guyana", "Rodriguez"]),
    ]
    doc = seed_doc()
    assert [m.watch for m in WatchSet(watches).match(doc)] == ["a", "c"]
    assert sorted(calls, key=len) == [doc.title, doc.body]


class _CountingRoot:
    def __init__(self, root: Any, calls: list[str], name: str) -> None:
        self.root, self.calls, self.name = root, calls, name

    def test(self, ix: Any) -> bool:
        self.calls.append(self.name)
        return bool(self.root.test(ix))

    def hits(self, ix: Any) -> Any:
        return self.root.hits(ix)

    def leaves(self) -> Any:
        return self.root.leaves()


def test_watches_without_their_terms_are_not_evaluated() -> None:
    calls: list[str] = []
    watches = [compile_watch(f"w{i}", query=f"absent{i} OR missing{i}*") for i in range(300)]
    watches.append(compile_watch("hit", query="Guyana AND consul*"))
    watches.append(compile_watch("near-miss", query="Guyana AND absentword"))
    for w in watches:
        object.__setattr__(w, "root", _CountingRoot(w.root, calls, w.name))
    got = WatchSet(watches).match(seed_doc())
    assert [m.watch for m in got] == ["hit"]
    assert sorted(calls) == ["hit"]  # near-miss is triggered by absentword only
