"""Parse stage: a fetched body → ``ParsedFeed`` of normalised ``FeedItem`` values.

feedparser reads RSS 0.9x/1.0/2.0 and Atom; JSON Feed 1.0/1.1 is read here. Each
item is keyed by the feed's own id (GUID, Atom id), else by its canonical link.
``parse_feed`` first tries ``monitor.fastfeed`` (the same values, from the standard
library's expat parser, for well-formed feeds it is certain about) and falls back to
feedparser; ``parse_feed_reference`` always uses feedparser, the reference the fast
path is tested against.  Both build items with ``feed_from_entries``.
This module is pure: bytes in, values out; no network, no storage, no logging.
"""

from __future__ import annotations

import calendar
import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import feedparser

from monitor import fastfeed
from monitor.charsets import is_foreign, without_foreign_charset
from monitor.controls import without_controls
from monitor.errors import ParseError
from monitor.extract_meta import parse_date
from monitor.fastfeed_decode import declared_encoding
from monitor.feed_guard import (
    MAX_LENIENT_TAGS,
    cut_after_declaration,
    refuse_expanding_entities,
)
from monitor.models import Entry, FeedItem, ParsedFeed
from monitor.normalize import (
    canonical_url,
    collapse_space,
    html_to_text,
    resolve,
    short_text,
    short_title,
)
from monitor.polling import feed_delay


def parse_feed(
    body: bytes, url: str, headers: Mapping[str, str] | None = None, unchanged: str | None = None
) -> ParsedFeed:
    """Parse an RSS, Atom or JSON Feed document. Raises ParseError when it is not one.

    RSS and Atom go through ``monitor.fastfeed`` first; feedparser reads what it declines.
    ``unchanged``: the source's entry hashes from its last poll; the entries the fast
    reader finds unchanged are left out (``ParsedFeed.skipped_dates``).
    """
    return _parse(body, url, headers, fast=True, unchanged=unchanged)


def parse_feed_reference(
    body: bytes, url: str, headers: Mapping[str, str] | None = None
) -> ParsedFeed:
    """``parse_feed`` with feedparser for every RSS and Atom document: the reference."""
    return _parse(body, url, headers, fast=False)


def _parse(
    body: bytes,
    url: str,
    headers: Mapping[str, str] | None,
    *,
    fast: bool,
    unchanged: str | None = None,
) -> ParsedFeed:
    if not body.strip():
        raise ParseError("empty response: no feed in the body")
    if body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return parse_json_feed(body, url)
    declared = declared_encoding(body)
    if declared and is_foreign(declared):
        raise ParseError(f"the feed declares the encoding {declared!r}, which is not a charset")
    headers = without_foreign_charset(headers)  # as if the server had named none
    parsed = fastfeed.parse_fast(body, url, headers, unchanged) if fast else None
    return parsed if parsed is not None else _parse_with_feedparser(body, url, headers)


# What feedparser 6.0 was seen to raise on broken feeds (``scripts/fuzz.py feeds``):
# ``&#99999999;`` and ``&#xD800;`` (ValueError, UnicodeEncodeError), an empty
# ``<width>`` (TypeError), bytes its own charset sniffing could not decode
# (UnicodeDecodeError), stray end tags (IndexError, KeyError).
_FEEDPARSER_FAULTS = (ArithmeticError, LookupError, TypeError, ValueError, AttributeError)


def _parse_with_feedparser(body: bytes, url: str, headers: Mapping[str, str] | None) -> ParsedFeed:
    response_headers = {"content-location": url}
    if headers and headers.get("content-type"):
        response_headers["content-type"] = headers["content-type"]
    refuse_expanding_entities(body)
    tags = body.count(b"<")
    if tags > MAX_LENIENT_TAGS:
        raise ParseError(_too_large_to_read_leniently(body, tags))
    # a stream, never the bytes themselves: feedparser opens bytes that name a file
    # (a feed answering "/etc/passwd" or "/dev/zero" would be read from this machine)
    stream = io.BytesIO(cut_after_declaration(body))
    try:
        parsed = feedparser.parse(stream, response_headers=response_headers, sanitize_html=False)
    except _FEEDPARSER_FAULTS as exc:  # it means to never raise, but bad input can make it
        raise ParseError(f"the feed could not be read: feedparser failed ({exc!r})") from None
    if not parsed.get("version") and not parsed.entries:
        raise ParseError(_not_a_feed(body, parsed))
    return feed_from_entries(parsed.feed, parsed.entries, url)


