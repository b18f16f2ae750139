"""Extract stage: turn one fetched HTML page into an Article (title, body text, metadata).

``extract_article(html, url)`` is a pure function of its arguments.  It must not touch
the network or the disk, must not use any HTML library but selectolax's Lexbor
backend, and must never raise on bad input: a page that is not HTML, a truncated or
absurdly nested page, or one with no article at all yields an Article whose ``text``
is empty or partial and whose ``reason`` says why.  Finding the body lives in
``monitor.extract_body``; this module checks the input, reads the metadata and puts
the result together.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from selectolax.lexbor import LexborHTMLParser

from monitor.controls import without_controls
from monitor.extract_body import extract_body, render
from monitor.extract_meta import date_from_url, read_metadata
from monitor.nesting import tag_runs_replaced, too_deep

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Article:
    """What the extract stage knows about one page."""

    title: str | None
    text: str  # paragraphs separated by one blank line; "" when none found
    published_at: datetime | None  # timezone-aware UTC
    canonical_url: str | None
    language: str | None  # primary subtag, lower-case ("en")
    reason: str | None = None  # why text is empty or partial; None when fine


# --- input checks -------------------------------------------------------------------

_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0e-\x1f\ufffd]")
_TAG_RE = re.compile(r"<[a-zA-Z!/?]")
_FIRST_ELEMENT_RE = re.compile(r"<([a-zA-Z][\w:.-]*)")
# Root elements of XML documents a fetcher may hand over instead of a page.
_XML_ROOTS = frozenset(("rss", "feed", "rdf:rdf", "urlset", "sitemapindex", "opml", "svg"))

_BODY_TAG_RE = re.compile(r"<[bB][oO][dD][yY][\s>]")
_HTML_TAG_RE = re.compile(r"<html[\s>]", re.IGNORECASE)
_WS_RE = re.compile(r"\s+")
_MOJIBAKE_RE = re.compile(
    "[ÃÂâ][\x80-\xbf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013-\u203a\u20ac\u2122]"
)


def _looks_binary(head: str) -> bool:
    sample = head[:4096]
    return len(_CONTROL_RE.findall(sample)) > max(8, len(sample) // 50)


def _not_html_reason(html: str) -> str | None:
    head = html[:4096].lstrip("\ufeff \t\r\n")
    if not head:
        return "empty document"
    if _looks_binary(head):
        return "not HTML"
    if head[0] in "{[":
        return "not HTML"
    first = _FIRST_ELEMENT_RE.search(head)
    if first is not None and first.group(1).lower() in _XML_ROOTS:
        return "not HTML"
    if not _TAG_RE.search(html[:65536]):
        return "not HTML"
    return None


def _flatten(html: str) -> str:
    """The page's text with every run of tags turned into one paragraph break.

    The head (title, metas, JSON-LD) is kept as it is; scripts and styles in the body
    are dropped before their tags go.
    """
    match = _BODY_TAG_RE.search(html)
    start = match.start() if match else 0
    return html[:start] + "<body>" + tag_runs_replaced(html[start:], "<p>")


def _truncated(html: str) -> bool:
    """True when the page stops before its end: inside a tag, or without </body></html>."""
    tail = html[-2048:].rstrip()
    if tail.rfind("<") > tail.rfind(">"):
        return True
    lower = tail.lower()
    if "</html>" in lower or "</body>" in lower:
        return False
    return _BODY_TAG_RE.search(html) is not None or _HTML_TAG_RE.search(html[:4096]) is not None


def _repair_mojibake(text: str) -> str | None:
    """Undo UTF-8 that was decoded as Windows-1252/Latin-1; None when it does not fit."""
    out = bytearray()
    for ch in text:
        code = ord(ch)
        if code < 256:
            out.append(code)
            continue
        try:
            out += ch.encode("cp1252")
        except UnicodeEncodeError:
            return None
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        return None


# --- the stage ---------------------------------------------------------------------


def _ld_body_paragraphs(ld_body: str) -> list[str]:
    """Paragraphs of a JSON-LD articleBody, which may be plain text or HTML."""
    if "<" in ld_body:
        tree = LexborHTMLParser(ld_body)
        root = tree.body or tree.root
        return render(root)[0] if root is not None else []
    return [_WS_RE.sub(" ", line).strip() for line in ld_body.splitlines() if line.strip()]


def extract_article(html: str, url: str | None = None) -> Article:
    """Extract title, body text and metadata from one HTML page; never raises on bad input.

    The body comes from the page's markup; when that yields less than half of what the
    page's JSON-LD ``articleBody`` holds (pages rendered by script), the articleBody is
    used instead.  Should extraction itself fail (a bug, or input nothing here foresaw),
    the error is logged and the Article says "extraction failed" rather than stopping
    the poll of a whole source.
    """
    try:
        return _extract(html, url)
    except Exception as exc:  # one page must never stop the poll of a source
        logger.exception("article extraction failed url=%s", url)
        return Article(None, "", None, None, None, f"extraction failed: {type(exc).__name__}")


def _extract(html: str, url: str | None) -> Article:
    if isinstance(html, bytes | bytearray):
        html = bytes(html).decode("utf-8", errors="replace")
    elif not isinstance(html, str):
        return Article(None, "", None, None, None, "not HTML")
    bad = _not_html_reason(html)
    if bad is not None:
        return Article(None, "", date_from_url(url), None, None, bad)

    reasons: list[str] = []
    if _truncated(html):
        reasons.append("truncated page")
    if not _BODY_TAG_RE.search(html):
        reasons.append("no <body> element")
    if too_deep(html):
        html = _flatten(html)
        reasons.append("markup too deeply nested or too large; layout ignored")

    tree = LexborHTMLParser(html)
    meta = read_metadata(tree, url)
    title = meta.title
    body = extract_body(tree, html, title)
    text = body.text
    if meta.ld_body and len(text) < len(meta.ld_body) // 2:
        from_ld = "\n\n".join(_ld_body_paragraphs(meta.ld_body))
        if len(from_ld) > 2 * len(text):
            text = from_ld
    if not text:
        reasons.insert(0, "no article found")
    elif body.cut:
        reasons.append("article text cut at its size limit")
    if _MOJIBAKE_RE.search(text[:20000]) or (title and _MOJIBAKE_RE.search(title)):
        repaired = _repair_mojibake(text)
        if repaired is not None:
            text = repaired
            if title:
                title = _repair_mojibake(title) or title
            reasons.append("mis-decoded charset repaired")
        else:
            reasons.append("mis-decoded charset (mojibake)")
    return Article(  # (no control characters: see ``controls``)
        title=without_controls(title) if title else title,
        text=without_controls(text),
        published_at=meta.published_at,
        canonical_url=meta.canonical_url,
        language=meta.language,
        reason="; ".join(reasons) or None,
    )
