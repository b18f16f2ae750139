"""The daemon in production shape: a real ``news-monitor run`` process with its HTTP
endpoint, a config reload on SIGHUP, and SIGTERM during an in-flight delivery."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from monitor.store import Store
from tests.conftest import start_cli, write_config
from tests.feedgen import Entry, hours_ago, rss
from tests.servers import HTTPFixture, Route, Seen
from tests.test_daemon import wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - loopback only
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def daemon_config(web: HTTPFixture, hooks: HTTPFixture, port: int, sources: list[str]) -> str:
    blocks = "".join(
        f'[[sources]]\nname = "{name}"\nurl = "{web.url(f"/{name}.xml")}"\ninterval = "1h"\n\n'
        for name in sources
    )
    return f"""
[storage]
url = "sqlite:///daemon.db"

[server]
listen = "127.0.0.1:{port}"
shutdown_grace = "20s"

{blocks}
[[watches]]
name = "cuba"
terms = ["Cuba"]

[[channels]]
name = "hook"
type = "webhook"
url = "{hooks.url("/hook")}"

[[channels]]
name = "feed"
type = "atom"
path = "feeds/desk.xml"

[[subscribers]]
name = "desk"
watches = ["cuba"]
channels = ["hook", "feed"]
"""


class _Lines(list[str]):
    reader: threading.Thread


def _lines_of(proc: subprocess.Popen[str]) -> _Lines:
    """The lines the process writes to stderr, as it writes them (read by a thread)."""
    lines = _Lines()
    assert proc.stderr is not None
    stream = proc.stderr
    lines.reader = threading.Thread(target=lambda: lines.extend(stream), daemon=True)
    lines.reader.start()
    return lines


def story(web: HTTPFixture, name: str, title: str) -> None:
    web.routes[f"/{name}.xml"] = Route(
        rss(name, [Entry(title, web.url(f"/{name}/1"), "Cuba.", published=hours_ago(1))])
    )


def test_endpoint_reload_and_graceful_stop(
    web: HTTPFixture, hooks: HTTPFixture, tmp_path: Path
) -> None:
    port = free_port()
    story(web, "first", "Cuba story one")
    story(web, "second", "Cuba story two")
    path = write_config(tmp_path, daemon_config(web, hooks, port, ["first"]))
    proc = start_cli("run", config=path)
    base = f"http://127.0.0.1:{port}"
    logged = _lines_of(proc)
    try:
        assert wait_for(lambda: len(hooks.posts()) == 1, 30)
        assert get(base + "/healthz") == (200, "ok\n")
        assert get(base + "/readyz") == (200, "ready\n")
        status, metrics = get(base + "/metrics")
        assert status == 200
        assert 'news_monitor_polls_total{outcome="ok",source="first"} 1.0' in metrics
        assert 'news_monitor_deliveries_total{channel="hook",outcome="sent"} 1.0' in metrics
        assert "news_monitor_fetch_seconds_bucket" in metrics
        assert "news_monitor_last_success_timestamp_seconds" in metrics
        assert 'news_monitor_outbox_depth{status="sent"}' in metrics
        assert wait_for(lambda: get(base + "/feeds/feed.xml")[0] == 200, 10)
        assert "Cuba story one" in get(base + "/feeds/feed.xml")[1]

        # an invalid config is rejected and the running one kept
        path.write_text("[[sources]\nbroken", encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        # read before the next write: a daemon busy for a moment reloads late
        assert wait_for(lambda: any("the new config is invalid" in x for x in logged), 30)
        assert get(base + "/readyz")[0] == 200
        # a valid one with a new source: polled without a restart
        path.write_text(daemon_config(web, hooks, port, ["first", "second"]), encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: len(hooks.posts()) == 2, 30)
        assert json.loads(hooks.posts()[1].body)["items"][0]["title"] == "Cuba story two"

        # SIGTERM while a delivery is in flight: it completes, then the process exits 0
        def slow(seen: Seen) -> tuple[int, dict[str, str], bytes]:
            time.sleep(3)
            return 200, {}, b"{}"

        hooks.set_handler(slow)
        story(web, "third", "Cuba story three")
        path.write_text(
            daemon_config(web, hooks, port, ["first", "second", "third"]), encoding="utf-8"
        )
        proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: len(hooks.posts()) == 3, 30)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    logged.reader.join(timeout=10)
    err = "".join(logged)
    assert proc.returncode == 0, err
    assert "the new config is invalid; keeping the running one" in err
    assert "config reloaded: 2 sources" in err
    assert "SIGTERM received" in err and "daemon stopped" in err
    store = Store.open(f"sqlite:///{tmp_path / 'daemon.db'}", "check")
    try:
        assert store.delivery_counts().get("pending", 0) == 0  # the slow delivery completed
    finally:
        store.close()


def test_reload_names_the_changes_that_wait_for_a_restart(tmp_path: Path) -> None:
    from monitor import config
    from monitor.scheduler import restart_needed

    base = """
[storage]
url = "sqlite:///a.db"

[[sources]]
name = "s"
url = "https://example.org/feed.xml"

[[watches]]
name = "w"
terms = ["Cuba"]

[[channels]]
name = "out"
type = "file"
path = "out"
{extra}
[[subscribers]]
name = "desk"
watches = ["w"]
channels = ["out"]
"""
    atom = '\n[[channels]]\nname = "feed"\ntype = "atom"\npath = "feeds/desk.xml"\n'
    variants = {
        "same": base.format(extra=""),
        "server": base.format(extra="") + '\n[server]\nlisten = "127.0.0.1:9108"\n',
        "storage": base.format(extra="").replace("a.db", "b.db"),
        "atom": base.format(extra=atom),
    }
    loaded = {}
    for name, text in variants.items():
        path = tmp_path / f"{name}.toml"
        path.write_text(text, encoding="utf-8")
        loaded[name] = config.load(path, {})
    same = loaded["same"]
    assert restart_needed(same, same) == []
    assert restart_needed(same, loaded["server"]) == ["[server] changes"]
    assert restart_needed(same, loaded["storage"]) == ["[storage] changes"]
    assert restart_needed(same, loaded["atom"]) == ["new or moved atom feeds (served at /feeds/)"]
