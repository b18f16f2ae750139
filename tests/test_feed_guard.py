"""Hostile feed bodies that feedparser would have read too eagerly: entity bombs in a
DTD, and a body that names a file on this machine; and JSON Feeds nested too deeply
or holding a number of thousands of digits. Each ends in a clear ParseError without
expanding or opening anything; small text entities still read."""

from __future__ import annotations

import re
import tracemalloc
from pathlib import Path

import pytest

from monitor.errors import ParseError
from monitor.feed_guard import MAX_ENTITY_VALUE
from monitor.feeds import parse_feed
from tests.feedgen import Entry, hours_ago, rss
from tests.servers import HTTPFixture, Route
from tests.test_source_options import config, once, source, write_config, written_items

ITEM = b'<rss version="2.0"><channel><title>t</title><item><title>%s</title><link>http://x.org/1</link></item></channel></rss>'


def feed(doctype: bytes, title: bytes = b"x", newlines: bool = True) -> bytes:
    """An RSS document with ``doctype`` (declarations, one per line or all on one)."""
    sep = b"\n" if newlines else b""
    return sep.join([b'<?xml version="1.0"?>', doctype, ITEM % title])


LAUGHS = (
    b'<!DOCTYPE rss [<!ENTITY a0 "aaaaaaaaaa">'
    + b"".join(b'<!ENTITY a%d "%s">' % (i, b"&a%d;" % (i - 1) * 10) for i in range(1, 10))
    + b"]>"
)


@pytest.mark.parametrize("newlines", [True, False])  # feedparser's own check needs newlines
def test_billion_laughs_is_refused_before_any_expansion(newlines: bool) -> None:
    body = feed(LAUGHS.replace(b"><", b">\n<") if newlines else LAUGHS, b"&a9;", newlines)
    tracemalloc.start()
    try:
        with pytest.raises(ParseError, match=r"declares an entity that could expand \(a1: 40"):
            parse_feed(body, "https://x.org/feed")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000  # 10**9 "a" were one reference away


@pytest.mark.parametrize("newlines", [True, False])
def test_one_long_entity_referenced_many_times_is_refused(newlines: bool) -> None:
    doctype = b'<!DOCTYPE rss [\n<!ENTITY big "' + b"x" * 100_000 + b'">\n]>'
    with pytest.raises(ParseError, match=r"\(big: 100000 characters\)"):
        parse_feed(feed(doctype, b"&big;" * 10_000, newlines), "https://x.org/feed")


@pytest.mark.parametrize(
    ("declaration", "named"),
    [
        (b'<!ENTITY % pe "<!ENTITY x \'y\'>"> %pe;', "a parameter entity (%pe)"),
        (b'<!ENTITY file SYSTEM "file:///etc/passwd">', "an external entity (file, file:///etc/passwd)"),
        (b'<!ENTITY two "&one;&one;">', "an entity that could expand (two: 10 characters)"),
    ],
)  # fmt: skip
def test_parameter_external_and_nested_entities_are_refused(declaration: bytes, named: str) -> None:
    body = feed(b"<!DOCTYPE rss [" + declaration + b"]>", b"title")
    with pytest.raises(ParseError) as raised:
        parse_feed(body, "https://x.org/feed")
    assert f"the feed's DTD declares {named};" in str(raised.value)
    assert f"up to {MAX_ENTITY_VALUE} characters" in str(raised.value)


def test_an_unreadable_dtd_with_entities_is_refused() -> None:
    body = feed(b'<!DOCTYPE rss [<!ENTITY ok "x"> <!BROKEN> <!ENTITY big "' + b"y" * 500 + b'">]>')
    with pytest.raises(ParseError, match="declares XML entities in a DTD that does not parse"):
        parse_feed(body, "https://x.org/feed")


