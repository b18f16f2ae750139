"""Tests for the watch matching engine and its query language (monitor.query)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor import query_match
from monitor.query import Document, QuerySyntaxError, WatchSet, compile_watch

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
