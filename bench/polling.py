"""Polling benchmark: the real ``news-monitor once --all`` against rss2email and urlwatch.

Stage: benchmark only (not a test).  Must not: talk to anything but 127.0.0.1 (the feed
farm of ``bench/farm.py`` and an aiosmtpd sink, both started here), or download
anything at run time except the one-off ``pip install rss2email urlwatch`` into
``bench/.cmp-venv`` when that virtualenv is missing (the comparators are never
dependencies of the project), and ``pip install .`` into ``bench/.nm-venv`` when it is
missing or ``pyproject.toml`` changed.

Every tool gets the same three passes against the same farm, each pass a fresh child
process measured with ``os.wait4`` (wall time, user+sys CPU, peak RSS of the largest of
its processes) and by sampling ``/proc`` every 0.1 s (the peak PSS of its whole
process tree: news-monitor forks parse workers):

* **cold**: empty state, every feed answers 200 with 20-50 items;
* **warm**: the same feeds again, unchanged, so every conditional GET answers 304;
* **+1 new**: after one new item was published at the top of every feed.

The farm is reset between tools so each gets cold/warm/+1 identically.  Tool set-ups:

* news-monitor: ``bench/.nm-venv/bin/python -m monitor --config <tmp> once --all``
  (a virtualenv with the project and its dependencies only, ``pip install .``, like
  the comparators' own; not the development ``.venv``, whose test and benchmark
  extras change start-up: httpx imports click when it is installed); SQLite in a
  temp folder; watch ``cuba-visas`` (terms Cuba, visa, Havana consulate); subscriber
  with a ``file`` channel, ``schedule = "immediate"``; ``[http] concurrency = 32`` and
  ``per_host = 32`` (every farm feed is on one host, 127.0.0.1: with the shipped
  ``per_host = 2`` the pass would be limited to 2 requests in flight),
  ``allow_private_networks = true``.
* rss2email (``r2e run``): digest mode (one email per feed per run, all new entries;
  rss2email has no keyword filter), SMTP to an aiosmtpd sink on 127.0.0.1.  It polls
  feeds one after another.
* urlwatch: one ``url`` job per feed with a ``grep`` filter for the watch terms,
  stdout reporter only (colour off).  It runs 10 jobs in parallel (its fixed pool).

Usage::

    .venv/bin/python bench/polling.py                                   # 200 feeds, 50 ms, 1 run
    .venv/bin/python bench/polling.py --runs 3
    .venv/bin/python bench/polling.py --feeds 1000 --tools news-monitor --runs 3

The table (medians over ``--runs``) is printed and appended to
``bench/results/polling-<date>.md`` (ignored by git).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

from farm import FeedFarm  # noqa: E402

CMP_VENV = BENCH / ".cmp-venv"
NM_VENV = BENCH / ".nm-venv"  # news-monitor's dependencies only (see the docstring)
NM_PYTHON = NM_VENV / "bin/python"
RESULTS = BENCH / "results"
PASSES = ("cold", "warm", "+1 new")
ALL_TOOLS = ("news-monitor", "rss2email", "urlwatch")
WATCH_TERMS = ("Cuba", "visa", "Havana consulate")
PASS_TIMEOUT = 900.0  # seconds; a pass that takes longer is killed and reported


# ---------------------------------------------------------------------------------------
# Measuring one child process
# ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class Measure:
    wall: float
    user: float
    sys: float
    maxrss_mb: float
    rc: int
    tree_pss_mb: float = float("nan")  # most memory of the whole process tree at once
    http: dict[str, int] = field(default_factory=dict)
    output: dict[str, Any] = field(default_factory=dict)

    @property
    def cpu(self) -> float:
        return self.user + self.sys


GNU_TIME = Path("/usr/bin/time")
# Fallback when GNU time is missing: a small interpreter (no site) that forks, execs the
# command and reports the grandchild's own rusage.
RUSAGE_WRAPPER = r"""
import os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, ru = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(f"{ru.ru_maxrss} {ru.ru_utime} {ru.ru_stime} 0\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _descendants(root: int) -> list[int]:
    """``root`` and every process below it (Linux ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def _pss_kb(pid: int) -> int:
    """Proportional set size: private pages plus a share of pages shared with others."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class TreeMemory(threading.Thread):
    """Samples the summed PSS of a process tree every ``interval`` s; keeps the peak.

    A tool that forks workers (news-monitor's parse workers) uses more memory than its
    largest process; PSS counts pages the processes share once in total.
    """

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_kb = 0
        self.done = threading.Event()

    def run(self) -> None:
        if not Path("/proc/self/smaps_rollup").exists():
            return
        while not self.done.wait(self.interval):
            total = sum(_pss_kb(pid) for pid in _descendants(self.pid))
            self.peak_kb = max(self.peak_kb, total)


def run_measured(
    cmd: Sequence[str], *, env: dict[str, str], cwd: Path, log: Path, timeout: float
) -> Measure:
    """Run ``cmd`` as a fresh child: wall time, CPU time and peak RSS of that child.

    Peak RSS must not come from ``wait4`` on a child forked from this process: Linux
    carries the pre-exec high-water mark of the forked copy (this harness holds the farm,
    ~100 MB) into the child's ``ru_maxrss``.  So the command runs under a small launcher
    (GNU time, else a bare interpreter) whose own few MB are the only thing inherited,
    and the launcher reports the command's own peak RSS.  CPU time is the launcher's
    ``wait4`` rusage, which includes the command (the launcher's own share is ~1 ms).
    """
    rusage_file = log.with_suffix(".rusage")
    if GNU_TIME.exists():
        wrapped = [str(GNU_TIME), "-f", "%M %U %S %e", "-o", str(rusage_file), *cmd]
    else:
        wrapped = [sys.executable, "-S", "-c", RUSAGE_WRAPPER, str(rusage_file), *cmd]
    with open(log.with_suffix(".out"), "wb") as out, open(log.with_suffix(".err"), "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(wrapped, env=env, cwd=cwd, stdout=out, stderr=err)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        memory = TreeMemory(proc.pid)
        memory.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
            memory.done.set()
            memory.join()
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    try:
        maxrss_kb = float(rusage_file.read_text().strip().splitlines()[-1].split()[0])
    except (OSError, IndexError, ValueError):
        maxrss_kb = float("nan")
    return Measure(
        wall=wall,
        user=usage.ru_utime,
        sys=usage.ru_stime,
        maxrss_mb=maxrss_kb / 1024,  # Linux: kilobytes
        rc=proc.returncode,
        tree_pss_mb=memory.peak_kb / 1024 if memory.peak_kb else float("nan"),
    )


@dataclass(frozen=True, slots=True)
class Code:
    """Which news-monitor code runs: a snapshot of a git revision, or the work tree."""

    path: Path  # the folder that holds monitor/
    label: str  # e.g. "commit 5a94e4e (subject)" or "work tree (uncommitted changes)"


def code_snapshot(rev: str, into: Path) -> Code:
    """Export ``monitor/`` at ``rev`` (``worktree``: the files as they are now).

    Other people edit the work tree while benchmarks run; a snapshot of a commit keeps
    every pass of a run on the same code.  The snapshot runs with the project's .venv
    (its dependencies); PYTHONPATH puts it ahead of the editable install.
    """
    if rev == "worktree":
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "monitor"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        head = _git("rev-parse", "--short", "HEAD")
        note = " with uncommitted changes in monitor/" if dirty else ""
        compile_bytecode(REPO / "monitor")
        return Code(REPO, f"work tree at {head}{note}")
    commit = _git("rev-parse", "--verify", f"{rev}^{{commit}}")
    subject = _git("log", "-1", "--format=%s", commit)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", commit, "monitor"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    compile_bytecode(into / "monitor")
    return Code(into, f"commit {commit[:10]} ({subject[:70]})")


def compile_bytecode(package: Path) -> None:
    """Write the package's .pyc files, as ``pip install`` does for every tool here.

    Without them (a fresh export, or PYTHONDONTWRITEBYTECODE set) every news-monitor
    process compiles its own modules from source, ~70 ms that an installed copy never
    pays; the comparators' environments were compiled by pip.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], env=env, check=True)


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def child_env(home: Path, code: Code | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local/share"),
        XDG_CACHE_HOME=str(home / ".cache"),
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        PYTHONWARNINGS="ignore",
    )
    env.pop("NEWS_MONITOR_CONFIG", None)
    env.pop("PYTHONPATH", None)
    if code is not None:
        env["PYTHONPATH"] = str(code.path)
    return env


# ---------------------------------------------------------------------------------------
# SMTP sink for rss2email
# ---------------------------------------------------------------------------------------


class SMTPSink:
    """aiosmtpd on 127.0.0.1 that counts what it receives."""

    def __init__(self) -> None:
        import socket

        from aiosmtpd.controller import Controller

        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                with sink.lock:
                    sink.messages += 1
                    sink.bytes += len(envelope.content or b"")
                return "250 OK"

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.lock = threading.Lock()
        self.messages = 0
        self.bytes = 0
        self.controller = Controller(
            Handler(), hostname="127.0.0.1", port=self.port, data_size_limit=0
        )

    def take(self) -> tuple[int, int]:
        with self.lock:
            out = self.messages, self.bytes
            self.messages = self.bytes = 0
        return out

    def __enter__(self) -> SMTPSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


# ---------------------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------------------


def toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def news_monitor_config(
    workdir: Path,
    urls: Sequence[str],
    *,
    concurrency: int = 32,
    timeout: float = 30,
    max_items: int = 10_000,
) -> Path:
    """A config like the shipped one, pointed at the farm. Returns its path.

    ``max_items``: the digest cap. The default sends every match of a pass in its own
    digest, as rss2email mails every new entry of its pass; with the shipped 50 the
    cold pass's matches go out 50 per pass, so the warm and +1 passes also render and
    deliver a digest of carried-over items (``--max-items 50``).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    lines = [
        "# written by bench/polling.py",
        "[storage]",
        'url = "sqlite:///news-monitor.db"',
        "",
        "[http]",
        'user_agent = "news-monitor/0.1 (benchmark)"',
        f"timeout = {timeout:g}",
        f"concurrency = {concurrency}",
        f"per_host = {concurrency}   # all farm feeds are on one host (127.0.0.1)",
        "max_bytes = 10_000_000",
        "allow_private_networks = true",
        "",
        "[defaults]",
        'interval = "15m"',
        'max_age = "3d"',
        "",
    ]
    for i, url in enumerate(urls, 1):
        lines += ["[[sources]]", f'name = "farm-{i:04d}"', f"url = {toml_str(url)}", ""]
    terms = ", ".join(toml_str(t) for t in WATCH_TERMS)
    lines += [
        "[[watches]]",
        'name = "cuba-visas"',
        f"terms = [{terms}]",
        "",
        "[[channels]]",
        'name = "local"',
        'type = "file"',
        'path = "digests"',
        "",
        "[[subscribers]]",
        'name = "newsroom"',
        'watches = ["cuba-visas"]',
        'channels = ["local"]',
        'schedule = "immediate"',
        'timezone = "America/Havana"',
        f"max_items = {max_items}",
        "",
    ]
    path = workdir / "monitor.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


class Tool:
    name = ""
    concurrency = 1

    def __init__(self, workdir: Path, urls: Sequence[str], sink: SMTPSink | None) -> None:
        self.workdir = workdir
        self.urls = urls
        self.sink = sink
        workdir.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        raise NotImplementedError

    def observe(self, log: Path) -> dict[str, Any]:
        """What the pass produced (from its output), for the table."""
        return {}

    def idle_command(self) -> list[str] | None:
        """A pass with nothing to poll (what a pass costs before any feed), if the tool has one."""
        return None


class NewsMonitor(Tool):
    name = "news-monitor"
    concurrency = 32
    timeout = 30.0  # [http] timeout; set from --timeout
    max_items = 10_000  # the subscriber's digest cap; set from --max-items
    SUMMARY = re.compile(
        r"pass complete: sources ok=(\d+) failed=(\d+) skipped=(\d+) new_items=(\d+) "
        r"matches=(\d+) digests=(\d+)"
    )

    def __init__(self, workdir: Path, urls: Sequence[str], sink: SMTPSink | None) -> None:
        super().__init__(workdir, urls, sink)
        self.config = news_monitor_config(
            workdir,
            urls,
            concurrency=self.concurrency,
            timeout=NewsMonitor.timeout,
            max_items=NewsMonitor.max_items,
        )

    def command(self) -> list[str]:
        return [
            str(NM_PYTHON), "-m", "monitor", "--config", str(self.config), "once", "--all",
        ]  # fmt: skip

    def idle_command(self) -> list[str] | None:
        # without --all: right after a pass, no source is due
        return [arg for arg in self.command() if arg != "--all"]

    def observe(self, log: Path) -> dict[str, Any]:
        text = log.with_suffix(".err").read_text(errors="replace")
        m = self.SUMMARY.search(text)
        if not m:
            return {"summary": "no summary line"}
        ok, failed, _skipped, new, matches, digests = map(int, m.groups())
        return {"ok": ok, "failed": failed, "new_items": new, "matches": matches,
                "digests": digests}  # fmt: skip


class Rss2Email(Tool):
    name = "rss2email"
    concurrency = 1

    def __init__(self, workdir: Path, urls: Sequence[str], sink: SMTPSink | None) -> None:
        super().__init__(workdir, urls, sink)
        assert sink is not None
        lines = [
            "[DEFAULT]",
            "from = rss2email@example.org",
            "to = desk@example.org",
            "email-protocol = smtp",
            f"smtp-server = 127.0.0.1:{sink.port}",
            "smtp-auth = False",
            "smtp-ssl = False",
            "digest = True",
            "feed-timeout = 30",
            "",
        ]
        for i, url in enumerate(urls, 1):
            lines += [f"[feed.farm-{i:04d}]", f"url = {url}", ""]
        self.config = workdir / "rss2email.cfg"
        self.config.write_text("\n".join(lines), encoding="utf-8")
        self.data = workdir / "rss2email.json"

    def command(self) -> list[str]:
        return [str(CMP_VENV / "bin/r2e"), "-c", str(self.config), "-d", str(self.data), "run"]

    def observe(self, log: Path) -> dict[str, Any]:
        assert self.sink is not None
        time.sleep(0.2)  # let the sink finish the last message
        messages, size = self.sink.take()
        errors = log.with_suffix(".err").read_text(errors="replace").count("ERROR")
        return {"emails": messages, "email_kb": round(size / 1024), "errors": errors}


class UrlWatch(Tool):
    name = "urlwatch"
    concurrency = 10  # urlwatch.worker.MAX_WORKERS

    def __init__(self, workdir: Path, urls: Sequence[str], sink: SMTPSink | None) -> None:
        super().__init__(workdir, urls, sink)
        pattern = r"(?i)\b(" + "|".join(t.lower() for t in WATCH_TERMS) + r")\b"
        jobs = []
        for i, url in enumerate(urls, 1):
            jobs.append(f"name: farm-{i:04d}\nurl: {url}\nfilter:\n  - grep: '{pattern}'\n")
        self.urls_file = workdir / "urls.yaml"
        self.urls_file.write_text("---\n".join(jobs), encoding="utf-8")
        self.config = workdir / "urlwatch.yaml"
        self.config.write_text(
            "report:\n"
            "  stdout:\n    enabled: true\n    color: false\n"
            "  email:\n    enabled: false\n"
            "  html:\n    separate: false\n",
            encoding="utf-8",
        )
        self.cache = workdir / "cache.db"
        self.hooks = workdir / "hooks.py"

    def command(self) -> list[str]:
        return [
            str(CMP_VENV / "bin/urlwatch"), "--urls", str(self.urls_file),
            "--config", str(self.config), "--cache", str(self.cache), "--hooks", str(self.hooks),
        ]  # fmt: skip

    def observe(self, log: Path) -> dict[str, Any]:
        out = log.with_suffix(".out").read_text(errors="replace")
        return {
            "new": len(re.findall(r"^NEW: ", out, re.M)),
            "changed": len(re.findall(r"^CHANGED: ", out, re.M)),
            "errors": len(re.findall(r"^ERROR: ", out, re.M)),
        }


TOOLS: dict[str, type[Tool]] = {"news-monitor": NewsMonitor, "rss2email": Rss2Email,
                                 "urlwatch": UrlWatch}  # fmt: skip


def ensure_cmp_venv() -> None:
    if (CMP_VENV / "bin/r2e").exists() and (CMP_VENV / "bin/urlwatch").exists():
        return
    print(f"creating {CMP_VENV} with rss2email and urlwatch (one-off pip install)", flush=True)
    subprocess.run(["python3", "-m", "venv", str(CMP_VENV)], check=True, timeout=600)
    subprocess.run(
        [str(CMP_VENV / "bin/pip"), "install", "-q", "rss2email", "urlwatch"],
        check=True, timeout=1200,
    )  # fmt: skip


def ensure_nm_venv() -> None:
    """``bench/.nm-venv`` with ``pip install .`` of the work tree's pyproject.toml."""
    stamp = NM_VENV / "pyproject.sha256"
    wanted = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()
    if NM_PYTHON.exists() and stamp.exists() and stamp.read_text() == wanted:
        return
    print(f"creating {NM_VENV} with news-monitor's dependencies (pip install .)", flush=True)
    shutil.rmtree(NM_VENV, ignore_errors=True)
    subprocess.run(["python3", "-m", "venv", str(NM_VENV)], check=True, timeout=600)
    subprocess.run([str(NM_VENV / "bin/pip"), "install", "-q", str(REPO)], check=True, timeout=1200)
    stamp.write_text(wanted)


def versions(tools: Sequence[str], code: Code) -> dict[str, str]:
    out = {}
    if "news-monitor" in tools:
        env = child_env(Path(tempfile.gettempdir()) / "nm-polling-home", code)
        out["news-monitor"] = subprocess.run(
            [str(NM_PYTHON), "-c",
             "import monitor, feedparser, httpx, sqlalchemy; "
             "print(monitor.__version__, 'from', monitor.__file__.rsplit('/', 2)[0], "
             "'(feedparser', feedparser.__version__, "
             "'httpx', httpx.__version__, 'SQLAlchemy', sqlalchemy.__version__ + ')')"],
            capture_output=True, text=True, check=True, cwd=Path(tempfile.gettempdir()),
            env=env,
        ).stdout.strip()  # fmt: skip
    if {"rss2email", "urlwatch"} & set(tools):
        got = subprocess.run(
            [str(CMP_VENV / "bin/python"), "-c",
             "import importlib.metadata as m; "
             "print(*(f'{p} {m.version(p)}' for p in "
             "('rss2email','urlwatch','feedparser','requests')), sep='|')"],
            capture_output=True, text=True, check=True,
        ).stdout.strip().split("|")  # fmt: skip
        main, deps = got[:2], got[2:]
        for entry in main:
            name, _, ver = entry.partition(" ")
            out[name] = ver
        out["(comparators' venv:"] = ", ".join(deps) + ")"
    return out


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# ---------------------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------------------


def run_tool(
    tool_name: str, farm: FeedFarm, sink: SMTPSink | None, root: Path, run: int, code: Code
) -> dict[str, Measure]:
    farm.reset()
    farm.stats(reset=True)
    workdir = root / f"{tool_name}-run{run}"
    tool = TOOLS[tool_name](workdir, farm.feed_urls(), sink)
    env = child_env(workdir / "home", code if tool_name == "news-monitor" else None)
    results: dict[str, Measure] = {}
    for name in PASSES:
        if name == "+1 new":
            farm.publish()
            farm.stats(reset=True)
        if sink is not None:
            sink.take()
        log = workdir / f"pass-{name.replace(' ', '').replace('+', 'plus')}"
        m = run_measured(tool.command(), env=env, cwd=workdir, log=log, timeout=PASS_TIMEOUT)
        stats = farm.stats(reset=True)
        m.http = {k: v for k, v in stats["statuses"].items()}
        m.output = tool.observe(log)
        results[name] = m
        http = " ".join(f"{k}:{v}" for k, v in m.http.items())
        print(
            f"  run {run} {tool_name:12s} {name:7s} wall {m.wall:7.2f} s  cpu {m.cpu:6.2f} s  "
            f"rss {m.maxrss_mb:6.1f} MB  rc {m.rc}  http {http}  {m.output}",
            flush=True,
        )
        if m.rc not in (0,):
            err = log.with_suffix(".err").read_text(errors="replace")[-1500:]
            print(f"    exit {m.rc}; stderr tail:\n{err}", flush=True)
    idle = tool.idle_command()
    if idle is not None:
        m = run_measured(
            idle, env=env, cwd=workdir, log=workdir / "pass-idle", timeout=PASS_TIMEOUT
        )
        m.output = tool.observe(workdir / "pass-idle")
        results["idle"] = m
        print(
            f"  run {run} {tool_name:12s} idle    wall {m.wall:7.2f} s  cpu {m.cpu:6.2f} s  "
            f"rc {m.rc}  {m.output}",
            flush=True,
        )
    return results


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmt_s(x: float) -> str:
    return f"{x:.2f}" if x < 100 else f"{x:.0f}"


def speed(other: float, this: float) -> str:
    """How this wall time compares with the other tool's."""
    ratio = other / this
    return f"{ratio:.1f}× faster" if ratio >= 1 else f"{1 / ratio:.1f}× slower"


def report(
    args: argparse.Namespace,
    tools: Sequence[str],
    all_runs: dict[str, list[dict[str, Measure]]],
    farm_info: dict[str, Any],
    vers: dict[str, str],
) -> str:
    n, lat = args.feeds, args.latency
    med: dict[tuple[str, str], dict[str, float]] = {}
    for tool in tools:
        for p in PASSES:
            ms = [r[p] for r in all_runs[tool]]
            med[(tool, p)] = {
                "wall": median([m.wall for m in ms]),
                "cpu": median([m.cpu for m in ms]),
                "rss": median([m.maxrss_mb for m in ms]),
                "rss_max": max(m.maxrss_mb for m in ms),
                "tree": median([m.tree_pss_mb for m in ms]),
                "tree_max": max(m.tree_pss_mb for m in ms),
                "wall_min": min(m.wall for m in ms),
                "wall_max": max(m.wall for m in ms),
            }
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"### Polling: {n} feeds, {lat * 1000:g} ms latency, median of {args.runs} run(s) ({when})",
        "",
        f"Farm: {n} feeds ({farm_info['flavours']}), {farm_info['items']:,} items, "
        f"{farm_info['matching']} matching the watch terms "
        f"({100 * farm_info['matching'] / farm_info['items']:.1f} %), "
        f"{farm_info['plain_mb']:.1f} MB of XML ({farm_info['gzip_mb']:.1f} MB gzipped), "
        f"served on 127.0.0.1 with {lat * 1000:g} ms added to every answer. "
        f"Machine: {os.cpu_count()} cores ({cpu_model()}), Python {platform.python_version()}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()) + ".",
        f"news-monitor code: {farm_info['code']}.",
        "",
        "| tool | pass | wall s | CPU s (user+sys) | peak RSS MB | peak tree PSS MB | "
        "HTTP answers | output | wall vs rss2email | wall vs urlwatch |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: |",
    ]
    for tool in tools:
        for p in PASSES:
            d = med[(tool, p)]
            last = all_runs[tool][-1][p]
            http = ", ".join(f"{v}×{k}" for k, v in last.http.items())
            out = ", ".join(f"{k} {v}" for k, v in last.output.items())
            spread = f" ({fmt_s(d['wall_min'])}–{fmt_s(d['wall_max'])})" if args.runs > 1 else ""
            vs_r2e = vs_uw = ""
            if "rss2email" in tools and tool != "rss2email":
                vs_r2e = speed(med[("rss2email", p)]["wall"], d["wall"])
            if "urlwatch" in tools and tool != "urlwatch":
                vs_uw = speed(med[("urlwatch", p)]["wall"], d["wall"])
            failed = [r[p].output.get("failed", 0) or r[p].rc != 0 for r in all_runs[tool]]
            label = p + (f" (failures in {sum(map(bool, failed))} run(s))" if any(failed) else "")
            lines.append(
                f"| {tool} | {label} | {fmt_s(d['wall'])}{spread} | {d['cpu']:.2f} | "
                f"{d['rss']:.0f} | {d['tree']:.0f} | {http} | {out} | {vs_r2e} | {vs_uw} |"
            )
    lines.append("")
    floor = {t: math.ceil(n / TOOLS[t].concurrency) * lat for t in tools}
    lines.append(
        "Network floor ceil(N/C)·L: "
        + "; ".join(f"{t} (C = {TOOLS[t].concurrency}) {floor[t]:.2f} s" for t in tools)
        + ". HTTP answers and output are from the last run. "
        f"news-monitor runs with concurrency = 32, per_host = 32 (all feeds are on one "
        f"host) and timeout = {args.timeout:g} s; rss2email polls one feed at a time and "
        "mails every new entry (digest mode, "
        "no keyword filter); urlwatch runs 10 jobs at a time with a grep filter."
    )
    if "news-monitor" in tools:
        warm = med[("news-monitor", "warm")]
        idle = [r["idle"] for r in all_runs["news-monitor"] if "idle" in r]
        idle_cpu = median([m.cpu for m in idle])
        above_idle = 1000 * (warm["cpu"] - idle_cpu) / n
        lines.append("")
        lines.append(
            f"news-monitor warm pass: {1000 * warm['cpu'] / n:.2f} ms of CPU per feed "
            f"(whole process: interpreter start, imports, config, {n} conditional GETs "
            f"answered 304, database updates); peak RSS {warm['rss']:.0f} MB, "
            f"cold-pass peak RSS {med[('news-monitor', 'cold')]['rss']:.0f} MB "
            f"(max over runs {max(med[('news-monitor', p)]['rss_max'] for p in PASSES):.0f} MB). "
            f"Digest cap: max_items = {args.max_items}."
        )
        if idle:
            lines.append("")
            lines.append(
                f"news-monitor idle pass (`once` without `--all` right after the +1 pass: no "
                f"source due, nothing fetched): wall {median([m.wall for m in idle]):.2f} s, "
                f"CPU {idle_cpu:.2f} s, what every pass costs before its first feed. The warm "
                f"pass above it: {above_idle:.2f} ms of CPU per feed."
            )
        lines.append("")
        broken = [
            p
            for p in PASSES
            if any(r[p].output.get("failed", 0) or r[p].rc for r in all_runs["news-monitor"])
        ]
        if broken:
            lines.append(
                f"Sources failed in news-monitor's {', '.join(broken)} pass(es): those passes did "
                "less work than the others, so a speed target counts as met only without "
                "failures."
            )
            lines.append("")
        lines.append("| target | measured | met? |")
        lines.append("| --- | --- | --- |")
        if "rss2email" in tools:
            worst = min(med[("rss2email", p)]["wall"] / med[("news-monitor", p)]["wall"]
                        for p in PASSES)  # fmt: skip
            lines.append(
                f"| every pass ≥ 10× faster than rss2email | worst pass {worst:.1f}× | "
                f"{'yes' if worst >= 10 and not broken else 'no'} |"
            )
        if "urlwatch" in tools:
            slow = [
                f"{p} {med[('news-monitor', p)]['wall']:.2f} s vs "
                f"{med[('urlwatch', p)]['wall']:.2f} s"
                for p in PASSES
                if med[("news-monitor", p)]["wall"] > med[("urlwatch", p)]["wall"]
            ]
            lines.append(
                "| no pass slower than urlwatch | "
                + ("; ".join(slow) if slow else "all passes faster or equal")
                + f" | {'no' if slow or broken else 'yes'} |"
            )
        per_feed = 1000 * warm["cpu"] / n
        lines.append(
            f"| warm pass < 1 ms CPU per feed | {per_feed:.2f} ms for the whole process"
            + (f"; {above_idle:.2f} ms above the idle pass" if idle else "")
            + f" | {'yes' if per_feed < 1 else 'no'} |"
        )
        if n >= 1000:
            peak = max(med[("news-monitor", p)]["rss_max"] for p in PASSES)
            tree = max(med[("news-monitor", p)]["tree_max"] for p in PASSES)
            lines.append(
                f"| {n} feeds: peak RSS < 200 MB | largest process {peak:.0f} MB; all its "
                f"processes together {tree:.0f} MB PSS (max over passes and runs) | "
                f"{'yes' if max(peak, tree) < 200 else 'no'} |"
            )
    lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--feeds", type=int, default=200)
    ap.add_argument("--latency", type=float, default=0.05, help="seconds per answer")
    ap.add_argument("--runs", type=int, default=1, help="repeat; the table shows medians")
    ap.add_argument("--tools", default=",".join(ALL_TOOLS))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--prose",
        choices=("templates", "varied"),
        default="templates",
        help="farm text: templates (phrases repeat across items) or varied (see farm.py)",
    )
    ap.add_argument(
        "--rev",
        default="HEAD",
        help="news-monitor code to run: a git revision, exported to a temporary folder "
        "(default HEAD), or 'worktree' for the files as they are now",
    )
    ap.add_argument(
        "--timeout",
        type=float,
        default=30,
        help="news-monitor's [http] timeout in seconds (default 30, as shipped)",
    )
    ap.add_argument(
        "--max-items",
        type=int,
        default=10_000,
        help="news-monitor's digest cap (default 10,000: every match of a pass in its digest, "
        "as rss2email mails every new entry; the shipped default is 50)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the temporary folders")
    ap.add_argument("--no-write", action="store_true", help="do not write bench/results/")
    args = ap.parse_args(argv)
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    NewsMonitor.timeout = args.timeout
    NewsMonitor.max_items = args.max_items
    unknown = set(tools) - set(ALL_TOOLS)
    if unknown:
        ap.error(f"unknown tools: {', '.join(sorted(unknown))}")
    if {"rss2email", "urlwatch"} & set(tools):
        ensure_cmp_venv()
    if "news-monitor" in tools:
        ensure_nm_venv()
    root = Path(tempfile.mkdtemp(prefix="nm-polling-"))
    code = code_snapshot(args.rev, root / "code")
    print(f"news-monitor code: {code.label}", flush=True)
    vers = versions(tools, code)
    all_runs: dict[str, list[dict[str, Measure]]] = {t: [] for t in tools}
    print(f"generating {args.feeds} feeds (seed {args.seed}) ...", flush=True)
    try:
        with FeedFarm(args.feeds, latency=args.latency, seed=args.seed, prose=args.prose) as farm:
            items, matching = farm.item_counts()
            plain, gz = farm.body_bytes()
            flavours: dict[str, int] = {}
            for s in farm.specs:
                flavours[s.flavour] = flavours.get(s.flavour, 0) + 1
            farm_info = {
                "items": items, "matching": matching, "plain_mb": plain / 1e6,
                "gzip_mb": gz / 1e6,
                "flavours": ", ".join(f"{v} {k}" for k, v in sorted(flavours.items()))
                + f"; {args.prose} prose",
            }  # fmt: skip
            print(f"farm at {farm.base_url}: {items} items, {matching} matching", flush=True)
            sink = SMTPSink() if "rss2email" in tools else None
            if sink is not None:
                sink.__enter__()
            try:
                for run in range(1, args.runs + 1):
                    for tool in tools:
                        all_runs[tool].append(run_tool(tool, farm, sink, root, run, code))
            finally:
                if sink is not None:
                    sink.__exit__()
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    farm_info["code"] = code.label
    text = report(args, tools, all_runs, farm_info, vers)
    print()
    print(text)
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"polling-{datetime.now(UTC):%Y-%m-%d}.md"
        with open(path, "a", encoding="utf-8") as f:
            f.write(text + "\n")
        print(f"appended to {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
