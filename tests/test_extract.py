"""Tests of the extract stage: article text and metadata from HTML pages."""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.extract import Article, extract_article
from monitor.extract_meta import clean_title, date_from_url, parse_date, parse_human_date
from monitor.extract_names import (
    is_ad_label,
    is_call_to_action,
    is_content_name,
    is_furniture_name,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SEED_HTML = FIXTURES / "site" / "us-cuba-visa-talks.html"
SEED_URL = "https://news.example.org/2023/04/us-cuba-visa-talks/?utm_source=feed"
EXTRACT = FIXTURES / "extract"


@pytest.fixture(autouse=True)
def no_swallowed_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """extract_article turns its own exceptions into a reason; a test must not hide one."""
    yield
    errors = [r for r in caplog.get_records("call") if r.name.startswith("monitor.extract")]
    assert not [r for r in errors if r.levelno >= logging.ERROR], errors


def fixture(name: str) -> str:
    return (EXTRACT / name).read_text(encoding="utf-8")


def paragraphs(article: Article) -> list[str]:
    return article.text.split("\n\n") if article.text else []


# --- the seed article ------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed() -> Article:
    return extract_article(SEED_HTML.read_text(encoding="utf-8"), SEED_URL)


def test_seed_story_paragraphs_are_in_text(seed: Article) -> None:
    story = [
        "Amid a record number of Cubans arriving at the US southern border with Mexico, "
        "Washington and Havana have entered into tentative US visa talks for the first time "
        "in four years.",
        "US and Cuban officials had been meeting bi-annually since 1990 to discuss Cuba’s "
        "access to US visas.",
        "Rodriguez said: “The US should stop violating the rights of Cubans to travel in the "
        "region.”",
        "Cuban officials accused the US of only offering limited consular services in Havana, "
        "and forcing Cubans to apply for US visas in Guyana instead.",
        "The summit in Panama City, which included representatives from more than 20 nations "
        "in the Americas region, did not include Cuba.",
    ]
    for sentence in story:
        assert sentence in seed.text
    assert seed.reason is None


def test_seed_keeps_headings_as_their_own_paragraphs(seed: Article) -> None:
    parts = paragraphs(seed)
    assert "Violating Cuban travel rights" in parts
    assert "More US visas for Cubans" in parts
    assert parts[0].startswith("Amid a record number of Cubans")
    assert parts[-1] == (
        "The summit in Panama City, which included representatives from more than 20 "
        "nations in the Americas region, did not include Cuba."
    )
    for part in parts:
        assert part == re.sub(r"\s+", " ", part).strip()


def test_seed_leaves_out_promo_donation_navigation_and_furniture(seed: Article) -> None:
    assert "Workpermit.com" not in seed.text
    assert "can help with US employment-based visas" not in seed.text
    assert "0344 991 9222" not in seed.text
    assert "Support migrant centric journalism today and donate" not in seed.text
    assert "donate" not in seed.text.lower()
    for furniture in (
        "Work visas",
        "About us",
        "Contact",
        "Search news",
        "Share on Twitter",
        "Related stories",
        "H1B lottery results",
        "All rights reserved",
        "Privacy policy",
        "Staff writer",
    ):
        assert furniture not in seed.text


def test_seed_metadata(seed: Article) -> None:
    assert seed.title == "US and Cuba enter US visa talks for first time in four years"
    assert seed.published_at == datetime(2023, 4, 27, 9, 30, tzinfo=UTC)
    assert seed.published_at is not None and seed.published_at.utcoffset() is not None
    assert seed.canonical_url == "https://news.example.org/2023/04/us-cuba-visa-talks/"
    assert seed.language == "en"


# --- promo boxes -------------------------------------------------------------------------


def test_visa_only_in_promo_and_advert_boxes_is_not_in_text() -> None:
    html = fixture("promo-next-to-article.html")
    assert html.lower().count("visa") >= 3  # the page does mention it, in the boxes
    article = extract_article(html, "https://gazette.example.com/local/ferry-timetable")
    assert "visa" not in article.text.lower()
    assert "reduced ferry timetable for the winter months" in article.text
    assert "keep the Saturday market sailing unchanged" in article.text
    for furniture in ("Advertisement", "Most read", "Share on", "newsletter", "Dana Whitfield"):
        assert furniture not in article.text
    assert len(paragraphs(article)) == 4
    assert article.reason is None


def test_relative_canonical_is_resolved_against_the_page_url() -> None:
    article = extract_article(
        fixture("promo-next-to-article.html"),
        "https://gazette.example.com/local/2024/11/ferry-timetable-winter?utm_source=rss",
    )
    assert (
        article.canonical_url == "https://gazette.example.com/local/2024/11/ferry-timetable-winter"
    )
    assert article.title == "Harbour council approves ferry timetable for winter"
    assert article.language == "en"


def test_relative_canonical_without_page_url_is_dropped() -> None:
    article = extract_article(fixture("promo-next-to-article.html"))
    assert article.canonical_url is None


# --- page layouts --------------------------------------------------------------------------

_SENTENCE = (
    "The harbour council approved a reduced ferry timetable for the winter months, "
    "cutting the late crossing, councillors said."
)
_NAV = (
    '<div class="menu"><a href="/">Home</a> <a href="/news">News</a> <a href="/s">Sport</a></div>'
)
_LAYOUTS = {
    "paragraphs": "<article>" + f"<p>{_SENTENCE}</p>" * 5 + "</article>",
    "spans-and-breaks": '<div class="txt">' + "<br><br>".join([f"<span>{_SENTENCE}</span>"] * 5) + "</div>",
    "bare-text-and-breaks": '<div class="txt">' + "<br><br>".join([_SENTENCE] * 5) + "</div>",
    "inline-only": '<div class="c">' + "<br>".join([f"<b>{_SENTENCE}</b> <i>{_SENTENCE}</i>"] * 4) + "</div>",
    "divs-as-paragraphs": '<div class="story">' + f"<div>{_SENTENCE}</div>" * 5 + "</div>",
    "table-layout": "<table><tr><td><font>" + "<br><br>".join([_SENTENCE] * 5) + "</font></td></tr></table>",
    "paragraphs-in-body": f"<p>{_SENTENCE}</p>" * 5,
}  # fmt: skip


@pytest.mark.parametrize("layout", sorted(_LAYOUTS))
def test_story_found_in_common_layouts(layout: str) -> None:
    html = f"<html><body>{_NAV}{_LAYOUTS[layout]}<footer>(c) The Gazette</footer></body></html>"
    article = extract_article(html)
    assert article.reason is None
    assert _SENTENCE in article.text
    assert article.text.count("ferry timetable") >= 4
    assert "Sport" not in article.text and "The Gazette" not in article.text


# --- page furniture vocabulary ------------------------------------------------------------


@pytest.mark.parametrize(
    ("class_id", "furniture", "content"),
    [
        ("share-tools ", True, False),
        ("c-social-links sharedaddy", True, False),
        ("related-posts ", True, False),
        ("newsletter-signup ", True, False),
        ("ad-slot advert-inline", True, False),
        ("col-md-4 top-ad", True, False),
        ("comments-area comments", True, False),
        ("wp-caption-text ", True, False),
        ("d-none ", True, False),
        ("field field-label-hidden field-name-body", False, True),
        ("site-header header-wrapper", True, False),
        ("article-body ", False, True),
        ("entry-content clearfix", False, True),
        ("post__content ", False, True),
        (" articlebody", False, True),
        ("download-link ", False, False),
        ("shadow-lg rounded", False, False),
        ("", False, False),
    ],
)
def test_furniture_and_content_names(class_id: str, furniture: bool, content: bool) -> None:
    assert is_furniture_name(class_id) is furniture
    assert is_content_name(class_id) is content


@pytest.mark.parametrize(
    ("text", "label"),
    [("Advertisement", True), ("ADVERTISEMENT", True), ("- Advertisement -", True),
     ("Story continues below advertisement", True), ("Advertisers are worried.", False)],
)  # fmt: skip
def test_ad_labels(text: str, label: bool) -> None:
    assert is_ad_label(text) is label


@pytest.mark.parametrize(
    ("text", "cta"),
    [
        ("Follow us on Twitter and Facebook.", True),
        ("Have a tip? Write to us. Follow her on Twitter @reporter.", True),
        ("Sign up for our newsletter to get the news in your inbox.", True),
        ("Get the latest updates right in your inbox.", True),
        ("He said he would follow the rules on Twitter.", False),
        ("Like other Facebook users, she shared the video.", False),
        ("Subscribe " + "at length " * 60 + "to our newsletter.", False),
    ],
)
def test_calls_to_action(text: str, cta: bool) -> None:
    assert is_call_to_action(text) is cta


def test_closing_call_to_action_is_dropped_but_the_story_kept() -> None:
    story = "".join(
        f"<p>Paragraph {i} of the story about the harbour, the ferry and the council.</p>"
        for i in range(6)
    )
    tail = "<p>Follow us on Twitter and Facebook for more local news.</p>"
    article = extract_article(f"<html><body><article>{story}{tail}</article></body></html>")
    assert paragraphs(article)[-1].startswith("Paragraph 5")
    assert "Follow us" not in article.text


# --- metadata ----------------------------------------------------------------------------


def test_json_ld_graph_gives_headline_date_and_language() -> None:
    article = extract_article(fixture("jsonld-graph.html"), "https://ledger.example.com/port")
    assert article.title == "Port authority extends night shifts to clear backlog"
    assert article.published_at == datetime(2024, 3, 5, 17, 45, tzinfo=UTC)
    assert article.language == "fr"
    assert article.canonical_url is None
    assert "container terminal open through the night" in article.text
    assert article.text.count("\n\n") == 2


def test_meta_tags_give_title_date_canonical_and_language() -> None:
    article = extract_article(fixture("meta-tags.html"))
    assert article.title == "Bergbahn erhöht die Preise für Saisonkarten"
    assert article.published_at == datetime(2022, 10, 14, 6, 15, tzinfo=UTC)
    assert article.canonical_url == "https://alpen.example.at/wirtschaft/bergbahn-preise"
    assert article.language == "de"
    assert article.text.startswith("Die Bergbahn erhöht die Preise")


def test_time_element_gives_the_date_and_byline_stays_out() -> None:
    article = extract_article(fixture("time-element.html"), "https://mercado.example.es/n/1")
    assert article.published_at == datetime(2021, 6, 30, 15, 0, tzinfo=UTC)
    assert article.language == "es"
    assert article.title == "El mercado central reabre tras las obras"
    assert "Publicado el" not in article.text
    assert paragraphs(article)[0].startswith("El mercado central volvió a abrir")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/2023/04/27/some-story/", datetime(2023, 4, 27, tzinfo=UTC)),
        ("https://example.com/news/2023-04-27-some-story", datetime(2023, 4, 27, tzinfo=UTC)),
        ("https://example.com/a/2019/11/18/x.html?page=2", datetime(2019, 11, 18, tzinfo=UTC)),
        ("https://example.com/2023/02/30/not-a-day/", None),
        ("https://example.com/story/12345", None),
        (None, None),
    ],
)
def test_date_from_url(url: str | None, expected: datetime | None) -> None:
    assert date_from_url(url) == expected


