"""Page sources, full text and feed discovery end to end: the real CLI against a local
web server (listing pages, article pages, robots.txt) and a webhook receiver."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, Result, run_cli, write_config
from tests.feedgen import Entry, hours_ago, rss
from tests.servers import HTTPFixture, Route

SEED = (FIXTURES / "site" / "us-cuba-visa-talks.html").read_bytes()
PROMO_ONLY = (FIXTURES / "extract" / "promo-next-to-article.html").read_bytes()
SEED_PATH = "/2023/04/us-cuba-visa-talks/"
FERRY_PATH = "/2024/11/27/harbour-council-approves-ferry-timetable/"


def listing(links: list[tuple[str, str]]) -> bytes:
    cards = "".join(
        f'<article class="teaser"><h2><a href="{href}">{title}</a></h2>'
        f'<time datetime="{hours_ago(1).isoformat()}">today</time></article>'
        for href, title in links
    )
    return (
        '<!DOCTYPE html><html lang="en"><body><nav><a href="/">Home</a></nav>'
        f"<main>{cards}</main><footer>(c) Desk</footer></body></html>"
    ).encode()


def config(web: HTTPFixture, hooks: HTTPFixture, sources: str, terms: str = '["visa"]') -> str:
    return f"""
[storage]
url = "sqlite:///state.db"

[http]
timeout = 5
retries = 0
allow_private_networks = true   # the test's article pages are on 127.0.0.1

{sources}

[[watches]]
name = "visas"
terms = {terms}

[[channels]]
name = "hook"
type = "webhook"
url = "{hooks.url("/hook")}"

[[subscribers]]
name = "desk"
watches = ["visas"]
channels = ["hook"]
"""


def delivered(hooks: HTTPFixture) -> list[dict[str, object]]:
    return [item for post in hooks.posts() for item in json.loads(post.body)["items"]]


def once(path: Path, *extra: str) -> Result:
    return run_cli("once", *extra, config=path)


@pytest.fixture
def site(web: HTTPFixture) -> HTTPFixture:
    web.routes[SEED_PATH] = Route(SEED, content_type="text/html; charset=utf-8")
    web.routes[FERRY_PATH] = Route(PROMO_ONLY, content_type="text/html; charset=utf-8")
    web.routes["/robots.txt"] = Route(
        b"User-agent: *\nDisallow: /private/\n", content_type="text/plain"
    )
    web.routes["/news/"] = Route(
        listing([(SEED_PATH, "US and Cuba enter US visa talks for first time in four years"),
                 (FERRY_PATH, "Harbour council approves ferry timetable for winter")]),
        content_type="text/html",
    )  # fmt: skip
    return web


def test_page_source_with_full_text_matches_story_not_promo(
    site: HTTPFixture, hooks: HTTPFixture, tmp_path: Path
) -> None:
    sources = f"""
