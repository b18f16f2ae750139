from __future__ import annotations

import random
from pathlib import Path

import pytest

from monitor.normalize import _PLAIN_TAGS, _parsed_text, _plain_text, canonical_url, html_to_text

SAME = [
    ("https://news.example.org/a?utm_source=x#top", "https://news.example.org/a"),
    ("HTTPS://News.Example.ORG:443/a", "https://news.example.org/a"),
    ("http://news.example.org:80/a", "http://news.example.org/a"),
    ("https://news.example.org/a?b=2&a=1", "https://news.example.org/a?a=1&b=2"),
    ("https://news.example.org/a?id=3&fbclid=abc&gclid=z&utm_medium=rss", "https://news.example.org/a?id=3"),
    ("https://news.example.org/a?mc_cid=1&mc_eid=2", "https://news.example.org/a"),
    ("https://news.example.org", "https://news.example.org/"),
    ("  https://news.example.org/a  ", "https://news.example.org/a"),
]  # fmt: skip
DIFFERENT = [
    ("https://news.example.org/a?id=3", "https://news.example.org/a?id=4"),
    ("https://news.example.org/a", "https://news.example.org/b"),
    ("https://news.example.org/a", "https://other.example.org/a"),
    ("https://news.example.org:8443/a", "https://news.example.org/a"),
]


@pytest.mark.parametrize(("a", "b"), SAME)
def test_same_story_urls(a: str, b: str) -> None:
    assert canonical_url(a) == canonical_url(b)


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_urls(a: str, b: str) -> None:
    assert canonical_url(a) != canonical_url(b)


def test_non_http_left_alone() -> None:
    assert canonical_url("urn:uuid:1234") == "urn:uuid:1234"


def test_html_to_text() -> None:
    assert html_to_text("<p>Talks in <b>Havana</b> &amp; Washington</p><script>x()</script>") == (
        "Talks in Havana & Washington"
    )
    assert html_to_text("plain   text\n here") == "plain text here"
    assert html_to_text("") == ""


# --- html_to_text without the parser (normalize._plain_text) ------------------------


def _random_markup(rng: random.Random, depth: int = 0) -> str:
    """Nested markup: the tags read without the parser and some that are not."""
    tags = [*sorted(_PLAIN_TAGS), "table", "td", "script", "textarea", "svg", "title", "nav"]
    texts = ["Cuba", "visa", " ", "\n", "\t", "a > b", "x&y", "é", "'", '"', "&amp;", "&lt;b&gt;",
             "&copy2026", "&notit;", "&#233;", "&#x80;", "&#0;", "&#1;", "&#xFFFE;", "&nbsp;",
             "&bogus;", "&AMP;", "<!-- c -->", "</b>", "<"]  # fmt: skip
    attrs = ["", ' href="http://x.test/?a=1&b=2"', " title='x>y'", " class=z", ' data-x="<b>"',
             " disabled", ' alt="a"/', " a=b\"c"]  # fmt: skip
    out = []
    for _ in range(rng.randint(1, 4)):
        if rng.random() < 0.5 or depth > 4:
            out.append(rng.choice(texts))
            continue
        tag = rng.choice(tags)
        name = tag.upper() if rng.random() < 0.1 else tag
        end = f"</{tag}>" if rng.random() < 0.9 else ""
        out.append(f"<{name}{rng.choice(attrs)}>{_random_markup(rng, depth + 1)}{end}")
    return "".join(out)


def test_plain_markup_gives_the_parser_s_text() -> None:
    """Wherever ``_plain_text`` answers, it answers what the HTML parser gives."""
    rng = random.Random(20261128)
    answered = 0
    for _ in range(4000):
        fragment = _random_markup(rng)
        plain = _plain_text(fragment)
        if plain is not None:
            answered += 1
            assert plain == _parsed_text(fragment), fragment
    assert answered > 500  # the shortcut was taken often enough to mean something


def test_character_references_decode_as_the_parser_decodes_them() -> None:
    import html.entities

    samples = [f"a&#{c};b<p>c</p>" for c in (*range(0x120), 0xFDD0, 0xFFFE, 0x1FFFF, 0x110000)]
    samples += [f"x&{name.rstrip(';')}y<b>z</b>" for name in list(html.entities.html5)[::7]]
    for fragment in samples:
        assert html_to_text(fragment) == _parsed_text(fragment), fragment


@pytest.mark.parametrize(
    "fragment",
    [
        "visa&</strong>visa",  # an end tag with nothing to close: one text node
        "<h2>a<h3>b</h3>c</h2>d",  # a heading closes the open heading: c and d merge
        "<p>a<div>b</div>c</p>",  # a <div> closes the <p>
        "<p><span>a<hr>b</span>c</p>",  # so does <hr>; </span> is then ignored: b and c merge
        "<table>x<tr><td>y</td></tr></table>",  # x is moved before the table
        "<textarea><b>raw</b></textarea>",  # raw text
        "a<!-- note -->b",
        "<b>a<i>b</b>c</i>",  # misnested
    ],
)
def test_markup_a_parser_reshapes_goes_to_the_parser(fragment: str) -> None:
    assert _plain_text(fragment) is None
    assert html_to_text(fragment) == _parsed_text(fragment)


def test_feed_fixtures_read_the_same_with_and_without_the_parser() -> None:
    import feedparser

    fragments = []
    for path in sorted((Path(__file__).parent / "fixtures").rglob("*.xml")):
        for entry in feedparser.parse(path.read_bytes()).entries:
            fragments.append(entry.get("summary", ""))
            fragments += [part.get("value", "") for part in entry.get("content", [])]
    assert len(fragments) > 50
    for fragment in fragments:
        assert html_to_text(fragment) == _parsed_text(fragment), fragment