def test_url_date_is_used_when_the_page_has_none() -> None:
    html = "<html><body><article><p>{}</p></article></body></html>".format(
        "A council meeting was held on the budget, and it ran late into the night. " * 4
    )
    article = extract_article(html, "https://example.com/news/2023/04/27/council-budget")
    assert article.published_at == datetime(2023, 4, 27, tzinfo=UTC)
    assert extract_article(html).published_at is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2023-04-27T09:30:00+00:00", datetime(2023, 4, 27, 9, 30, tzinfo=UTC)),
        ("2023-04-27T11:30:00+02:00", datetime(2023, 4, 27, 9, 30, tzinfo=UTC)),
        ("2023-04-27T04:30:00-0500", datetime(2023, 4, 27, 9, 30, tzinfo=UTC)),
        ("2023-04-27T09:30:00.123Z", datetime(2023, 4, 27, 9, 30, tzinfo=UTC)),
        ("2023-04-27 09:30", datetime(2023, 4, 27, 9, 30, tzinfo=UTC)),
        ("2023-04-27", datetime(2023, 4, 27, tzinfo=UTC)),
        ("2023/04/27", datetime(2023, 4, 27, tzinfo=UTC)),
        ("Thu, 27 Apr 2023 09:30:00 GMT", datetime(2023, 4, 27, 9, 30, tzinfo=UTC)),
        ("Thu, 27 Apr 2023 10:30:00 +0100", datetime(2023, 4, 27, 9, 30, tzinfo=UTC)),
        ("2023-13-45", None),
        ("yesterday", None),
        ("", None),
    ],
)
def test_parse_date(value: str, expected: datetime | None) -> None:
    assert parse_date(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("November 19, 2019, 9:02 AM", datetime(2019, 11, 19, 9, 2, tzinfo=UTC)),
        ("Updated 19th Nov 2019 at 14:05", datetime(2019, 11, 19, 14, 5, tzinfo=UTC)),
        ("Sept. 3, 2021", datetime(2021, 9, 3, tzinfo=UTC)),
        ("3 May 2020 12:30 pm", datetime(2020, 5, 3, 12, 30, tzinfo=UTC)),
        ("a week ago", None),
    ],
)
def test_parse_human_date(value: str, expected: datetime | None) -> None:
    assert parse_human_date(value) == expected


