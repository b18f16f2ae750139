"""Pages stage: HTML listing pages → article links; HTML → feed links; bytes → text.

* ``decode_html``: the right text when the HTTP header, a ``<meta charset>`` and
  the bytes disagree (a BOM wins; valid UTF-8 beats a declared single-byte charset).
* ``discover_feeds``: ``<link rel="alternate">`` to RSS, Atom or JSON Feed.
* ``find_links``: article links of a listing page, by a CSS selector or, without
  one, by how article links look (same site, a date or slug or id in the path,
  a headline-like text, outside navigation and footers); titles and dates are taken
  from the listing when present.
* ``extract_article`` (from ``extract``): an article page → its text and metadata.

Pure functions: bytes and strings in, values out; no network, no storage.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from monitor.charsets import is_foreign
from monitor.extract import Article, extract_article
from monitor.extract_meta import date_from_url, parse_date
from monitor.normalize import canonical_url, collapse_space, resolve, short_title

__all__ = ["Article", "PageLink", "decode_html", "discover_feeds", "extract_article", "find_links"]

FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json",
              "application/json")  # fmt: skip
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", re.I)
_SINGLE_BYTE = {"iso-8859-1", "latin-1", "latin1", "us-ascii", "ascii", "windows-1252", "cp1252"}
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))  # fmt: skip

# Paths that are sections, not articles.
_NOT_ARTICLE = re.compile(
    r"/(?:tag|tags|category|categories|topic|topics|section|author|authors|page|search|"
    r"login|signin|register|subscribe|account|about|contact|privacy|terms|feed|rss|"
    r"newsletter|shop|donate|jobs|careers|advert\w*|cookie\w*|help|faq)(?:/|$)",
    re.I,
)
_FILE = re.compile(r"\.(?:jpe?g|png|gif|webp|svg|pdf|zip|mp3|mp4|css|js|xml|json)$", re.I)
_DATE_IN_PATH = re.compile(r"/(?:19|20)\d{2}[/-]\d{1,2}(?:[/-]\d{1,2})?(?:/|-|$)")
# a slug as the last segment (one trailing slash allowed), matched on that segment
# alone: searched over a whole path, each "/" started a match that backtracked
_SLUG = re.compile(r"[a-z0-9\u00c0-\u024f]+(?:-[a-z0-9\u00c0-\u024f]+){2,}[^/]*", re.I)
_NUMERIC_ID = re.compile(r"(?:^|[/_-])\d{5,}(?:[/_.-]|$)")
_CHROME = re.compile(
    r"\b(?:nav|navbar|menu|footer|header|breadcrumb|sidebar|share|social|"
    r"cookie|pagination|pager|related|popular|trending|newsletter)\b",
    re.I,
)
_CHROME_TAGS = {"nav", "footer", "header", "aside"}


@dataclass(frozen=True, slots=True)
class PageLink:
    url: str
    title: str
    published_at: datetime | None


def decode_html(body: bytes, content_type: str | None = None) -> str:
    """Decode an HTML page: BOM, then UTF-8 if valid, then the declared charset."""
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return body.decode(encoding, errors="replace")
    declared = None
    match = _HEADER_CHARSET.search(content_type or "")
    if match:
        declared = match.group(1).lower()
    else:
        meta = _META_CHARSET.search(body[:4096])
        if meta:
            declared = meta.group(1).decode("ascii", "replace").lower()
    if declared is not None and is_foreign(declared):
        declared = None  # "idna", "punycode": no charset at all
    if declared is None or declared in _SINGLE_BYTE or declared in ("utf-8", "utf8"):
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            pass
        if declared in (None, "utf-8", "utf8"):
            declared = "windows-1252"
    if declared in ("iso-8859-1", "latin-1", "latin1", "us-ascii", "ascii"):
        declared = "windows-1252"  # what browsers do: a superset with curly quotes and €
    try:
        return body.decode(declared or "windows-1252", errors="replace")
    except LookupError:
        return body.decode("windows-1252", errors="replace")


_HTML_LANG = re.compile(r"""<html[^>]*?\blang\s*=\s*["']?([A-Za-z]{2,3})""", re.I)


def page_language(html: str) -> str | None:
    """The primary language subtag of ``<html lang>``, lower-case."""
    match = _HTML_LANG.search(html[:4096])
    return match.group(1).lower() if match else None


def looks_like_html(body: bytes) -> bool:
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head or b"<head" in head


