"""Story identity: content fingerprints and near-duplicate sketches (pure).

Two ways one story reaches us twice:

* the *same text* under a new GUID or a moved URL — ``fingerprint`` hashes the folded
  title and the start of the text, so the copy is recognised exactly;
* the *same wire story* republished by several outlets, with a new headline, another
  lead, a paragraph cut — ``sketch`` is a bottom-k MinHash of the word 3-shingles of
  the title and the first ``LEAD_WORDS`` words, and ``similarity`` estimates the
  Jaccard similarity of two sketches. Items whose estimate reaches the threshold
  (``SAME_STORY``, see below) belong to one story.

Candidates are found through ``index_keys``: the ``INDEX_KEYS`` smallest shingle
hashes of a sketch. Two texts with Jaccard similarity J share the minimum hash with
probability J, so with 16 keys a pair at J = 0.5 is missed with probability ~2e-5.

Why bottom-k rather than classic banded LSH (datasketch): one stable hash per
shingle instead of one per shingle per permutation keeps the whole computation in
pure Python well under a millisecond (a shingle's hash combines cached word hashes;
CPython's tuple hash is stable across processes, though a future CPython could
change it — then items seen before the upgrade would not cluster with newer ones
for one story window), and the candidate index is a plain SQL table, so
clustering works across processes and restarts without numpy or an in-memory index.
"""

from __future__ import annotations

import hashlib
import re
from array import array
from dataclasses import dataclass

from monitor.text import fold_aligned

SKETCH_SIZE = 64  # k of the bottom-k sketch: the estimate's standard error is ~0.06
INDEX_KEYS = 16  # smallest hashes stored for candidate lookup
SHINGLE = 3  # words per shingle
LEAD_WORDS = 300  # title + this many words of text make the sketch
MIN_WORDS = 25  # shorter texts are too thin to cluster safely
FINGERPRINT_MIN_CHARS = 120  # shorter title+text is too generic to be an identity
# Same story: estimated Jaccard similarity of word 3-shingles at or above this. Wire
# copies with a rewritten headline, another lead or a paragraph cut measure 0.55–0.9;
# independent stories about the same event, even sharing most of their vocabulary,
# measure below 0.1 (tests/test_stories.py holds both cases).
SAME_STORY = 0.4

_WORD = re.compile(r"[^\W_]+")
# The same words in ASCII text, found twice as fast as by the regex: every ASCII
# character but a letter or digit becomes a space, then the text is split on spaces.
_ASCII_SPACES = str.maketrans({chr(c): " " for c in range(128) if not chr(c).isalnum()})


@dataclass(frozen=True, slots=True)
class Sketch:
    """The smallest shingle hashes, ascending (unsigned 32-bit)."""

    hashes: tuple[int, ...]

    def to_bytes(self) -> bytes:
        return array("I", self.hashes).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Sketch:
        values = array("I")
        values.frombytes(data)
        return cls(tuple(values))


def words(text: str) -> list[str]:
    folded = fold_aligned(text)[0]
    if folded.isascii():
        return folded.translate(_ASCII_SPACES).split()
    return _WORD.findall(folded)


def identify(title: str, text: str) -> tuple[str | None, Sketch | None]:
    """The fingerprint and the sketch of one item, folding its text once."""
    if len(title) + len(text) < FINGERPRINT_MIN_CHARS:
        return None, _sketch(words(title), words(text))
    title_words = words(title)
    head = words(text[:2000])
    normal = " ".join(title_words) + "\n" + " ".join(head)
    fingerprint = hashlib.sha256(normal.encode("utf-8")).hexdigest()[:32]
    if len(head) >= LEAD_WORDS:
        lead = head
    else:
        spaced = text.split(maxsplit=LEAD_WORDS + 51)[: LEAD_WORDS + 51]  # no split past them
        whole = len(text) <= 2000 and len(spaced) <= LEAD_WORDS + 50  # head has it all
        lead = head if whole else words(" ".join(spaced[: LEAD_WORDS + 50]))
    return fingerprint, _sketch(title_words, lead)


def fingerprint(title: str, text: str) -> str | None:
    """Exact-copy identity of an item's content, or None when it is too short to trust."""
    if len(title) + len(text) < FINGERPRINT_MIN_CHARS:
        return None
    normal = " ".join(words(title)) + "\n" + " ".join(words(text[:2000]))
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()[:32]


_WORD_HASHES: dict[str, int] = {}


def _word_hash(word: str) -> int:
    """A stable 64-bit hash of a word, cached (news vocabulary repeats across items)."""
    found = _WORD_HASHES.get(word)
    if found is None:
        if len(_WORD_HASHES) >= 50_000:
            _WORD_HASHES.clear()
        digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
        found = _WORD_HASHES[word] = int.from_bytes(digest, "little")
    return found


def sketch(title: str, text: str) -> Sketch | None:
    """Bottom-k MinHash of the title and lead, or None for texts too short to cluster."""
    lead = text.split(maxsplit=LEAD_WORDS + 50)[: LEAD_WORDS + 50]
    return _sketch(words(title), words(" ".join(lead)))


def _sketch(title_words: list[str], text_words: list[str]) -> Sketch | None:
    tokens = title_words + text_words[:LEAD_WORDS]
    if len(tokens) < MIN_WORDS:
        return None
    # A shingle's hash combines its words' hashes: hashing a tuple of ints is stable
    # across processes (only str and bytes hashes are salted) and runs in C.
    hashes = list(map(_WORD_HASHES.get, tokens))
    if None in hashes:
        hashes = [_word_hash(t) if h is None else h for h, t in zip(hashes, tokens, strict=True)]
    runs = zip(*(hashes[i:] for i in range(SHINGLE)), strict=False)  # word i, i+1, i+2
    shingles = {h & 0xFFFFFFFF for h in map(hash, runs)}
    return Sketch(tuple(sorted(shingles)[:SKETCH_SIZE]))


def index_keys(item_sketch: Sketch) -> tuple[int, ...]:
    """The hashes an item is indexed under (as signed 32-bit, so every SQL int holds them)."""
    return tuple(h - (1 << 31) for h in item_sketch.hashes[:INDEX_KEYS])


def similarity(a: Sketch, b: Sketch, floor: float = 0.0) -> float:
    """Estimated Jaccard similarity of the two shingle sets.

    A pair that cannot reach ``floor`` may get 0.0 without the full estimate: it
    counts shared hashes among the k smallest of the union, at most all shared ones.
    """
    k = min(SKETCH_SIZE, len(a.hashes), len(b.hashes))
    if k == 0:
        return 0.0
    mine = set(a.hashes)
    shared = mine.intersection(b.hashes)
    if not shared or len(shared) < floor * k:
        return 0.0
    union = sorted(mine.union(b.hashes))[:k]
    return sum(1 for h in union if h in shared) / k