@pytest.mark.parametrize(
    ("title", "names", "loose", "expected"),
    [
        ("US visa talks resume | Migrant News Desk", (), True, "US visa talks resume"),
        ("BBC News - Taylor Swift's AMA row is over", ("bbcnews",), True,
         "Taylor Swift's AMA row is over"),
        ("Emirates orders 30 Boeing 787 jets - CNBC", (), True, "Emirates orders 30 Boeing 787 jets"),
        ("Sections | Riverside Herald", (), True, "Sections"),
        ("Ukraine war: latest - live updates", (), False, "Ukraine war: latest - live updates"),
        ("Take care - comwrap at the DMEXCO fair 2018", ("comwrap",), False,
         "Take care - comwrap at the DMEXCO fair 2018"),
        ("Plain title", (), True, "Plain title"),
    ],
)  # fmt: skip
def test_clean_title(title: str, names: tuple[str, ...], loose: bool, expected: str) -> None:
    assert clean_title(title, names, loose) == expected


def test_title_falls_back_to_h1_then_title_element() -> None:
    body = "<p>" + "Text of a story about the harbour and its ferries, in detail. " * 5 + "</p>"
    with_h1 = (
        f"<html><head><title>Page | Site</title></head><body><h1>The h1</h1>{body}</body></html>"
    )
    assert extract_article(with_h1).title == "The h1"
    no_h1 = f"<html><head><title>Harbour story told in full | Site</title></head><body>{body}</body></html>"
    assert extract_article(no_h1).title == "Harbour story told in full"


