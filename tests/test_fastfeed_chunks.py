"""Entries unchanged since the last poll are not read again (``fastfeed_chunks``).

Property over the benchmark farm's feeds (RSS, WordPress-style RSS, Atom): a feed
read with the hashes of its previous version returns exactly the entries whose text
changed, built exactly as a full read builds them, with the same size, dates and
hashes. Then the cases where the text search must not be trusted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor import fastfeed
from monitor.fastfeed import parse_fast
from monitor.fastfeed_chunks import entry_chunks, without_children
from monitor.feeds import parse_feed
from monitor.models import ParsedFeed
from tests.feedgen import Entry, atom, hours_ago, rss
from tests.test_fastfeed import farm_feeds

URL = "https://feeds.example.org/news/feed.xml"
NOW = 1_795_000_000.0


def farm_versions(seed: int, count: int) -> list[tuple[bytes, bytes, str]]:
    """Each feed as the farm serves it, then after one new item was published."""
    before = farm_feeds(seed, count, published=0, now=NOW)
    after = farm_feeds(seed, count, published=1, now=NOW)
    return [(old, new, url) for (old, url), (new, _) in zip(before, after, strict=True)]


def check_skipping(before: bytes, after: bytes, url: str) -> ParsedFeed:
    first = parse_fast(before, url)
    assert first is not None and first.entry_hashes is not None
    skipping = parse_fast(after, url, unchanged=first.entry_hashes)
    full = parse_fast(after, url)
    assert skipping is not None and full is not None
    assert skipping.size == full.size
    assert sorted(d.timestamp() for d in skipping.dates if d) == sorted(
        d.timestamp() for d in full.dates if d
    )
    assert skipping.entry_hashes == full.entry_hashes
    assert (skipping.title, skipping.language, skipping.publisher_delay) == (
        full.title, full.language, full.publisher_delay,
    )  # fmt: skip
    # the entries read are the full read's, built the same; those left out were read
    # before with the very same raw text
    by_key = {e.key: e for e in full.entries}
    assert all(by_key[e.key].build() == e.build() for e in skipping.entries)
    previous = {e.key: e.raw_hash for e in first.entries}
    read = {e.key for e in skipping.entries}
    for entry in full.entries:
        if entry.key not in read:
            assert previous.get(entry.key) == entry.raw_hash, entry.key
    return skipping


def test_a_farm_feed_with_one_new_item_reads_only_that_item() -> None:
    versions = farm_versions(seed=3, count=40)
    read = []
    for before, after, url in versions:
        skipping = check_skipping(before, after, url)
        read.append(len(skipping.entries))
    assert max(read) == 1 and sum(read) == len(versions)  # the new item, nothing else


def test_a_changed_entry_is_read_again() -> None:
    entries = [Entry(f"Story {i}", f"https://x.org/{i}", f"<p>Text {i}</p>",
                     published=hours_ago(i + 1)) for i in range(6)]  # fmt: skip
    changed = list(entries)
    changed[2] = Entry(
        "Story 2", "https://x.org/2", "<p>Corrected text</p>", published=hours_ago(3)
    )
    for render in (rss, atom):
        skipping = check_skipping(render("F", entries), render("F", changed), URL)
        assert [e.key for e in skipping.entries] == ["https://x.org/2"]


def test_hashes_of_another_document_skip_nothing() -> None:
    entries = [Entry(f"Story {i}", f"https://x.org/{i}", "Text") for i in range(4)]
    body = rss("F", entries)
    first = parse_fast(body, URL)
    assert first is not None and first.entry_hashes is not None
    # the same entries under another base URL could read differently (relative links)
    elsewhere = parse_fast(body, "https://other.example.net/feed", unchanged=first.entry_hashes)
    assert elsewhere is not None and len(elsewhere.entries) == 4
    again = parse_fast(body, URL, unchanged=first.entry_hashes)
    assert again is not None and again.entries == () and again.size == 4
    assert again.dates == (None, None, None, None)  # undated entries stay undated


def test_text_that_could_mislead_the_search_turns_skipping_off() -> None:
    body = rss("F", [Entry("One", "https://x.org/1"), Entry("Two", "https://x.org/2")])
    for sneaky in (b"<!-- <item>old</item> -->", b"<![CDATA[ </item> ]]>"):
        doc = body.replace(b"<channel>", b"<channel><description>" + sneaky + b"</description>")
        if b"CDATA" not in sneaky:
            doc = body.replace(b"<channel>", b"<channel>" + sneaky)
        assert entry_chunks(doc.decode(), []) is None
        parsed = parse_fast(doc, URL)
        assert parsed is not None and parsed.entry_hashes is None


def test_a_search_that_disagrees_with_the_reader_reads_everything() -> None:
    """A self-closing item with '>' in an attribute: the text search merges it with the
    next one, the counts differ, and the document is read in full, without hashes."""
    body = rss("F", [Entry("One", "https://x.org/1"), Entry("Two", "https://x.org/2")])
    odd = body.replace(b"<item>", b'<item note="a>b"/><item>', 1)
    first = parse_fast(odd, URL)
    reference = parse_feed(odd, URL)
    assert first is not None and first.entry_hashes is None
    assert first == reference and first.size == 3


def test_feeds_read_by_feedparser_have_no_hashes() -> None:
    body = (Path(__file__).parent / "fixtures" / "feeds" / "rss-nbsp.xml").read_bytes()
    assert parse_fast(body, URL) is None
    assert parse_feed(body, URL).entry_hashes is None


def test_reader_state_after_a_skipped_entry_is_as_after_reading_it() -> None:
    """An entry's title decides whether a later channel <title> counts; a skipped entry
    must leave the reader as reading it would (here: the feed title)."""
    entries = [Entry(f"Story {i}", f"https://x.org/{i}", "Text") for i in range(3)]
    body = rss("Early title", entries).replace(
        b"</channel>", b"<title>Late title</title></channel>"
    )
    # every entry unchanged (only the channel's description changed): all are skipped
    newer = body.replace(b"Fixture feed", b"Fixture feed, updated")
    skipping = check_skipping(body, newer, URL)
    assert skipping.entries == () and skipping.size == 3
    assert skipping.title == parse_feed(newer, URL).title == "Late title"


def test_stored_hashes_that_do_not_parse_skip_nothing() -> None:
    body = rss("F", [Entry("One", "https://x.org/1"), Entry("Two", "https://x.org/2")])
    first = parse_fast(body, URL)
    assert first is not None and first.entry_hashes is not None
    context = first.entry_hashes.split()[0]
    for stored in (f"{context} garbage", f"{context} abc:notanumber:t", f"{context} a=1"):
        again = parse_fast(body, URL, unchanged=stored)
        assert again is not None and len(again.entries) == 2


def rss_items(*items: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>F</title>'
        "<link>https://x.org/</link>" + "".join(items) + "</channel></rss>"
    ).encode()


def test_markup_the_search_could_misalign_on_is_not_hashed() -> None:
    """Found in review: each of these once let a changed entry be skipped (or cost a
    second read). Now the document gets no hashes, or the right ones."""
    plain = "<item><guid>https://x.org/b</guid><title>B</title></item>"
    nested = (
        '<item><guid>https://x.org/a</guid><title>A</title><extra xmlns="urn:x">'
        "<item>x</item></extra><description>text</description></item>"
    )
    capital = "<Item><guid>https://x.org/c</guid><title>C</title></Item>"
    for doc in (rss_items(nested, plain), rss_items(capital, plain)):
        parsed = parse_fast(doc, URL)
        if parsed is not None:  # (or feedparser reads it: no hashes either way)
            assert parsed.entry_hashes is None
    assert entry_chunks(rss_items(capital, plain).decode(), []) is None


def test_self_closing_entries_with_attributes_are_cut_right() -> None:
    for empty in ("<item />", '<item a="1"/>', "<item/>"):
        text = rss_items(empty, "<item><guid>https://x.org/b</guid></item>").decode()
        found = entry_chunks(text, [])
        assert found is not None and len(found[0]) == 2, empty


def test_a_prefix_bound_to_two_namespaces_is_not_hashed() -> None:
    decls = [
        ("a", "http://purl.org/dc/elements/1.1/"),
        ("a", "http://purl.org/rss/1.0/modules/content/"),
    ]
    assert entry_chunks(rss_items().decode(), decls) is None
    assert entry_chunks(rss_items().decode(), decls[:1]) is not None


def test_a_key_listed_twice_keeps_every_entry_readable() -> None:
    """Only the first of two entries with one key is stored; the other must not be
    skipped later as if it had been read and stored."""
    first = Entry("First version", "https://x.org/k", guid="k")
    second = Entry("Second version", "https://x.org/k", guid="k")
    before = rss("F", [first, second])
    parsed = parse_fast(before, URL)
    assert parsed is not None and parsed.entry_hashes is None
    after = rss("F", [Entry("New", "https://x.org/n", guid="n"), second])
    again = parse_fast(after, URL, unchanged=parsed.entry_hashes)
    assert again is not None and [e.key for e in again.entries] == ["n", "k"]


def _parsed_texts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text the fast reader hands to the XML parser, from now on."""
    texts: list[str] = []
    real = fastfeed.ET.fromstring

    def spy(text: str) -> Any:
        texts.append(text)
        return real(text)

    monkeypatch.setattr(fastfeed.ET, "fromstring", spy)
    return texts


