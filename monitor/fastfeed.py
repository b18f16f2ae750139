"""Parse stage, fast path: well-formed RSS 0.9x/2.0, RSS 1.0 (RDF) and Atom 1.0.

``parse_fast`` reads the document with the standard library's expat-based
ElementTree and replays, element by element, what feedparser's strict parser does
with the elements ``monitor.feeds`` reads (item ids, links, titles, summaries,
content, dates, languages; the feed's title, language, ttl and sy:update*).  The
``ParsedFeed`` is then built by the same code as for feedparser
(``monitor.feeds.feed_from_entries``).  feedparser's own small helpers do the parts
that must match it exactly: URI joining, the HTML rewrite of markup that is not
plain (``monitor.fastfeed_text``) and dates the fast path does not know
(``monitor.fastfeed_dates``).

It returns None, and the caller uses feedparser, whenever it is not certain of
feedparser's result: the body is not well-formed XML (HTML entities such as
``&nbsp;``, which expat rejects, included), has a DOCTYPE, other byte-order marks,
charsets that disagree (HTTP header, XML declaration, BOM) or do not decode; an
unknown root element or RSS 1.0/Atom version; ``xml:base``; markup inside a text
element (Atom ``type="xhtml"``); content types other than text and HTML; elements
that feedparser gives meaning to and this module does not replay (``media:title``,
``itunes:summary`` in the channel, ``<source>`` with children, GeoRSS ...); and
elements of unknown namespaces whose prefix it cannot tell.  Must not: fetch, log,
store, or ever return a value that differs from feedparser's.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from monitor import fastfeed_chunks, feeds
from monitor.fastfeed_dates import AVAILABLE as _DATES_AVAILABLE
from monitor.fastfeed_dates import parse_date
from monitor.fastfeed_decode import decode
from monitor.fastfeed_text import AVAILABLE as _TEXT_AVAILABLE
from monitor.fastfeed_text import (
    END_ONLY_KEYS,
    HANDLER_KEYS,
    HTML_TYPES,
    NAMESPACES,
    Values,
    document_base,
    link_text,
    word_set,
)
from monitor.models import ParsedFeed

AVAILABLE = _DATES_AVAILABLE and _TEXT_AVAILABLE
_ATOM, _RSS10 = "http://www.w3.org/2005/atom", "http://purl.org/rss/1.0/"
_RSS090 = "http://my.netscape.com/rdf/simple/0.9/"
_STD_PREFIXES = frozenset(p.lower() for p in NAMESPACES.values() if p)
_DECL = re.compile(r"""xmlns(?::([^\s=/>]++))?+\s*+=\s*+(?:"([^"]*+)"|'([^']*+)')""")
# Elements with a feedparser handler that never touch the values read here.
_INERT = word_set(
    "category dc_subject keywords tags author dc_author dc_creator itunes_author "
    "managingeditor contributor dc_contributor name email uri url homepage "
    "itunes_name itunes_email itunes_owner webmaster dc_publisher enclosure generator "
    "cloud rights copyright dc_rights subtitle tagline itunes_subtitle info "
    "feedburner_browserfriendly expirationdate width height newlocation "
    "media_thumbnail media_content media_credit media_rating media_restriction "
    "media_license media_keywords media_category media_player media_group "
    "itunes_image itunes_link itunes_category itunes_keywords itunes_block "
    "itunes_explicit"
)
# Channel-level elements that are harmless there (feedparser stores them on the feed).
_FEED_INERT = word_set(
    "link description dc_description id guid pubdate published issued dcterms_issued "
    "updated modified lastbuilddate dc_date dcterms_modified created dcterms_created"
)
# Generic keys that would land on values read here (FeedParserDict aliases included)
# or replace the lists feedparser appends to.
_SENSITIVE = word_set(
    "published_parsed updated_parsed created_parsed date_parsed modified_parsed "
    "issued_parsed ttl sy_updateperiod sy_updatefrequency links authors contributors"
)
_IMAGE_CHILDREN = {
    "image": word_set("title link description url width height"),
    "textinput": word_set("title link description name"),
}
_DATES = {
    **dict.fromkeys(("pubdate", "published", "issued", "dcterms_issued"), "published"),
    **dict.fromkeys(
        ("updated", "modified", "lastbuilddate", "dc_date", "dcterms_modified"), "updated"
    ),
    **dict.fromkeys(("created", "dcterms_created"), "created"),
}


class _Fallback(Exception):
    """The document needs feedparser."""


