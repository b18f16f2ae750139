"""Tests for monitor.text: folding, tokenising, stemming helpers, language detection."""

from __future__ import annotations

import pytest

from monitor.text import Token, detect_language, fold, fold_aligned, stem_en, stem_es, tokenize


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("Habána", "habana"),
        ("HABANA", "habana"),
        ("Rodríguez", "rodriguez"),
        ("España", "espana"),
        ("São Paulo", "sao paulo"),
        ("Straße", "strasse"),
        ("ﬁnancial", "financial"),
        ("don’t", "don't"),
        ("e‐mail", "e-mail"),  # U+2010 hyphen
        ("Cafe\u0301", "cafe"),  # decomposed accent
        ("ÇA Ö Ø", "ca o ø"),  # Ø has no decomposition: kept (folded case)
        ("Ελλάδα", "ελλαδα"),
        ("“quoted” — text…", "“quoted” — text…"),  # other punctuation is kept
    ],
)
def test_fold(raw: str, folded: str) -> None:
    assert fold(raw) == folded


@pytest.mark.parametrize(
    "text",
    [
        "plain ascii Text",
        "Cuba’s “visa” talks — in La Habána…",
        "Straße ﬁnal Cafe\u0301",
        "Ελλάδα και Κύπρος",
        "soft\u00adhyphen",
    ],
)
def test_fold_aligned_offsets_map_back(text: str) -> None:
    folded, offsets = fold_aligned(text)
    if offsets is None:
        assert len(folded) == len(text)
    else:
        assert len(offsets) == len(folded) + 1 and offsets[-1] == len(text)
        assert offsets == sorted(offsets)
    # every folded word maps back to the original word it came from
    for tok in tokenize(text):
        assert fold(text[tok.start : tok.end]).replace("\u00ad", "") == tok.norm


def test_fold_aligned_is_one_to_one_for_latin_text() -> None:
    text = "“Cuba’s” visas — La Habána, España; ¿qué? ¡Sí!"
    folded, offsets = fold_aligned(text)
    assert offsets is None
    assert folded == " cuba's  visas   la habana, espana;  que?  si!"


def test_fold_aligned_slow_path_expands() -> None:
    folded, offsets = fold_aligned("Maß x")
    assert folded == "mass x"
    assert offsets == [0, 1, 2, 2, 3, 4, 5]


def test_tokenize_offsets_point_into_original() -> None:
    text = "Rodríguez said: “Cuba’s visas” (e-mail) H1B"
    tokens = tokenize(text)
    assert [t.norm for t in tokens] == [
        "rodriguez",
        "said",
        "cuba",
        "s",
        "visas",
        "e",
        "mail",
        "h1b",
    ]
    assert [text[t.start : t.end] for t in tokens] == [
        "Rodríguez",
        "said",
        "Cuba",
        "s",
        "visas",
        "e",
        "mail",
        "H1B",
    ]
    assert tokens[0] == Token("rodriguez", 0, 9)


def test_tokenize_expanding_characters() -> None:
    text = "Die Straße, ﬁne"
    tokens = tokenize(text)
    assert [(t.norm, text[t.start : t.end]) for t in tokens] == [
        ("die", "Die"),
        ("strasse", "Straße"),
        ("fine", "ﬁne"),
    ]


def test_tokenize_underscore_and_empty() -> None:
    assert tokenize("") == []
    assert [t.norm for t in tokenize("snake_case --- 42")] == ["snake", "case", "42"]


def test_token_is_frozen() -> None:
    tok = Token("a", 0, 1)
    with pytest.raises(AttributeError):
        tok.norm = "b"  # type: ignore[misc]


def test_stemmers() -> None:
    assert stem_en("visas") == stem_en("visa") == "visa"
    assert stem_en("deported") == stem_en("deportation") == "deport"
    assert stem_es("visados") == stem_es("visado")
    assert stem_es("deportación") == stem_es("deportaciones") == "deport"
    assert stem_es("migración") == stem_es("migraciones") == "migracion"  # folded output


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("The US and Cuba entered talks on visas for the first time, officials said.", "en"),
        (
            "El gobierno de Cuba anunció que las conversaciones con los Estados Unidos "
            "continuarán la próxima semana.",
            "es",
        ),
        (
            "Le gouvernement a annoncé que les discussions avec les États-Unis sont "
            "terminées pour cette année.",
            "fr",
        ),
        (
            "O governo anunciou que as conversas com os Estados Unidos não foram "
            "concluídas no prazo.",
            "pt",
        ),
        (
            "Die Regierung hat angekündigt, dass die Gespräche mit den USA nicht "
            "beendet sind und weitergehen.",
            "de",
        ),
    ],
)
def test_detect_language(text: str, language: str) -> None:
    assert detect_language(text) == language


@pytest.mark.parametrize(
    "text",
    ["", "Cuba", "Havana Miami Panama", "12 345 678", "la de que"],
)
def test_detect_language_unsure(text: str) -> None:
    assert detect_language(text) is None


def test_detect_language_on_seed_article() -> None:
    from pathlib import Path

    seed = Path(__file__).parent / "fixtures" / "seed" / "us-cuba-visa-talks.txt"
    assert detect_language(seed.read_text(encoding="utf-8")) == "en"
