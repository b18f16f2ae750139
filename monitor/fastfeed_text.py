"""Parse stage, fast path: element text turned into feedparser's values.

feedparser (strict mode, as ``monitor.feeds`` calls it) passes the text of every
element through the same steps when the element ends; ``Values.finish`` repeats them
in the same order:

1. strip surrounding white space;
2. URI elements (``link``, ``id`` when the GUID is a permalink, ...) are joined to the
   document's base URI with feedparser's ``_urljoin`` (skipped for plain absolute
   http(s) URLs, which it returns unchanged);
3. HTML values of the elements that may hold markup are rewritten by feedparser's
   relative-URI resolver, an sgmllib pass that re-serialises the markup.  For markup
   made only of plain tags, quoted attributes, known entities and character
   references (``simple_html``) the rewrite changes attributes only, never the text
   that ``html_to_text`` keeps, so it is skipped; any other markup goes through
   feedparser's own resolver;
4. the "UTF-8 read as Latin-1" repair (``encode('iso-8859-1').decode('utf-8')`` when it
   succeeds) and the windows-1252 mapping of U+0080-U+009F.

Must not: change any text that feedparser would not change.
"""

from __future__ import annotations

import contextlib
import html.entities
import re
from typing import Any

try:  # feedparser's own helpers: the reference for URI joining and HTML rewriting
    from feedparser.html import _cp1252
    from feedparser.mixin import _FeedParserMixin
    from feedparser.urls import _urljoin, make_safe_absolute_uri, resolve_relative_uris
except ImportError:  # pragma: no cover - a feedparser without them: no fast path
    _FeedParserMixin = None

AVAILABLE = _FeedParserMixin is not None


def word_set(words: str) -> frozenset[str]:
    """A set of names written as one space-separated string."""
    return frozenset(words.split())


# Namespace URI (lower-cased) -> feedparser's prefix for it ("" for the feed formats).
NAMESPACES: dict[str, str] = (
    {uri.lower(): prefix for uri, prefix in _FeedParserMixin.namespaces.items()}
    if AVAILABLE
    else {}
)
# Element names that feedparser handles with a method of its own (others: stored as-is),
# and those with only an end method (it expects the generic start to have pushed them).
_METHODS = dir(_FeedParserMixin) if AVAILABLE else []
_STARTS = {name[7:] for name in _METHODS if name.startswith("_start_")}
_ENDS = {name[5:] for name in _METHODS if name.startswith("_end_")}
HANDLER_KEYS = frozenset(_STARTS | _ENDS)
END_ONLY_KEYS = frozenset(_ENDS - _STARTS)
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
URI_ELEMENTS: frozenset[str] = frozenset(_FeedParserMixin.can_be_relative_uri if AVAILABLE else ())
MARKUP_ELEMENTS: frozenset[str] = frozenset(
    _FeedParserMixin.can_contain_relative_uris if AVAILABLE else ()
)
_CP1252: dict[int, str] = dict(_cp1252) if AVAILABLE else {}
_ENTITIES = frozenset(html.entities.name2codepoint) | {"apos"}
# Void elements may be written <br/>; sgmllib and HTML agree on them.  The special ones
# are tokenised differently by HTML (raw text, RCDATA, foreign content).
_VOID = "area|base|basefont|br|col|command|embed|frame|hr|img|input|isindex|keygen|link|meta"
_VOID += "|param|source|track|wbr"
_SPECIAL = "script|style|textarea|title|xmp|plaintext|noscript|noembed|noframes|iframe"
_SPECIAL += "|template|svg|math"
# Possessive quantifiers: no backtracking, so a failed match costs linear time.
_ATTR = r"""\s++[a-zA-Z_][-:.a-zA-Z_0-9]*+(?:\s*+=\s*+(?:"[^"<>]*+"|'[^'<>]*+'))?+"""
_SIMPLE = re.compile(
    rf"""(?:[^<&]++
    |&[a-zA-Z][a-zA-Z0-9]*+;
    |&\#(?!0*+(?:12[89]|1[3-5][0-9]);)[0-9]++;   # not 128-159: feedparser maps those
    |&\#[xX](?!0*+[89][0-9a-fA-F];)[0-9a-fA-F]++;
    |&(?=\s)
    |<(?!(?:{_VOID}|{_SPECIAL})(?![a-z0-9]))[a-z][a-z0-9]*+(?:{_ATTR})*+\s*+>
    |<(?:{_VOID})(?![a-z0-9])(?:{_ATTR})*+\s*+/?>
    |</(?!(?:{_VOID}|{_SPECIAL})(?![a-z0-9]))[a-z][a-z0-9]*+\s*+>
    )*+""",
    re.VERBOSE,
)
_NAMED = re.compile(r"&([a-zA-Z][a-zA-Z0-9]*);")
# Absolute URLs that urllib's urljoin returns unchanged whatever the base: lower-case
# scheme, plain host, no params (;), no empty query or fragment, nothing it strips.
_URL_CHARS = r"-a-zA-Z0-9._~%!$&'()*+,=:@/"
_PLAIN_URL = re.compile(
    rf"https?://[a-zA-Z0-9.-]++(?::[0-9]++)?+(?:/[{_URL_CHARS}]*+)?+"
    rf"(?:\?[{_URL_CHARS}?]++)?+(?:\#[{_URL_CHARS}?]++)?+"
)
_C1_CONTROLS = re.compile("[\x80-\x9f]")
_LINK_REF = re.compile("&([A-Za-z0-9_]+);")


