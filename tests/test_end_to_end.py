"""The whole path with real parts: the CLI against a local web server, aiosmtpd and a
webhook receiver on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, Result, run_cli, write_config
from tests.feedgen import Entry, atom, hours_ago, rss
from tests.servers import HTTPFixture, Route, SMTPFixture

SEED_TITLE = "US and Cuba enter US visa talks for first time in four years"


def config_text(web: HTTPFixture, hooks: HTTPFixture, smtp_port: int) -> str:
    return f"""
[storage]
url = "sqlite:///state.db"

[http]
timeout = 5

[[sources]]
name = "migrant-desk"
url = "{web.url("/feeds/migrant.xml")}"

[[sources]]
name = "world-wire"
url = "{web.url("/feeds/world.atom")}"

[[watches]]
name = "cuba-visas"
terms = ["Cuba", "visa", "Havana consulate"]
exclude = ["baseball"]

[[channels]]
name = "desk-email"
type = "email"
to = ["desk@example.org"]
from = "news-monitor@example.org"
host = "127.0.0.1"
port = {smtp_port}
security = "none"
timeout = 5

[[channels]]
name = "desk-hook"
type = "webhook"
url = "{hooks.url("/hook")}"
secret = "${{HOOK_SECRET}}"

[[subscribers]]
name = "newsroom"
watches = ["cuba-visas"]
channels = ["desk-email", "desk-hook"]
schedule = "immediate"
timezone = "America/Havana"
"""


def migrant_feed(
    web: HTTPFixture, *, retag: bool = False, extra: list[Entry] | None = None
) -> bytes:
    seed_link = web.url("/2023/04/us-cuba-visa-talks/")
    if retag:
        seed_link += "?utm_source=x#top"
    entries = [
        Entry(SEED_TITLE, seed_link,
              "Washington and Havana have entered into tentative US visa talks.",
              published=hours_ago(2)),
        Entry("Local bakery wins national bread award", web.url("/2026/bakery/"),
              "The award was announced in Ohio.", published=hours_ago(3)),
        Entry("Old story about Cuba from last month", web.url("/2026/old-cuba/"),
              "Cuba archive piece.", published=hours_ago(24 * 30)),
        *(extra or []),
    ]  # fmt: skip
    return rss("Migrant desk", entries)


def world_feed(web: HTTPFixture) -> bytes:
    return atom("World wire", [
        Entry("Havana consulate resumes immigrant visa interviews", web.url("/wire/consulate"),
              "The <b>Havana consulate</b> will resume interviews.", "urn:wire:1", hours_ago(1)),
        Entry("Cuba beats Japan in baseball classic", web.url("/wire/baseball"),
              "Baseball fans in Cuba celebrate.", "urn:wire:2", hours_ago(1)),
        Entry("Markets close higher", web.url("/wire/markets"), "Stocks rose.", "urn:wire:3",
              hours_ago(1)),
    ])  # fmt: skip


@pytest.fixture
def setup(web: HTTPFixture, hooks: HTTPFixture, smtp: SMTPFixture, tmp_path: Path) -> Path:
    web.routes["/feeds/migrant.xml"] = Route(migrant_feed(web))
    web.routes["/feeds/world.atom"] = Route(world_feed(web), content_type="application/atom+xml")
    page = (FIXTURES / "site" / "us-cuba-visa-talks.html").read_bytes()
    web.routes["/2023/04/us-cuba-visa-talks/"] = Route(page, content_type="text/html")
    return write_config(tmp_path, config_text(web, hooks, smtp.port))


def once(config: Path) -> Result:
    return run_cli("once", config=config, env={"HOOK_SECRET": "hook-secret-value"})


def titles_in(post_body: bytes) -> list[str]:
    return [item["title"] for item in json.loads(post_body)["items"]]


def test_matching_stories_arrive_once_by_email_and_webhook(
    setup: Path, web: HTTPFixture, hooks: HTTPFixture, smtp: SMTPFixture
) -> None:
    first = once(setup)
    assert first.returncode == 0, first.stderr
    assert "source=migrant-desk status=ok items=3 new=3 matches=1" in first.stderr
    assert "source=world-wire status=ok items=3 new=3 matches=1" in first.stderr
    assert "pass complete: sources ok=2 failed=0" in first.stderr
    assert "hook-secret-value" not in first.stderr

    # the webhook: one digest with the two matching stories, signed
    (post,) = hooks.posts()
    assert sorted(titles_in(post.body)) == sorted(
        [SEED_TITLE, "Havana consulate resumes immigrant visa interviews"]
    )
    signature = hmac.new(b"hook-secret-value", post.body, hashlib.sha256).hexdigest()
    assert post.headers["x-news-monitor-signature"] == f"sha256={signature}"
    digest_id = json.loads(post.body)["digest_id"]
    assert post.headers["idempotency-key"] == digest_id
    seed = next(i for i in json.loads(post.body)["items"] if i["title"] == SEED_TITLE)
    assert seed["source"] == "migrant-desk"
    assert set(seed["matched_terms"]) >= {"Cuba", "visa"}

    # the email: both parts, same stories, nothing else
    (message,) = smtp.messages
    assert message["Subject"] == "2 new stories for cuba-visas"
    assert digest_id in message["Message-ID"]
    plain = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for part in (plain, html):
        assert SEED_TITLE in part
        assert "Havana consulate resumes immigrant visa interviews" in part
        assert "bakery" not in part and "baseball" not in part.lower()
        assert "Old story about Cuba" not in part  # older than max_age

    # a second pass: nothing new, conditional requests, nothing sent
    second = once(setup)
    assert second.returncode == 0, second.stderr
    assert "status=skipped" in second.stderr  # not due again within 15 minutes
    assert len(hooks.posts()) == 1 and len(smtp.messages) == 1
    third = run_cli("once", "--all", config=setup, env={"HOOK_SECRET": "hook-secret-value"})
    assert third.returncode == 0, third.stderr
    assert "source=migrant-desk status=not_modified" in third.stderr
    feed_gets = [r for r in web.requests if r.path == "/feeds/migrant.xml"]
    assert len(feed_gets) == 2
    assert "if-none-match" in feed_gets[1].headers
    assert len(hooks.posts()) == 1 and len(smtp.messages) == 1


def test_retagged_link_is_not_a_new_story(
    setup: Path, web: HTTPFixture, hooks: HTTPFixture, smtp: SMTPFixture
) -> None:
    assert once(setup).returncode == 0
    web.routes["/feeds/migrant.xml"] = Route(migrant_feed(web, retag=True))
    again = run_cli("once", "--all", config=setup, env={"HOOK_SECRET": "hook-secret-value"})
    assert again.returncode == 0, again.stderr
    assert "source=migrant-desk status=ok items=3 new=0 matches=0" in again.stderr
    assert len(hooks.posts()) == 1 and len(smtp.messages) == 1


def test_smtp_down_webhook_still_arrives_and_email_follows_once(
    setup: Path, web: HTTPFixture, hooks: HTTPFixture, smtp: SMTPFixture
) -> None:
    smtp.stop()
    failed = once(setup)
    assert failed.returncode == 1
    assert "channel=desk-email failed" in failed.stderr
    assert "cannot reach SMTP server" in failed.stderr
    assert len(hooks.posts()) == 1
    smtp.start()
    recovered = once(setup)
    assert recovered.returncode == 0, recovered.stderr
    assert len(smtp.messages) == 1
    (message,) = smtp.messages
    assert json.loads(hooks.posts()[0].body)["digest_id"] in message["Message-ID"]
    assert once(setup).returncode == 0
    assert len(smtp.messages) == 1 and len(hooks.posts()) == 1


def test_broken_sources_are_reported_and_others_still_polled(
    web: HTTPFixture, hooks: HTTPFixture, smtp: SMTPFixture, tmp_path: Path
) -> None:
    good = rss(
        "Good", [Entry("Cuba visa news", web.url("/good/1"), "visa", published=hours_ago(1))]
    )
    web.routes["/good.xml"] = Route(good)
    web.routes["/slow.xml"] = Route(good, delay=4)
    web.routes["/html.xml"] = Route(b"<!DOCTYPE html><html><body>Hi</body></html>", "text/html")
    web.routes["/garbage.xml"] = Route(b"\x00\x01 not xml at all \xff")
    web.routes["/500.xml"] = Route(b"oops", status=500)
    web.routes["/huge.xml"] = Route(b"<rss>" + b"x" * 300_000 + b"</rss>")
    broken = ["slow", "missing", "html", "garbage", "500", "huge"]
    sources = "".join(
        f'\n[[sources]]\nname = "{name}"\nurl = "{web.url(f"/{name}.xml")}"\n'
        for name in ["good", *broken]
    )
    text = config_text(web, hooks, smtp.port)
    text = text.replace("[http]\ntimeout = 5", "[http]\ntimeout = 1\nmax_bytes = 100_000")
    text = text.split("[[sources]]")[0] + sources + "\n[[watches]]" + text.split("[[watches]]")[1]
    result = once(write_config(tmp_path, text))
    assert result.returncode == 1
    errors = {
        "slow": "no complete answer within 1 s",
        "missing": "HTTP 404",
        "html": "an HTML page that advertises no RSS, Atom or JSON feed",
        "garbage": "not an RSS or Atom feed",
        "500": "HTTP 500",
        "huge": "over the 100000-byte limit",
    }
    for name, problem in errors.items():
        line = next(x for x in result.stderr.splitlines() if f"source={name} " in x)
        assert "status=error" in line and problem in line, line
    assert "source=good status=ok items=1 new=1 matches=1" in result.stderr
    assert "pass complete: sources ok=1 failed=6" in result.stderr
    (post,) = hooks.posts()
    assert titles_in(post.body) == ["Cuba visa news"]
    assert len(smtp.messages) == 1


def test_unopenable_database_exits_3_naming_the_path(
    web: HTTPFixture, hooks: HTTPFixture, tmp_path: Path
) -> None:
    text = config_text(web, hooks, 9).replace(
        'url = "sqlite:///state.db"', 'url = "sqlite:///missing-folder/state.db"'
    )
    result = once(write_config(tmp_path, text))
    assert result.returncode == 3
    assert str(tmp_path / "missing-folder" / "state.db") in result.stderr
