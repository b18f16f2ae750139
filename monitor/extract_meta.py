"""Extract stage, metadata half: title, publication date, canonical URL and language.

Reads a parsed page's head and markup: JSON-LD (``@graph`` and lists included),
Open Graph and other common metas, ``<link rel=canonical>``, ``<time>``, ``<h1>``,
``<title>``, ``<html lang>``, and the URL itself for a date.  It must not touch the
network, must not use any HTML library but selectolax's Lexbor backend, and must not
raise on malformed values: a date or JSON-LD block that does not parse is skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser

from monitor.urls import resolve


@dataclass(frozen=True, slots=True)
class Metadata:
    """What a page says about itself."""

    title: str | None
    published_at: datetime | None  # timezone-aware UTC
    canonical_url: str | None
    language: str | None  # primary subtag, lower-case
    ld_body: str | None  # the longest JSON-LD articleBody, as published


_ISO_RE = re.compile(
    r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"
    r"(?:[T\s]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?\s*(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?)?",
    re.IGNORECASE,
)
_URL_DATE_RES = (
    re.compile(r"/((?:19|20)\d{2})/(\d{1,2})/(\d{1,2})(?:/|$)"),
    re.compile(r"/((?:19|20)\d{2})-(\d{2})-(\d{2})(?:[-/_.]|$)"),
    re.compile(r"[/_-]((?:19|20)\d{2})(\d{2})(\d{2})(?:[-/_.]|$)"),
)
_PUBLISHED_METAS = (
    "article:published_time", "og:article:published_time", "datepublished",
    "article.published", "published_time", "publishdate", "publish-date", "pubdate",
    "publication_date", "sailthru.date", "parsely-pub-date", "dc.date.issued",
    "dcterms.issued", "dc.date", "dcterms.date", "dcterms.created", "date",
)  # fmt: skip
# Other metas whose name says "published" or "date", but not "modified" or "expires".
_DATE_META_RE = re.compile(r"publi|date|created")
_NOT_PUBLISHED_RE = re.compile(r"modif|updat|expir|revis|valid")
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
            ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
            ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}  # fmt: skip
_MONTH = "(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_HUMAN_DATE_RE = re.compile(
    rf"\b(?:(\d{{1,2}})(?:st|nd|rd|th)?\s+{_MONTH},?\s+(\d{{4}})"
    rf"|{_MONTH}\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}}))"
    r"(?:,?\s+(?:at\s+)?(\d{1,2})[:.](\d{2})\s*([ap])?\.?m?\b)?",
    re.IGNORECASE,
)
_ARTICLE_TYPES = re.compile(r"article|posting|report|news|blog", re.IGNORECASE)
_TITLE_SEPARATORS = re.compile(r"\s+(?:[|\-–—:·»/]|::|//)\s+")
_WS_RE = re.compile(r"\s+")
_ALNUM_RE = re.compile(r"[\W_]+")
_LANG_RE = re.compile(r"^\s*([A-Za-z]{2,3})(?:[-_]|\s*$)")


def _to_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_date(value: str) -> datetime | None:
    """A timezone-aware UTC datetime from an ISO 8601 or RFC 2822 string, else None."""
    value = value.strip()
    if not value:
        return None
    match = _ISO_RE.search(value[:64])
    if match:
        year, month, day, hour, minute, second, zone = match.groups()
        try:
            parsed = datetime(
                int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)
            )
        except ValueError:
            return None
        tz = UTC
        if zone and zone.upper() not in ("Z", "UTC", "GMT"):
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
            if offset >= timedelta(hours=24):
                return None
            tz = timezone(sign * offset)
        return _to_utc(parsed.replace(tzinfo=tz)) if 1970 <= parsed.year <= 2200 else None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return _to_utc(parsed) if 1970 <= parsed.year <= 2200 else None


def parse_human_date(value: str) -> datetime | None:
    """A date written out in English ("November 19, 2019, 9:02 AM", "19 Nov 2019"), as UTC."""
    match = _HUMAN_DATE_RE.search(value[:200])
    if match is None:
        return None
    day1, month1, year1, month2, day2, year2, hour, minute, half = match.groups()
    month = _MONTHS[(month1 or month2).lower()]
    day, year = int(day1 or day2), int(year1 or year2)
    hours = int(hour or 0) % 12 + 12 if half and half.lower() == "p" else int(hour or 0)
    if half and half.lower() == "a" and hours == 12:
        hours = 0
    try:
        return datetime(year, month, day, hours, int(minute or 0), tzinfo=UTC)
    except ValueError:
        return None


def date_from_url(url: str | None) -> datetime | None:
    """The date in a URL path such as /2023/04/27/ or /2023-04-27-slug, else None."""
    if not url:
        return None
    path = urlsplit(url).path
    for pattern in _URL_DATE_RES:
        match = pattern.search(path)
        if match:
            year, month, day = (int(g) for g in match.groups())
            try:
                return datetime(year, month, day, tzinfo=UTC)
            except ValueError:
                continue
    return None


def _json_ld_objects(tree: LexborHTMLParser) -> Iterator[dict[str, Any]]:
    """Every JSON object in the page's JSON-LD scripts, @graph and lists flattened."""
    for script in tree.css('script[type="application/ld+json"]'):
        raw = script.text().strip()
        if not raw:
            continue
        try:
            data = json.loads(raw, strict=False)
        except (ValueError, RecursionError):  # not JSON, a 5,000-digit number, too deep
            continue
        stack: list[Any] = [data]
        seen = 0
        while stack and seen < 1000:
            item = stack.pop()
            seen += 1
            if isinstance(item, list):
                stack.extend(reversed(item))
            elif isinstance(item, dict):
                yield item
                graph = item.get("@graph")
                if isinstance(graph, list | dict):
                    stack.append(graph)
                main = item.get("mainEntity")
                if isinstance(main, list | dict):
                    stack.append(main)