@pytest.mark.parametrize("codec", ["utf-8", "utf-16"])
@pytest.mark.parametrize("newlines", [True, False])
def test_small_text_entities_are_still_read(codec: str, newlines: bool) -> None:
    doctype = b'<!DOCTYPE rss [\n<!ENTITY nbsp "&#160;">\n<!ENTITY copy "(C)">\n]>'
    body = feed(doctype, b"Visa&nbsp;talks &copy;", newlines)
    if codec != "utf-8":
        body = body.replace(b'version="1.0"?>', b'version="1.0" encoding="utf-16"?>')
        body = body.decode("utf-8").encode(codec)
    (item,) = parse_feed(body, "https://x.org/feed").items
    # feedparser reads &copy; as the DTD says, or (all on one line) as HTML's ©
    assert item.title in ("Visa talks (C)", "Visa talks ©")


def test_the_same_bomb_in_utf16_is_refused() -> None:
    body = feed(b'<!DOCTYPE rss [<!ENTITY big "' + b"x" * 100 + b'">]>', b"&big;" * 100)
    body = body.replace(b'version="1.0"?>', b'version="1.0" encoding="utf-16"?>')
    with pytest.raises(ParseError, match=r"\(big: 100 characters\)"):
        parse_feed(body.decode("utf-8").encode("utf-16"), "https://x.org/feed")


def test_entity_text_in_the_content_of_a_plain_feed_is_not_a_declaration() -> None:
    """A feed without a DTD that goes to feedparser (an undefined &nbsp;) and quotes a
    declaration in its content is read."""
    body = b'<?xml version="1.0"?>' + ITEM % b"Entity&nbsp;bombs explained"
    body = body.replace(
        b"</item>", b"<description><![CDATA[<!ENTITY a 'b'>]]></description></item>"
    )
    (item,) = parse_feed(body, "https://x.org/feed").items
    assert item.title == "Entity bombs explained"


def test_a_body_naming_a_local_file_is_not_read_from_disk(tmp_path: Path) -> None:
    """feedparser opens bytes that name a file: the body goes to it as a stream."""
    secret = tmp_path / "secret.xml"
    secret.write_bytes(rss("Secret", [Entry("Local secret", "http://internal/1", "visa")]))
    with pytest.raises(ParseError, match="not an RSS or Atom feed"):
        parse_feed(str(secret).encode(), "https://x.org/feed")


@pytest.mark.parametrize(
    ("title", "problem"),
    [("[" * 100_000 + "]" * 100_000, "JSON nested too deeply"),
     ("9" * 5000, "invalid JSON (Exceeds the limit")],
)  # fmt: skip
def test_json_feeds_too_deep_or_with_huge_numbers_are_parse_errors(
    title: str, problem: str
) -> None:
    body = '{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "1", "title": %s}]}'
    with pytest.raises(ParseError, match=re.escape(problem)):
        parse_feed((body % title).encode(), "https://x.org/feed.json")


def test_hostile_feeds_fail_alone_in_a_pass(web: HTTPFixture, tmp_path: Path) -> None:
    """End to end: the bomb and the file name fail with their reason; the other source's
    alert goes out, and nothing of the local file does."""
    secret = tmp_path / "secret.xml"
    secret.write_bytes(rss("Secret", [Entry("Visa secret", "http://internal/1", "visa")]))
    web.routes["/bomb.xml"] = Route(feed(LAUGHS, b"&a9; visa"))
    web.routes["/path.xml"] = Route(str(secret).encode())
    web.routes["/quick.xml"] = Route(
        rss("Quick", [Entry("Visa news", web.url("/q/1"), "visa", published=hours_ago(1))])
    )
    sources = "".join(source(n, web.url(f"/{n}.xml")) for n in ("bomb", "path", "quick"))
    result = once(write_config(tmp_path, config(sources)))
    assert result.returncode == 1, result.stderr
    (bomb,) = [x for x in result.stderr.splitlines() if "source=bomb status=" in x]
    assert "status=error" in bomb and "declares an entity that could expand" in bomb, bomb
    (path,) = [x for x in result.stderr.splitlines() if "source=path status=" in x]
    assert "status=error" in path and "not an RSS or Atom feed" in path, path
    assert "source=quick status=ok items=1 new=1 matches=1" in result.stderr
    assert [i["title"] for i in written_items(tmp_path)] == ["Visa news"]
