"""Links that are no URLs (``http://[::1``: ``urljoin`` raises ValueError on a broken
IPv6 host), found by fuzzing pages and JSON Feeds. A page's alternate feed link, a
listing's article link, a page's canonical link and a JSON Feed item's URL each
raised out of discovery, listing or parsing as an internal error, so the source
could never be read; each is now skipped, and the good links around it are kept."""

from __future__ import annotations

from pathlib import Path

from monitor.extract import extract_article
from monitor.feeds import parse_feed
from monitor.pages import discover_feeds, find_links
from monitor.urls import resolve
from tests.feedgen import Entry, hours_ago, rss
from tests.servers import HTTPFixture, Route
from tests.test_source_options import config, once, source, write_config, written_items

BROKEN = "http://[::1"


def test_resolve_answers_none_for_what_is_no_url() -> None:
    assert resolve("https://x.org/a/", "b") == "https://x.org/a/b"
    assert resolve("https://x.org/", BROKEN) is None
    assert resolve("http://[x/", "b") is None


def test_discovery_skips_a_broken_alternate_link() -> None:
    page = (
        f'<html><head><link rel="alternate" type="application/rss+xml" href="{BROKEN}">'
        '<link rel="alternate" type="application/atom+xml" href="/feed.atom"></head></html>'
    )
    assert discover_feeds(page, "https://x.org/") == ["https://x.org/feed.atom"]


def test_a_listing_skips_a_broken_article_link() -> None:
    page = (
        f'<html><body><main><h2><a href="{BROKEN}/2026/11/28/visa-talks-resume">'
        "Visa talks resume in Havana this week</a></h2>"
        '<h2><a href="/2026/11/28/consulate-reopens-for-visas">'
        "Consulate reopens for visas after two years</a></h2></main></body></html>"
    )
    links = find_links(page, "https://x.org/news")
    assert [link.url for link in links] == ["https://x.org/2026/11/28/consulate-reopens-for-visas"]


def test_an_article_with_a_broken_canonical_link_is_still_extracted() -> None:
    text = "Visa talks resumed in Havana on Monday, officials said. " * 20
    page = (
        f'<html><head><title>Visa talks</title><link rel="canonical" href="{BROKEN}"></head>'
        f"<body><article><h1>Visa talks</h1><p>{text}</p></article></body></html>"
    )
    article = extract_article(page, "https://x.org/2026/11/28/visa-talks")
    assert article.canonical_url is None
    assert article.text.startswith("Visa talks resumed in Havana")


def test_a_json_feed_item_with_a_broken_url_is_read_without_it() -> None:
    body = (
        '{"version": "https://jsonfeed.org/version/1.1", "items": ['
        f'{{"id": "1", "url": "{BROKEN}", "title": "Visa talks"}}]}}'
    )
    (item,) = parse_feed(body.encode(), "https://x.org/feed.json").items
    assert (item.title, item.url, item.canonical_url) == ("Visa talks", None, None)


def test_a_page_advertising_a_broken_feed_link_still_leads_to_its_feed(
    web: HTTPFixture, tmp_path: Path
) -> None:
    web.routes["/home"] = Route(
        f'<html><head><link rel="alternate" type="application/rss+xml" href="{BROKEN}">'
        '<link rel="alternate" type="application/rss+xml" href="/feed.xml"></head>'
        "<body>Welcome</body></html>".encode(),
        content_type="text/html",
    )
    web.routes["/feed.xml"] = Route(
        rss("Real", [Entry("Visa news", web.url("/n/1"), "visa", published=hours_ago(1))])
    )
    result = once(write_config(tmp_path, config(source("home", web.url("/home")))))
    assert result.returncode == 0, result.stderr
    assert "source=home status=ok items=1 new=1 matches=1" in result.stderr
    assert [i["title"] for i in written_items(tmp_path)] == ["Visa news"]