def _is_article_type(obj: dict[str, Any]) -> bool:
    kind = obj.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return any(isinstance(k, str) and _ARTICLE_TYPES.search(k) for k in kinds)


def _first_str(value: object) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, list) and value:
        return _first_str(value[0])
    return None


@dataclass(frozen=True, slots=True)
class _Meta:
    values: dict[str, str]  # meta content by lower-case property/name/itemprop
    ld_headline: str | None
    ld_published: str | None
    ld_language: str | None
    ld_body: str | None


def _read_meta(tree: LexborHTMLParser) -> _Meta:
    values: dict[str, str] = {}
    for node in tree.css("meta[content]"):
        attrs = node.attributes
        content = (attrs.get("content") or "").strip()
        if not content:
            continue
        for key in ("property", "name", "itemprop", "http-equiv"):
            name = attrs.get(key)
            if name:
                values.setdefault(name.strip().lower(), content)
    headline = published = language = body = None
    for obj in sorted(_json_ld_objects(tree), key=lambda o: not _is_article_type(o)):
        headline = headline or _first_str(obj.get("headline"))
        published = published or _first_str(obj.get("datePublished"))
        language = language or _first_str(obj.get("inLanguage"))
        text = obj.get("articleBody")
        if isinstance(text, str) and len(text) > len(body or ""):
            body = text
    return _Meta(values, headline, published, language, body)


def _date_candidates(tree: LexborHTMLParser, meta: _Meta) -> Iterator[str]:
    """Machine-readable publication dates, best sources first (looked up lazily)."""
    if meta.ld_published:
        yield meta.ld_published
    yield from (meta.values[key] for key in _PUBLISHED_METAS if key in meta.values)
    for selector in ("[itemprop=datePublished]", "time[pubdate]", "time[datetime]"):
        for node in tree.css(selector):
            attrs = node.attributes
            value = attrs.get("datetime") or attrs.get("content")
            if value:
                yield value
                break
    for key, value in meta.values.items():
        if _DATE_META_RE.search(key) and not _NOT_PUBLISHED_RE.search(key):
            yield value


def _published_at(tree: LexborHTMLParser, meta: _Meta, url: str | None) -> datetime | None:
    """The first date found: JSON-LD, metas, <time datetime>, the URL, <time> text."""
    for value in _date_candidates(tree, meta):
        parsed = parse_date(value)
        if parsed is not None:
            return parsed
    from_url = date_from_url(url)
    if from_url is not None:
        return from_url
    for node in tree.css("[itemprop=datePublished], time"):
        parsed = parse_human_date(node.text())
        if parsed is not None:
            return parsed
    return None


