"""Bounds on what one feed may cost: entries read per poll, title length, and the
size of a broken feed handed to feedparser. Each is a unit test and, for the entry
limit and the lenient parser's, an end-to-end pass in which the other source is
unaffected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor import feeds
from monitor.errors import ParseError
from monitor.feed_guard import MAX_LENIENT_TAGS
from monitor.feeds import parse_feed
from monitor.models import Entry as ParsedEntry
from monitor.models import FeedItem, ParsedFeed
from monitor.normalize import MAX_TEXT, MAX_TITLE, short_text, short_title
from monitor.pages import find_links
from monitor.prepare import MAX_ENTRIES_PER_POLL, newest_entries
from tests.conftest import run_cli
from tests.feedgen import Entry, hours_ago, rss
from tests.servers import HTTPFixture, Route
from tests.test_source_options import config, source, write_config, written_items

START = datetime(2026, 11, 1, tzinfo=UTC)


def parsed(count: int, *, dated: bool = True, undated_at: int | None = None) -> ParsedFeed:
    """A feed of ``count`` entries, oldest first, one minute apart (or without dates)."""
    items = [
        FeedItem(
            key=f"k{n}", url=None, canonical_url=None, title=f"t{n}", summary="",
            published_at=START + timedelta(minutes=n) if dated and n != undated_at else None,
        )
        for n in range(count)
    ]  # fmt: skip
    return ParsedFeed(
        title="f",
        entries=tuple(ParsedEntry.of(i) for i in items),
        skipped_dates=(START,),
        entry_hashes="hashes",
    )


def test_a_feed_within_the_limit_is_read_whole() -> None:
    feed = parsed(MAX_ENTRIES_PER_POLL)
    assert newest_entries(feed, "s") is feed


def test_the_newest_by_date_are_kept_when_a_feed_lists_them_last() -> None:
    feed = parsed(MAX_ENTRIES_PER_POLL + 500)
    kept = newest_entries(feed, "s")
    assert [e.key for e in kept.entries] == [f"k{n}" for n in range(500, 1500)]  # feed order
    assert kept.size == feed.size == 1501  # the left-out entries still count
    assert sorted(kept.dates, key=str) == sorted(feed.dates, key=str)  # so does their pace
    assert kept.entry_hashes is None  # the next poll must not skip the left-out ones as read


def test_equal_dates_keep_the_first_in_feed_order() -> None:
    same = ParsedFeed(
        title=None,
        entries=tuple(
            ParsedEntry.of(FeedItem(f"k{n}", None, None, "t", "", START))
            for n in range(MAX_ENTRIES_PER_POLL + 1)
        ),
    )
    kept = newest_entries(same, "s")
    assert [e.key for e in kept.entries] == [f"k{n}" for n in range(MAX_ENTRIES_PER_POLL)]


def test_without_a_date_on_every_entry_the_first_are_kept() -> None:
    feed = parsed(MAX_ENTRIES_PER_POLL + 10, undated_at=3)
    kept = newest_entries(feed, "s")
    assert [e.key for e in kept.entries] == [f"k{n}" for n in range(MAX_ENTRIES_PER_POLL)]


def test_the_limit_is_logged_with_the_source(caplog: pytest.LogCaptureFixture) -> None:
    newest_entries(parsed(MAX_ENTRIES_PER_POLL + 1), "archive")
    assert caplog.messages == [
        f"source=archive: the feed lists {MAX_ENTRIES_PER_POLL + 2} entries; "
        f"only the newest {MAX_ENTRIES_PER_POLL} are read"
    ]


def test_short_titles_are_left_alone_and_long_ones_cut_at_a_word() -> None:
    assert short_title("Cuba visa talks") == "Cuba visa talks"
    exact = "x" * MAX_TITLE
    assert short_title(exact) == exact
    cut = short_title("visa talks " * 100_000)
    assert len(cut) <= MAX_TITLE and cut.endswith("talks…"), cut[-20:]
    assert short_title("y" * 10_000) == "y" * (MAX_TITLE - 1) + "…"  # no word to cut at


def test_titles_of_feeds_json_feeds_and_listing_links_are_capped() -> None:
    long = "Visa " + "word " * 200_000
    body = rss("Feed " * 100_000, [Entry(long, "https://x.org/a/1", "visa")])
    feed = parse_feed(body, "https://x.org/feed")
    (item,) = feed.items
    assert len(item.title) <= MAX_TITLE and item.title.startswith("Visa word")
    assert feed.title is not None and len(feed.title) <= MAX_TITLE
    json_body = '{"version": "https://jsonfeed.org/version/1.1", "title": "%s", "items": [{"id": "1", "title": "%s"}]}'
    json_feed = parse_feed((json_body % ("J " * 10_000, long)).encode(), "https://x.org/f.json")
    assert len(json_feed.items[0].title) <= MAX_TITLE
    assert json_feed.title is not None and len(json_feed.title) <= MAX_TITLE
    page = (
        f'<html><body><main><a href="/2026/11/28/visa-talks-resume">{long}</a></main></body></html>'
    )
    (link,) = find_links(page, "https://x.org/news")
    assert len(link.title) <= MAX_TITLE and link.title.endswith("…")


def test_item_text_is_cut_at_a_word_to_the_article_limit() -> None:
    assert short_text("visa talks") == "visa talks"
    cut = short_text("Cuba visa talks " * 100_000)
    assert len(cut) <= MAX_TEXT and cut.endswith("talks"), cut[-20:]
    assert short_text("z" * (MAX_TEXT + 5)) == "z" * MAX_TEXT  # no word to cut at
    words = "Cuba visa talks " * 50_000  # 800,000 characters
    body = rss("Feed", [Entry("Long", "https://x.org/a/1", f"<p>{words}</p>")])
    (item,) = parse_feed(body, "https://x.org/feed").items
    assert MAX_TEXT - 20 <= len(item.summary) <= MAX_TEXT and item.summary.startswith("Cuba visa")
    json_body = '{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "1", "summary": "s", "content_text": "%s"}]}'
    (json_item,) = parse_feed((json_body % words).encode(), "https://x.org/f.json").items
    assert MAX_TEXT - 20 <= len(json_item.content) <= MAX_TEXT


def broken(count: int) -> bytes:
    """A feed the fast reader declines (an undefined entity), of ``count`` bare tags."""
    return (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Broken&nbsp;</title>'
        + b"<a/>" * count
        + b"<item><title>Visa</title><link>http://x.org/1</link></item></channel></rss>"
    )


def test_a_broken_feed_past_the_lenient_limit_is_refused_unread() -> None:
    with pytest.raises(ParseError) as raised:
        parse_feed(broken(2 * MAX_LENIENT_TAGS), "https://x.org/feed")
    assert str(raised.value) == (
        "not a well-formed feed, and too large to read leniently: 200,013 tags "
        "(at most 100,000); the publisher must fix the feed's XML"
    )


def test_a_broken_feed_within_the_lenient_limit_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feeds, "MAX_LENIENT_TAGS", 22)  # broken(9) has 22
    assert [i.title for i in parse_feed(broken(9), "https://x.org/feed").items] == ["Visa"]
    with pytest.raises(ParseError, match="too large to read leniently: 23 tags"):
        parse_feed(broken(10), "https://x.org/feed")


def test_a_large_html_page_is_still_called_an_html_page() -> None:
    page = b"<!DOCTYPE html><html><body>" + b"<p>x</p>" * MAX_LENIENT_TAGS + b"</body></html>"
    with pytest.raises(
        ParseError, match=r"^not an RSS or Atom feed: the server sent an HTML page$"
    ):
        parse_feed(page, "https://x.org/feed")


@pytest.mark.parametrize("workers", ["0", "2"])  # in the main process, and in parse workers
def test_a_huge_feed_stores_its_newest_entries_and_a_broken_one_fails_alone(
    web: HTTPFixture, tmp_path: Path, workers: str
) -> None:
    """1,500 entries, oldest first: the 1,000 newest are stored, so only the newest
    "visa" items alert; a broken feed of 200,000 tags fails with its reason; the third
    source's alert goes out."""
    count = MAX_ENTRIES_PER_POLL + 500
    entries = [
        Entry(
            f"Visa story {n}" if n < 3 or n >= count - 3 else f"Other story {n}",
            web.url(f"/big/{n}"),
            published=hours_ago((count - n) / 100),
        )
        for n in range(count)
    ]
    web.routes["/big.xml"] = Route(rss("Archive", entries))
    web.routes["/broken.xml"] = Route(broken(2 * MAX_LENIENT_TAGS))
    web.routes["/quick.xml"] = Route(
        rss("Quick", [Entry("Visa news", web.url("/q/1"), "visa", published=hours_ago(1))])
    )
    sources = "".join(source(n, web.url(f"/{n}.xml")) for n in ("big", "broken", "quick"))
    path = write_config(tmp_path, config(sources))
    result = run_cli("once", config=path, env={"NEWS_MONITOR_PARSE_WORKERS": workers})
    assert result.returncode == 1, result.stderr
    assert (
        f"source=big: the feed lists {count} entries; only the newest 1000 are read"
        in result.stderr
    )
    assert f"source=big status=ok items={count} new=1000 matches=3" in result.stderr
    (line,) = [x for x in result.stderr.splitlines() if "source=broken status=" in x]
    assert "status=error" in line and "too large to read leniently: 200,013 tags" in line, line
    assert "source=quick status=ok items=1 new=1 matches=1" in result.stderr
    titles = sorted(str(i["title"]) for i in written_items(tmp_path))
    assert titles == ["Visa news", *(f"Visa story {n}" for n in range(count - 3, count))]