[[sources]]
name = "desk-news"
type = "page"
url = "{site.url("/news/")}"
links = "article.teaser h2 a"
full_text = true
"""
    path = write_config(tmp_path, config(site, hooks, sources, '["visa", "Workpermit"]'))
    result = once(path)
    assert result.returncode == 0, result.stderr
    assert "source=desk-news status=ok items=2 new=2 matches=1" in result.stderr
    (item,) = delivered(hooks)
    assert item["url"] == site.url(SEED_PATH)
    assert item["matched_terms"] == ["visa"]  # not "Workpermit": the promo box is not the story
    assert "Workpermit" not in item["snippet"]
    assert any(r.path == "/robots.txt" for r in site.requests)


def test_feed_with_one_line_summaries_matches_through_the_article(
    site: HTTPFixture, hooks: HTTPFixture, tmp_path: Path
) -> None:
    site.routes["/feed.xml"] = Route(rss("Desk", [
        Entry("Talks resume in Washington", site.url(SEED_PATH), "Officials met on Tuesday.",
              published=hours_ago(1)),
        Entry("Ferry timetable changes", site.url(FERRY_PATH), "The council voted.",
              published=hours_ago(1)),
    ]))  # fmt: skip
    sources = f'[[sources]]\nname = "desk"\nurl = "{site.url("/feed.xml")}"\nfull_text = true\n'
    result = once(write_config(tmp_path, config(site, hooks, sources)))
    assert result.returncode == 0, result.stderr
    (item,) = delivered(hooks)
    assert item["title"] == "Talks resume in Washington"
    assert "visa" in str(item["snippet"]).lower()


def test_without_full_text_the_summary_is_all_there_is(
    site: HTTPFixture, hooks: HTTPFixture, tmp_path: Path
) -> None:
    site.routes["/feed.xml"] = Route(rss("Desk", [
        Entry("Talks resume in Washington", site.url(SEED_PATH), "Officials met.", published=hours_ago(1)),
    ]))  # fmt: skip
    sources = f'[[sources]]\nname = "desk"\nurl = "{site.url("/feed.xml")}"\n'
    assert once(write_config(tmp_path, config(site, hooks, sources))).returncode == 0
    assert delivered(hooks) == []
    assert not any(r.path == SEED_PATH for r in site.requests)


def test_feed_discovery_from_an_html_page(
    site: HTTPFixture, hooks: HTTPFixture, tmp_path: Path
) -> None:
    site.routes["/home"] = Route(
        b'<html><head><link rel="alternate" type="application/rss+xml" href="/real-feed.xml">'
        b"</head><body>Welcome</body></html>",
        content_type="text/html",
    )
    site.routes["/real-feed.xml"] = Route(rss("Real", [
        Entry("Visa backlog grows", site.url("/x/visa-backlog"), "visa", published=hours_ago(1)),
    ]))  # fmt: skip
    sources = f'[[sources]]\nname = "home"\nurl = "{site.url("/home")}"\n'
    path = write_config(tmp_path, config(site, hooks, sources))
    check = run_cli("check", "--online", config=path)
    assert check.returncode == 0, check.stderr
    assert f"the page advertises a feed: {site.url('/real-feed.xml')}" in check.stdout
    assert once(path).returncode == 0
    assert [i["title"] for i in delivered(hooks)] == ["Visa backlog grows"]
    homes = sum(1 for r in site.requests if r.path == "/home")
    assert once(path, "--all").returncode == 0
    assert (
        sum(1 for r in site.requests if r.path == "/home") == homes
    )  # the feed is polled directly
    feeds = [r for r in site.requests if r.path == "/real-feed.xml"]
    assert "if-none-match" in feeds[-1].headers
    # the feed URL came from a page, not from the config: the address guard applies to
    # it on every later poll (the configured page itself stays trusted)
    path.write_text(path.read_text().replace("allow_private_networks = true", ""))
    refused = once(path, "--all")
    assert refused.returncode == 1
    assert "source=home" in refused.stderr and "loopback" in refused.stderr, refused.stderr
    assert len([r for r in site.requests if r.path == "/real-feed.xml"]) == len(feeds)


def test_broken_selector_and_robots_are_reported(
    site: HTTPFixture, hooks: HTTPFixture, tmp_path: Path
) -> None:
    site.routes["/private/list"] = Route(
        listing([(SEED_PATH, "A story")]), content_type="text/html"
    )
    site.routes["/good.xml"] = Route(
        rss("Good", [Entry("Visa news", site.url("/g/1"), "visa", published=hours_ago(1))])
    )
    sources = f"""
[[sources]]
name = "redesigned"
type = "page"
url = "{site.url("/news/")}"
links = "div.story-list a.headline"

[[sources]]
name = "forbidden"
type = "page"
url = "{site.url("/private/list")}"