def test_entries_read_before_are_parsed_without_their_content(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only the new entry and the channel go through the XML parser; the result is the
    full read's (``check_skipping``)."""
    before, after, url = farm_versions(seed=5, count=1)[0]
    first = parse_fast(before, url)
    assert first is not None and first.entry_hashes is not None
    texts = _parsed_texts(monkeypatch)
    check_skipping(before, after, url)
    cut = texts[1]  # check_skipping parses: before, after with hashes, after in full
    assert len(cut) < len(texts[2]) / 5
    assert cut.count("<item>") + cut.count("<entry>") == texts[2].count("<item>") + texts[2].count(
        "<entry>"
    )  # every entry keeps its place


def test_a_malformed_new_entry_fails_as_in_a_full_read() -> None:
    entries = [Entry(f"Story {i}", f"https://x.org/{i}", "Text") for i in range(4)]
    body = rss("F", entries)
    first = parse_fast(body, URL)
    assert first is not None and first.entry_hashes is not None
    broken = body.replace(b"<item>", b"<item><title>New</item>\n<item>", 1)
    assert parse_fast(broken, URL) is None
    assert parse_fast(broken, URL, unchanged=first.entry_hashes) is None


def test_a_new_namespace_reads_every_entry_in_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another context (a namespace declared on the root): the entries cut out for the
    parse must be read after all, from the whole text."""
    entries = [Entry(f"Story {i}", f"https://x.org/{i}", "Text") for i in range(4)]
    body = rss("F", entries)
    first = parse_fast(body, URL)
    assert first is not None and first.entry_hashes is not None
    newer = body.replace(b'<rss version="2.0">', b'<rss version="2.0" xmlns:x="urn:x">')
    texts = _parsed_texts(monkeypatch)
    again = parse_fast(newer, URL, unchanged=first.entry_hashes)
    assert again is not None and again == parse_fast(newer, URL)
    assert len(again.entries) == 4
    # the cut text (parsed first) was put aside for the whole one, as a full read parses
    cut, whole, reference = texts
    assert len(cut) < len(whole) and whole == reference


def test_without_children_keeps_every_entry_s_tags() -> None:
    text = rss_items(
        '<item a="1"><guid>https://x.org/a</guid></item>',
        "<item/>",
        "<item><guid>https://x.org/b</guid></item>",
    ).decode()
    found = entry_chunks(text, [])
    assert found is not None
    hashes, spans = found
    cut = without_children(text, hashes, spans, {hashes[0], hashes[1]})
    assert '<item a="1"></item><item/><item><guid>https://x.org/b</guid></item>' in cut
    assert without_children(text, hashes, spans, set()) is text


def test_an_entry_that_no_longer_parses_in_a_new_context_fails_as_in_a_full_read() -> None:
    """The root stops declaring a prefix that unchanged entries use: cut, they would
    parse; the context differs, so the whole text is parsed, and fails, as before."""
    items = "".join(
        f"<item><guid>https://x.org/{i}</guid><title>T{i}</title><x:tag>a</x:tag></item>"
        for i in range(3)
    )
    declared = rss_items(items).replace(b"<rss ", b'<rss xmlns:x="urn:x" ')
    first = parse_fast(declared, URL)
    assert first is not None and first.entry_hashes is not None
    undeclared = rss_items(items)
    assert parse_fast(undeclared, URL) is None
    assert parse_fast(undeclared, URL, unchanged=first.entry_hashes) is None
