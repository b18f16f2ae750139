"""Per-source options end to end: the real CLI against a local web server. A source's
``headers`` and ``timeout``, robots.txt for ``full_text`` article pages, the feed's
``sy:updatePeriod`` as a floor on the next poll, and the ``sources`` table after a
failure and a permanent redirect."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from tests.conftest import FIXTURES, Result, run_cli, write_config
from tests.feedgen import Entry, hours_ago, rss
from tests.servers import HTTPFixture, Route

ARTICLE = (FIXTURES / "site" / "us-cuba-visa-talks.html").read_bytes()
ROBOTS = b"User-agent: *\nDisallow: /private/\n"
WHEN = "%Y-%m-%d %H:%M:%SZ"  # how ``news-monitor sources`` prints times (UTC)
SLACK = timedelta(seconds=5)  # a claim and a store a little apart in one poll


def config(sources: str, *, http: str = "timeout = 5\nretries = 0") -> str:
    """A config with a file channel (``out/``) and a watch on "visa"."""
    return f"""
[storage]
url = "sqlite:///state.db"

[http]
{http}
allow_private_networks = true   # article pages and redirects stay on 127.0.0.1

{sources}

[[watches]]
name = "visas"
terms = ["visa"]

[[channels]]
name = "out"
type = "file"
path = "out"