def test_language_from_og_locale_and_html_lang() -> None:
    body = "<body><p>" + "Ein Text über den Hafen und die Fähren, recht ausführlich. " * 5
    html = f'<html><head><meta property="og:locale" content="pt_BR"></head>{body}</p></body></html>'
    assert extract_article(html).language == "pt"
    html = f'<html lang="EN-us"><head></head>{body}</p></body></html>'
    assert extract_article(html).language == "en"


def test_json_ld_article_body_stands_in_for_a_page_rendered_by_script() -> None:
    article = extract_article(fixture("script-rendered.html"), "https://valley.example/x")
    assert article.title == "Dam inspection finds cracks in the spillway"
    assert article.published_at == datetime(2024, 6, 12, 11, 0, tzinfo=UTC)
    assert paragraphs(article) == [
        "Engineers inspecting the Valley Creek dam found hairline cracks in the concrete of "
        "the spillway, the water authority said on Wednesday.",
        "The authority said there was no immediate danger to homes downstream but that it "
        "would lower the reservoir by two metres as a precaution while repairs are planned.",
        "Anglers have been asked to keep away from the spillway until further notice.",
    ]
    assert article.reason is None


def test_markup_wins_over_a_shorter_json_ld_article_body() -> None:
    html = fixture("jsonld-graph.html").replace(
        '"inLanguage": "fr"}', '"inLanguage": "fr", "articleBody": "The port authority will"}'
    )
    article = extract_article(html)
    assert "Hauliers welcomed the decision" in article.text