def parse_fast(
    body: bytes, url: str, headers: Mapping[str, str] | None = None, unchanged: str | None = None
) -> ParsedFeed | None:
    """The feed as ``monitor.feeds.parse_feed_reference`` reads it, or None (use that).

    ``unchanged``: the entry hashes of the source's last poll (``fastfeed_chunks``);
    entries with one of them are left out of ``entries`` (only their dates are kept,
    in ``skipped_dates``). The result's ``entry_hashes`` are this document's.
    """
    text = decode(body, headers) if AVAILABLE else None
    base = document_base(url) if text is not None else None
    if text is None or base is None:
        return None
    try:
        decls = [(p, a or b) for p, a, b in _DECL.findall(text)]
        chunks = fastfeed_chunks.entry_chunks(text, decls)
        # The entries the last poll read are parsed without their content: the reader
        # skips them (if the context is still the same; else the whole text is parsed).
        stored_context, known = fastfeed_chunks.read_stored(unchanged)
        source = text
        if chunks is not None and known:
            source = fastfeed_chunks.without_children(text, *chunks, known.keys())
        root = ET.fromstring(source)  # noqa: S314 - no DOCTYPE (checked), so no entity expansion
        hashes = None
        skip: fastfeed_chunks.Unchanged = {}
        if chunks is not None:
            hashes = (fastfeed_chunks.context_hash(base, root.tag, decls), chunks[0])
            skip = known if hashes[0] == stored_context else {}
        if source is not text and not skip:  # another context: read every entry
            source, root = text, ET.fromstring(text)  # noqa: S314 - as above
        reader = _Reader(base, root, decls, hashes[1] if hashes else None, skip)
        reader.read(root)
        if hashes is not None and len(reader.read_entries) != len(hashes[1]):
            hashes = None  # the text search and the reader disagree: no skipping
            if reader.skipped_dates or source is not text:
                root = root if source is text else ET.fromstring(text)  # noqa: S314
                reader = _Reader(base, root, decls)
                reader.read(root)
    except (ET.ParseError, _Fallback, RecursionError):
        return None
    return feeds.feed_from_entries(
        reader.feed, reader.entries, url,
        skipped_dates=tuple(reader.skipped_dates),
        entry_hashes=fastfeed_chunks.serialise(*hashes, reader.read_entries) if hashes else None,
    )  # fmt: skip


def _namespace(uri: str) -> str:
    lower = uri.lower()
    return "http://backend.userland.com/rss" if "backend.userland.com/rss" in lower else lower


def _content_kind(attrs: Mapping[str, str], default: str) -> str:
    if "mode" in attrs:
        raise _Fallback
    kind = attrs.get("type", default).lower()
    kind = {"text": "text/plain", "plain": "text/plain", "html": "text/html"}.get(kind, kind)
    if kind not in ("text/plain", "text/html"):
        raise _Fallback  # xhtml markup, base64 or other media types
    return kind