[[subscribers]]
name = "desk"
watches = ["visas"]
channels = ["out"]
"""


def source(name: str, url: str, extra: str = "") -> str:
    return f'[[sources]]\nname = "{name}"\nurl = "{url}"\n{extra}\n'


def once(path: Path, *extra: str) -> Result:
    return run_cli("once", *extra, config=path)


def written_items(folder: Path) -> list[dict[str, object]]:
    """Every item of every digest the file channel wrote."""
    return [
        item
        for digest in sorted((folder / "out").glob("*.json"))
        for item in json.loads(digest.read_text(encoding="utf-8"))["items"]
    ]


def table(path: Path) -> tuple[dict[str, list[str]], list[str]]:
    """``news-monitor sources``: its rows by source name, and the lines after the table."""
    result = run_cli("sources", config=path)
    assert result.returncode == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    assert header.split()[0] == "source"
    rows = {line.split()[0]: line.split() for line in lines if not line.startswith(" ")}
    rows.pop("deliveries:", None)
    notes = [line.strip() for line in lines if line.startswith(" ")]
    return rows, notes


def wait_after_last_poll(row: list[str]) -> timedelta:
    """Next poll minus last poll, from a row ``name date time status items failures date time``."""
    last = datetime.strptime(f"{row[1]} {row[2]}", WHEN)
    following = datetime.strptime(f"{row[6]} {row[7]}", WHEN)
    return following - last


def test_a_sources_headers_go_to_its_own_requests_only(web: HTTPFixture, tmp_path: Path) -> None:
    """Protects per-source ``headers``: sent on that source's request, not on another's."""
    web.routes["/keyed.xml"] = Route(rss("Keyed", [Entry("Keyed", web.url("/k/1"), "x")]))
    web.routes["/plain.xml"] = Route(rss("Plain", [Entry("Plain", web.url("/p/1"), "x")]))
    sources = source(
        "keyed",
        web.url("/keyed.xml"),
        'headers = { X-Key = "k", Authorization = "Bearer feed-token-1" }',
    ) + source("plain", web.url("/plain.xml"))
    result = once(write_config(tmp_path, config(sources)))
    assert result.returncode == 0, result.stderr
    assert "source=keyed status=ok" in result.stderr
    assert "source=plain status=ok" in result.stderr
    keyed = [r for r in web.requests if r.path == "/keyed.xml"]
    plain = [r for r in web.requests if r.path == "/plain.xml"]
    assert len(keyed) == 1 and len(plain) == 1
    assert keyed[0].headers.get("x-key") == "k"
    assert keyed[0].headers.get("authorization") == "Bearer feed-token-1"
    assert "x-key" not in plain[0].headers
    assert "authorization" not in plain[0].headers


def test_a_sources_own_timeout_overrides_the_http_timeout(web: HTTPFixture, tmp_path: Path) -> None:
    """Protects per-source ``timeout``: a slow source fails on its own deadline, others poll."""
    web.routes["/slow.xml"] = Route(rss("Slow", [Entry("Slow", web.url("/s/1"), "x")]), delay=3)
    web.routes["/quick.xml"] = Route(
        rss("Quick", [Entry("Visa news", web.url("/q/1"), "visa", published=hours_ago(1))])
    )
    sources = source("slow", web.url("/slow.xml"), "timeout = 0.5") + source(
        "quick", web.url("/quick.xml")
    )
    path = write_config(tmp_path, config(sources, http="timeout = 10\nretries = 0"))
    result = once(path)
    assert result.returncode == 1, result.stderr
    (line,) = [x for x in result.stderr.splitlines() if "source=slow status=" in x]
    assert "source=slow status=error" in line
    assert "0.5 s" in line, line  # its own deadline, not [http] timeout = 10
    assert "10 s" not in line
    assert "source=quick status=ok items=1 new=1 matches=1" in result.stderr
    assert [i["title"] for i in written_items(tmp_path)] == ["Visa news"]
    rows, notes = table(path)
    assert rows["slow"][3] == "error" and rows["slow"][5] == "1"
    assert any(n.startswith("slow:") and "0.5 s" in n for n in notes), notes


def test_robots_txt_keeps_full_text_away_from_disallowed_article_pages(
    web: HTTPFixture, tmp_path: Path
) -> None:
    """Protects robots.txt for ``full_text`` article pages: disallowed never fetched, item kept."""
    web.routes["/robots.txt"] = Route(ROBOTS, content_type="text/plain")
    web.routes["/private/visa-memo/"] = Route(ARTICLE, content_type="text/html; charset=utf-8")
    web.routes["/public/visa-talks/"] = Route(ARTICLE, content_type="text/html; charset=utf-8")
    web.routes["/feed.xml"] = Route(rss("Desk", [
        # matches on its summary alone: still alerted though its page may not be read
        Entry("Memo leaked", web.url("/private/visa-memo/"), "A memo on visa rules leaked.",
              published=hours_ago(1)),
        # matches only through its article page (the summary never says "visa")
        Entry("Talks resume in Washington", web.url("/public/visa-talks/"),
              "Officials met on Tuesday.", published=hours_ago(1)),
    ]))  # fmt: skip
    sources = source("desk", web.url("/feed.xml"), "full_text = true")
    result = once(write_config(tmp_path, config(sources)))
    assert result.returncode == 0, result.stderr
    assert "source=desk status=ok items=2 new=2 matches=2" in result.stderr
    paths = [r.path for r in web.requests]
    assert "/robots.txt" in paths
    assert not any(p.startswith("/private/") for p in paths), paths
    assert paths.count("/public/visa-talks/") == 1  # the control: an allowed page is read
    by_title = {str(i["title"]): i for i in written_items(tmp_path)}
    assert set(by_title) == {"Memo leaked", "Talks resume in Washington"}
    assert "memo on visa rules" in str(by_title["Memo leaked"]["snippet"]).lower()
    assert "visa" in str(by_title["Talks resume in Washington"]["snippet"]).lower()


SY = 'xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"'


def rss2_with_updates(web: HTTPFixture, title: str, hints: str) -> bytes:
    body = rss(title, [Entry(f"{title} story", web.url(f"/{title}/1"), "x")])
    return body.replace(b'<rss version="2.0">', f'<rss version="2.0" {SY}>'.encode()).replace(
        b"<language>", hints.encode() + b"<language>"
    )


def rss1_with_updates(web: HTTPFixture, title: str, hints: str) -> bytes:
    item = web.url(f"/{title}/1")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
         xmlns="http://purl.org/rss/1.0/" {SY}>
  <channel rdf:about="{web.url(f"/{title}.rdf")}">
    <title>{title}</title>
    <link>{web.url("/")}</link>
    <description>Fixture RDF feed</description>
    {hints}
    <items><rdf:Seq><rdf:li rdf:resource="{item}"/></rdf:Seq></items>
  </channel>
  <item rdf:about="{item}">
    <title>{title} story</title>
    <link>{item}</link>
    <description>x</description>
  </item>
</rdf:RDF>
""".encode()