def _site_names(site_name: str | None, url: str | None) -> set[str]:
    """Lower-case, alphanumeric-only names a site goes by: og:site_name and host labels."""
    names = {_ALNUM_RE.sub("", site_name.lower())} if site_name else set()
    host = urlsplit(url).hostname if url else None
    if host:
        labels = host.lower().split(".")[:-1]  # the last label is the TLD
        names.update(label for label in labels if len(label) >= 3 and label != "www")
    names.discard("")
    return names


def clean_title(title: str, site_names: Collection[str] = (), loose: bool = True) -> str:
    """Strip " | Site name" style prefixes and suffixes from a title.

    A segment goes when it names the site (``site_names``); with ``loose`` (for the
    <title> element) so does a short trailing segment after a separator when at least
    three words remain, and a short one after a pipe always.
    """
    title = _WS_RE.sub(" ", title).strip()
    parts = _TITLE_SEPARATORS.split(title)
    if len(parts) < 2:
        return title
    seps = [sep.strip() for sep in _TITLE_SEPARATORS.findall(title)]

    def is_site(part: str) -> bool:
        key = _ALNUM_RE.sub("", part.lower())
        return len(key) >= 3 and any(
            key in name or (name in key and 2 * len(name) >= len(key)) for name in site_names
        )

    words = [len(part.split()) for part in parts]  # counted once: a title may have 10**5
    rest_words = sum(words)
    while len(parts) > 1:
        last, sep = parts[-1], seps[len(parts) - 2]
        short = words[-1] <= 4
        rest_words -= words[-1]  # the words before the last part
        if is_site(last) or (short and (sep == "|" or (loose and rest_words >= 3))):
            parts.pop()
            words.pop()
        else:
            break
    first = 0
    while len(parts) - first > 1 and is_site(parts[first]):
        first += 1
    parts, seps = parts[first:], seps[first:]
    result = parts[0]
    for sep, part in zip(seps, parts[1:], strict=False):
        result += f" {sep} {part}"
    return result


def _title(tree: LexborHTMLParser, meta: _Meta, url: str | None) -> str | None:
    names = _site_names(meta.values.get("og:site_name"), url)
    for raw in (meta.values.get("og:title"), meta.ld_headline, meta.values.get("twitter:title")):
        if raw:
            return clean_title(raw, names, loose=False) or None
    h1 = tree.css_first("h1")
    if h1 is not None:
        text = _WS_RE.sub(" ", h1.text()).strip()
        if text:
            return text
    node = tree.css_first("title")
    if node is not None:
        return clean_title(node.text(), names) or None
    return None


def _canonical(tree: LexborHTMLParser, meta: _Meta, url: str | None) -> str | None:
    href = None
    node = tree.css_first("link[rel~=canonical][href]")
    if node is not None:
        href = (node.attributes.get("href") or "").strip() or None
    href = href or meta.values.get("og:url")
    if not href:
        return None
    resolved = resolve(url, href) if url else href
    try:
        return resolved if resolved and urlsplit(resolved).scheme in ("http", "https") else None
    except ValueError:  # an href that is no URL ("http://[::1")
        return None


def _language(tree: LexborHTMLParser, meta: _Meta) -> str | None:
    html = tree.css_first("html")
    candidates = [
        html.attributes.get("lang") if html is not None else None,
        html.attributes.get("xml:lang") if html is not None else None,
        meta.values.get("content-language"),
        meta.values.get("og:locale"),
        meta.ld_language,
        meta.values.get("language"),
    ]
    for value in candidates:
        if value:
            match = _LANG_RE.match(value)
            if match:
                return match.group(1).lower()
    return None


def read_metadata(tree: LexborHTMLParser, url: str | None = None) -> Metadata:
    """Title, publication date, canonical URL and language of a parsed page."""
    meta = _read_meta(tree)
    return Metadata(
        title=_title(tree, meta, url),
        published_at=_published_at(tree, meta, url),
        canonical_url=_canonical(tree, meta, url),
        language=_language(tree, meta),
        ld_body=meta.ld_body,
    )