[[sources]]
name = "good"
url = "{site.url("/good.xml")}"
"""
    result = once(write_config(tmp_path, config(site, hooks, sources)))
    assert result.returncode == 1
    assert (
        "source=redesigned status=error: selector 'div.story-list a.headline' matched no article links"
        in result.stderr
    )
    assert "source=forbidden status=error: not polled: disallowed by" in result.stderr
    assert "source=good status=ok" in result.stderr
    assert not any(r.path == "/private/list" for r in site.requests)
    assert [i["title"] for i in delivered(hooks)] == ["Visa news"]


def test_bad_article_pages_never_stop_the_pass(
    site: HTTPFixture, hooks: HTTPFixture, tmp_path: Path
) -> None:
    nested = (
        b"<html><body>"
        + b"<div>" * 100_000
        + b"visa deep inside"
        + b"</div>" * 100_000
        + b"</body></html>"
    )
    pages = {
        "/a/json": (b'{"visa": true}', "application/json"),
        "/a/truncated": (SEED[: len(SEED) // 2], "text/html"),
        "/a/nested": (nested, "text/html"),
        "/a/nobody": (b"<html><head><title>Only a head</title></head></html>", "text/html"),
        "/a/latin": (b"<html><body><article><p>" + "Visa para Habána. " .encode("cp1252") * 40 + b"</p></article></body></html>", "text/html; charset=utf-8"),
        "/a/empty": (b"<html><body><nav>menu</nav></body></html>", "text/html"),
    }  # fmt: skip
    for path, (body, kind) in pages.items():
        site.routes[path] = Route(body, content_type=kind)
    site.routes["/feed.xml"] = Route(rss("Desk", [
        Entry(f"Item {path}", site.url(path), "Summary mentions visa.", published=hours_ago(1))
        for path in pages
    ] + [Entry("Missing page", site.url("/a/missing"), "visa", published=hours_ago(1))]))  # fmt: skip
    sources = f'[[sources]]\nname = "desk"\nurl = "{site.url("/feed.xml")}"\nfull_text = true\n'
    result = once(write_config(tmp_path, config(site, hooks, sources)))
    assert result.returncode == 0, result.stderr
    assert "source=desk status=ok items=7 new=7 matches=7" in result.stderr
    assert "/a/missing: HTTP 404" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(delivered(hooks)) == 7


def test_page_canonical_identifies_the_story(
    site: HTTPFixture, hooks: HTTPFixture, tmp_path: Path
) -> None:
    # the seed page declares rel=canonical https://news.example.org/2023/04/us-cuba-visa-talks/;
    # a page on the same site reached through another link is the same story
    page = SEED.replace(
        b"https://news.example.org/2023/04/us-cuba-visa-talks/", site.url(SEED_PATH).encode()
    )
    site.routes["/view"] = Route(page, content_type="text/html")
    site.routes[SEED_PATH] = Route(page, content_type="text/html")
    site.routes["/aggregator.xml"] = Route(rss("Agg", [
        Entry("Cuba visa talks (via aggregator)", site.url("/view?from=aggregator"), "Talks.", published=hours_ago(1)),
    ]))  # fmt: skip
    site.routes["/publisher.xml"] = Route(rss("Pub", [
        Entry("Visa talks between US and Cuba", site.url(SEED_PATH), "Talks.", published=hours_ago(1)),
    ]))  # fmt: skip
    sources = (
        f'[[sources]]\nname = "agg"\nurl = "{site.url("/aggregator.xml")}"\nfull_text = true\n\n'
    )
    path = write_config(tmp_path, config(site, hooks, sources))
    assert once(path).returncode == 0
    sources += f'[[sources]]\nname = "pub"\nurl = "{site.url("/publisher.xml")}"\n'
    path.write_text(config(site, hooks, sources), encoding="utf-8")
    result = once(path)
    assert "source=pub status=ok items=1 new=1 matches=0" in result.stderr
    assert len(delivered(hooks)) == 1


def test_a_discovered_feed_that_is_gone_is_discovered_again(
    site: HTTPFixture, hooks: HTTPFixture, tmp_path: Path
) -> None:
    def home(feed: str) -> Route:
        return Route(f'<html><head><link rel="alternate" type="application/rss+xml" '
                     f'href="{feed}"></head><body>Welcome</body></html>'.encode(),
                     content_type="text/html")  # fmt: skip

    site.routes["/home"] = home("/old-feed.xml")
    site.routes["/old-feed.xml"] = Route(rss("Old", [
        Entry("Visa backlog grows", site.url("/x/visa-backlog"), "visa", published=hours_ago(1)),
    ]))  # fmt: skip
    sources = f'[[sources]]\nname = "home"\nurl = "{site.url("/home")}"\n'
    path = write_config(tmp_path, config(site, hooks, sources))
    assert once(path).returncode == 0
    # the site moves its feed: the old one answers 404, the page points to the new one
    del site.routes["/old-feed.xml"]
    site.routes["/home"] = home("/new-feed.xml")
    site.routes["/new-feed.xml"] = Route(rss("New", [
        Entry("Visa interviews resume", site.url("/x/visa-interviews"), "visa",
              published=hours_ago(1)),
    ]))  # fmt: skip
    failed = once(path, "--all")
    assert failed.returncode == 1
    assert "the page will be read again to find its feed" in failed.stderr, failed.stderr
    assert once(path, "--all").returncode == 0
    assert [i["title"] for i in delivered(hooks)] == [
        "Visa backlog grows",
        "Visa interviews resume",
    ]