def discover_feeds(html: str, base_url: str) -> list[str]:
    """Feed URLs the page advertises with ``<link rel="alternate">``, in page order."""
    tree = LexborHTMLParser(html)
    found: list[str] = []
    for link in tree.css("link[rel][href]"):
        rel = (link.attributes.get("rel") or "").lower().split()
        kind = (link.attributes.get("type") or "").lower().split(";")[0].strip()
        href = (link.attributes.get("href") or "").strip()
        if "alternate" in rel and kind in FEED_TYPES and href:
            url = resolve(base_url, href)
            if url and url not in found and "comments" not in url.lower():
                found.append(url)
    return found


def find_links(html: str, base_url: str, selector: str | None = None) -> list[PageLink]:
    """Article links of a listing page (see the module docstring)."""
    tree = LexborHTMLParser(html)
    links: list[PageLink] = []
    seen: set[str] = set()
    nodes = tree.css(selector) if selector else tree.css("a[href]")
    page = canonical_url(base_url)
    for node in nodes:
        anchor = node if node.tag == "a" else node.css_first("a[href]")
        if anchor is None:
            continue
        href = (anchor.attributes.get("href") or "").strip()
        if not href or href.startswith(("#", "javascript:", "mailto:", "tel:")):
            continue
        url = resolve(base_url, href)
        if url is None or urlsplit(url).scheme not in ("http", "https"):
            continue
        key = canonical_url(url)
        title = _link_title(anchor)
        if key in seen or key == page:
            continue
        if selector is None and not _looks_like_article(anchor, url, base_url, title):
            continue
        seen.add(key)
        links.append(PageLink(url=url, title=title, published_at=_listing_date(anchor, url)))
    return links


def _link_title(anchor: LexborNode) -> str:
    text = collapse_space(anchor.text(separator=" "))
    if not text:
        text = collapse_space(anchor.attributes.get("title") or "")
    if not text:
        image = anchor.css_first("img[alt]")
        text = collapse_space(image.attributes.get("alt") or "") if image else ""
    return short_title(text)


def _same_site(url: str, base_url: str) -> bool:
    host = (urlsplit(url).hostname or "").removeprefix("www.")
    base = (urlsplit(base_url).hostname or "").removeprefix("www.")
    return host == base or host.endswith("." + base) or base.endswith("." + host)


def _looks_like_article(anchor: LexborNode, url: str, base_url: str, title: str) -> bool:
    if not _same_site(url, base_url):
        return False
    path = urlsplit(url).path
    if _NOT_ARTICLE.search(path) or _FILE.search(path):
        return False
    depth = len([p for p in path.split("/") if p])
    last = (path[:-1] if path.endswith("/") else path).rpartition("/")[2]
    shaped = bool(_DATE_IN_PATH.search(path) or _SLUG.fullmatch(last) or _NUMERIC_ID.search(path))
    if not shaped and depth < 2:
        return False
    words = len(title.split())
    if len(title) < 20 or words < 4:
        return False
    return not _in_chrome(anchor)


def _in_chrome(node: LexborNode) -> bool:
    current = node.parent
    for _ in range(12):
        if current is None or current.tag in ("body", "html", "main", "article"):
            return False
        if current.tag in _CHROME_TAGS:
            return True
        names = f"{current.attributes.get('class') or ''} {current.attributes.get('id') or ''}"
        if names.strip() and _CHROME.search(names.replace("-", " ").replace("_", " ")):
            return True
        current = current.parent
    return False


def _holds_links(node: LexborNode, more_than: int) -> bool:
    """Whether ``node`` (itself included) holds more than ``more_than`` links.

    It stops counting there: counting every link of the list each link climbs into
    made a flat listing of N links cost N² (50,000 links: minutes).
    """
    count = 0
    for inner in node.traverse():
        if inner.tag == "a" and "href" in inner.attributes:
            count += 1
            if count > more_than:
                return True
    return False


def _listing_date(anchor: LexborNode, url: str) -> datetime | None:
    """A <time> in the link's own card (up to three levels up), else a date in the URL."""
    current: LexborNode | None = anchor
    for _ in range(4):
        if current is None or _holds_links(current, more_than=3):
            break  # climbed out of this link's card into the whole list
        time_node = current.css_first("time")
        if time_node is not None:
            value = time_node.attributes.get("datetime") or time_node.text()
            parsed = parse_date(value or "")
            if parsed is not None:
                return parsed
        current = current.parent
    return date_from_url(url)
