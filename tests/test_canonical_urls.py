"""Story identity by URL: the pair table in tests/data/url_pairs.toml, odd input,
and trusting a page's own canonical link."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from monitor.normalize import canonical_from_page, canonical_url

PAIRS_FILE = Path(__file__).parent / "data" / "url_pairs.toml"


def _pairs() -> list[Any]:
    with PAIRS_FILE.open("rb") as f:
        pairs: list[dict[str, Any]] = tomllib.load(f)["pair"]
    return [pytest.param(p["a"], p["b"], p["same"], id=p["why"]) for p in pairs]


def test_pair_table_is_well_formed() -> None:
    with PAIRS_FILE.open("rb") as f:
        pairs = tomllib.load(f)["pair"]
    assert len(pairs) >= 40
    whys = [p["why"] for p in pairs]
    assert len(set(whys)) == len(whys), "each pair needs its own why"
    for p in pairs:
        assert set(p) == {"a", "b", "same", "why"}, p
        assert isinstance(p["same"], bool), p


@pytest.mark.parametrize(("a", "b", "same"), _pairs())
def test_url_pair(a: str, b: str, same: bool) -> None:
    ca, cb = canonical_url(a), canonical_url(b)
    assert canonical_url(ca) == ca and canonical_url(cb) == cb  # idempotent
    if same:
        assert ca == cb
    else:
        assert ca != cb


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.example.org/a/?utm_source=x#top", "https://example.org/a"),
        ("http://M.Example.co.uk:80/news/", "https://example.co.uk/news"),
        ("https://news.example.org", "https://news.example.org/"),
        ("https://news.example.org:8443/a/", "https://news.example.org:8443/a"),
        ("//news.example.org/a", "https://news.example.org/a"),
        (
            "https://www-example-org.cdn.ampproject.org/c/s/www.example.org/a/amp",
            "https://example.org/a",
        ),
        ("https://www.google.co.uk/amp/s/m.example.org/a.amp", "https://example.org/a"),
        ("https://www.google.com/amp/www.example.org/a", "https://example.org/a"),
        (
            "https://news.google.com/rss/articles/CBMiAbC?oc=5",
            "https://news.google.com/rss/articles/CBMiAbC?oc=5",
        ),
        ("https://bücher.example/ü", "https://xn--bcher-kva.example/%C3%BC"),
        ("https://[::1]:8080/a", "https://[::1]:8080/a"),
        ("https://www.example.org/amp", "https://example.org/"),
    ],
)
def test_canonical_forms(url: str, expected: str) -> None:
    assert canonical_url(url) == expected
    assert canonical_url(expected) == expected  # idempotent


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "example.org/a",
        "/world/story",
        "../story",
        "?id=3",
        "#top",
        "javascript:alert(1)",
        "mailto:desk@example.org",
        "urn:uuid:1234",
        "data:text/html,<p>x</p>",
        "https:example.org/a",
        "https://",
        "https:///a",
        "https://example.org:99999/a",
        "https://example.org:abc/a",
        "https://example.org:-1/a",
        "http://[::1/a",
        "http://[not-ipv6]/a",
        "https://[::1]:8080",
        "https://例え.テスト/記事?q=ü#frag",
        "https://☃.net/",
        "https://" + "a" * 70 + ".com/a",
        "https://a..b/c",
        "https://ex ample.org/a b",
        "https://example.org/%zz?q=%zz&%zz",
        "https://example.org/" + "ü/" * 5000 + "?" + "&".join(f"k{i}=v" for i in range(2000)),
        "https://www.google.com/amp/s/" * 400 + "example.org/a",
        "https://www.google.com/amp/s/",
        "https://www.google.com/amp//x",
        "https://x.cdn.ampproject.org/c/s/",
        "https://x.cdn.ampproject.org/other",
        "https://example.org/a\x00b",
        "https://example.org/\ud800",
        "HTTP://EXAMPLE.ORG",
    ],
)
def test_odd_input_does_not_raise(url: str) -> None:
    result = canonical_url(url)
    assert isinstance(result, str)
    trusted = canonical_from_page(url, "https://example.org/a")
    assert trusted is None or trusted.startswith("https://example.org/")
    resolved = canonical_from_page("/a", url)
    assert resolved is None or resolved.startswith(("http://", "https://"))


def test_non_http_comes_back_stripped() -> None:
    for url in ("urn:uuid:1234", "javascript:void(0)", "/world/story", "example.org/a"):
        assert canonical_url(f"  {url}\n") == url
    assert canonical_url(" https://example.org:99999/a ") == "https://example.org:99999/a"


FETCHED = "https://www.example.co.uk/news/2024/story-1?utm_source=rss"


@pytest.mark.parametrize(
    ("page_canonical", "fetched", "expected"),
    [
        # same site, variants of the same host
        (
            "https://www.example.co.uk/news/2024/story-1",
            FETCHED,
            "https://example.co.uk/news/2024/story-1",
        ),
        (
            "https://m.example.co.uk/news/2024/story-1/",
            FETCHED,
            "https://example.co.uk/news/2024/story-1",
        ),
        (
            "http://amp.example.co.uk/news/2024/story-1",
            FETCHED,
            "https://example.co.uk/news/2024/story-1",
        ),
        # another subdomain of the same registrable site
        (
            "https://edition.example.co.uk/news/story-1",
            FETCHED,
            "https://edition.example.co.uk/news/story-1",
        ),
        ("https://www.example.org/a", "https://news.example.org/a.amp", "https://example.org/a"),
        # relative and protocol-relative links resolved against the fetched URL
        ("/news/2024/story-1", FETCHED, "https://example.co.uk/news/2024/story-1"),
        ("story-1-updated", FETCHED, "https://example.co.uk/news/2024/story-1-updated"),
        ("//www.example.co.uk/news/x", FETCHED, "https://example.co.uk/news/x"),
        # fetched through an AMP cache: the publisher is the site
        (
            "https://www.example.org/world/story",
            "https://www-example-org.cdn.ampproject.org/c/s/www.example.org/world/story/amp",
            "https://example.org/world/story",
        ),
        # query-named articles are not home pages
        (
            "https://blog.example.org/?p=123",
            "https://blog.example.org/?p=123&utm_source=x",
            "https://blog.example.org/?p=123",
        ),
        # another site
        ("https://www.other.co.uk/news/2024/story-1", FETCHED, None),
        ("https://example.com/news/2024/story-1", FETCHED, None),
        ("https://example.org/a", "https://example.net/a", None),
        (
            "https://evil.org/a",
            "https://www-example-org.cdn.ampproject.org/c/s/www.example.org/a",
            None,
        ),
        # co.uk is not a site
        ("https://other.co.uk/a", "https://example.co.uk/a", None),
        # the home page (a CMS bug) and its spellings
        ("https://www.example.co.uk/", FETCHED, None),
        ("/", FETCHED, None),
        ("https://www.example.co.uk", FETCHED, None),
        ("https://example.co.uk/?utm_source=x", FETCHED, None),
        ("https://example.co.uk/index.html", FETCHED, None),
        # not a usable URL
        (None, FETCHED, None),
        ("", FETCHED, None),
        ("   ", FETCHED, None),
        ("javascript:void(0)", FETCHED, None),
        ("mailto:desk@example.co.uk", FETCHED, None),
        ("ftp://example.co.uk/news/story", FETCHED, None),
        ("http://[::1/a", FETCHED, None),
        ("https://www.example.co.uk:99999/news/story", FETCHED, None),
        ("https://www.example.co.uk:abc/news/story", FETCHED, None),
        ("https://ex ample.co.uk/news/story", "https://ex ample.co.uk/x", None),
        ("/news/story", "not a url", None),
        ("/news/story", "", None),
    ],
)
def test_canonical_from_page(
    page_canonical: str | None, fetched: str, expected: str | None
) -> None:
    assert canonical_from_page(page_canonical, fetched) == expected


def test_canonical_from_page_ip_hosts() -> None:
    assert canonical_from_page("/a", "http://127.0.0.1:8080/x") == "http://127.0.0.1:8080/a"
    assert canonical_from_page("http://127.0.0.2:8080/a", "http://127.0.0.1:8080/x") is None


def test_the_shortcut_past_w3lib_gives_what_w3lib_gives() -> None:
    """URLs ``_UNCHANGED_BY_W3LIB`` lets past w3lib come back from it unchanged, and the
    ones it sends to w3lib include every kind w3lib changes."""
    import random

    from w3lib.url import canonicalize_url

    from monitor.urls import _DOT_SEGMENT, _UNCHANGED_BY_W3LIB

    rng = random.Random(7)
    hosts = ["example.com", "news.example.co.uk", "a-b.example", "x_y.example", "127.0.0.1"]
    ports = ["", ":8080", ":0"]
    # safe characters, and ones w3lib re-encodes or resolves
    alphabet = "abcXYZ019-._~!$&'()*+,=:@" + '%;[]|é ?#"<>\\^`{}'
    shortcut = changed = 0
    for _ in range(20_000):
        segments = [
            "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
            for _ in range(rng.randint(1, 4))
        ]
        if rng.random() < 0.1:
            segments.insert(rng.randint(0, len(segments)), rng.choice([".", ".."]))
        path = "/" + "/".join(segments)
        url = f"https://{rng.choice(hosts)}{rng.choice(ports)}{path}"
        if _UNCHANGED_BY_W3LIB.match(url) and not _DOT_SEGMENT.search(path):
            shortcut += 1
            assert canonicalize_url(url) == url, url
        elif canonicalize_url(url) != url:
            changed += 1
    assert shortcut > 2_000 and changed > 2_000  # both kinds were tried


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/a/./b/../c", "https://example.com/a/c"),
        ("https://example.com/a/%7euser", "https://example.com/a/~user"),
        ("https://example.com/r\u00e9sum\u00e9", "https://example.com/r%C3%A9sum%C3%A9"),
        ("https://example.com/a;x=1", "https://example.com/a;x=1"),
        ("https://example.com/a|b", "https://example.com/a|b"),
        (
            "https://example.com/2026/11/28/cuba-visas.html",
            "https://example.com/2026/11/28/cuba-visas.html",
        ),
    ],
)
def test_paths_w3lib_rewrites_still_go_through_it(url: str, expected: str) -> None:
    assert canonical_url(url) == expected