def test_an_internal_error_becomes_a_reason_and_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("monitor.extract.extract_body", broken)
    article = extract_article(SEED_HTML.read_text(encoding="utf-8"), SEED_URL)
    assert article == Article(None, "", None, None, None, "extraction failed: RuntimeError")
    assert [r.levelno for r in caplog.records if r.name == "monitor.extract"] == [logging.ERROR]
    assert "extraction failed" in caplog.text and SEED_URL in caplog.text
    caplog.clear()


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [
        '{"title": "not a page", "items": [1, 2, 3], "html": "<p>hi</p>"}',
        "[1, 2, 3]",
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Feed</title><item>'
        "<title>Visa talks</title><description>&lt;p&gt;Text&lt;/p&gt;</description>"
        "</item></channel></rss>",
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>Atom</title><entry><title>x</title></entry></feed>",
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><entry>'
        '<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>A story, with '
        "commas, long enough to be a paragraph.</p></div></content></entry></feed>",
        "plain text without any markup at all, not even one tag",
        bytes(random.Random(7).randrange(256) for _ in range(8000)).decode("latin-1"),
        bytes(random.Random(8).randrange(256) for _ in range(8000)).decode("utf-8", "replace"),
        "\x00\x01\x02\x03" * 500,
    ],
    ids=[
        "json",
        "json-list",
        "rss",
        "atom",
        "atom-xhtml",
        "plain-text",
        "binary-latin1",
        "binary-utf8",
        "nul",
    ],
)
def test_not_html_gives_empty_text_and_a_reason(document: str) -> None:
    article = extract_article(document, "https://example.com/feed")
    assert article.text == ""
    assert article.reason == "not HTML"
    assert article.title is None


@pytest.mark.parametrize("document", ["", "   \n\t  ", "\ufeff"])
def test_empty_document(document: str) -> None:
    article = extract_article(document)
    assert article.text == ""
    assert article.reason == "empty document"


def test_bytes_are_decoded_rather_than_rejected() -> None:
    raw = SEED_HTML.read_bytes()
    article = extract_article(raw, SEED_URL)  # type: ignore[arg-type]
    assert "Washington and Havana" in article.text


def test_truncated_page_gives_partial_text_and_a_reason() -> None:
    html = SEED_HTML.read_text(encoding="utf-8")
    cut = html[: html.index("Meanwhile, the US Department of State") + 40]
    article = extract_article(cut, SEED_URL)
    assert article.reason is not None and "truncated" in article.reason
    assert "Amid a record number of Cubans" in article.text
    assert "Panama City" not in article.text
    assert article.title == "US and Cuba enter US visa talks for first time in four years"


def test_page_cut_inside_a_tag_is_truncated() -> None:
    html = SEED_HTML.read_text(encoding="utf-8")
    cut = html[: html.index("<h2>Violating") + 3]
    article = extract_article(cut, SEED_URL)
    assert article.reason is not None and "truncated" in article.reason
    assert "US and Cuban officials had been meeting" in article.text


