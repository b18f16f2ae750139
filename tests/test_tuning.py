"""``explain`` and ``backtest`` through the real CLI."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import FIXTURES, run_cli, write_config
from tests.feedgen import Entry, hours_ago, rss
from tests.servers import HTTPFixture, Route

SEED_TEXT = (FIXTURES / "seed" / "us-cuba-visa-talks.txt").read_text(encoding="utf-8")


def config(web: HTTPFixture, tmp_path: Path) -> Path:
    return write_config(tmp_path, f"""
[storage]
url = "sqlite:///state.db"

[[sources]]
name = "desk"
url = "{web.url('/feed.xml')}"

[[watches]]
name = "consulate"
query = 'Havana NEAR/6 consul* -baseball'

[[watches]]
name = "exact"
terms = ["Havana consulate"]

[[watches]]
name = "spanish"
query = 'visado*'
languages = ["es"]

[[channels]]
name = "out"
type = "file"
path = "out"

[[subscribers]]
name = "desk"
watches = ["exact"]
channels = ["out"]
""")  # fmt: skip


def test_explain_text_and_file(web: HTTPFixture, tmp_path: Path) -> None:
    path = config(web, tmp_path)
    seed = tmp_path / "seed.txt"
    seed.write_text(SEED_TEXT, encoding="utf-8")
    near = run_cli("explain", "consulate", "--file", str(seed), config=path)
    assert near.returncode == 0, near.stderr
    assert "result: MATCH" in near.stdout
    assert "NEAR/6" in near.stdout
    assert "[consular] services in Havana" in near.stdout  # the hit, in its context
    exact = run_cli("explain", "exact", "--file", str(seed), config=path)
    assert exact.returncode == 1
    assert "result: no match" in exact.stdout
    assert "failed:" in exact.stdout
    text = run_cli("explain", "consulate", "--text", "Baseball\nThe Havana consulate reopened.",
                   config=path)  # fmt: skip
    assert text.returncode == 1 and "baseball" in text.stdout


def test_explain_url_reads_the_article(web: HTTPFixture, tmp_path: Path) -> None:
    web.routes["/story"] = Route((FIXTURES / "site" / "us-cuba-visa-talks.html").read_bytes(),
                                 content_type="text/html")  # fmt: skip
    result = run_cli(
        "explain", "consulate", "--url", web.url("/story"), config=config(web, tmp_path)
    )
    assert result.returncode == 0, result.stderr
    assert "result: MATCH" in result.stdout


def test_explain_unknown_watch(web: HTTPFixture, tmp_path: Path) -> None:
    result = run_cli("explain", "nope", "--text", "x", config=config(web, tmp_path))
    assert result.returncode == 2 and "no watch named 'nope'" in result.stderr


def test_backtest_over_stored_items(web: HTTPFixture, tmp_path: Path) -> None:
    web.routes["/feed.xml"] = Route(rss("Desk", [
        Entry("Havana consulate resumes interviews", web.url("/1"), "Consular services in Havana resume.", published=hours_ago(1)),
        Entry("Consular services in Havana expand", web.url("/2"), "More staff.", published=hours_ago(2)),
        Entry("Baseball: Havana wins", web.url("/3"), "Consul attends the game in Havana.", published=hours_ago(3)),
        Entry("Weather", web.url("/4"), "Rain.", published=hours_ago(4)),
    ]))  # fmt: skip
    path = config(web, tmp_path)
    assert run_cli("once", config=path).returncode == 0
    tested = run_cli("backtest", "consulate", "--since", "7d", config=path)
    assert tested.returncode == 0, tested.stderr
    assert "Havana consulate resumes interviews" in tested.stdout
    assert "Consular services in Havana expand" in tested.stdout
    assert "Baseball" not in tested.stdout and "Weather" not in tested.stdout
    assert "2 of 4 stored items since" in tested.stderr
    adhoc = run_cli("backtest", "--query", '"Havana consulate"', config=path)
    assert adhoc.returncode == 0 and adhoc.stdout.count("\n    http") == 1
    assert "1 of 4 stored items" in adhoc.stderr
    bad = run_cli("backtest", "--query", "Havana AND (consul*", config=path)
    assert bad.returncode == 2 and "^" in bad.stderr


def test_languages_limit_a_watch(web: HTTPFixture, tmp_path: Path) -> None:
    path = config(web, tmp_path)
    spanish = run_cli(
        "explain",
        "spanish",
        "--language",
        "es",
        "--text",
        "Visados\nLos visados para Cuba.",
        config=path,
    )
    english = run_cli(
        "explain",
        "spanish",
        "--language",
        "en",
        "--text",
        "Visados\nLos visados para Cuba.",
        config=path,
    )
    assert spanish.returncode == 0 and english.returncode == 1