def simple_html(value: str) -> bool:
    """True when feedparser's URI resolver would leave the visible text unchanged.

    That is markup of plain lower-case tags (not script, style, svg ...; ``/>`` only on
    void elements) with quoted attributes, known entities and character references.
    """
    if "<" not in value and "&" not in value:
        return True
    return _SIMPLE.fullmatch(value) is not None and _ENTITIES.issuperset(_NAMED.findall(value))


def fix_text(value: str) -> str:
    """Step 4: feedparser's Latin-1/UTF-8 repair and windows-1252 mapping."""
    if value.isascii():
        return value
    with contextlib.suppress(UnicodeError):
        value = value.encode("iso-8859-1").decode("utf-8")
    return value.translate(_CP1252) if _C1_CONTROLS.search(value) else value


def link_text(value: str) -> str:
    """What feedparser does to the text of an entry's ``<link>`` after step 4."""
    return _LINK_REF.sub(r"&\g<1>", value.replace("&amp;", "&"))


class Values:
    """The end-of-element steps for one document (its base URI and flavour)."""

    def __init__(self, base: str, atom: bool) -> None:
        self.base = base
        self.atom = atom

    def join(self, uri: str) -> str:
        """feedparser's ``_urljoin(base, uri)``; plain absolute http(s) URLs come back as is."""
        if _PLAIN_URL.fullmatch(uri):
            return uri
        joined: Any = _urljoin(self.base, uri)
        return str(joined)

    def finish(
        self, text: str | None, element: str, ctype: str | None = None, permalink: bool = True
    ) -> str:
        out = (text or "").strip()
        if out and element in URI_ELEMENTS and (element != "id" or permalink):
            out = self.join(out)
        if element in MARKUP_ELEMENTS and not simple_html(out):
            kind = ctype or "text/html"
            if kind == "text/plain" and not self.atom and _FeedParserMixin.looks_like_html(out):
                kind = "text/html"
            if kind in HTML_TYPES:
                out = str(resolve_relative_uris(out, self.base, "utf-8", kind))
        return fix_text(out)


def document_base(url: str) -> str | None:
    """The base URI feedparser resolves against, or None when it would vary."""
    base = url

    def step(value: str) -> str:
        if value:
            return str(make_safe_absolute_uri(value, value) or value)
        return str(_urljoin(value, value))

    first = step(base)
    return first if step(first) == first else None