def test_sy_update_period_is_a_floor_on_the_next_poll(web: HTTPFixture, tmp_path: Path) -> None:
    """Protects ``sy:updatePeriod`` (RSS 1.0 and 2.0): a daily feed is next polled a day later."""
    daily = "<sy:updatePeriod>daily</sy:updatePeriod><sy:updateFrequency>1</sy:updateFrequency>"
    web.routes["/daily2.xml"] = Route(rss2_with_updates(web, "daily2", daily))
    web.routes["/plain2.xml"] = Route(rss2_with_updates(web, "plain2", ""))
    web.routes["/daily1.rdf"] = Route(
        rss1_with_updates(web, "daily1", daily), content_type="application/rdf+xml"
    )
    web.routes["/plain1.rdf"] = Route(
        rss1_with_updates(web, "plain1", ""), content_type="application/rdf+xml"
    )
    names = ("daily2", "plain2", "daily1", "plain1")
    suffix = {"daily2": ".xml", "plain2": ".xml", "daily1": ".rdf", "plain1": ".rdf"}
    sources = "".join(
        source(n, web.url(f"/{n}{suffix[n]}"), 'interval = "15m"\nmin_interval = "5m"')
        for n in names
    )
    path = write_config(tmp_path, config(sources))
    result = once(path)
    assert result.returncode == 0, result.stderr
    for name in names:
        assert f"source={name} status=ok items=1 new=1" in result.stderr, result.stderr
    rows, _ = table(path)
    for name in ("daily2", "daily1"):
        wait = wait_after_last_poll(rows[name])
        assert timedelta(hours=24) - SLACK <= wait <= timedelta(hours=24) + SLACK, (name, wait)
    for name in ("plain2", "plain1"):  # the same feed without the hint: the 15-minute interval
        wait = wait_after_last_poll(rows[name])
        assert timedelta(minutes=15) - SLACK <= wait <= timedelta(minutes=15) + SLACK, (name, wait)


def test_sources_table_shows_failures_backoff_and_a_permanent_move(
    web: HTTPFixture, tmp_path: Path
) -> None:
    """Protects ``news-monitor sources``: failure count, error, backoff and "moved permanently"."""
    web.routes["/healthy.xml"] = Route(rss("Healthy", [Entry("H", web.url("/h/1"), "x")]))
    web.routes["/broken.xml"] = Route(b"oops", status=500, content_type="text/plain")
    web.routes["/old.xml"] = Route(
        b"", status=301, headers={"Location": web.url("/new.xml")}, content_type="text/plain"
    )
    web.routes["/new.xml"] = Route(
        rss("Moved", [Entry("Visa rules change", web.url("/m/1"), "visa", published=hours_ago(1))])
    )
    sources = (
        source("healthy", web.url("/healthy.xml"))
        + source("broken", web.url("/broken.xml"))
        + source("moved", web.url("/old.xml"))
    )
    path = write_config(tmp_path, config(sources))
    first = once(path)
    assert first.returncode == 1, first.stderr
    assert "source=moved status=ok items=1 new=1 matches=1" in first.stderr
    assert [i["title"] for i in written_items(tmp_path)] == ["Visa rules change"]
    rows, notes = table(path)
    assert rows["broken"][3] == "error" and rows["broken"][5] == "1"
    assert rows["healthy"][3] == "ok" and rows["healthy"][5] == "0"
    assert rows["moved"][3] == "ok" and rows["moved"][5] == "0"
    assert any(n.startswith("broken: HTTP 500") for n in notes), notes
    assert f"moved: moved permanently to {web.url('/new.xml')}; update its url" in notes
    assert not any(n.startswith(("healthy:", "broken: moved")) for n in notes), notes
    # one failure: the interval; a second failure in a row doubles it
    assert abs(wait_after_last_poll(rows["broken"]) - timedelta(minutes=15)) <= SLACK
    second = once(path, "--all")
    assert second.returncode == 1, second.stderr
    rows, notes = table(path)
    assert rows["broken"][5] == "2"
    assert abs(wait_after_last_poll(rows["broken"]) - timedelta(minutes=30)) <= SLACK
    assert abs(wait_after_last_poll(rows["healthy"]) - timedelta(minutes=15)) <= SLACK
    broken_next = datetime.strptime(f"{rows['broken'][6]} {rows['broken'][7]}", WHEN)
    healthy_next = datetime.strptime(f"{rows['healthy'][6]} {rows['healthy'][7]}", WHEN)
    assert broken_next > healthy_next + timedelta(minutes=10)
    assert f"moved: moved permanently to {web.url('/new.xml')}; update its url" in notes
