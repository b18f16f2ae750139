"""Control characters from a feed or page never reach an item, a digest or a terminal.

A feed's title can carry an escape sequence (``ESC [ 2 J`` clears the screen, ``ESC ]
0 ;`` sets a terminal's title): before, ``news-monitor preview`` printed it as it
came, and so did every ``.eml`` and the text of every digest. The XML the fast reader
reads allows no C0 control, but an escaped ``&amp;#27;`` in a description becomes one
when its HTML is read; JSON (``\\u001b``), feedparser's lenient reading and HTML pages
pass them through as they are.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.controls import without_controls
from monitor.extract import extract_article
from monitor.feeds import parse_feed
from monitor.pages import find_links
from tests.conftest import run_cli, write_config
from tests.servers import HTTPFixture, Route

ESC = "\x1b"
CONTROLS = [chr(c) for c in (*range(9), 11, 12, *range(14, 32), 127, *range(0x80, 0xA0))]


def _clean(value: str | None) -> bool:
    return not any(c in (value or "") for c in CONTROLS) and not any(
        "\ud800" <= c <= "\udfff" for c in value or ""
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Visa {ESC}[31mtalks{ESC}[0m", "Visa [31mtalks[0m"),
        ("Cuba\x00 \x07visa\x7f", "Cuba visa"),
        ("C1: \x9b2J \x9d0;x\x9c end", "C1: 2J 0;x end"),
        ("lone \ud800surrogate", "lone surrogate"),
        # what stays: tab, line feed, carriage return, and every printable character
        ("tab\tline\nreturn\r", "tab\tline\nreturn\r"),
        (
            "¿Visa\u00a0a Cuba? Ünïcödé — 한국어 — 𝕏 «»",
            "¿Visa\u00a0a Cuba? Ünïcödé — 한국어 — 𝕏 «»",
        ),
        ("x" * 300 + ESC + "y" * 300, "x" * 300 + "y" * 300),  # the long path
    ],
)
def test_without_controls(text: str, expected: str) -> None:
    assert without_controls(text) == expected


FEEDS = {
    # well-formed XML: the fast reader; the control characters come from escaped HTML
    "escaped-html": (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><item>'
        b"<guid>g1</guid><link>https://x.org/a</link><title>Visa &amp;#27;[2Jtalks</title>"
        b"<description>&lt;p&gt;Cuba &amp;#x1b;]0;pwned&amp;#7; visa&lt;/p&gt;</description>"
        b"</item></channel></rss>",
        "application/rss+xml",
    ),
    # raw control bytes: not XML, read leniently by feedparser
    "raw-bytes": (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>T\x1b[1m</title><item>'
        b"<guid>g\x1b1</guid><link>https://x.org/a\x1b[1m</link><title>Visa \x1b[2Jtalks</title>"
        b"<description>Cuba \x1b]0;pwned\x07 visa</description></item></channel></rss>",
        "application/rss+xml",
    ),
    "json-feed": (
        json.dumps(
            {
                "version": "https://jsonfeed.org/version/1.1",
                "title": "T\u001b[1m",
                "language": "en\u001b",
                "items": [
                    {
                        "id": "g\u001b1",
                        "url": "https://x.org/a\u001b[1m",
                        "title": "Visa \u001b[2Jtalks \u009b",
                        "summary": "Cuba \u001b]0;pwned\u0007 visa",
                        "content_text": "Cuba \u001b[2J visa, the article's text, longer",
                    }
                ],
            }
        ).encode(),
        "application/feed+json",
    ),
}


@pytest.mark.parametrize("kind", list(FEEDS))
def test_no_control_character_reaches_an_item(kind: str) -> None:
    body, content_type = FEEDS[kind]
    feed = parse_feed(body, "https://x.org/feed", {"content-type": content_type})
    (item,) = (entry.build() for entry in feed.entries)
    assert "Visa" in item.title and "talks" in item.title
    assert item.url is None or item.url.startswith("https://x.org/a")
    fields = (feed.title, feed.language, item.key, item.url, item.canonical_url, item.title,
              item.summary, item.content)  # fmt: skip
    assert all(_clean(value) for value in fields), fields


def test_a_json_feed_with_lone_surrogates_is_read() -> None:
    """JSON can escape half of a surrogate pair ("\\ud800"), which no encoder takes:
    hashing the item raised UnicodeEncodeError, and the source failed on every poll."""
    body = json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "T\ud800",
            "items": [
                {
                    "title": "Visa \udc00talks",
                    "summary": "S\ud800",
                    "content_html": "<p>\ud800x</p>",
                },
                {"id": "a\ud800", "url": "https://x.org/\ud800a", "title": "Cuba"},
            ],
        }
    ).encode()
    feed = parse_feed(body, "https://x.org/feed", {"content-type": "application/feed+json"})
    items = [entry.build() for entry in feed.entries]
    assert [i.title for i in items] == ["Visa talks", "Cuba"]
    assert (items[1].key, items[1].url) == ("a", "https://x.org/a")
    for item in items:
        fields = (item.key, item.url, item.title, item.summary, item.content)
        assert all(_clean(value) for value in fields), fields


def test_no_control_character_reaches_a_listing_link() -> None:
    page = (
        '<html><body><main><article><h2><a href="/2026/11/visa-talks\x1b[1m-resume">'
        "Visa talks\x1b[2J resume in Havana\x07</a></h2></article>"
        '<article><h2><a href="/2026/11/consulate-reopens">Consulate reopens\x9b</a></h2>'
        "</article></main></body></html>"
    )
    links = find_links(page, "https://embassy.example.org/news/", "article h2 a")
    assert [link.title for link in links] == [
        "Visa talks[2J resume in Havana",
        "Consulate reopens",
    ]
    assert all(_clean(link.url) for link in links), [link.url for link in links]


def test_no_control_character_reaches_an_article() -> None:
    """Article text (``full_text``, ``explain --url``) comes from the page's HTML."""
    # (a few: a page of many control characters is taken for a binary file, not HTML)
    paragraph = "<p>Cuba visa talks resumed in Havana with the consular staff of both.</p>"
    page = (
        "<html><head><title>Visa\x1b[2J talks</title></head><body><article>"
        f"<h1>Visa\x1b[2J talks</h1>{paragraph * 4}"
        "<p>In Havana \x1b]0;pwned\x07 with consular staff.</p></article></body></html>"
    )
    article = extract_article(page, "https://x.org/a")
    assert article.title == "Visa[2J talks"
    assert "Havana ]0;pwned with" in article.text
    assert _clean(article.title) and _clean(article.text.replace("\n", " "))


def test_preview_prints_no_escape_sequence_from_a_feed(web: HTTPFixture, tmp_path: Path) -> None:
    """The end-to-end case: a JSON Feed's escape sequences, polled and previewed."""
    web.routes["/f.json"] = Route(FEEDS["json-feed"][0], content_type="application/feed+json")
    path = write_config(tmp_path, f"""
[[sources]]
name = "esc"
url = "{web.url('/f.json')}"

[[watches]]
name = "visa"
terms = ["visa"]

[[channels]]
name = "local"
type = "file"
path = "out"

[[subscribers]]
name = "newsroom"
watches = ["visa"]
channels = ["local"]
schedule = "0 8 * * *"
""")  # fmt: skip
    polled = run_cli("once", config=path)
    assert polled.returncode == 0, polled.stderr
    preview = run_cli("preview", "newsroom", config=path)
    assert preview.returncode == 0, preview.stderr
    assert "Visa [2Jtalks" in preview.stdout
    assert _clean(preview.stdout.replace("\n", " ")), repr(preview.stdout)
    sources = run_cli("sources", config=path)
    assert _clean(sources.stdout.replace("\n", " ")), repr(sources.stdout)