def feed_from_entries(
    feed: Mapping[str, Any],
    entries: Sequence[Mapping[str, Any]],
    url: str,
    *,
    skipped_dates: tuple[datetime | None, ...] = (),
    entry_hashes: str | None = None,
) -> ParsedFeed:
    """The ParsedFeed of feedparser-shaped data (``parsed.feed``, ``parsed.entries``).

    ``skipped_dates``, ``entry_hashes``: see ``fastfeed.parse_fast``.
    """
    feed_language = _language(feed.get("language"))
    items = tuple(_entry(entry, url, feed_language) for entry in entries)
    if entry_hashes is not None and len({e.key for e in items}) != len(items):
        # one key twice: only the first is stored, so a later poll must not skip the
        # other as "read before"
        entry_hashes = None
    title = short_title(collapse_space(html_to_text(_text(feed.get("title"))))) or None
    delay = feed_delay(
        _text(feed.get("ttl")),
        _text(feed.get("sy_updateperiod")),
        _text(feed.get("sy_updatefrequency")),
    )
    return ParsedFeed(
        title=title,
        entries=items,
        language=feed_language,
        publisher_delay=delay,
        skipped_dates=skipped_dates,
        entry_hashes=entry_hashes,
    )


def _not_a_feed(body: bytes, parsed: Any) -> str:
    problem = parsed.get("bozo_exception")
    detail = f" ({problem})" if problem else ""
    return _sent_instead(body) or f"not an RSS or Atom feed{detail}"


def _sent_instead(body: bytes) -> str | None:
    """What the server sent when its body plainly is no feed (an HTML page, JSON)."""
    head = body[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return "not an RSS or Atom feed: the server sent an HTML page"
    if head.startswith((b"{", b"[")):
        return "not an RSS or Atom feed: the server sent JSON"
    return None


def _too_large_to_read_leniently(body: bytes, tags: int) -> str:
    """Why a body the fast reader declined is not given to feedparser either."""
    return _sent_instead(body) or (
        f"not a well-formed feed, and too large to read leniently: {tags:,} tags (at most "
        f"{MAX_LENIENT_TAGS:,}); the publisher must fix the feed's XML"
    )


def _entry(entry: Mapping[str, Any], feed_url: str, feed_language: str | None) -> Entry:
    """The entry's key and raw hash now; its normalised item when ``build()`` is called."""
    link = _field(entry.get("link")) or None
    key = _field(entry.get("id")) or (canonical_url(link) if link else None)
    raw = "\x1f".join(
        (
            str(entry.get("title", "")),
            str(entry.get("summary", "")),
            "\x1e".join(str(p.get("value", "")) for p in entry.get("content", []) or []),
            link or "",
        )
    )
    raw_hash = hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]

    published = published_at(entry)

    def build() -> FeedItem:
        return _item(entry, feed_url, feed_language, published)

    if key is None:  # no id and no link: the key comes from the normalised text
        item = build()
        return Entry(item.key, raw_hash, published, lambda: item)
    return Entry(key, raw_hash, published, build)


def _item(
    entry: Mapping[str, Any], feed_url: str, feed_language: str | None, published: datetime | None
) -> FeedItem:
    link = _field(entry.get("link")) or None
    canonical = canonical_url(link) if link else None
    title = short_title(html_to_text(_text(entry.get("title"))))
    raw_summary = _text(entry.get("summary"))
    summary = html_to_text(raw_summary)
    content = ""
    for part in entry.get("content", []) or []:
        value = _text(part.get("value"))
        # feedparser (and the fast reader) copy the first content into a missing summary
        text = summary if value == raw_summary else html_to_text(value)
        if len(text) > len(content):
            content = text
    if content and len(content) <= len(summary):
        content = ""
    key = _field(entry.get("id")) or canonical or _fallback_key(feed_url, title, summary)
    return FeedItem(
        key=key,
        url=link,
        canonical_url=canonical,
        title=title,
        summary=short_text(summary),
        published_at=published,
        language=_language(entry.get("language")) or feed_language,
        content=short_text(content),
    )


