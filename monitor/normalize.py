"""Normalisation: canonical URLs, plain text from HTML fragments, item keys.

Pure functions over strings. Nothing here fetches, stores or logs. The URL rules
live in ``monitor.urls`` and are re-exported here, where the rest of the package
imports them from.
"""

from __future__ import annotations

import html
import re

from selectolax.lexbor import LexborHTMLParser

from monitor.controls import without_controls
from monitor.nesting import tag_runs_replaced, too_deep
from monitor.urls import (
    TRACKING_PARAMS,
    TRACKING_PREFIXES,
    canonical_from_page,
    canonical_url,
    is_tracking_param,
    resolve,
)

__all__ = [
    "TRACKING_PARAMS",
    "TRACKING_PREFIXES",
    "canonical_from_page",
    "canonical_url",
    "collapse_space",
    "html_to_text",
    "is_tracking_param",
    "resolve",
    "short_text",
    "short_title",
    "shorten",
]

MAX_TITLE = 500  # characters of a title kept (headlines run to ~200; a hostile one to MBs)
MAX_TEXT = 500_000  # characters of an item's summary or content kept, as of article text

# raw-text and template elements whose content is not visible text
_HIDDEN = re.compile(r"<(?:script|style|noscript|template)\b", re.IGNORECASE)


# Simple markup is turned into text without the HTML parser (``_plain_text``): tags
# whose text stays in place, in document order (no raw text such as script or
# textarea, no foreign content such as svg, no tables, which move stray text before
# them), properly nested, with none of the start tags that close an open element.
_VOID_TAGS = frozenset({"br", "hr", "img", "wbr"})
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_CLOSES_P = _HEADINGS | frozenset({  # start tags that close an open <p>
    "blockquote", "dd", "div", "dl", "dt", "figcaption", "figure", "hr", "li", "ol", "p",
    "pre", "ul",
})  # fmt: skip
_PLAIN_TAGS = _VOID_TAGS | _CLOSES_P | frozenset({
    "a", "abbr", "b", "bdi", "bdo", "cite", "code", "del", "dfn", "em", "i", "ins", "kbd",
    "mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u", "var",
})  # fmt: skip
# A start or end tag with well-formed attributes (quoted values may hold < and >).
_TAG = re.compile(
    r"""<(/?)([a-zA-Z][a-zA-Z0-9]*)"""
    r"""((?:\s+[^\s"'<>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'<>=`]+))?)*\s*/?)>"""
)


_NUMERIC_REF = re.compile(r"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+))")


def _decodes_alike(text: str) -> bool:
    """Whether ``html.unescape`` decodes the numeric references in ``text`` as the
    parser does: it drops controls and noncharacters, which the parser keeps."""
    for hexa, decimal in _NUMERIC_REF.findall(text):
        code = int(hexa, 16) if hexa else int(decimal)
        if (
            (code < 0x20 and code not in (0x0, 0x9, 0xA, 0xC, 0xD))
            or 0x7F <= code <= 0x9F
            or 0xFDD0 <= code <= 0xFDEF
            or (code & 0xFFFE == 0xFFFE and code <= 0x10FFFF)
        ):
            return False
    return True


def _nested_plainly(parts: list[str]) -> bool:
    """Whether the tags of ``_TAG.split`` output make one text node between each two.

    An HTML parser starts a new text node at every element it opens or closes. A
    tag it ignores (an end tag with nothing to close) or an element it closes
    implicitly (a ``<p>`` inside a ``<p>``) would merge or move text: not plain.
    """
    open_: list[str] = []
    counts: dict[str, int] = {}  # open elements by name: no scan of ``open_`` per tag
    for i in range(1, len(parts), 4):
        name = parts[i + 1].lower()
        if name not in _PLAIN_TAGS:
            return False
        if parts[i]:  # an end tag: it must close the element opened last
            if not open_ or open_.pop() != name:
                return False
            counts[name] -= 1
        elif (
            (name in _CLOSES_P and counts.get("p"))  # <hr> too: void, but it closes a <p>
            or (name in _HEADINGS and any(counts.get(h) for h in _HEADINGS))
            or (name in ("li", "dd", "dt", "a") and counts.get(name))
            or (name in ("dd", "dt") and (counts.get("dd") or counts.get("dt")))
        ):
            return False
        elif name not in _VOID_TAGS:
            open_.append(name)
            counts[name] = counts.get(name, 0) + 1
    return True


def _plain_text(fragment: str) -> str | None:
    """The visible text of simple markup, or None when it needs the HTML parser.

    Each tag becomes a space, as ``text(separator=" ")`` puts one between text nodes,
    and character references are decoded as an HTML parser decodes them in text.
    tests/test_normalize.py checks it against the parser on generated fragments.
    """
    if "\x00" in fragment or "\r" in fragment:
        return None
    parts = _TAG.split(fragment)  # text, then (slash, name, attributes) per tag, text ...
    texts = parts[::4]
    if any("<" in text for text in texts) or not _nested_plainly(parts):
        return None  # markup the pattern did not take (comments, odd tags, a lone "<")
    if "&#" in fragment and not _decodes_alike(fragment):
        return None
    return collapse_space(" ".join(html.unescape(t) if "&" in t else t for t in texts))


def html_to_text(fragment: str) -> str:
    """Visible text of an HTML fragment (a feed summary), whitespace collapsed."""
    if "<" not in fragment and "&" not in fragment:
        return collapse_space(fragment)
    plain = _plain_text(fragment)
    return plain if plain is not None else _parsed_text(fragment)


def _parsed_text(fragment: str) -> str:
    """``html_to_text`` by the HTML parser (Lexbor): any markup.

    Markup nested so deep that the parser would crawl (``nesting``) is read without
    it: its tags become spaces, its character references are decoded.
    """
    if too_deep(fragment):
        return collapse_space(html.unescape(tag_runs_replaced(fragment, " ")))
    tree = LexborHTMLParser(f"<body>{fragment}</body>")
    if _HIDDEN.search(fragment) is not None:
        for node in tree.css("script, style, noscript, template"):
            node.decompose()
    body = tree.body
    return collapse_space(body.text(separator=" ") if body is not None else "")


def collapse_space(text: str) -> str:
    """Runs of whitespace (``str.isspace``, as ``\\s`` in a regex) become one space; trimmed."""
    return " ".join(text.split())


def shorten(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, cut at a word boundary and ending in "…"."""
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - 1)]
    space = cut.rfind(" ")
    return (cut[:space] if space > len(cut) // 2 else cut).rstrip() + "…"


def short_title(title: str) -> str:
    """``title`` in at most MAX_TITLE characters (``shorten``), without control characters."""
    return shorten(without_controls(title), MAX_TITLE)


def short_text(text: str) -> str:
    """``text`` in at most MAX_TEXT characters, cut at a word (long reads run to ~100,000),
    without control characters."""
    text = without_controls(text)
    if len(text) <= MAX_TEXT:
        return text
    space = text.rfind(" ", MAX_TEXT - 1000, MAX_TEXT + 1)
    return text[: space if space > 0 else MAX_TEXT].rstrip()
