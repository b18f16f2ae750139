from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.errors import ParseError
from monitor.feeds import parse_feed
from tests.feedgen import Entry, atom, rss

WHEN = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_rss2_items_keyed_by_guid_else_canonical_link() -> None:
    body = rss(
        "Desk",
        [
            Entry(
                "With guid", "https://x.org/a?utm_source=rss", "<p>Hi <b>there</b></p>", "g-1", WHEN
            ),
            Entry("No guid", "https://x.org/b?utm_campaign=c#frag", "plain"),
        ],
    )
    feed = parse_feed(body, "https://x.org/feed")
    assert feed.title == "Desk"
    first, second = feed.items
    assert first.key == "g-1"
    assert first.summary == "Hi there"
    assert first.published_at == WHEN
    assert first.canonical_url == "https://x.org/a"
    assert first.language == "en"
    assert second.key == "https://x.org/b"
    assert second.published_at is None


def test_atom() -> None:
    feed = parse_feed(
        atom(
            "Atom desk",
            [Entry("Cuba talks", "https://x.org/c", "Visa <i>news</i>", "urn:x:1", WHEN)],
        ),
        "https://x.org/atom",
    )
    (item,) = feed.items
    assert item.key == "urn:x:1"
    assert item.title == "Cuba talks"
    assert item.summary == "Visa news"
    assert item.published_at == WHEN


def test_rss1_rdf() -> None:
    body = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://x.org/"><title>RDF desk</title><link>https://x.org/</link></channel>
  <item rdf:about="https://x.org/r1"><title>Havana consulate reopens</title><link>https://x.org/r1</link>
    <dc:date>2026-11-23T10:00:00Z</dc:date></item>
</rdf:RDF>"""
    (item,) = parse_feed(body, "https://x.org/rdf").items
    assert item.title == "Havana consulate reopens"
    assert item.published_at == WHEN


def test_rss091() -> None:
    body = b"""<?xml version="1.0"?><rss version="0.91"><channel><title>Old</title>
<link>https://x.org/</link><description>d</description>
<item><title>Visa rules</title><link>https://x.org/v</link><description>text</description></item>
</channel></rss>"""
    (item,) = parse_feed(body, "https://x.org/091").items
    assert item.key == "https://x.org/v"


def test_content_encoded_is_kept_when_longer() -> None:
    body = b"""<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>T</title><link>https://x.org/</link><description>d</description>
<item><title>T1</title><link>https://x.org/1</link><description>Short.</description>
<content:encoded><![CDATA[<p>Short. And a much longer body that mentions the Havana consulate.</p>]]></content:encoded></item>
</channel></rss>"""
    (item,) = parse_feed(body, "https://x.org/f").items
    assert "Havana consulate" in item.body


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty response"),
        (b"   \n", "empty response"),
        (b"<!DOCTYPE html><html><body><p>Hello</p></body></html>", "sent an HTML page"),
        (b'{"error": "nope"}', "sent JSON"),
        (b"\x00\x01\x02garbage\xff\xfe", "not an RSS or Atom feed"),
    ],
)
def test_not_a_feed(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_feed(body, "https://x.org/feed")
