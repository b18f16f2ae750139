"""Operator commands: OPML import and export, the sources table, progress on a terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from monitor import config
from tests.conftest import REPO, run_cli, write_config
from tests.feedgen import Entry, hours_ago, rss
from tests.servers import HTTPFixture, Route

BASE = """# my newsroom config
[storage]
url = "sqlite:///state.db"

# the one feed we had
[[sources]]
name = "havana-times"
url = "https://havanatimes.org/feed/"

[[watches]]
name = "cuba"
terms = ["Cuba"]

[[channels]]
name = "out"
type = "file"
path = "out"

[[subscribers]]
name = "desk"
watches = ["cuba"]
channels = ["out"]
"""

OPML = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>Reader export</title></head><body>
  <outline text="Cuba" title="Cuba">
    <outline type="rss" text="Havana Times" xmlUrl="https://havanatimes.org/feed/"/>
    <outline type="rss" text="14ymedio — Cuba" title="14ymedio — Cuba" xmlUrl="https://www.14ymedio.com/rss/"/>
    <outline type="rss" text="Havana Times" title="Havana Times" xmlUrl="https://havanatimes.org/es/feed/"/>
  </outline>
  <outline type="rss" text="State Dept &amp; visas" xmlUrl="https://www.state.gov/feed/?a=1&amp;b=&quot;2&quot;"/>
  <outline text="a folder without a feed"/>
</body></opml>
"""


def test_opml_import_appends_validated_sources(tmp_path: Path) -> None:
    path = write_config(tmp_path, BASE)
    opml = tmp_path / "feeds.opml"
    opml.write_text(OPML, encoding="utf-8")
    result = run_cli("sources", "import", str(opml), config=path)
    assert result.returncode == 0, result.stderr
    assert "3 sources added" in result.stdout
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# my newsroom config") and "# the one feed we had" in text
    settings = config.load(path, {})
    by_name = {s.name: s.url for s in settings.sources}
    assert by_name == {
        "havana-times": "https://havanatimes.org/feed/",
        "14ymedio-cuba": "https://www.14ymedio.com/rss/",
        "havana-times-2": "https://havanatimes.org/es/feed/",
        "state-dept-visas": 'https://www.state.gov/feed/?a=1&b="2"',
    }
    again = run_cli("sources", "import", str(opml), config=path)
    assert again.returncode == 0 and "0 sources added" in again.stdout


def test_opml_import_of_a_broken_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, BASE)
    broken = tmp_path / "broken.opml"
    broken.write_text("<opml><body><outline", encoding="utf-8")
    result = run_cli("sources", "import", str(broken), config=path)
    assert result.returncode == 2
    assert "broken.opml: not a readable OPML file" in result.stderr
    assert path.read_text(encoding="utf-8") == BASE


def test_opml_export(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        BASE
        + '\n[[sources]]\nname = "embassy"\ntype = "page"\nurl = "https://cu.usembassy.gov/news/"\n',
    )
    result = run_cli("sources", "export", config=path)
    assert result.returncode == 0, result.stderr
    outlines = ET.fromstring(result.stdout).findall("./body/outline")  # noqa: S314
    assert [(o.get("text"), o.get("xmlUrl"), o.get("url")) for o in outlines] == [
        ("havana-times", "https://havanatimes.org/feed/", None),
        ("embassy", None, "https://cu.usembassy.gov/news/"),
    ]


def test_sources_table_and_deliveries(web: HTTPFixture, tmp_path: Path) -> None:
    web.routes["/f.xml"] = Route(
        rss("F", [Entry("Cuba news", web.url("/1"), "x", published=hours_ago(1))])
    )
    web.routes["/bad.xml"] = Route(b"", status=500)
    text = BASE.replace("https://havanatimes.org/feed/", web.url("/f.xml")) + (
        f'\n[[sources]]\nname = "broken"\nurl = "{web.url("/bad.xml")}"\n'
    )
    path = write_config(tmp_path, text.replace("[storage]", "[http]\nretries = 0\n\n[storage]"))
    assert run_cli("once", config=path).returncode == 1
    result = run_cli("sources", config=path)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == [
        "source",
        "last",
        "poll",
        "status",
        "items",
        "failures",
        "next",
        "poll",
    ]
    assert rows[0].split()[0] == "havana-times" and " ok " in rows[0]
    assert rows[1].split()[0] == "broken" and " error " in rows[1]
    assert "broken: HTTP 500" in result.stdout
    assert "deliveries: 0 queued, 1 sent, 0 given up" in result.stdout


def test_progress_bar_on_a_terminal(web: HTTPFixture, tmp_path: Path) -> None:
    for n in range(5):
        web.routes[f"/f{n}.xml"] = Route(rss("F", [Entry(f"Item {n}", web.url(f"/{n}"), "x")]))
    sources = "".join(
        f'\n[[sources]]\nname = "f{n}"\nurl = "{web.url(f"/f{n}.xml")}"\n' for n in range(5)
    )
    path = write_config(
        tmp_path,
        BASE.split("# the one feed")[0]
        + sources
        + BASE.split('url = "https://havanatimes.org/feed/"')[1],
    )
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(path), "once", "--all"],
        stdout=follower, stderr=follower, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    os.close(follower)
    output = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        elif process.poll() is not None:
            break
    process.wait(timeout=30)
    os.close(leader)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text
    assert "polling [" in text and "5/5" in text
    assert "pass complete" in text


def test_the_script_exits_with_main_s_code_after_freezing_the_heap(monkeypatch: Any) -> None:
    """``entry`` skips the last garbage collection, not the exit code or atexit work."""
    import gc

    from monitor import cli, launch

    collecting: list[bool] = []

    def fake_main() -> int:
        collecting.append(gc.isenabled())
        return 3

    monkeypatch.setattr(cli, "main", fake_main)
    before = gc.get_freeze_count()
    try:
        with pytest.raises(SystemExit) as exited:
            launch.entry()
        assert exited.value.code == 3
        assert collecting == [False]  # start-up runs without collection
        assert gc.get_freeze_count() > before
    finally:
        launch._paused = False
        gc.enable()
        gc.unfreeze()


def test_the_command_runs_with_collection_on_and_start_up_frozen(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """``main`` turns collection back on before the command; what start-up built is frozen."""
    import gc

    from monitor import cli, launch

    seen: list[tuple[bool, int]] = []

    def command(settings: Any, args: Any) -> int:
        seen.append((gc.isenabled(), gc.get_freeze_count()))
        return 0

    path = write_config(tmp_path, BASE)
    monkeypatch.setitem(cli.COMMANDS, "check", command)
    monkeypatch.setattr(sys, "argv", ["news-monitor", "--config", str(path), "check"])
    before = gc.get_freeze_count()
    try:
        with pytest.raises(SystemExit) as exited:
            launch.entry()
        assert exited.value.code == 0
        assert len(seen) == 1 and seen[0][0] is True and seen[0][1] > before
    finally:
        launch._paused = False
        gc.enable()
        gc.unfreeze()


def test_started_does_nothing_when_start_up_was_not_paused() -> None:
    """Code calling ``main`` itself (tests, embedders) keeps its own collector settings."""
    import gc

    from monitor import launch

    before = gc.get_freeze_count()
    launch.started()
    assert gc.isenabled() and gc.get_freeze_count() == before


def test_python_m_monitor_flushes_its_log_lines_on_exit(tmp_path: Path) -> None:
    """A real process: the error and the exit code survive the frozen-heap exit."""
    bad = tmp_path / "bad.toml"
    bad.write_text("[storage]\nurl = 3\n")
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(bad), "check"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 2
    assert "storage.url" in done.stderr
