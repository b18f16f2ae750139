"""Charset names that are Python codecs but no character set (``idna``, ``punycode``,
the ``unicode-escape`` pair, ``charmap``, ``undefined``): a feed declaring one is
refused at once, a server's header naming one is ignored, and an HTML page naming one
decodes as if it named none. Unknown names are still left to the readers."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.charsets import NOT_CHARSETS, is_foreign, without_foreign_charset
from monitor.errors import ParseError
from monitor.feeds import parse_feed, parse_feed_reference
from monitor.pages import decode_html
from tests.feedgen import Entry, hours_ago, rss
from tests.servers import HTTPFixture, Route
from tests.test_source_options import config, once, source, write_config, written_items

FEED = (
    b'<?xml version="1.0"%s?><rss version="2.0"><channel><title>t</title><item>'
    b"<title>Visa caf\xc3\xa9</title><link>http://x.org/1</link></item></channel></rss>"
)


def punycode_feed(characters: int) -> bytes:
    """A feed that really is punycode: its ASCII in order, then the other characters."""
    cjk = "".join(chr(0x4E00 + (n * 7919) % 20000) for n in range(characters))
    document = (
        '<?xml version="1.0" encoding="punycode"?><rss version="2.0"><channel><title>t</title>'
        f"<item><title>Visa {cjk}</title><link>http://x.org/1</link></item></channel></rss>"
    )
    return document.encode("punycode")


def test_the_foreign_names_and_their_aliases_are_known() -> None:
    for name in (*NOT_CHARSETS, "IDNA", "Punycode", "unicode_escape", "raw_unicode_escape"):
        assert is_foreign(name), name
    for name in ("utf-8", "UTF8", "iso-8859-1", "windows-1252", "shift_jis", "utf-7", "x-nope"):
        assert not is_foreign(name), name
    assert is_foreign("utf\x008")  # codecs.lookup raises ValueError on a NUL


def test_a_feed_that_really_is_punycode_is_refused_before_decoding() -> None:
    """Decoding one of 237 KB took 0.64 s, quadratic in its size (~20 min at 10 MB).
    This one is small (encoding is slower still); the refusal does not read the body."""
    body = punycode_feed(1000)
    assert body.decode("punycode").startswith('<?xml version="1.0" encoding="punycode"?>')
    for parse in (parse_feed, parse_feed_reference):
        with pytest.raises(ParseError) as raised:
            parse(body, "https://x.org/feed")
        assert str(raised.value) == (
            "the feed declares the encoding 'punycode', which is not a charset"
        )


@pytest.mark.parametrize(
    "name", ["idna", "IDNA", "unicode_escape", "raw-unicode-escape", "charmap"]
)
def test_a_declared_codec_that_is_no_charset_is_a_parse_error(name: str) -> None:
    body = FEED % f' encoding="{name}"'.encode()
    with pytest.raises(ParseError, match=f"declares the encoding '{name.lower()}', which is not"):
        parse_feed(body, "https://x.org/feed")


@pytest.mark.parametrize("name", ["punycode", "idna", '"punycode"', "undefined"])
def test_a_header_charset_that_is_no_charset_is_ignored(name: str) -> None:
    """Before, ``punycode`` or ``idna`` here raised a bare UnicodeError (an internal
    error), from the fast reader and from feedparser alike."""
    headers = {"content-type": f"application/rss+xml; charset={name}"}
    for parse in (parse_feed, parse_feed_reference):
        (item,) = parse(FEED % b"", "https://x.org/feed", headers).items
        assert item.title == "Visa café"


def test_only_the_foreign_charset_parameter_is_dropped() -> None:
    headers = {"content-type": "application/rss+xml; charset=idna; q=1", "etag": '"x"'}
    assert without_foreign_charset(headers) == {
        "content-type": "application/rss+xml; q=1",
        "etag": '"x"',
    }
    kept = {"content-type": "application/rss+xml; charset=utf-8"}
    assert without_foreign_charset(kept) is kept
    assert without_foreign_charset(None) is None


def test_an_unknown_declared_name_is_still_read_leniently() -> None:
    (item,) = parse_feed(FEED % b' encoding="x-no-such-charset"', "https://x.org/feed").items
    assert item.title.startswith("Visa caf")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<html><head><meta charset=idna></head><body>caf\xc3\xa9</body></html>", None),
        (b"<html><head><meta charset=punycode></head><body>caf\xc3\xa9</body></html>", None),
        (b"<html><body>caf\xc3\xa9</body></html>", "text/html; charset=punycode"),
    ],
)
def test_an_html_page_naming_no_charset_decodes_as_utf8(
    body: bytes, content_type: str | None
) -> None:
    """Before, ``idna`` raised a bare UnicodeError out of ``decode_html``."""
    assert decode_html(body, content_type).endswith("café</body></html>")


def test_a_punycode_feed_fails_alone_and_a_foreign_header_is_ignored(
    web: HTTPFixture, tmp_path: Path
) -> None:
    web.routes["/puny.xml"] = Route(punycode_feed(1000))
    web.routes["/header.xml"] = Route(
        rss("Header", [Entry("Visa news", web.url("/h/1"), "visa", published=hours_ago(1))]),
        content_type="application/rss+xml; charset=idna",
    )
    sources = "".join(source(n, web.url(f"/{n}.xml")) for n in ("puny", "header"))
    result = once(write_config(tmp_path, config(sources)))
    assert result.returncode == 1, result.stderr
    (puny,) = [x for x in result.stderr.splitlines() if "source=puny status=" in x]
    assert "status=error" in puny and "declares the encoding 'punycode'" in puny, puny
    assert "source=header status=ok items=1 new=1 matches=1" in result.stderr
    assert [i["title"] for i in written_items(tmp_path)] == ["Visa news"]
