"""preview shows the next digest without sending or marking it; test-channel sends one."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli, write_config
from tests.feedgen import Entry, hours_ago, rss
from tests.servers import HTTPFixture, Route


def setup(web: HTTPFixture, hooks: HTTPFixture, tmp_path: Path) -> Path:
    web.routes["/f.xml"] = Route(rss("F", [
        Entry("Cuba & US visa talks <b>resume</b>", web.url("/1"), "Talks on Cuba visas.", published=hours_ago(1)),
        Entry("Havana consulate reopens", web.url("/2"), "The consulate in Havana.", published=hours_ago(2)),
    ]))  # fmt: skip
    return write_config(tmp_path, f"""
[[sources]]
name = "desk"
url = "{web.url('/f.xml')}"

[[watches]]
name = "cuba"
terms = ["Cuba", "Havana"]

[[channels]]
name = "hook"
type = "webhook"
url = "{hooks.url('/hook')}"

[[subscribers]]
name = "newsroom"
watches = ["cuba"]
channels = ["hook"]
schedule = "0 8 * * *"
timezone = "America/Havana"
""")  # fmt: skip


def test_preview_text_html_json_marks_nothing(
    web: HTTPFixture, hooks: HTTPFixture, tmp_path: Path
) -> None:
    path = setup(web, hooks, tmp_path)
    assert run_cli("once", config=path).returncode == 0
    assert hooks.posts() == []  # a morning digest: nothing sent yet
    text = run_cli("preview", "newsroom", config=path)
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("Subject: 2 new stories for cuba")
    assert "**Cuba** visa talks" not in text.stdout and "Talks on **Cuba** visas." in text.stdout
    html_file = tmp_path / "preview.html"
    html = run_cli("preview", "newsroom", "--html", str(html_file), config=path)
    assert html.returncode == 0 and "2 items" in html.stdout
    assert "Cuba &amp; US visa talks resume" in html_file.read_text()  # tags gone, & escaped
    as_json = json.loads(run_cli("preview", "newsroom", "--json", config=path).stdout)
    assert [i["title"] for i in as_json["items"]] == [
        "Cuba & US visa talks resume",
        "Havana consulate reopens",
    ]
    # nothing was marked: the same two stories are still pending
    again = json.loads(run_cli("preview", "newsroom", "--json", config=path).stdout)
    assert len(again["items"]) == 2
    unknown = run_cli("preview", "nobody", config=path)
    assert unknown.returncode == 2 and "no subscriber named 'nobody'" in unknown.stderr


def test_test_channel(web: HTTPFixture, hooks: HTTPFixture, tmp_path: Path) -> None:
    path = setup(web, hooks, tmp_path)
    sent = run_cli("test-channel", "hook", config=path)
    assert sent.returncode == 0 and "test message sent through hook" in sent.stdout
    (post,) = hooks.posts()
    assert json.loads(post.body)["items"][0]["title"] == "news-monitor test message"
    hooks.answer_posts((403, {}, b"no"))
    failed = run_cli("test-channel", "hook", config=path)
    assert failed.returncode == 1 and "HTTP 403" in failed.stderr
    missing = run_cli("test-channel", "nope", config=path)
    assert missing.returncode == 2 and "no channel named 'nope'" in missing.stderr
