"""Parse workers: a pass with workers stores exactly what a pass in one process stores.

The CLI runs against a local web server twice, on two databases: once with
``NEWS_MONITOR_PARSE_WORKERS=0`` (one process) and once with 2 workers, then a
second pass of each after the feeds changed. Items, story links, alerts and source
states must be the same. Smaller cases: the worker count, and a worker that dies.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import sqlite3
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor import config
from monitor.config import Settings
from monitor.prepare import PollFacts
from monitor.workers import (
    ENV,
    MIN_SOURCES,
    FeedJob,
    ParseWorkers,
    _prepare_in_worker,
    _start_worker,
    worker_count,
)
from tests.conftest import run_cli, write_config
from tests.feedgen import Entry, atom, hours_ago, rss
from tests.servers import HTTPFixture, Route

WIRE = (
    "Havana. The United States and Cuba opened talks on visa processing at the Havana "
    "consulate on Monday, the first such meeting in four years, officials from both "
    "governments said. The delegations discussed the backlog of immigrant visa "
    "applications, the staffing of the consulate and the return of deportation flights, "
    "according to a joint statement released after the meeting ended in the afternoon."
)


def feeds(web: HTTPFixture, round_: int) -> None:
    """Sixteen ordinary feeds, a wire story in two outlets, a page with a feed, a broken feed."""
    for n in range(16):
        entries = [
            Entry(f"Local news {n}-{i}", f"https://outlet{n}.example.org/{i}",
                  f"<p>Council meeting number {i} in town {n}.</p>", published=hours_ago(i + 1))
            for i in range(12)
        ]  # fmt: skip
        if n % 4 == 0:
            entries.append(Entry(f"Cuba visa update {n}", f"https://outlet{n}.example.org/cuba",
                                 f"<b>Cuba</b> and the visa queue, item {n}",
                                 published=hours_ago(2)))  # fmt: skip
        if n == 5:  # the same story twice in one feed, under two GUIDs
            entries.append(Entry("Weather", "https://outlet5.example.org/w", "Rain.", guid="w-1"))
            entries.append(Entry("Weather", "https://outlet5.example.org/w", "Rain.", guid="w-2"))
        if round_ == 2 and n < 3:  # one new item, and one changed text
            entries.insert(0, Entry(f"Havana consulate reopens {n}",
                                    f"https://outlet{n}.example.org/new",
                                    "The Havana consulate reopens.", published=hours_ago(0.1)))  # fmt: skip
            entries[1] = Entry(f"Local news {n}-0", f"https://outlet{n}.example.org/0",
                               "<p>Corrected: council meeting moved.</p>", published=hours_ago(1))  # fmt: skip
        body = atom(f"Outlet {n}", entries) if n % 2 else rss(f"Outlet {n}", entries)
        web.routes[f"/feed/{n}.xml"] = Route(body, etag=False, last_modified=None)
    for outlet in ("wire-a", "wire-b"):
        web.routes[f"/feed/{outlet}.xml"] = Route(
            rss(outlet, [Entry(f"US and Cuba hold visa talks ({outlet})",
                               f"https://{outlet}.example.org/talks", WIRE,
                               published=hours_ago(1))]),
            etag=False, last_modified=None,
            delay=0.6 if outlet == "wire-b" else 0.0,
        )  # fmt: skip
    # Which copy of a story is stored first (the original, which gets the alert) follows
    # the order polls finish, in one process as with workers: the delays fix that order,
    # so the two databases can be compared row for row.
    page = f'<html><head><link rel="alternate" type="application/rss+xml" href="{web.url("/feed/0.xml")}"></head><body>Home</body></html>'
    web.routes["/home"] = Route(page.encode(), content_type="text/html; charset=utf-8", delay=0.6)
    web.routes["/broken.xml"] = Route(b"Service moved.", content_type="text/plain", etag=False)


def config_text(web: HTTPFixture) -> str:
    names = [*(f"/feed/{n}.xml" for n in range(16)), "/feed/wire-a.xml", "/feed/wire-b.xml"]
    sources = "".join(
        f'[[sources]]\nname = "s{i:02d}"\nurl = "{web.url(path)}"\n\n'
        for i, path in enumerate(names)
    )
    sources += f'[[sources]]\nname = "home-page"\nurl = "{web.url("/home")}"\n\n'
    sources += f'[[sources]]\nname = "broken"\nurl = "{web.url("/broken.xml")}"\n\n'
    return f"""
