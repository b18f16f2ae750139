"""``news-monitor run`` as a real process: polls at start-up, delivers, stops on SIGTERM."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from tests.conftest import start_cli, write_config
from tests.feedgen import Entry, hours_ago, rss
from tests.servers import HTTPFixture, Route


def wait_for(condition: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def test_daemon_polls_delivers_and_stops_on_sigterm(
    web: HTTPFixture, hooks: HTTPFixture, tmp_path: Path
) -> None:
    web.routes["/f.xml"] = Route(
        rss("F", [Entry("Cuba visa talks resume", web.url("/a"), "visa", published=hours_ago(1))])
    )
    config = write_config(tmp_path, f"""
[storage]
url = "sqlite:///d.db"

[[sources]]
name = "f"
url = "{web.url('/f.xml')}"
interval = "1h"

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
    proc = start_cli("run", config=config)
    try:
        assert wait_for(lambda: len(hooks.posts()) == 1, 30), proc.stderr
        assert json.loads(hooks.posts()[0].body)["items"][0]["title"] == "Cuba visa talks resume"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "SIGTERM received" in err and "daemon stopped" in err
    assert len(hooks.posts()) == 1