class _Reader:
    """feedparser's state machine, for the elements and states that matter here."""

    def __init__(
        self,
        base: str,
        root: ET.Element,
        decls: list[tuple[str, str]],
        chunks: list[str] | None = None,
        unchanged: fastfeed_chunks.Unchanged | None = None,
    ) -> None:
        # decls: every xmlns declaration (prefix or "", URI) in the text.  feedparser takes
        # its version from the first RSS 1.0/0.90/Atom one and the handler names of
        # unknown namespaces from their prefixes; where that could matter, fall back.
        self.decls = decls
        self.known = {p for p, uri in decls if p and _namespace(uri) in NAMESPACES}
        uris = {_namespace(uri) for _, uri in decls}
        rss090 = any(not p and _namespace(uri) == _RSS090 for p, uri in decls)
        root_ns = _namespace(root.tag[1:].partition("}")[0]) if root.tag[0] == "{" else ""
        self.atom = root_ns == _ATOM
        if self.atom and (_RSS10 in uris or rss090):
            raise _Fallback  # the RSS 1.0 namespace may make feedparser read it as RSS
        if root_ns.endswith("rdf-syntax-ns#") and (_ATOM in uris or not (_RSS10 in uris or rss090)):
            raise _Fallback  # no RSS 1.0 version, or possibly an Atom one
        for prefix, uri in decls:  # a standard prefix bound to another namespace
            std = NAMESPACES.get(_namespace(uri))
            if prefix in _STD_PREFIXES and std != prefix and (std is not None or prefix == "rdf"):
                raise _Fallback
        self.values = Values(base, self.atom)
        self.keys: dict[str, str] = {}
        self.feed: dict[str, Any] = {}
        self.entries: list[dict[str, Any]] = []
        self.infeed = self.has_content = False
        self.title_depth = -1
        # entries the last poll read, by their text's hash (``fastfeed_chunks``)
        self.chunks, self.unchanged = chunks, unchanged or {}
        # every entry met, in order: its date, and whether it left a title behind
        self.read_entries: list[tuple[datetime | None, bool]] = []
        self.skipped_dates: list[datetime | None] = []

    def key(self, elem: ET.Element) -> str:
        """feedparser's name for an element (``title``, ``dc_date``, ``content_encoded``)."""
        if elem.attrib and any(k.rpartition("}")[2].lower() == "base" for k in elem.attrib):
            raise _Fallback  # xml:base (feedparser also honours a plain base attribute)
        tag = elem.tag
        key = self.keys.get(tag)
        if key is None:
            uri, _, local = tag[1:].rpartition("}") if tag[0] == "{" else ("", "", tag)
            prefix = NAMESPACES.get(_namespace(uri)) if uri else ""
            if prefix is None:
                prefix = self._document_prefix(uri)
            key = self.keys[tag] = f"{prefix}_{local}".lower() if prefix else local.lower()
        return key

    def _document_prefix(self, uri: str) -> str:
        prefixes = {p for p, u in self.decls if u == uri}
        prefix = prefixes.pop() if len(prefixes) == 1 else ""
        if (
            not prefix
            or prefix.lower() in self.known
            or any(p == prefix and u != uri for p, u in self.decls)
        ):
            raise _Fallback  # unknown default namespace, or a prefix that is not unique
        return prefix

    def attrs(self, elem: ET.Element) -> dict[str, str]:
        """feedparser's attribute names and values (``rel``/``type`` lower-cased)."""
        out: dict[str, str] = {}
        for name, value in elem.attrib.items():
            if name[0] == "{":
                uri, _, name = name[1:].partition("}")
                prefix = NAMESPACES.get(uri.lower())
                name = f"{prefix}:{name}" if prefix else name  # other namespaces: bare name
            name = name.lower()
            if name in out:
                raise _Fallback  # two attributes that feedparser gives the same name
            out[name] = value.lower() if name in ("rel", "type") else value
        return out

    def text(self, elem: ET.Element) -> str | None:
        if len(elem):
            raise _Fallback  # markup inside a text element
        return elem.text

    def read(self, root: ET.Element) -> None:
        key = self.key(root)
        if key == "feed" and self.atom:
            self.infeed = True
        elif key not in ("rss", "rdf_rdf"):
            raise _Fallback
        attrs = self.attrs(root)
        lang = attrs.get("xml:lang", attrs.get("lang"))
        if lang and key != "rdf_rdf":  # feedparser compares with "rdf:RDF": never equal
            self.feed["language"] = lang.replace("_", "-")
        for child in root:
            self.element(child, 2, at_root=True)

    def element(self, elem: ET.Element, depth: int, at_root: bool = False) -> None:
        key, finish = self.key(elem), self.values.finish
        if key == "channel" and at_root:
            if {"lastmod", "href"} & self.attrs(elem).keys():
                raise _Fallback
            self.infeed = True
            for child in elem:
                self.element(child, depth + 1)
            self.infeed = False
        elif key in ("item", "entry"):
            index, chunks = len(self.read_entries), self.chunks
            if chunks is not None and index < len(chunks) and chunks[index] in self.unchanged:
                date, titled = self.unchanged[chunks[index]]
                self.skipped_dates.append(date)
                # the state reading it would leave: entry() ends with a title at depth + 1
                # (a later channel <title> at a lower depth then counts) or with none
                self.title_depth = depth + 1 if titled else -1
                self.has_content = False
            else:
                date = feeds.published_at(self.entry(elem, depth))
                titled = self.title_depth != -1
            self.read_entries.append((date, titled))
        elif key in ("title", "dc_title"):
            kind = _content_kind(self.attrs(elem), "text/plain")
            self.title(finish(self.text(elem), "title", kind), depth, self.feed)
        elif key in ("language", "dc_language") and not elem.attrib:
            value = finish(self.text(elem), "language")
            if self.infeed:
                self.feed["language"] = value
        elif key in ("ttl", "sy_updateperiod", "sy_updatefrequency") and not elem.attrib:
            value = finish(self.text(elem), key)
            if self.infeed:
                self.feed[key] = value
        elif key in _IMAGE_CHILDREN:
            self.title_depth = -1
            for child in elem:
                child_key = self.key(child)
                if child_key not in _IMAGE_CHILDREN[key]:
                    raise _Fallback  # feedparser would leave the image and store on the feed
                if child_key == "title":
                    value = finish(self.text(child), "title", "text/plain")
                    self.title(value, depth + 1, None)
                elif len(child):
                    raise _Fallback
        else:
            self.inert(elem, key, _FEED_INERT)

    def inert(self, elem: ET.Element, key: str, allowed: frozenset[str] = frozenset()) -> None:
        """Elements that may be skipped: no effect on the values read here."""
        if (
            key in _SENSITIVE
            or key.endswith("_detail")
            or (key in HANDLER_KEYS and key not in _INERT | allowed)
            or (key in END_ONLY_KEYS and elem.attrib)  # feedparser would fail on these
        ):
            raise _Fallback
        for child in elem:
            self.inert(child, self.key(child))

    def title(self, value: str, depth: int, target: dict[str, Any] | None) -> None:
        if (
            not -1 < self.title_depth <= depth
            and target is not None
            and (target is not self.feed or self.infeed)
        ):
            target["title"] = value
        if value:
            self.title_depth = depth  # a later title at this depth or deeper is ignored

    def entry(self, elem: ET.Element, depth: int) -> dict[str, Any]:
        attrs = self.attrs(elem)
        if {"lastmod", "href"} & attrs.keys():
            raise _Fallback
        entry: dict[str, Any] = {}
        self.entries.append(entry)
        self.title_depth = -1
        if attrs.get("rdf:about"):
            entry["id"] = attrs["rdf:about"]
        for child in elem:
            self.field(entry, child, self.key(child), depth + 1)
        self.has_content = False
        return entry

    def field(self, entry: dict[str, Any], elem: ET.Element, key: str, depth: int) -> None:
        finish, attrs = self.values.finish, self.attrs(elem)
        if key in ("title", "dc_title"):
            kind = _content_kind(attrs, "text/plain")
            self.title(finish(self.text(elem), "title", kind), depth, entry)
        elif key == "link":
            self.link(entry, elem, attrs)
        elif key in ("description", "dc_description", "summary", "itunes_summary"):
            if "summary" in entry and not self.has_content:
                self.content(entry, elem, attrs, "text/plain")  # feedparser's rule
            else:
                name = "description" if key.endswith("description") else "summary"
                kind = _content_kind(attrs, "text/html" if name == "description" else "text/plain")
                entry["summary"] = finish(self.text(elem), name, kind)
        elif key in ("content", "content_encoded"):
            self.content(entry, elem, attrs, "text/html" if key != "content" else "text/plain")
        elif key in ("guid", "id"):
            permalink = attrs.get("ispermalink", "true") == "true"
            entry["id"] = value = finish(self.text(elem), "id", None, permalink)
            if permalink:
                entry.setdefault("link", value)
        elif key in _DATES:
            value = finish(self.text(elem), _DATES[key])
            entry[f"{_DATES[key]}_parsed"] = parse_date(value)
        elif key in ("language", "dc_language"):
            entry["language"] = finish(self.text(elem), "language")
        elif key == "source" and not len(elem):
            self.title_depth = -1
        else:
            self.inert(elem, key)

    def link(self, entry: dict[str, Any], elem: ET.Element, attrs: dict[str, str]) -> None:
        if "url" in attrs or "uri" in attrs:
            raise _Fallback
        if "href" not in attrs:
            entry["link"] = link_text(self.values.finish(self.text(elem), "link"))
            return
        for child in elem:
            self.inert(child, self.key(child))
        rel = attrs.get("rel", "alternate")
        kind = attrs.get("type", "application/atom+xml" if rel == "self" else "text/html")
        kind = {"html": "text/html", "xhtml": "application/xhtml+xml"}.get(kind, kind)
        if rel == "alternate" and kind in HTML_TYPES:
            entry["link"] = self.values.join(attrs["href"])

    def content(
        self, entry: dict[str, Any], elem: ET.Element, attrs: dict[str, str], default: str
    ) -> None:
        self.has_content = True
        kind = _content_kind(attrs, default)
        value = self.values.finish(self.text(elem), "content", kind)
        entry.setdefault("content", []).append({"value": value})
        entry.setdefault("summary", value)
