"""Two ``once`` processes at the same moment on one SQLite file: each source polled once,
each story delivered once, no "database is locked"."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path

from tests.conftest import start_cli, write_config
from tests.feedgen import Entry, hours_ago, rss
from tests.servers import HTTPFixture, Route

FEEDS = 8


def build(web: HTTPFixture, hooks: HTTPFixture, tmp_path: Path) -> Path:
    sources = ""
    for n in range(FEEDS):
        entries = [
            Entry(
                f"Cuba visa story {n}-{k}",
                web.url(f"/s{n}/{k}"),
                "visa talks",
                published=hours_ago(1),
            )
            for k in range(3)
        ] + [Entry(f"Weather {n}", web.url(f"/s{n}/weather"), "rain", published=hours_ago(1))]
        web.routes[f"/feed{n}.xml"] = Route(rss(f"Feed {n}", entries), delay=0.2)
        sources += f'[[sources]]\nname = "feed{n}"\nurl = "{web.url(f"/feed{n}.xml")}"\n\n'
    return write_config(tmp_path, f"""
[storage]
url = "sqlite:///shared.db"

{sources}
[[watches]]
name = "cuba"
terms = ["Cuba"]

[[channels]]
name = "hook"
type = "webhook"
url = "{hooks.url('/hook')}"

[[subscribers]]
name = "desk"
watches = ["cuba"]
channels = ["hook"]
""")  # fmt: skip


def test_two_once_processes_share_the_work(
    web: HTTPFixture, hooks: HTTPFixture, tmp_path: Path
) -> None:
    config = build(web, hooks, tmp_path)
    procs = [start_cli("once", config=config) for _ in range(2)]
    outputs = []
    for proc in procs:
        try:
            _out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
        outputs.append((proc.returncode, err))
    for code, err in outputs:
        assert code == 0, err
        assert "database is locked" not in err
    gets = Counter(r.path for r in web.requests)
    assert all(gets[f"/feed{n}.xml"] == 1 for n in range(FEEDS)), gets
    delivered = Counter(
        item["url"] for post in hooks.posts() for item in json.loads(post.body)["items"]
    )
    assert len(delivered) == FEEDS * 3
    assert set(delivered.values()) == {1}
    idempotency = [p.headers["idempotency-key"] for p in hooks.posts()]
    assert len(idempotency) == len(set(idempotency))


def test_once_started_while_another_runs_waits_instead_of_failing(
    web: HTTPFixture, hooks: HTTPFixture, tmp_path: Path
) -> None:
    config = build(web, hooks, tmp_path)
    first = start_cli("once", config=config)
    time.sleep(0.3)  # the second cron run starts while the first is mid-pass
    second = start_cli("once", config=config)
    results = [p.communicate(timeout=60) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, results
    delivered = Counter(
        item["url"] for post in hooks.posts() for item in json.loads(post.body)["items"]
    )
    assert set(delivered.values()) == {1} and len(delivered) == FEEDS * 3
