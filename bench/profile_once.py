"""Where does a ``once --all`` pass spend its time?  cProfile of the pipeline, in-process.

Stage: benchmark only (not a test).  Must not: talk to anything but the feed farm it
starts on 127.0.0.1 (``bench/farm.py``, in a separate process so that the farm never
holds this process's GIL), or download anything.

Runs ``monitor.pipeline.run_once`` (``all_sources=True``) with ``monitor.config.load``
and ``monitor.store.Store.open``, as ``news-monitor once --all`` does, against a farm
of N feeds: a cold pass (empty database), a warm pass (every feed answers 304) and a
pass after one new item was published in every feed.  Each pass runs twice on two
databases that see the same feed states: once plainly (wall and CPU time) and once
under cProfile.  For each profiled pass it prints the top functions by cumulative and
by own time, and the own time grouped by component (feedparser, SQLite, SQLAlchemy,
httpx, the event loop, waiting for the network, monitor modules ...).

It also measures the start-up cost of the CLI in fresh processes: the bare
interpreter, ``import monitor.cli``, loading the config, ``import monitor.pipeline``
(``once`` imports it lazily), ``Store.open``, and the heaviest imports
(``python -X importtime``).

    .venv/bin/python bench/profile_once.py                     # 200 feeds, 50 ms latency
    .venv/bin/python bench/profile_once.py --feeds 200 --latency 0 --top 30
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

from polling import Code, code_snapshot, news_monitor_config  # noqa: E402

PY = str(REPO / ".venv/bin/python")


# ---------------------------------------------------------------------------------------
# The farm, in its own process
# ---------------------------------------------------------------------------------------


class FarmProcess:
    def __init__(
        self, feeds: int, latency: float, seed: int, workdir: Path, prose: str = "templates"
    ) -> None:
        port_file = workdir / "farm.port"
        self.proc = subprocess.Popen(
            [PY, str(BENCH / "farm.py"), "--feeds", str(feeds), "--latency", str(latency),
             "--seed", str(seed), "--port-file", str(port_file), "--duration", "3600",
             "--prose", prose],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 300
        while not port_file.exists() or not port_file.read_text().strip():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("feed farm did not start")
            time.sleep(0.1)
        self.base = f"http://127.0.0.1:{int(port_file.read_text())}"

    def call(self, method: str, path: str) -> Any:
        req = urllib.request.Request(self.base + path, method=method)
        with urllib.request.urlopen(req, timeout=120) as resp:
            return json.loads(resp.read())

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


# ---------------------------------------------------------------------------------------
# Passes
# ---------------------------------------------------------------------------------------


@contextmanager
def stderr_to(path: Path) -> Iterator[None]:
    """Send fd 2 (the CLI's log lines) to a file, as a cron job would."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as f:
        os.dup2(f.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def one_pass(config_path: Path, log: Path, profile: cProfile.Profile | None) -> dict[str, Any]:
    from monitor import config
    from monitor.cli import utc_now, worker_id
    from monitor.store import Store

    try:  # run_once moved from monitor.pipeline to monitor.passes
        from monitor.passes import run_once
    except ImportError:
        from monitor.pipeline import run_once  # type: ignore[attr-defined,no-redef]

    settings = config.load(config_path)
    with stderr_to(log):
        t0, c0 = time.perf_counter(), time.process_time()
        store = Store.open(settings.storage.url, worker_id())
        t1, c1 = time.perf_counter(), time.process_time()
        try:
            if profile is not None:
                profile.enable()
            summary = asyncio.run(run_once(settings, store, utc_now, all_sources=True))
            if profile is not None:
                profile.disable()
        finally:
            store.close()
        t2, c2 = time.perf_counter(), time.process_time()
    return {
        "open_wall": t1 - t0, "open_cpu": c1 - c0, "wall": t2 - t1, "cpu": c2 - c1,
        "new": sum(p.new_items for p in summary.polls),
        "matches": sum(p.matches for p in summary.polls),
        "failed": summary.failed_sources,
    }  # fmt: skip


# ---------------------------------------------------------------------------------------
# Reading a profile
# ---------------------------------------------------------------------------------------

COMPONENTS = [
    ("waiting for the network (epoll)", re.compile(r"epoll|select\.poll|'poll' of")),
    ("sqlite3 (C)", re.compile(r"sqlite3")),
    ("feedparser / sgmllib", re.compile(r"feedparser|sgmllib")),
    ("XML parser (expat / sax)", re.compile(r"xml/sax|expat|pyexpat|xmlreader")),
    ("SQLAlchemy", re.compile(r"sqlalchemy")),
    ("httpx / httpcore / h11 / anyio", re.compile(r"httpx|httpcore|h11|anyio|sniffio")),
    ("asyncio event loop", re.compile(r"asyncio|selectors")),
    ("selectolax", re.compile(r"selectolax")),
    ("stamina / tenacity", re.compile(r"stamina|tenacity")),
    ("jinja2 / markupsafe", re.compile(r"jinja2|markupsafe")),
    ("pydantic", re.compile(r"pydantic")),
    ("w3lib / urllib.parse", re.compile(r"w3lib|urllib/parse")),
    ("logging", re.compile(r"logging")),
    ("zlib / gzip (C)", re.compile(r"zlib|gzip|Decompress")),
    ("re (regular expressions)", re.compile(r"\bre/|_sre|'re\.|sre_|Pattern")),
    ("datetime / time", re.compile(r"datetime|_strptime|'time\.|email/_parseaddr")),
    ("email / mime (digest rendering)", re.compile(r"/email/")),
]


def component(key: tuple[str, int, str]) -> str:
    filename, _, func = key
    text = f"{filename} {func}"
    if "/monitor/" in filename:
        return "monitor." + Path(filename).stem
    for name, pattern in COMPONENTS:
        if pattern.search(text):
            return name
    if filename == "~":
        return "other built-ins"
    return "other Python"


def by_component(stats: pstats.Stats) -> list[tuple[str, float]]:
    totals: defaultdict[str, float] = defaultdict(float)
    for key, (_, _, tt, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        totals[component(key)] += tt
    return sorted(totals.items(), key=lambda kv: -kv[1])


def top(stats: pstats.Stats, order: str, n: int) -> str:
    buf = io.StringIO()
    stats.stream = buf  # type: ignore[attr-defined]
    stats.sort_stats(order).print_stats(n)
    text = buf.getvalue()
    start = text.find("   ncalls")
    return text[start:].rstrip() if start >= 0 else text


def shorten(text: str) -> str:
    """Path prefixes off: site-packages/..., the repo, the stdlib."""
    text = re.sub(r"\S*/site-packages/", "", text)
    text = text.replace(str(REPO) + "/", "")
    return re.sub(r"\S*/lib/python3\.\d+/", "", text)


# ---------------------------------------------------------------------------------------
# Start-up cost
# ---------------------------------------------------------------------------------------

STARTUP_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
import monitor.cli
t1 = time.perf_counter()
from monitor import config
settings = config.load(__import__("pathlib").Path(sys.argv[1]))
t2 = time.perf_counter()
try:
    import monitor.passes  # what `once` imports lazily (monitor.pipeline before)
except ImportError:
    import monitor.pipeline
t3 = time.perf_counter()
from monitor.store import Store
store = Store.open(settings.storage.url, "startup")
store.close()
t4 = time.perf_counter()
print(json.dumps({"import monitor.cli": t1 - t0, "config.load": t2 - t1,
                  "import monitor.passes (once's lazy import)": t3 - t2,
                  "Store.open (migrated db)": t4 - t3}))
"""


IMPORTS = (
    "import monitor.cli\ntry:\n    import monitor.passes\nexcept ImportError:\n"
    "    import monitor.pipeline"
)


def startup(config_path: Path, repeats: int, code: Code) -> tuple[dict[str, float], list[str]]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(code.path)
    cwd = config_path.parent  # not the repo: `python -c` puts the cwd first on sys.path
    rows: defaultdict[str, list[float]] = defaultdict(list)
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([PY, "-c", "pass"], check=True, cwd=cwd, env=env)
        rows["bare interpreter (python -c pass), whole process"].append(time.perf_counter() - t)
        t = time.perf_counter()
        out = subprocess.run(
            [PY, "-c", STARTUP_SCRIPT, str(config_path)],
            check=True, capture_output=True, text=True, cwd=cwd, env=env,
        ).stdout  # fmt: skip
        whole = time.perf_counter() - t
        for k, v in json.loads(out).items():
            rows[k].append(v)
        rows["all of the above, whole process"].append(whole)
        t = time.perf_counter()
        subprocess.run(
            [PY, "-m", "monitor", "--config", str(config_path), "--version"],
            check=True, capture_output=True, cwd=cwd, env=env,
        )  # fmt: skip
        rows["news-monitor --version, whole process"].append(time.perf_counter() - t)
    medians = {k: statistics.median(v) for k, v in rows.items()}
    # -X importtime: heaviest imports of monitor.cli + monitor.passes
    err = subprocess.run(
        [PY, "-X", "importtime", "-c", IMPORTS],
        check=True, capture_output=True, text=True, cwd=cwd, env=env,
    ).stderr  # fmt: skip
    entries = []
    for line in err.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", line)
        if m:
            self_us, cum_us, indent, name = int(m[1]), int(m[2]), len(m[3]), m[4]
            entries.append((cum_us, self_us, indent, name))
    top_level = sorted((e for e in entries if e[2] <= 2), reverse=True)[:15]
    lines = [f"{cum / 1000:8.1f} ms cumulative {name}" for cum, _, _, name in top_level]
    return medians, lines


# ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--feeds", type=int, default=200)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--top", type=int, default=25, help="rows per listing")
    ap.add_argument("--prose", choices=("templates", "varied"), default="templates")
    ap.add_argument("--startup-repeats", type=int, default=7)
    ap.add_argument("--save", metavar="DIR", help="also write the .prof files here")
    ap.add_argument(
        "--timeout",
        type=float,
        default=300,
        help="[http] timeout (default 300 s, not the shipped 30 s: a fetch's deadline also "
        "runs while it waits for the event loop, and a profiled pass is slower)",
    )
    ap.add_argument(
        "--rev",
        default="HEAD",
        help="news-monitor code: a git revision (exported to a temporary folder; default "
        "HEAD) or 'worktree' for the files as they are now",
    )
    args = ap.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="nm-profile-"))
    code = code_snapshot(args.rev, root / "code")
    sys.path.insert(0, str(code.path))
    farm = FarmProcess(args.feeds, args.latency, args.seed, root, args.prose)
    try:
        urls = farm.call("GET", "/_control/feeds")
        plain_cfg = news_monitor_config(root / "plain", urls, timeout=args.timeout)
        prof_cfg = news_monitor_config(root / "profiled", urls, timeout=args.timeout)
        print(
            f"# profile_once: {args.feeds} feeds ({args.prose} prose) at "
            f"{args.latency * 1000:g} ms latency, "
            f"{datetime.now(UTC):%Y-%m-%d %H:%M UTC}, Python {sys.version.split()[0]}"
        )
        print(f"# news-monitor code: {code.label}")
        print(
            "# run_once(all_sources=True) in-process; the farm runs in another process. "
            "Times of the plain (unprofiled) pass; the profile adds its own overhead.\n"
        )
        profiles: dict[str, cProfile.Profile] = {}
        for name in ("cold", "warm", "+1 new"):
            if name == "+1 new":
                farm.call("POST", "/_control/publish")
            plain = one_pass(plain_cfg, root / "plain.log", None)
            prof = cProfile.Profile()
            profiled = one_pass(prof_cfg, root / "profiled.log", prof)
            profiles[name] = prof
            print(
                f"{name:7s} plain: wall {plain['wall']:.2f} s, CPU {plain['cpu']:.2f} s "
                f"({1000 * plain['cpu'] / args.feeds:.2f} ms/feed), new {plain['new']}, "
                f"matches {plain['matches']}, failed {plain['failed']}; Store.open "
                f"{1000 * plain['open_wall']:.0f} ms | profiled: wall {profiled['wall']:.2f} s, "
                f"CPU {profiled['cpu']:.2f} s"
            )
        for name, prof in profiles.items():
            stats = pstats.Stats(prof)
            total = stats.total_tt  # type: ignore[attr-defined]
            print(f"\n## {name} pass (profiled): {total:.2f} s of profiled time")
            print("\n### own time by component")
            for comp, tt in by_component(stats)[:20]:
                print(f"{tt:8.3f} s {100 * tt / total:5.1f} %  {comp}")
            print(f"\n### top {args.top} by cumulative time")
            print(shorten(top(stats, "cumulative", args.top)))
            print(f"\n### top {args.top} by own (total) time")
            print(shorten(top(stats, "tottime", args.top)))
            if args.save:
                Path(args.save).mkdir(parents=True, exist_ok=True)
                stats.dump_stats(str(Path(args.save) / f"once-{name.replace(' ', '')}.prof"))
    finally:
        farm.stop()

    medians, imports = startup(plain_cfg, args.startup_repeats, code)
    print(f"\n## start-up cost (fresh processes, median of {args.startup_repeats})")
    for k, v in medians.items():
        print(f"{1000 * v:8.1f} ms  {k}")
    print("\n### heaviest imports (python -X importtime: monitor.cli and monitor.passes)")
    print("\n".join(imports))
    shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
