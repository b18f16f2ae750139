"""Broken feeds found by fuzzing ``parse_feed`` (mutated fixture and farm feeds; the
inputs below are the crashing ones reduced by hand or by delta debugging). Each used
to raise out of the parse as an internal error, so the source could never be read;
each now reads or ends in a ParseError that says what went wrong. Publisher hints too
large or not ASCII digits (a feed's ``<ttl>``, a server's ``max-age``) count as a
long wait, or as none."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.errors import ParseError
from monitor.feeds import parse_feed
from monitor.polling import LONGEST_HINT, feed_delay, header_delay
from tests.feedgen import Entry, hours_ago, rss
from tests.servers import HTTPFixture, Route
from tests.test_source_options import config, once, source, write_config, written_items

RSS = (
    b'<?xml version="1.0"?><rss version="2.0" '
    b'xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"><channel><title>t</title>%s'
    b"<item><title>Visa %s</title><link>http://x.org/1</link></item></channel></rss>"
)


@pytest.mark.parametrize(
    ("body", "fault"),
    [
        (b"</width>", "TypeError"),  # an <image> size without a value: int(None)
        (b"<item<textinput<description>", "KeyError('textinput')"),
        (b"<item<source<image<link</link<", "IndexError"),
        (b'<?encoding="\x95"?>', "UnicodeDecodeError"),  # its own charset sniffing
        (RSS % (b"", b"&#99999999;"), "ValueError('chr() arg not in range"),
        (RSS % (b"", b"&#xD800;"), "UnicodeEncodeError"),  # a surrogate
    ],
)
def test_what_feedparser_raises_on_a_broken_feed_is_a_parse_error(body: bytes, fault: str) -> None:
    with pytest.raises(ParseError) as raised:
        parse_feed(body, "https://x.org/feed")
    assert str(raised.value).startswith("the feed could not be read: feedparser failed (")
    assert fault in str(raised.value)


def test_a_field_feedparser_leaves_none_reads_as_empty() -> None:
    """feedparser can set ``summary`` to None; the item was built with html_to_text(None)."""
    (item,) = parse_feed(b"<item<title</content:encoded<", "https://x.org/feed").items
    assert (item.title, item.summary) == ("", "")


@pytest.mark.parametrize(
    ("hints", "delay"),
    [
        (b"<ttl>99999999999999999999</ttl>", LONGEST_HINT),  # was an OverflowError
        ("<ttl>²</ttl>".encode(), None),  # str.isdigit said yes, int() said no
        (
            b"<sy:updatePeriod>daily</sy:updatePeriod><sy:updateFrequency>"
            + b"9" * 5000  # past int()'s 4,300 digits
            + b"</sy:updateFrequency>",
            timedelta(days=1) / 10**12,  # counted as 10**12: no floor to speak of
        ),
        (b"<ttl>30</ttl>", timedelta(minutes=30)),
    ],
)
def test_publisher_hints_of_any_size_are_read(hints: bytes, delay: timedelta | None) -> None:
    feed = parse_feed(RSS % (hints, b"news"), "https://x.org/feed")
    assert feed.publisher_delay == delay
    assert [i.title for i in feed.items] == ["Visa news"]


def test_hint_counts_are_ascii_digits_capped_at_the_longest_hint() -> None:
    now = datetime.now(UTC)
    assert header_delay({"cache-control": "max-age=" + "9" * 30}, now) == LONGEST_HINT
    assert header_delay({"cache-control": "max-age=" + "9" * 5000}, now) == LONGEST_HINT
    assert header_delay({"cache-control": "max-age=٣"}, now) is None  # Arabic-Indic three
    assert header_delay({"cache-control": "max-age=600"}, now) == timedelta(minutes=10)
    assert feed_delay(str(10**9), None, None) == LONGEST_HINT
    assert feed_delay("0" * 20 + "5", None, None) == timedelta(minutes=5)  # leading zeros
    assert feed_delay(None, "daily", "00000000012") == timedelta(hours=2)


def test_a_server_asking_for_forever_is_still_polled_and_stored(
    web: HTTPFixture, tmp_path: Path
) -> None:
    """``max-age`` of 20 digits raised OverflowError on every poll: the feed was never
    stored. Now the wait it asks for is capped (by ``max_backoff``, as any hint)."""
    forever = {"cache-control": "max-age=99999999999999999999"}
    web.routes["/forever.xml"] = Route(
        rss("Forever", [Entry("Visa talks", web.url("/f/1"), "visa", published=hours_ago(1))]),
        headers=forever,
    )
    web.routes["/charref.xml"] = Route(RSS % (b"", b"&#99999999;"))
    sources = "".join(source(n, web.url(f"/{n}.xml")) for n in ("forever", "charref"))
    result = once(write_config(tmp_path, config(sources)))
    assert result.returncode == 1, result.stderr
    assert "source=forever status=ok items=1 new=1 matches=1" in result.stderr
    (line,) = [x for x in result.stderr.splitlines() if "source=charref status=" in x]
    assert "status=error" in line and "feedparser failed (ValueError" in line, line
    assert "internal error" not in result.stderr
    assert [i["title"] for i in written_items(tmp_path)] == ["Visa talks"]


NUL_RSS = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>T%(n)sx</title>'
    b"<language>e%(n)sn</language><item><guid>g%(n)s1</guid>"
    b"<link>https://x.org/a%(n)sb</link><title>Vi%(n)ssa talks</title>"
    b"<description>D%(n)sesc &lt;b&gt;x%(n)s&lt;/b&gt;</description></item></channel></rss>"
)
NUL_JSON = json.dumps(
    {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "T\0x",
        "language": "e\0n",
        "items": [
            {
                "id": "g\x001",
                "url": "https://x.org/a\0b",
                "title": "Vi\0sa <b>talks\0</b>",
                "summary": "D\0esc x",
                "content_text": "C\0ontent of the article, longer than its summary",
            }
        ],
    }
).encode()


@pytest.mark.parametrize(
    "body",
    [
        NUL_RSS % {b"n": b"&#0;"},  # feedparser reads the reference as a NUL
        NUL_RSS % {b"n": b"\0"},  # raw NUL bytes: not XML, read leniently
        NUL_JSON,  # "\u0000" in JSON strings
    ],
    ids=["character-reference", "raw-byte", "json-feed"],
)
def test_nul_characters_never_reach_an_item(body: bytes) -> None:
    """PostgreSQL refuses NUL in text, so a poll storing such an item would fail on
    every pass there; the Atom and chat channels would have to strip it too."""
    feed = parse_feed(body, "https://x.org/feed", {"content-type": "application/feed+json"})
    (item,) = feed.items
    assert (feed.title, feed.language) == ("Tx", "en")
    assert item.title == "Visa talks"
    assert item.url == item.canonical_url == "https://x.org/ab"
    assert item.key.endswith("g1")
    for value in (item.key, item.url, item.canonical_url, item.title, item.summary, item.content):
        assert "\0" not in (value or "")


def test_a_feed_with_nul_characters_is_stored_and_delivered(
    web: HTTPFixture, tmp_path: Path
) -> None:
    web.routes["/nul.json"] = Route(NUL_JSON, content_type="application/feed+json")
    result = once(write_config(tmp_path, config(source("nul", web.url("/nul.json")))))
    assert result.returncode == 0, result.stderr
    assert "source=nul status=ok items=1 new=1 matches=1" in result.stderr
    (item,) = written_items(tmp_path)
    assert (item["title"], item["url"]) == ("Visa talks", "https://x.org/ab")
    with sqlite3.connect(tmp_path / "state.db") as db:
        stored = db.execute(
            "SELECT item_key, url, canonical_url, title, summary, content, language FROM items"
        ).fetchall()
    assert stored and not any("\0" in (value or "") for row in stored for value in row)
