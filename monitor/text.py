"""Text handling for matching: folding, tokenising, stemming and language detection.

Stage: pure text utilities shared by the query engine (``monitor.query*``) and snippets.
Must not: do I/O, know about watches or queries, or keep unbounded state (the caches
below are size-capped).

Folding is Unicode case folding plus accent folding (NFKD, combining marks dropped);
apostrophe variants (’ ‘ ʼ) fold to ``'`` and hyphen variants (‐ ‑) to ``-``.  A *word*
(token) is a maximal run of letters and digits of the folded text, so ``don’t`` is the two
tokens ``don`` and ``t`` and ``Cuba’s`` contains the token ``cuba``.

``fold_aligned`` is the hot path used by matching.  It additionally maps every other
punctuation character to a space (word boundaries are all that matter there) and returns
the folded text together with an offset map back into the original string; the map is
``None`` when folding was one character for one character, which is the case for English,
Spanish and most Latin-script text and is computed with two C-level passes (a charmap
encode into a private single-byte code page, then a byte translation).
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass

import Stemmer  # type: ignore[import-untyped, import-not-found, unused-ignore]

__all__ = [
    "Token",
    "detect_language",
    "fold",
    "fold_aligned",
    "fold_word",
    "stem_en",
    "stem_es",
    "tokenize",
]

WORD_RE = re.compile(r"[^\W_]+")
"""A word: letters and digits (Unicode-aware), no underscore."""

_APOSTROPHES = frozenset("'\u2019\u2018\u02bc\u2032\uff07")
_HYPHENS = frozenset("-\u2010\u2011")
_INVISIBLE = frozenset("\u00ad\u200c\u200d\u2060\ufeff")  # soft hyphen, ZWNJ/ZWJ, joiners


def _letter_fold(c: str) -> str:
    decomposed = unicodedata.normalize("NFKD", c.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _fold_char(c: str) -> str:
    """Public folding of one character (punctuation other than joiners is kept)."""
    if c.isalnum():
        return _letter_fold(c)
    if c in _APOSTROPHES:
        return "'"
    if c in _HYPHENS:
        return "-"
    if c in _INVISIBLE or unicodedata.combining(c):
        return ""
    return c


def _match_fold_char(c: str) -> str:
    """Folding used for matching: like ``_fold_char`` but other punctuation becomes a space."""
    if c.isalnum() or c in _APOSTROPHES or c in _HYPHENS or c in _INVISIBLE:
        return _fold_char(c)
    if unicodedata.combining(c):
        return ""
    return c if c.isascii() else " "


_FOLD_CACHE: dict[str, str] = {}
_MATCH_FOLD_CACHE: dict[str, str] = {}


def fold(s: str) -> str:
    """Case- and accent-fold ``s`` (``"Habána"`` -> ``"habana"``); punctuation is kept."""
    if s.isascii():
        return s.lower()
    cache = _FOLD_CACHE
    out = []
    for c in s:
        f = cache.get(c)
        if f is None:
            f = _fold_char(c)
            if len(cache) < 50_000:
                cache[c] = f
        out.append(f)
    return "".join(out)


def fold_word(word: str) -> str:
    """Fold a single word (alias of :func:`fold`, named for intent)."""
    return fold(word)


# --- the fast, aligned fold -------------------------------------------------------------
# Non-ASCII characters that fold to exactly one ASCII character get a byte 0x80-0xFF in a
# private code page; everything else takes the slow path.
_CANDIDATES = (
    "\u00a0’‘ʼ“”„‚‹›«»–—―‐‑‒…•·¡¿°§©®™€£¥¢′″\u200b"
    "áéíóúñüàèìòùâêîôûäëïöçãõåýÿÁÉÍÓÚÑÜÀÈÌÒÙÂÊÎÔÛÄËÏÖÇÃÕÅÝ"
    "ăâșşțţĂÂȘŞȚŢčćďěňřšťůžźżąęńśĆČĎĚŇŘŠŤŮŽŹŻĄĘŃŚőűŐŰğĞİāēīōūĀĒĪŌŪėįųĖĮŲ"
)


def _build_fast_tables() -> tuple[str, bytes]:
    extras: list[str] = []
    folded: list[str] = []
    for c in dict.fromkeys(_CANDIDATES):
        f = _match_fold_char(c)
        if len(f) == 1 and f.isascii() and len(extras) < 128:
            extras.append(c)
            folded.append(f)
    decoding = "".join(chr(i) for i in range(128)) + "".join(extras)
    decoding += "\ufffe" * (256 - len(decoding))
    table = bytearray(ord(chr(i).lower()) for i in range(128))
    table += bytes(ord(f) for f in folded)
    table += b" " * (256 - len(table))
    return decoding, bytes(table)


_DECODING, _BYTE_FOLD = _build_fast_tables()
_ENCODING_MAP = codecs.charmap_build(_DECODING)


def fold_aligned(s: str) -> tuple[str, list[int] | None]:
    """Fold ``s`` for matching; return ``(folded, offsets)``.

    ``offsets`` is ``None`` when ``folded[i]`` comes from ``s[i]`` for every ``i``;
    otherwise ``offsets[i]`` is the index in ``s`` of the character that produced
    ``folded[i]`` (with ``offsets[len(folded)] == len(s)``).
    """
    if s.isascii():
        return s.lower(), None
    try:
        encoded = codecs.charmap_encode(s, "strict", _ENCODING_MAP)[0]
    except UnicodeEncodeError:
        return _fold_aligned_slow(s)
    return encoded.translate(_BYTE_FOLD).decode("ascii"), None


def _fold_aligned_slow(s: str) -> tuple[str, list[int] | None]:
    cache = _MATCH_FOLD_CACHE
    pieces: list[str] = []
    one_to_one = True
    for c in s:
        f = cache.get(c)
        if f is None:
            f = _match_fold_char(c)
            if len(cache) < 50_000:
                cache[c] = f
        if len(f) != 1:
            one_to_one = False
        pieces.append(f)
    if one_to_one:
        return "".join(pieces), None
    offsets: list[int] = []
    for i, f in enumerate(pieces):
        offsets.extend([i] * len(f))
    offsets.append(len(s))
    return "".join(pieces), offsets


def original_span(offsets: list[int] | None, start: int, end: int) -> tuple[int, int]:
    """Map a ``[start, end)`` span of folded text back to the original string."""
    if offsets is None:
        return start, end
    if end <= start:
        return offsets[start], offsets[start]
    return offsets[start], offsets[end - 1] + 1


@dataclass(frozen=True, slots=True)
class Token:
    """A folded word and its ``[start, end)`` character offsets in the original string."""

    norm: str
    start: int
    end: int


def tokenize(s: str) -> list[Token]:
    """Split ``s`` into folded word tokens with offsets into ``s``."""
    folded, offsets = fold_aligned(s)
    tokens = []
    for m in WORD_RE.finditer(folded):
        start, end = original_span(offsets, m.start(), m.end())
        tokens.append(Token(m.group(), start, end))
    return tokens


# --- stemming ---------------------------------------------------------------------------
_EN = Stemmer.Stemmer("english")
_ES = Stemmer.Stemmer("spanish")
_EN_CACHE: dict[str, str] = {}
_ES_CACHE: dict[str, str] = {}
_CACHE_LIMIT = 200_000


def stem_en(folded_word: str) -> str:
    """English Snowball stem of an already folded word (``"visas"`` -> ``"visa"``)."""
    stem = _EN_CACHE.get(folded_word)
    if stem is None:
        if len(_EN_CACHE) >= _CACHE_LIMIT:
            _EN_CACHE.clear()
        stem = _EN_CACHE[folded_word] = str(_EN.stemWord(folded_word))
    return stem


def stem_es(lower_word: str) -> str:
    """Folded Spanish Snowball stem of a lower-cased word *with its accents*.

    Spanish suffix rules depend on accents (``deportación`` -> ``deport``), so the stemmer
    sees the accented word and only its output is folded.
    """
    stem = _ES_CACHE.get(lower_word)
    if stem is None:
        if len(_ES_CACHE) >= _CACHE_LIMIT:
            _ES_CACHE.clear()
        stem = _ES_CACHE[lower_word] = fold(str(_ES.stemWord(lower_word)))
    return stem


# --- language detection -----------------------------------------------------------------
_STOPWORDS = {
    "en": "the and of to in is that for it with was on as are be by this have from at he has "
    "had not but were they which been their said will would who its or an than about there",
    "es": "el la los las de del que y en un una por con para es se su al lo como mas pero sus "
    "fue ha este esta tambien entre cuando muy sin sobre ya desde hasta dijo son",
    "fr": "le la les de des du et un une est que qui dans pour pas sur au aux avec ce cette il "
    "elle ont sont plus par ne se mais ou nous vous leur ete etait",
    "pt": "o os a as de do da dos das e em no na nos nas um uma que para com por nao se mais ao "
    "foi ser sao tambem pelo pela como mas seu sua ja esta eles",
    "de": "der die das und ist nicht ein eine zu den dem von mit sich des auf fur im auch es an "
    "als wird bei nach sind wie aus er sie hat wurde noch oder uber aber einen werden",
}


def _stopword_weights() -> dict[str, tuple[tuple[str, float], ...]]:
    langs_of: dict[str, list[str]] = {}
    for lang, words in _STOPWORDS.items():
        for w in words.split():
            langs_of.setdefault(w, []).append(lang)
    return {w: tuple((lang, 1.0 / len(ls)) for lang in ls) for w, ls in langs_of.items()}


_WEIGHTS = _stopword_weights()


def detect_language(text: str) -> str | None:
    """Guess ``en``, ``es``, ``fr``, ``pt`` or ``de`` from stopwords; ``None`` when unsure.

    Words shared by several languages count for each of them with a split weight.  The
    best language needs a score of at least 2 and 1.5 times the runner-up's score.
    """
    folded, _ = fold_aligned(text[:20_000])
    scores: dict[str, float] = {}
    weights = _WEIGHTS
    for word in WORD_RE.findall(folded):
        for lang, weight in weights.get(word, ()):
            scores[lang] = scores.get(lang, 0.0) + weight
    if not scores:
        return None
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    best, best_score = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    if best_score >= 2.0 and best_score >= 1.5 * runner_up:
        return best
    return None
