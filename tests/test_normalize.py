from __future__ import annotations

import pytest

from monitor.normalize import canonical_url, html_to_text

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
