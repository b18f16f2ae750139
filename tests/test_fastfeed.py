"""The fast feed parser against feedparser: the same ParsedFeed, or a fallback.

Every document of the corpus goes through ``parse_feed_reference`` (feedparser) and
``parse_fast``: whenever the fast path returns a value it must equal feedparser's
(``==`` on the frozen ParsedFeed), and for the common well-formed shapes (every farm
feed, every ``tests.feedgen`` feed, the fixtures listed in FAST) it must not fall
back.  Corpus: the benchmark farm's generator (several seeds, also after one new item
is published), ``tests.feedgen`` with varied entries, the hand-written fixtures in
``tests/fixtures/feeds/`` and seeded random documents.  Run with ``-s`` to see how
many documents take the fast path.
"""

from __future__ import annotations

import importlib.util
import random
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any
from xml.sax.saxutils import escape

import feedparser
import pytest
from feedparser.datetimes import _parse_date
from feedparser.urls import resolve_relative_uris

from monitor.errors import ParseError
from monitor.fastfeed import parse_fast
from monitor.fastfeed_dates import parse_date
from monitor.fastfeed_text import simple_html
from monitor.feeds import parse_feed, parse_feed_reference
from monitor.models import ParsedFeed
from monitor.normalize import html_to_text
from tests.feedgen import Entry, atom, rss

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "feeds"
URL = "https://feeds.example.org/news/feed.xml"

# Fixtures the fast path must read itself; the others must fall back (reason given).
FAST = {
    "atom-content-ok.xml",
    "atom-html.xml",
    "atom-links.xml",
    "atom-no-entries.xml",
    "rss-bom.xml",
    "rss-dates.xml",
    "rss-empty-channel.xml",
    "rss-empty.xml",
    "rss-enclosures.xml",
    "rss-guids.xml",
    "rss-iso-8859-1.xml",
    "rss-itunes-summary.xml",
    "rss-markup.xml",
    "rss-namespaces.xml",
    "rss-no-titles.xml",
    "rss-source.xml",
    "rss-undeclared-utf8.xml",
    "rss-windows-1252.xml",
    "rss-wordpress.xml",
    "rss091.xml",
    "rss10-rdf.xml",
}
FALLBACK = {
    "atom-content.xml": "base64 content (type application/octet-stream)",
    "atom-xhtml.xml": 'type="xhtml" markup',
    "atom-xml-base.xml": "xml:base",
    "atom03.xml": "Atom 0.3",
    "rss-bom-undeclared.xml": "UTF-8 BOM but ISO-8859-1 by RFC 3023 (no charset anywhere)",
    "rss-georss.xml": "GeoRSS elements",
    "rss-media-group.xml": "media:title and media:description",
    "rss-nbsp.xml": "HTML entities are undefined in XML",
    "rss-xml-base.xml": "xml:base",
    "rss091-netscape-doctype.xml": "DOCTYPE",
}


def compare(body: bytes, url: str = URL, headers: Mapping[str, str] | None = None) -> bool:
    """Assert both parsers agree; True when the fast path produced the value."""
    try:
        reference: ParsedFeed | Exception = parse_feed_reference(body, url, headers)
    except Exception as exc:  # feedparser's verdict, e.g. ParseError
        reference = exc
    fast = parse_fast(body, url, headers)
    if isinstance(reference, Exception):
        assert fast is None, f"fast path read a document feedparser rejects: {reference!r}"
        with pytest.raises(type(reference)):
            parse_feed(body, url, headers)
        return False
    if fast is not None:
        assert fast == reference, explain(fast, reference)
    assert parse_feed(body, url, headers) == reference
    return fast is not None


def explain(fast: ParsedFeed, reference: ParsedFeed) -> str:
    lines = []
    for name in ("title", "language", "publisher_delay"):
        if getattr(fast, name) != getattr(reference, name):
            lines.append(f"feed {name}: {getattr(fast, name)!r} != {getattr(reference, name)!r}")
    if len(fast.items) != len(reference.items):
        lines.append(f"{len(fast.items)} items != {len(reference.items)}")
    for i, (a, b) in enumerate(zip(fast.items, reference.items, strict=False)):
        for name in a.__slots__:
            if getattr(a, name) != getattr(b, name):
                lines.append(f"item {i} {name}: {getattr(a, name)!r} != {getattr(b, name)!r}")
    return "\n".join(lines[:20])


