"""Listing pages, feed discovery, HTML charsets and JSON Feed."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from monitor.errors import ParseError
from monitor.feeds import parse_feed
from monitor.pages import decode_html, discover_feeds, find_links, page_language

LISTING = """<!DOCTYPE html><html lang="es"><head><title>Noticias</title>
<link rel="alternate" type="application/rss+xml" title="RSS" href="/feed/">
<link rel="alternate" type="application/atom+xml" href="https://embassy.example.org/atom.xml">
<link rel="alternate" type="application/rss+xml" href="/comments/feed/">
<link rel="stylesheet" href="/style.css"></head>
<body>
<header><nav><a href="/2026/11/27/menu-item-that-looks-like-a-story-about-visas/">Menu item that looks like a story about visas</a>
<a href="/about/">About the embassy and its consular sections</a></nav></header>
<main>
  <div class="card"><h2><a href="/2026/11/27/consulate-resumes-visa-interviews/">Consulate resumes immigrant visa interviews in Havana</a></h2>
    <time datetime="2026-11-27T10:00:00Z">27 Nov</time></div>
  <div class="card"><h2><a href="/news/statement-on-migration-talks-12345">Statement on the bilateral migration talks</a></h2>
    <span>no date here</span></div>
  <div class="card"><h2><a href="https://other.example.net/2026/11/27/off-site-story-about-cuba/">Off-site story about Cuba and visas</a></h2></div>
  <div class="card"><h2><a href="/tag/visas/">All stories tagged with visas and consular work</a></h2></div>
  <div class="card"><h2><a href="/2026/11/26/short/">Short</a></h2></div>
  <div class="card"><h2><a href="/2026/11/27/consulate-resumes-visa-interviews/?utm_source=home#top">Consulate resumes immigrant visa interviews in Havana</a></h2></div>
</main>
<footer><a href="/2026/11/20/privacy-policy-update-for-all-visitors/">Privacy policy update for all visitors of this site</a></footer>
</body></html>"""


def test_links_by_heuristics() -> None:
    links = find_links(LISTING, "https://embassy.example.org/news/")
    assert [link.url for link in links] == [
        "https://embassy.example.org/2026/11/27/consulate-resumes-visa-interviews/",
        "https://embassy.example.org/news/statement-on-migration-talks-12345",
    ]
    assert links[0].title == "Consulate resumes immigrant visa interviews in Havana"
    assert links[0].published_at == datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    assert links[1].published_at is None


def test_links_by_selector_include_what_heuristics_would_skip() -> None:
    links = find_links(LISTING, "https://embassy.example.org/news/", "div.card h2 a")
    urls = [link.url for link in links]
    assert "https://other.example.net/2026/11/27/off-site-story-about-cuba/" in urls
    assert "https://embassy.example.org/2026/11/26/short/" in urls
    assert len(urls) == 5  # the re-tagged duplicate is dropped
    assert find_links(LISTING, "https://embassy.example.org/news/", "article.teaser a") == []
    # the date of a link without its own <time> falls back to the URL
    short = next(link for link in links if link.url.endswith("/short/"))
    assert short.published_at == datetime(2026, 11, 26, tzinfo=UTC)


def test_feed_discovery() -> None:
    assert discover_feeds(LISTING, "https://embassy.example.org/news/") == [
        "https://embassy.example.org/feed/",
        "https://embassy.example.org/atom.xml",
    ]
    assert discover_feeds("<html><body>no feeds</body></html>", "https://x.org/") == []
    assert page_language(LISTING) == "es"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [("Habána café €".encode(), "text/html; charset=iso-8859-1"),  # says latin-1, is UTF-8
     ("Habána café €".encode("cp1252"), "text/html; charset=utf-8"),  # says UTF-8, is not
     ('<meta charset="windows-1252"><p>Habána café €'.encode("cp1252"), None),
     ("Habána café €".encode("utf-8-sig"), "text/html; charset=windows-1252"),  # BOM wins
     ("Habána café €".encode("cp1252"), None)],
)  # fmt: skip
def test_decode_html_charsets(body: bytes, content_type: str | None) -> None:
    assert "Habána café €" in decode_html(body, content_type)


def test_decode_html_unknown_charset_does_not_crash() -> None:
    assert "abc" in decode_html(b"abc", "text/html; charset=x-klingon")


JSON_FEED = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "Desk",
    "language": "en-US",
    "items": [
        {"id": "1", "url": "https://x.org/a?utm_source=jf", "title": "Cuba visa talks",
         "content_html": "<p>Talks in <b>Havana</b> about visas.</p>",
         "date_published": "2026-11-27T10:00:00-05:00"},
        {"id": 2, "external_url": "/b", "content_text": "Plain text item", "summary": "Short"},
        "not an object",
    ],
}  # fmt: skip


def test_json_feed() -> None:
    feed = parse_feed(json.dumps(JSON_FEED).encode(), "https://x.org/feed.json")
    assert feed.title == "Desk" and feed.language == "en"
    first, second = feed.items
    assert first.key == "1" and first.canonical_url == "https://x.org/a"
    assert first.body == "Talks in Havana about visas."
    assert first.published_at == datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
    assert second.key == "2" and second.url == "https://x.org/b"
    assert second.body == "Plain text item" and second.summary == "Short"


@pytest.mark.parametrize(
    ("document", "message"),
    [(b'{"version": "https://jsonfeed.org/version/1", "items": 3}', "without an items list"),
     (b'{"error": "nope"}', "sent JSON"),
     (b'{"version": ', "invalid JSON")],
)  # fmt: skip
def test_bad_json_feeds(document: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_feed(document, "https://x.org/feed.json")
