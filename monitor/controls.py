"""Control characters and lone surrogates: no text or link taken from the web keeps them.

Stage: parse (``normalize.short_title`` and ``short_text`` for every title and text,
``urls.resolve`` for every link of a page, ``feeds`` for ids, links and JSON Feed
fields, ``extract`` for article text). Must not: change any printable character.
"""

from __future__ import annotations

import re

# control characters no text needs (``without_controls``), and lone surrogates, which
# are no text at all (a JSON "\\ud800"; neither SQLite nor PostgreSQL can store one)
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_C0_AND_DEL = bytes([*range(9), 11, 12, *range(14, 32), 127])
_C1_UTF8 = re.compile(b"\xc2[\x80-\x9f]")
_SURROGATE_UTF8 = re.compile(b"\xed[\xa0-\xbf]")


def without_controls(text: str) -> str:
    """``text`` without control characters (C0 but tab, line feed and carriage return,
    DEL, C1) and without lone surrogates.

    No news text needs them, and a terminal obeys them: an escape sequence in a feed's
    title would reach ``news-monitor preview``, every ``.eml`` and the logs as a
    command (and PostgreSQL refuses NUL in text).
    """
    if len(text) < 200 and text.isprintable():  # a link, a key, a title (spaces are printable)
        return text
    data = text.encode("utf-8", "surrogatepass")
    # in the UTF-8 bytes, C0 and DEL are found by translate, C1 and lone surrogates by
    # their two-byte forms: ~5x faster than the regex on the text
    if (
        len(data.translate(None, _C0_AND_DEL)) == len(data)
        and _C1_UTF8.search(data) is None
        and (b"\xed" not in data or _SURROGATE_UTF8.search(data) is None)
    ):
        return text
    return _CONTROLS.sub("", text)