# -- the benchmark farm ---------------------------------------------------------------


def load_farm() -> ModuleType:
    if "farm" not in sys.modules:
        spec = importlib.util.spec_from_file_location("farm", REPO / "bench" / "farm.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["farm"] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
    return sys.modules["farm"]


def farm_feeds(
    seed: int, count: int, published: int = 0, now: float | None = None
) -> Iterator[tuple[bytes, str]]:
    """Feeds as ``FeedFarm`` serves them after ``reset()`` and ``published`` publish()es."""
    farm = load_farm()
    prose = ("varied",) if "varied" in getattr(farm, "PROSE", ()) and seed % 2 else ()
    documents: Iterator[tuple[bytes, str]] = farm.documents(
        farm.FeedGenerator(seed, *prose), count, published, now
    )
    return documents


def test_every_farm_feed_takes_the_fast_path_with_identical_values() -> None:
    fast = total = 0
    for seed in range(1, 7):
        for published in (0, 1):
            for body, url in farm_feeds(seed, 25, published):
                total += 1
                fast += compare(body, url)
    print(f"\nfarm: {fast} of {total} feeds on the fast path")
    assert (fast, total) == (300, 300)


# -- tests.feedgen ---------------------------------------------------------------------

TEXTS = [
    "Plain words",
    "<p>HTML <b>bold</b> &amp; <a href='/rel'>relative</a></p>",
    "Caf\u00e9 \u2014 \u201cquoted\u201d \U0001f4f0",
    "AT&T and R&D <3",
    "&amp;lt;double&amp;gt; escaped",
    "",
    "  spaced   out  ",
    "<img src='x.png'/><br/>Caption",
    "Line one\nLine two\ttab",
    "&nbsp;&eacute;&#8217;&#150;",
]
LINKS = [
    "https://news.example.org/a?utm_source=rss&utm_medium=feed",
    "https://news.example.org/b#frag",
    "/relative/path",
    "story.html",
    "https://news.example.org/caf\u00e9",
]


def feedgen_feeds(count: int) -> Iterator[bytes]:
    r = random.Random(2026)
    for n in range(count):
        entries = []
        for i in range(r.randint(0, 6)):
            when = datetime(2026, 1 + i % 12, 1 + n % 28, r.randint(0, 23), tzinfo=UTC)
            entries.append(
                Entry(
                    title=r.choice(TEXTS),
                    link=r.choice(LINKS),
                    description=r.choice(TEXTS),
                    guid=r.choice([None, f"guid-{n}-{i}", f"https://news.example.org/g/{i}"]),
                    published=r.choice([None, when]),
                )
            )
        yield (rss if n % 2 else atom)(r.choice(TEXTS) or "Desk", entries)


def test_every_feedgen_feed_takes_the_fast_path_with_identical_values() -> None:
    results = [compare(body) for body in feedgen_feeds(80)]
    print(f"\nfeedgen: {sum(results)} of {len(results)} feeds on the fast path")
    assert all(results)


# -- hand-written fixtures -------------------------------------------------------------


def test_every_fixture_is_classified() -> None:
    names = {path.name for path in FIXTURES.glob("*.xml")}
    assert names == FAST | set(FALLBACK)


@pytest.mark.parametrize("name", sorted(FAST | set(FALLBACK)))
def test_fixture(name: str) -> None:
    assert compare((FIXTURES / name).read_bytes()) == (name in FAST), FALLBACK.get(name)


@pytest.mark.parametrize(
    ("name", "content_type", "fast"),
    [
        ("rss-wordpress.xml", "application/rss+xml; charset=UTF-8", True),
        ("rss-wordpress.xml", "text/xml", False),  # us-ascii by RFC 3023; the text is not
        ("atom-html.xml", "application/atom+xml", True),
        ("rss-iso-8859-1.xml", "application/xml", True),  # the declaration decides
        ("rss-iso-8859-1.xml", "text/xml; charset=utf-8", False),  # disagrees with it
        ("rss-bom.xml", "text/html; charset=utf-8", True),
        ("rss-undeclared-utf8.xml", "application/rss+xml", True),  # UTF-8 by default
    ],
)
def test_fixture_with_content_type(name: str, content_type: str, fast: bool) -> None:
    body = (FIXTURES / name).read_bytes()
    assert compare(body, URL, {"content-type": content_type}) == fast


@pytest.mark.parametrize("url", ["https://x.org", "http://x.org/a/b?c=d", "", "feed.xml"])
def test_relative_links_resolve_against_any_feed_url(url: str) -> None:
    compare((FIXTURES / "rss-guids.xml").read_bytes(), url)
    compare((FIXTURES / "atom-links.xml").read_bytes(), url)


def test_not_a_feed_is_left_to_feedparser() -> None:
    for body in (b"<html><body>hi</body></html>", b"<opml/>", b"not xml", b"<rss>"):
        assert parse_fast(body, URL) is None
    with pytest.raises(ParseError):
        parse_feed(b"<html><body>hi</body></html>", URL)


def test_parse_feed_uses_the_fast_path_and_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    wordpress = (FIXTURES / "rss-wordpress.xml").read_bytes()
    nbsp = (FIXTURES / "rss-nbsp.xml").read_bytes()
    reference = parse_feed_reference(nbsp, URL)

    def no_feedparser(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("feedparser was called")

    monkeypatch.setattr(feedparser, "parse", no_feedparser)
    assert parse_feed(wordpress, URL).items[0].title == "Council approves the new tram line"
    with pytest.raises(AssertionError, match="feedparser was called"):
        parse_feed(nbsp, URL)
    monkeypatch.undo()
    assert parse_feed(nbsp, URL) == reference


# -- seeded random documents -----------------------------------------------------------

SNIPPETS = [*TEXTS, "x < y", "<script>a<b</script>z", "<!-- c -->v", "&foo; &copy 1"]
SNIPPETS += ["\u0093q\u0094", "It&#39;s", "<p/>after", "</br>", "<a href=x>u</a>", "tag:x,1"]
SNIPPETS += ["\u00c3\u00a9t\u00c3\u00a9"]  # UTF-8 read as Latin-1: feedparser repairs it
PERMALINK = ["", ' isPermaLink="false"', ' isPermaLink="true"']
DATES = ["Mon, 23 Nov 2026 10:00:00 GMT", "Tue, 3 Nov 2026 07:05 EST", "2026-11-23T10:00:00+05:30"]
DATES += ["2026-11-23", "garbage", "", "Mon, 31 Feb 2026 10:00:00 GMT", "2026-11-23T10:00:00+0530"]


def random_document(r: random.Random) -> str:
    def text(value: str | None = None) -> str:
        value = r.choice(SNIPPETS) if value is None else value
        if r.random() < 0.3 and "]]>" not in value:
            return f"<![CDATA[{value}]]>"
        return escape(escape(value)) if r.random() < 0.2 else escape(value)

    kind = r.choice(["", ' type="html"', ' type="text"', ' type="xhtml"'])
    fields: list[Callable[[], str]] = [
        lambda: f"<title{kind if r.random() < 0.3 else ''}>{text()}</title>",
        lambda: f"<link>{text(r.choice([*LINKS, '', ' /sp ']))}</link>",
        lambda: f'<link href="{escape(r.choice(LINKS))}" rel="{r.choice(["alternate", "self"])}"/>',
        lambda: f"<guid{r.choice(PERMALINK)}>{text(r.choice(LINKS))}</guid>",
        lambda: f"<id>{text(r.choice(['tag:x.org,2026:1', 'rel-id', '']))}</id>",
        lambda: f"<description>{text()}</description>",
        lambda: f"<summary{kind}>{text()}</summary>",
        lambda: f"<content{kind}>{text()}</content>",
        lambda: f"<content:encoded>{text()}</content:encoded>",
        lambda: f"<pubDate>{escape(r.choice(DATES))}</pubDate>",
        lambda: f"<dc:date>{escape(r.choice(DATES))}</dc:date>",
        lambda: f"<updated>{escape(r.choice(DATES))}</updated>",
        lambda: f"<language>{r.choice(['en-US', 'es_ES', ''])}</language>",
        lambda: f"<category>{text()}</category><source url='https://s.org/'>S</source>",
        lambda: "<enclosure url='https://x.org/a.mp3' type='audio/mpeg'/><foo:bar>b</foo:bar>",
    ]
    items = [
        "<item>" + "".join(r.choice(fields)() for _ in range(r.randint(0, 8))) + "</item>"
        for _ in range(r.randint(0, 4))
    ]
    head = [f"<title>{text()}</title>", f"<language>{r.choice(['de', 'pt_BR'])}</language>"]
    head += [f"<ttl>{r.choice(['60', 'x'])}</ttl>", "<sy:updatePeriod>daily</sy:updatePeriod>"]
    body = "".join(r.sample(head, r.randint(0, 4)) + items)
    namespaces = (
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:foo="http://foo.example/" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"'
    )
    if r.random() < 0.6:
        return f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0" {namespaces}><channel>{body}</channel></rss>'
    body = body.replace("<item>", "<entry>").replace("</item>", "</entry>")
    return f'<feed xmlns="http://www.w3.org/2005/Atom" {namespaces} xml:lang="en">{body}</feed>'


def test_random_documents_are_identical_or_fall_back() -> None:
    r = random.Random(7)
    headers: list[dict[str, str] | None] = [None, {"content-type": "application/rss+xml"}]
    results = [
        compare(random_document(r).encode(), r.choice([URL, "http://x.org"]), r.choice(headers))
        for _ in range(400)
    ]
    print(f"\nrandom: {sum(results)} of {len(results)} documents on the fast path")
    assert sum(results) > len(results) // 3


# -- the helpers against feedparser's own ----------------------------------------------


def test_dates_match_feedparser() -> None:
    r = random.Random(11)
    days = ["Mon", "Sat", "Thu", "Xyz"]
    months = ["Jan", "Feb", "Oct", "Dec", "Foo"]
    zones = ["GMT", "UT", "Z", "EST", "PDT", "BST", "+0000", "-0800", "+0530", "+05:30", "gmt"]
    checked = 0
    for _ in range(5000):
        d, m, y = r.randint(0, 32), r.randint(0, 13), r.randint(1, 9999)
        h, mi, s = r.randint(0, 25), r.randint(0, 60), r.randint(0, 61)
        for value in (
            f"{r.choice(days)}, {d} {r.choice(months)} {y:04d} {h:02d}:{mi:02d}:{s:02d} {r.choice(zones)}",
            f"{r.choice(days)}, {d:02d} {r.choice(months)} {y:04d} {h:02d}:{mi:02d} {r.choice(zones)}",
            f"{y:04d}-{m:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{r.choice(['Z', '+05:30', '-08:00', '', '.5Z'])}",
            f"{y:04d}-{m:02d}-{d:02d}T{h:02d}:{mi:02d}{r.choice(['Z', '-12:59', '+0530'])}",
        ):
            assert parse_date(value) == _parse_date(value), value
            checked += 1
    assert checked == 20000


HTML_TAGS = ["p", "b", "a", "img", "br", "span", "script", "title", "table", "td", "P", "svg"]
HTML_ATTRS = [' href="/rel"', " src='x.png'", ' alt="it&#39;s"', " disabled", ' title="a&b"']
HTML_TEXT = ["text", " ", "&amp;", "&nbsp;", "&#8217;", "&#150;", "&foo;", "& ", "AT&T", "<"]
HTML_TEXT += [">", "\u0093"]


def random_html(r: random.Random, depth: int = 0) -> str:
    out = []
    for _ in range(r.randint(0, 5)):
        if r.random() < 0.5 or depth > 2:
            out.append(r.choice(HTML_TEXT))
        elif r.random() < 0.15:
            out.append(r.choice(["<br/>", "<p/>", "</br>", "<!-- c -->", "<br />"]))
        else:
            tag = r.choice(HTML_TAGS)
            attrs = "".join(r.sample(HTML_ATTRS, r.randint(0, 2)))
            out.append(f"<{tag}{attrs}>{random_html(r, depth + 1)}</{tag}>")
    return "".join(out)


def test_simple_html_is_text_that_feedparsers_rewrite_keeps() -> None:
    r = random.Random(5)
    simple = 0
    for _ in range(3000):
        fragment = random_html(r)
        if simple_html(fragment):
            simple += 1
            rewritten = resolve_relative_uris(fragment, URL, "utf-8", "text/html")
            assert html_to_text(rewritten) == html_to_text(fragment), fragment
    assert simple > 500


def test_simple_html_check_is_linear() -> None:
    started = time.perf_counter()
    for value in ("a b " * 50_000 + "<", '<a x="1"' + ' y="2"' * 50_000, "&amp;" * 50_000 + "&"):
        assert not simple_html(value)
    assert time.perf_counter() - started < 1.0