def test_five_megabytes_of_nested_divs_finishes_quickly() -> None:
    story = "The ferry timetable changes in winter, the council said on Tuesday. " * 5
    html = "<html><body>" + "<div>" * 1_000_000 + f"<p>{story}</p>"
    assert len(html) >= 5_000_000
    start = time.perf_counter()
    article = extract_article(html)
    elapsed = time.perf_counter() - start
    assert elapsed < 10  # in practice well under a second
    assert article.reason is not None and "nested" in article.reason
    assert "ferry timetable changes in winter" in article.text


def test_nested_divs_closed_again_and_nested_inline_tags_finish_quickly() -> None:
    for html in (
        "<html><body>" + "<div>" * 300_000 + "text" + "</div>" * 300_000 + "</body></html>",
        "<html><body>" + "<ul><li>" * 200_000,
        "<html><body>" + "<b><i><span>" * 300_000,
    ):
        start = time.perf_counter()
        article = extract_article(html)
        assert time.perf_counter() - start < 10
        assert article.reason is not None


def test_no_body_element() -> None:
    article = extract_article("<html><head><title>Only a head</title></head></html>")
    assert article.text == ""
    assert article.reason is not None
    assert "no article found" in article.reason and "no <body>" in article.reason
    assert article.title == "Only a head"


def test_fragment_without_body_still_gives_its_text_with_a_reason() -> None:
    story = "The harbour council approved a reduced ferry timetable for winter months. " * 3
    article = extract_article(f"<title>Ferry</title><p>{story}</p><p>{story}</p>")
    assert "reduced ferry timetable" in article.text
    assert article.reason is not None and "no <body>" in article.reason


def test_mojibake_is_repaired_and_reported() -> None:
    html = SEED_HTML.read_text(encoding="utf-8")
    garbled = html.encode("utf-8").decode("latin-1")  # a page declared latin-1, sent as UTF-8
    assert "Cubaâ" in garbled
    article = extract_article(garbled, SEED_URL)
    assert article.reason is not None and "charset" in article.reason
    assert "Cuba’s access to US visas" in article.text
    assert "Workpermit.com" not in article.text


def test_mojibake_that_cannot_be_repaired_is_reported() -> None:
    html = SEED_HTML.read_text(encoding="utf-8")
    garbled = html.encode("utf-8").decode("cp1252", errors="replace")
    article = extract_article(garbled, SEED_URL)
    assert article.reason is not None and "charset" in article.reason
    assert "Washington and Havana have entered" in article.text


def test_page_without_an_article() -> None:
    article = extract_article(fixture("no-article.html"), "https://herald.example.com/sections/")
    assert article.text == ""
    assert article.reason == "no article found"
    assert article.title == "Sections"
    assert article.language == "en"


@pytest.mark.parametrize(
    "document",
    [
        "<",
        "<html",
        "<!DOCTYPE html>",
        "<html><body></body></html>",
        "<html><body><p></p><div><span></span></div></body></html>",
        "<html><body>" + "<p>x</p>" * 50_000 + "</body></html>",
        "<html><body><svg><div><p>" + "inside svg " * 20 + "</p></div></svg></body></html>",
        "<html><body><table>" + "<tr><td>cell, with text, and commas</td></tr>" * 2000,
        '<html><head><script type="application/ld+json">{"@graph": [[[[{"@graph": []}]]]]}'
        "</script></head><body></body></html>",
        # JSON-LD nested past the interpreter's recursion limit, and a 5,000-digit number
        '<html><head><script type="application/ld+json">'
        + "[" * 100_000
        + "]" * 100_000
        + "</script></head><body><p>text</p></body></html>",
        '<html><head><script type="application/ld+json">{"wordCount": '
        + "9" * 5000
        + "}</script></head><body><p>text</p></body></html>",
        '<html><head><meta property="article:published_time" content="2023-99-99">'
        '<link rel="canonical" href="javascript:alert(1)"></head><body></body></html>',
    ],
)
def test_odd_documents_never_raise(document: str) -> None:
    article = extract_article(document, "not a url at all")
    assert isinstance(article, Article)
    assert isinstance(article.text, str)
    if not article.text:
        assert article.reason is not None