def published_at(entry: Mapping[str, Any]) -> datetime | None:
    """The date of a feedparser-shaped entry: published, else updated, else created."""
    for field in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(field)
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
            except (OverflowError, ValueError, OSError):
                continue
    return None


def _language(value: object) -> str | None:
    value = _field(value) if isinstance(value, str) else ""
    if not value.strip():
        return None
    return value.strip().replace("_", "-").split("-")[0].lower() or None


def _fallback_key(feed_url: str, title: str, summary: str) -> str:
    digest = hashlib.sha256(f"{feed_url}\n{title}\n{summary}".encode()).hexdigest()
    return f"content:{digest[:32]}"


def parse_json_feed(body: bytes, url: str) -> ParsedFeed:
    """JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1)."""
    try:
        document = json.loads(body.decode("utf-8-sig"))
    except RecursionError:
        raise ParseError("not a feed: JSON nested too deeply to read") from None
    except ValueError as exc:  # invalid UTF-8 or JSON, or a number of thousands of digits
        raise ParseError(f"not a feed: invalid JSON ({exc})") from None
    version = document.get("version") if isinstance(document, dict) else None
    if not isinstance(version, str) or "jsonfeed.org/version/" not in version:
        raise ParseError("not an RSS or Atom feed: the server sent JSON")
    entries = document.get("items")
    if not isinstance(entries, list):
        raise ParseError("JSON Feed without an items list")
    language = _language(document.get("language"))
    items = tuple(
        Entry.of(_json_item(entry, url, language)) for entry in entries if isinstance(entry, dict)
    )
    title = short_title(_field(document.get("title"))) or None
    return ParsedFeed(title=title, entries=items, language=language)


def _json_item(entry: dict[str, Any], feed_url: str, feed_language: str | None) -> FeedItem:
    link = _field(entry.get("url")) or _field(entry.get("external_url")) or None
    if link:
        link = resolve(feed_url, link)
    canonical = canonical_url(link) if link else None
    title = short_title(html_to_text(_field(entry.get("title"))))
    summary = html_to_text(_field(entry.get("summary")))
    content = html_to_text(_field(entry.get("content_html"))) or collapse_space(
        _field(entry.get("content_text"))
    )
    if content and len(content) <= len(summary):
        content = ""
    key = _field(entry.get("id")) or canonical or _fallback_key(feed_url, title, summary + content)
    published = parse_date(_field(entry.get("date_published"))) or parse_date(
        _field(entry.get("date_modified"))
    )
    return FeedItem(
        key=key,
        url=link,
        canonical_url=canonical,
        title=title,
        summary=short_text(summary),
        published_at=published,
        language=_language(entry.get("language")) or feed_language,
        content=short_text(content),
    )


def _field(value: object) -> str:
    """``_text`` without control characters and lone surrogates (``without_controls``).

    For what is no text to clean later (an id, a link, a language) and for every field
    of a JSON Feed: a JSON ``\\u001b``, ``\\u0000`` or ``\\ud800``, or a ``&#27;`` that
    feedparser reads leniently, would reach keys, URLs and logs (a lone surrogate made
    the poll fail: it cannot be encoded). Titles and text are cleaned by
    ``short_title`` and ``short_text``, after their markup is read: an escaped
    ``&amp;#27;`` is a control character only then.
    """
    return without_controls(_text(value))


def _text(value: object) -> str:
    """A field as text: a string as is, a number written out, else "" (feedparser can
    leave None; JSON can hold anything)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # JSON Feed 1.0 allowed numeric ids
    return ""
