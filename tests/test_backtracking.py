"""Remote text that made a pattern or a loop backtrack for minutes: each case runs the
real function in a child process with a CPU limit of LIMIT seconds, a wide margin over
the milliseconds it takes now (before, each took minutes or hours). This guards
against a hang coming back; it is not a speed measurement (``bench/`` does those)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LIMIT = 20  # seconds of CPU


def bounded(code: str) -> str:
    """Run ``code`` in a child interpreter killed after LIMIT s of CPU; its stdout."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (LIMIT, LIMIT))

    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=10 * LIMIT, preexec_fn=limit, check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, f"killed or failed ({done.returncode}): {done.stderr[-2000:]}"
    return done.stdout


def test_a_one_line_feed_with_encoding_in_its_text_and_many_quotes() -> None:
    """feedparser's declared-encoding pattern backtracked over every quote after an
    ``encoding="`` it could not use (quadratic: ~8 minutes here)."""
    out = bounded("""
        from monitor.feeds import parse_feed, parse_feed_reference
        body = (b'<?xml version="1.0" encoding="iso-8859-1"?><rss version="2.0"><channel>'
                b'<title>t</title><item><title>Base64 encoding="base64" \\xe9</title>'
                b'<link>http://x.org/1</link><description>' + b'&quot; "' * 500_000
                + b'</description></item></channel></rss>')
        fast, reference = parse_feed(body, "u"), parse_feed_reference(body, "u")
        assert [i.title for i in fast.items] == [i.title for i in reference.items]
        print(fast.items[0].title)
    """)
    assert out.strip() == 'Base64 encoding="base64" é'


def test_an_unclosed_declaration_repeating_encoding() -> None:
    """The same pattern on ``<?encoding='encoding='...`` with no ``?>``: cubic (hours)."""
    out = bounded("""
        from monitor.errors import ParseError
        from monitor.feeds import parse_feed, parse_feed_reference
        for parse in (parse_feed, parse_feed_reference):
            try:
                parse(b"<?" + b"encoding='" * 100_000, "u")
            except ParseError as exc:
                print(str(exc)[:21])
    """)
    assert out.split("\n")[:2] == ["not an RSS or Atom fe"] * 2


def test_a_page_link_whose_path_repeats_dashes() -> None:
    """``/a-a-a-…/x/``: the slug pattern, searched over the whole path, started a match
    at every "/" and backtracked through every dash (~50 s)."""
    out = bounded("""
        from monitor.pages import find_links
        slugged = "https://x.org/news/cuba-visa-talks-resume/"
        html = ('<a href="https://x.org/' + "a-" * 50_000 + 'a/x/">one two three four five</a>'
                f'<a href="{slugged}">Cuba and US resume visa talks</a>')
        print(*(link.url[-21:] for link in find_links(html, "https://x.org/")))
    """)
    assert out.split() == ["-a-a-a-a-a-a-a-a-a/x/", "/cuba-visa-talks-resume/"[-21:]]


def test_a_title_of_thousands_of_separated_parts() -> None:
    """``<title>a | a | …``: each part removed rejoined all the others (~50 s)."""
    out = bounded("""
        from monitor.extract import extract_article
        html = ("<html><head><title>Visa talks | " + "a | " * 75_000 + "Site</title></head>"
                "<body><p>Cuba and the United States resumed talks.</p></body></html>")
        print(len(extract_article(html, "https://site.example/a").title or ""))
    """)
    assert int(out) > 0


def test_deep_pages_with_unclosed_scripts_tags_or_long_spaces() -> None:
    """A page deep enough to be flattened, then: thousands of unclosed ``<script>``
    (each searched to the end for its closing tag), of unclosed ``<a `` (each searched
    to the end for a ">"), or a long run of spaces (~30 s to minutes each)."""
    out = bounded("""
        from monitor.extract import extract_article
        deep = "<html><body>" + "<div>" * 4001
        for tail in ("<script>" * 37_500, "<a " * 100_000, " " * 300_000 + "x"):
            article = extract_article(deep + "<p>Cuba visa talks resumed.</p>" + tail, "u")
            print(type(article).__name__)
    """)
    assert out.split() == ["Article"] * 3


def test_deep_pages_in_capitals_or_self_closed_are_flattened() -> None:
    """``<Section>`` and ``<div/>`` nest like ``<section>`` and ``<div>``; the depth check
    missed them, so such pages went to the HTML parser whole (~20-30 s)."""
    out = bounded("""
        from monitor.extract import extract_article
        from monitor.nesting import too_deep
        for page in ("<Section>" * 12_000, "<div/>" * 25_000, "<DIV class=x>" * 12_000):
            html = "<html><body>" + page + "<p>Cuba visa talks resumed.</p></body></html>"
            print(too_deep(html), type(extract_article(html, "u")).__name__)
    """)
    assert out.split("\n")[:3] == ["True Article"] * 3


def test_feed_summaries_nested_deep() -> None:
    """A feed description of 100,000 nested ``<div>`` (each checked against every open
    element, ~50 s) or ``<section>`` (the HTML parser's own nesting cost, ~20 s)."""
    out = bounded("""
        from monitor.normalize import html_to_text
        for tag in ("div", "section", "DIV"):
            print(html_to_text(f"<{tag}>" * 100_000 + "Cuba &amp; visas" + f"</{tag}>" * 100_000))
    """)
    assert out.split("\n")[:3] == ["Cuba & visas"] * 3


def test_a_flat_listing_of_many_links() -> None:
    """Each link looked for its card's date by counting every link of the list it
    climbed into: quadratic (20,000 links: ~50 s)."""
    out = bounded("""
        from monitor.pages import find_links
        cards = "".join(
            f'<a href="/news/2026/11/27/cuba-visa-talks-{i}">Cuba and US visa talks, part {i}</a>'
            for i in range(20_000)
        )
        links = find_links(f"<html><body>{cards}</body></html>", "https://x.org/")
        print(len(links), links[0].published_at.date())
    """)
    assert out.split() == ["20000", "2026-11-27"]