[storage]
url = "sqlite:///state.db"

[http]
timeout = 5
allow_private_networks = true

{sources}
[[watches]]
name = "cuba-visas"
terms = ["Cuba", "visa", "Havana consulate"]
alert_on_update = true

[[channels]]
name = "out"
type = "file"
path = "digests"

[[subscribers]]
name = "newsroom"
watches = ["cuba-visas"]
channels = ["out"]
schedule = "24h"  # no digest during the test: alerts stay in the database
"""


def snapshot(folder: Path) -> dict[str, Any]:
    """What a pass stored, without ids and times (they differ between databases)."""
    db = sqlite3.connect(folder / "state.db")
    key = {i: (s, k) for i, s, k in db.execute("SELECT id, source, item_key FROM items")}
    items = sorted(
        (source, item_key, title, summary, content, alertable, key.get(dup), key.get(story),
         revision, fingerprint, raw_hash, feed_hash, sketch)
        for source, item_key, title, summary, content, alertable, dup, story, revision,
        fingerprint, raw_hash, feed_hash, sketch in db.execute(
            "SELECT source, item_key, title, summary, content, alertable, duplicate_of, "
            "story_id, revision, fingerprint, raw_hash, feed_hash, sketch FROM items"
        )
    )  # fmt: skip
    alerts = sorted(
        (sub, key[item], key[story], rev, watches, terms, snippet)
        for sub, item, story, rev, watches, terms, snippet in db.execute(
            "SELECT subscriber, item_id, story_id, revision, watches, matched_terms, snippet "
            "FROM alerts"
        )
    )
    story_keys = sorted((key[i], k) for k, i in db.execute("SELECT key, item_id FROM story_keys"))
    sources = sorted(
        db.execute(
            "SELECT name, last_status, last_error, consecutive_failures, total_items, feed_url "
            "FROM sources"
        )
    )
    db.close()
    return {"items": items, "alerts": alerts, "story_keys": story_keys, "sources": sources}


def test_a_pass_with_parse_workers_stores_what_one_process_stores(
    web: HTTPFixture, tmp_path: Path
) -> None:
    runs = {"one process": "0", "two workers": "2"}
    folders = {name: tmp_path / name.replace(" ", "-") for name in runs}
    for round_ in (1, 2):
        feeds(web, round_)
        for name, count in runs.items():
            folders[name].mkdir(exist_ok=True)
            path = write_config(folders[name], config_text(web))
            result = run_cli("-v", "once", "--all", config=path, env={ENV: count})
            assert result.returncode == 1, result.stderr  # the broken source fails the pass
            assert "source=broken status=error" in result.stderr
            assert ("2 parse workers started" in result.stderr) == (count == "2")
            assert "source=s17 status=ok" in result.stderr
        one, two = (snapshot(folders[name]) for name in runs)
        assert one == two, f"round {round_}"
    stored = snapshot(folders["two workers"])
    by_key = {row[1].rsplit("/", 1)[-1]: row for row in stored["items"] if row[0] == "s05"}
    # the wire story: one story across both outlets, one alert
    wire = [row for row in stored["items"] if row[0] in ("s16", "s17")]
    assert len({row[7] for row in wire}) == 1
    assert sum(1 for a in stored["alerts"] if a[2] == wire[0][7] and a[3] == 0) == 1
    # the copy within one feed points at its original; the page's feed was discovered
    assert by_key["w-2"][6] == ("s05", by_key["w-1"][1])
    assert ("home-page", "ok", None, 0, 14, web.url("/feed/0.xml")) in stored["sources"]
    # round 2: new items alerted, and the corrected item as an update (revision 1)
    assert {a[1][1] for a in stored["alerts"] if a[1][1].endswith("/new")} == {
        f"https://outlet{n}.example.org/new" for n in range(3)
    }
    assert any(row[1] == "https://outlet0.example.org/0" and row[8] == 1 for row in stored["items"])


def settings_with(tmp_path: Path, sources: int) -> Settings:
    return config.parse(
        {
            "storage": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
            "sources": [
                {"name": f"s{i}", "url": f"https://example.org/{i}.xml"} for i in range(sources)
            ],
            "watches": [{"name": "w", "terms": ["Cuba"]}],
            "channels": [{"name": "f", "type": "file", "path": "out"}],
            "subscribers": [{"name": "n", "watches": ["w"], "channels": ["f"]}],
        },
        tmp_path / "monitor.toml",
        {},
    )


def test_worker_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    large, small = settings_with(tmp_path, MIN_SOURCES), settings_with(tmp_path, 3)
    assert worker_count(large) == 2
    assert worker_count(small) == 0  # a small pass: starting workers costs more
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0}, raising=False)
    assert worker_count(large) == 0  # one core: nothing to gain
    monkeypatch.setenv(ENV, "3")
    assert worker_count(small) == 3  # asked for: used even for a small pass
    monkeypatch.setenv(ENV, "0")
    assert worker_count(large) == 0
    in_memory = settings_with(tmp_path, MIN_SOURCES).model_copy(
        update={"storage": large.storage.model_copy(update={"url": "sqlite://"})}
    )
    monkeypatch.setenv(ENV, "3")
    assert worker_count(in_memory) == 0  # a worker could not see that database
    for bad in ("many", "-2"):
        monkeypatch.setenv(ENV, bad)
        with caplog.at_level(logging.WARNING):
            assert worker_count(large) == 0  # the default again (one core here)
        assert f"{ENV}={bad!r} is not a number of workers" in caplog.text


def _die() -> None:
    import os

    os._exit(3)


async def test_a_dead_worker_leaves_the_pass_to_the_main_process(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_with(tmp_path, 1)
    # spawn, not fork: this test process may run threads of other tests' servers
    pool = ProcessPoolExecutor(
        1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(settings,),
    )
    workers = ParseWorkers(pool, 1)
    body = rss("Desk", [Entry("Cuba talks", "https://x.org/1", "About Cuba.")])
    now = datetime.now(UTC)
    try:
        with pytest.raises(Exception, match="terminated abruptly"):
            pool.submit(_die).result(timeout=60)
        job = FeedJob(
            source="s0", body=body, url="https://x.org/feed", content_type=None,
            known_feed=None, unchanged=None, stored_before=True,
            facts=PollFacts(None, None, None, None, None, None),
            now=now, max_age=timedelta(days=3),
        )  # fmt: skip
        with caplog.at_level(logging.WARNING):
            done = await workers.poll(job)
        assert done is None  # the caller prepares and stores it itself
        assert "a parse worker died; the pass goes on in one process" in caplog.text
    finally:
        workers.close()


async def test_a_worker_prepares_what_the_main_process_would(tmp_path: Path) -> None:
    from monitor.feeds import parse_feed
    from monitor.matching import Matcher
    from monitor.prepare import prepare_parsed
    from monitor.store import Store

    settings = settings_with(tmp_path, 1)
    Store.open(settings.storage.url, "main").close()  # the main process migrates
    pool = ProcessPoolExecutor(
        1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(settings,),
    )
    body = rss("Desk", [
        Entry("Cuba talks", "https://x.org/1", "<p>About <b>Cuba</b>.</p>", published=hours_ago(1)),
        Entry("Old Cuba note", "https://x.org/2", "Cuba.", published=hours_ago(24 * 9)),
        Entry("Weather", "https://x.org/3", "Rain.", published=hours_ago(2)),
    ])  # fmt: skip
    now, max_age = datetime.now(UTC), timedelta(days=3)
    facts = PollFacts(None, None, None, None, None, None)

    def job(body: bytes, url: str, content_type: str | None) -> FeedJob:
        return FeedJob("s0", body, url, content_type, None, None, True, facts, now, max_age)

    try:
        there = pool.submit(
            _prepare_in_worker, job(body, "https://x.org/feed", "application/rss+xml")
        ).result(timeout=60)
        page = pool.submit(
            _prepare_in_worker, job(b"<html><body>hi</body></html>", "https://x.org/", None)
        ).result(timeout=60)
    finally:
        pool.shutdown()
    here = prepare_parsed(
        Matcher.from_settings(settings), parse_feed(body, "https://x.org/feed"), {}, now, max_age
    )
    assert there == here
    assert there is not None and [n.alertable for n in there.new_items] == [True, False, True]
    assert len(there.new_items[0].alerts) == 1
    assert page is None  # an HTML page: the main process looks for its feed


def test_workers_end_when_the_pass_is_killed(tmp_path: Path) -> None:
    """A killed ``once`` (SIGKILL, OOM) never shuts its pool down: the workers notice
    their parent is gone and exit, instead of waiting for work forever."""
    import json
    import subprocess
    import sys
    import time

    script = (
        "import json, os, sys\n"
        "from pathlib import Path\n"
        "from monitor import config\n"
        "from monitor.workers import ParseWorkers\n"
        "sources = [{'name': f's{i}', 'url': f'https://example.org/{i}'} for i in range(20)]\n"
        "settings = config.parse({'storage': {'url': 'sqlite:///' + sys.argv[1]},\n"
        "    'sources': sources, 'watches': [{'name': 'w', 'terms': ['Cuba']}],\n"
        "    'channels': [{'name': 'f', 'type': 'file', 'path': 'out'}],\n"
        "    'subscribers': [{'name': 'n', 'watches': ['w'], 'channels': ['f']}]},\n"
        "    Path(sys.argv[1]).with_name('m.toml'), {})\n"
        "workers = ParseWorkers.start(settings)\n"
        "print(json.dumps([p.pid for p in workers._pool._processes.values()]), flush=True)\n"
        "os._exit(0)\n"
    )
    with open(tmp_path / "pids", "w") as out:  # a file: orphans holding a pipe would block
        subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / "state.db")],
            stdout=out, timeout=60, env={**os.environ, ENV: "2"}, check=True,
        )  # fmt: skip
    pids = json.loads((tmp_path / "pids").read_text().strip().splitlines()[-1])
    assert len(pids) == 2

    def alive(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    deadline = time.monotonic() + 10
    try:
        while any(alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(p) for p in pids)
    finally:
        for pid in pids:  # (only if the test failed)
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_pass_that_cannot_fork_runs_in_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_fork(*_args: object, **_kwargs: object) -> None:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setenv(ENV, "2")
    monkeypatch.setattr("threading.active_count", lambda: 1)  # (pytest may run threads)
    monkeypatch.setattr(ProcessPoolExecutor, "submit", no_fork)
    with caplog.at_level(logging.WARNING):
        assert ParseWorkers.start(settings_with(tmp_path, MIN_SOURCES)) is None
    assert "cannot start parse workers" in caplog.text


class RecordingPool(ThreadPoolExecutor):
    """One thread in this process as the worker pool, noting each batch it is given."""

    def __init__(self) -> None:
        super().__init__(1)
        self.batches: list[list[str]] = []

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        self.batches.append([job.source for job in args[0]])
        return super().submit(fn, *args, **kwargs)


async def test_feeds_waiting_for_a_busy_worker_are_stored_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first feed goes to the worker at once; those that arrive while it is busy
    wait and go together, up to MAX_BATCH, each stored and reported as its own poll. A
    feed that does not parse fails alone."""
    from monitor import workers
    from monitor.errors import ParseError
    from monitor.store import Store

    settings = settings_with(tmp_path, 6)
    store = Store.open(settings.storage.url, "main")
    monkeypatch.setattr(workers, "_WORKER", None)
    _start_worker(settings)  # this process plays the worker
    monkeypatch.setattr(workers, "MAX_BATCH", 3)
    now, facts = datetime.now(UTC), PollFacts(None, None, None, None, None, None)
    jobs = []
    for i in range(6):
        store.claim_source(f"s{i}", f"https://example.org/{i}.xml", now=now, lease=timedelta(minutes=5), due_before=None)  # fmt: skip
        body = rss(f"Desk {i}", [Entry(f"Cuba talks {i}", f"https://x.org/{i}/1", "About Cuba.",
                                       published=hours_ago(1)),
                                 Entry(f"Weather {i}", f"https://x.org/{i}/2", "Rain.",
                                       published=hours_ago(2))])  # fmt: skip
        if i == 4:
            body = b"Service moved."  # no feed at all
        jobs.append(FeedJob(f"s{i}", body, f"https://example.org/{i}.xml", None, None, None,
                            False, facts, now, timedelta(days=3)))  # fmt: skip
    pool = RecordingPool()
    parse_workers = ParseWorkers(pool, 1)
    try:
        done = await asyncio.gather(*(parse_workers.poll(j) for j in jobs), return_exceptions=True)
    finally:
        parse_workers.close()
    assert pool.batches == [["s0"], ["s1", "s2", "s3"], ["s4", "s5"]]
    assert done[:4] == [(2, 2, 1)] * 4 and done[5] == (2, 2, 1)
    assert isinstance(done[4], ParseError)
    states = store.source_states()
    store.close()
    assert [states[f"s{i}"].total_items for i in range(6)] == [2, 2, 2, 2, 0, 2]
    assert states["s4"].last_status is None  # still claimed: the caller records the failure
