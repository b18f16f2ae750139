"""Tests for monitor.snippets.make_snippet."""

from __future__ import annotations

import re
from pathlib import Path

from monitor.query import Document, Hit, WatchSet, compile_watch, make_snippet

SEED = Path(__file__).parent / "fixtures" / "seed" / "us-cuba-visa-talks.txt"


def seed_doc() -> Document:
    title, body = SEED.read_text(encoding="utf-8").split("\n", 1)
    return Document(title, body, "en")


def normalise(text: str) -> str:
    return " ".join(text.split())


def assert_whole_words(snippet_text: str, source: str) -> None:
    """The snippet (without ellipses) is a run of whole words of the source."""
    inner = normalise(snippet_text.strip("…"))
    flat = normalise(source)
    at = flat.find(inner)
    assert at != -1, inner
    before = flat[at - 1] if at > 0 else " "
    after = flat[at + len(inner)] if at + len(inner) < len(flat) else " "
    assert before == " " and after == " ", (before, after)


def test_snippet_around_hits_in_seed() -> None:
    doc = seed_doc()
    (match,) = WatchSet([compile_watch("w", query="Havana NEAR/6 consul*")]).match(doc)
    snip = make_snippet(doc, match.hits)
    assert len(snip.text) <= 240
    assert snip.text.startswith("…") and snip.text.endswith("…")
    assert [snip.text[a:b] for a, b in snip.highlights] == ["consular", "Havana"]
    assert_whole_words(snip.text, doc.body)


def test_snippet_picks_the_densest_cluster() -> None:
    body = (
        "Cuba. "
        + "filler words here. " * 40
        + "Visa talks: visa, visa and Cuba visas."
        + (" more filler text." * 40)
    )
    doc = Document("", body)
    (match,) = WatchSet([compile_watch("w", terms=["visa", "Cuba"])]).match(doc)
    snip = make_snippet(doc, match.hits)
    assert len(snip.text) <= 240
    marked = [snip.text[a:b] for a, b in snip.highlights]
    assert marked == ["Visa", "visa", "visa", "Cuba", "visas"]
    assert_whole_words(snip.text, body)


def test_snippet_respects_max_chars_and_word_boundaries() -> None:
    doc = seed_doc()
    (match,) = WatchSet([compile_watch("w", query="Guyana")]).match(doc)
    for limit in (40, 80, 120, 240, 400):
        snip = make_snippet(doc, match.hits, max_chars=limit)
        assert len(snip.text) <= limit
        assert [snip.text[a:b] for a, b in snip.highlights] == ["Guyana"]
        assert_whole_words(snip.text, doc.body)


def test_snippet_collapses_whitespace_and_keeps_highlights_aligned() -> None:
    doc = Document("", "The   foreign\n\nministry  said\tthat visas\n would rise.")
    at = doc.body.index("visas")
    hits = [Hit("body", at, at + 5, "visa")]
    snip = make_snippet(doc, hits)
    assert snip.text == "The foreign ministry said that visas would rise."
    assert [snip.text[a:b] for a, b in snip.highlights] == ["visas"]


def test_snippet_falls_back_to_title() -> None:
    doc = Document("Cuba visa talks", "Nothing relevant in the body at all.")
    snip = make_snippet(doc, [Hit("title", 5, 9, "visa")])
    assert snip.text == "Cuba visa talks"
    assert snip.highlights == ((5, 9),)


def test_snippet_without_hits_is_start_of_body() -> None:
    doc = seed_doc()
    snip = make_snippet(doc, [])
    assert snip.highlights == ()
    assert snip.text.startswith("Support migrant centric journalism")
    assert snip.text.endswith("…") and len(snip.text) <= 240
    assert_whole_words(snip.text, doc.body)


def test_short_body_is_returned_whole() -> None:
    doc = Document("t", "Visa talks resume.")
    snip = make_snippet(doc, [Hit("body", 0, 4, "visa")])
    assert snip == type(snip)("Visa talks resume.", ((0, 4),))


def test_overlapping_hits_merge_into_one_highlight() -> None:
    doc = Document("", "the Havana consulate")
    snip = make_snippet(doc, [Hit("body", 4, 20, "x"), Hit("body", 11, 20, "y")])
    assert snip.highlights == ((4, 20),)


def test_highlights_land_on_words_for_many_queries() -> None:
    doc = seed_doc()
    for query in ("Cuba AND visa*", "migration", "Rodriguez NEAR/4 minister", '"foreign ministry"'):
        (match,) = WatchSet([compile_watch("w", query=query)]).match(doc)
        snip = make_snippet(doc, match.hits)
        assert len(snip.text) <= 240
        assert snip.highlights
        words = {normalise(doc.body[h.start : h.end]).lower() for h in match.hits}
        for a, b in snip.highlights:
            marked = snip.text[a:b].lower()
            assert any(w in marked for w in words)
            assert re.fullmatch(r"[\w’' ]+", snip.text[a:b])
