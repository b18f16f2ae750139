"""What feedparser is given: no DTD entities that expand, no first line it stalls on.

Stage: parse (before ``feeds`` hands a body to feedparser). Must not: change what a
body says, read past the document's prolog, or expand any entity itself.

``fastfeed`` declines every document with a DOCTYPE, so feedparser reads those. A
DTD's entity declarations let a few kilobytes stand for gigabytes of text: nested
references ("billion laughs"), or one long value referenced many times. feedparser
keeps the declarations it deems safe (no ``&`` in the value, however long) only when
each starts a line, then expands what it kept in its loose parser; its strict parser
(expat) expands everything up to expat's amplification limit (100 times the input).
Measured on one core, a 1 MB feed of that kind cost 6 s and 113 MB, or ended in a
``MemoryError`` (ad hoc, feedparser 6.0.14, expat 2.5.0).

``refuse_expanding_entities`` reads the prolog with expat (stopping at the root
element, so the feed itself is not parsed twice) and refuses a document that
declares a parameter entity, an external entity, or an internal one whose value
refers to another entity or is longer than ``MAX_ENTITY_VALUE`` characters. Small
text entities (``<!ENTITY nbsp "&#160;">``, ``<!ENTITY copy "(C)">``) stay readable.
A prolog expat cannot read is refused when it has an entity declaration at all.

``cut_after_declaration`` ends the first line after its first ``?>``: feedparser looks
for the declared encoding with a pattern that backtracks over every ``encoding="``
and every quote of the first line (see ``fastfeed_decode.declaration_line``, which
gives the fast reader the same line). A line break after the XML declaration changes
nothing an XML parser reads.

``MAX_LENIENT_TAGS`` bounds what feedparser is asked to read at all: it spends ~40-50
µs of CPU per tag (a 58 KB feed of 775 tags: 30 ms), so a 10 MB body of bare tags
would cost two minutes a poll. A real feed of 100,000 tags is ~7 MB; the fast reader
reads well-formed feeds of any size, so only a larger feed that is also broken is
refused.
"""

from __future__ import annotations

import codecs
from xml.parsers import expat

from monitor.errors import ParseError

MAX_LENIENT_TAGS = 100_000  # "<" in a body feedparser reads: ~5 s of its CPU
MAX_ENTITY_VALUE = 32  # characters: a reference (3+ bytes) expands at most ~10 times
# "<!ENTITY" as it is spelled in ASCII-compatible encodings and in UTF-16 (either order)
_DECLARATIONS = tuple("<!ENTITY".encode(codec) for codec in ("ascii", "utf-16-le", "utf-16-be"))


# what feedparser decodes before it looks for the declaration (UTF-32 before UTF-16:
# their byte-order marks begin alike)
_WIDE = (
    (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"), (codecs.BOM_UTF16_LE, "utf-16-le"),
    (b"\x00\x00\x00<", "utf-32-be"), (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00?", "utf-16-be"), (b"<\x00?\x00", "utf-16-le"),
)  # fmt: skip
MAX_UNCLOSED = 1024  # a first line this long that opens "<?" but never closes it: cut


class _Stop(Exception):
    """Raised from an expat handler: the prolog has been read."""


def refuse_expanding_entities(body: bytes) -> None:
    """Raise ParseError if ``body`` declares an entity that could expand (module docstring)."""
    if not any(marker in body for marker in _DECLARATIONS):
        return
    unsafe: list[str] = []
    parser = expat.ParserCreate()

    def entity(
        name: str,
        is_parameter: int,
        value: str | None,
        _base: str | None,
        system_id: str | None,
        _public_id: str | None,
        _notation: str | None,
    ) -> None:
        if is_parameter:
            unsafe.append(f"a parameter entity (%{name})")
        elif value is None:
            unsafe.append(f"an external entity ({name}, {system_id})")
        elif "&" in value or "%" in value or len(value) > MAX_ENTITY_VALUE:
            unsafe.append(f"an entity that could expand ({name}: {len(value)} characters)")
        if unsafe:  # stop before anything refers to it
            raise _Stop

    def root(*_: object) -> None:
        raise _Stop

    parser.EntityDeclHandler = entity
    parser.StartElementHandler = root
    try:
        parser.Parse(body, True)
    except _Stop:
        pass
    except expat.ExpatError as exc:  # cannot tell what its declarations would do
        raise ParseError(
            f"not read: the feed declares XML entities in a DTD that does not parse ({exc})"
        ) from None
    if unsafe:
        raise ParseError(
            f"not read: the feed's DTD declares {unsafe[0]}; news-monitor reads feeds that "
            f"declare only text entities of up to {MAX_ENTITY_VALUE} characters"
        )


def cut_after_declaration(body: bytes) -> bytes:
    """``body`` with a line break after its first line's first ``?>`` (module docstring).

    A first line that opens ``<?`` and never closes it (not an XML declaration spread
    over lines: those start short) is broken before its first ``encoding=``.
    """
    bom = next(
        (b for b in (codecs.BOM_UTF8, *(w for w, _ in _WIDE[:4])) if body.startswith(b)), b""
    )
    codec = next((name for start, name in _WIDE if body.startswith(start)), None)
    data = body[len(bom) :]
    if codec is None:  # ASCII-compatible: the bytes are the text
        if not data.startswith(b"<?"):
            return body
        return bom + _cut(data.decode("latin-1")).encode("latin-1")
    try:
        return bom + _cut(data.decode(codec)).encode(codec)
    except UnicodeError:  # feedparser does not look for a declaration then either
        return body


def _cut(text: str) -> str:
    if not text.startswith("<?"):  # the pattern is anchored there: it fails at once
        return text
    end = text.find("\n")
    line_end = len(text) if end < 0 else end
    close = text.find("?>", 0, line_end)
    if close >= 0:
        at = close + 2
    elif line_end > MAX_UNCLOSED:
        at = text.find("encoding=", 0, line_end)
    else:
        return text
    return text if at in (-1, line_end) else f"{text[:at]}\n{text[at:]}"
