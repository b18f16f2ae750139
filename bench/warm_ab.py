"""Warm passes of several revisions side by side: CPU per feed above a pass with nothing due.

Stage: benchmark only (not a test).  Must not: talk to anything but the feed farm it
starts on 127.0.0.1 (``bench/farm.py``), or download anything (``bench/.nm-venv`` is
made by ``bench/polling.py`` when missing, from the local project).

``bench/polling.py`` measures each pass of one revision three times; the warm pass's
CPU above the idle pass moves by ±0.2 ms per feed between its runs on a shared
machine, more than most changes to the warm path.  Here every revision gets its own
database (one cold pass first), then the revisions take turns, in alternating order,
each turn a warm pass (``once --all``, every feed answers 304) and right after it an
idle pass (``once``, nothing due): machine noise falls on all of them alike, and each
warm pass is compared with an idle pass of the same moment.  Prints the medians.

    .venv/bin/python bench/warm_ab.py 7c9b42d HEAD                 # 200 feeds, 12 turns
    .venv/bin/python bench/warm_ab.py --feeds 1000 --turns 6 HEAD~1 worktree
    .venv/bin/python bench/warm_ab.py --callgrind --turns 2 HEAD~1 HEAD   # needs valgrind
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from polling import (  # noqa: E402
    NM_PYTHON,
    Code,
    child_env,
    code_snapshot,
    ensure_nm_venv,
    news_monitor_config,
)
from profile_once import FarmProcess  # noqa: E402


def once(
    config: Path, code: Code, home: Path, *extra: str, callgrind: bool = False
) -> tuple[float, float]:
    """Wall and CPU seconds (user + sys) of one ``once`` process and its parse workers.

    ``callgrind``: run it under valgrind's callgrind instead and give, as the second
    value, the instructions the main process executed, in millions (repeatable
    where CPU seconds are not: a shared machine's speed drifts by 20 % in minutes).
    Under valgrind a pass runs ~30 times slower while the farm's latency does not,
    so what depends on time (loop turns per answer, the pool's sweeps every 50 ms)
    weighs more than in a real pass: confirm a gain in CPU seconds.
    """
    command = [str(NM_PYTHON), "-m", "monitor", "--config", str(config), "-q", "once", *extra]
    out = config.parent / "callgrind.out"
    if callgrind:
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}.%p", *command]
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(
        command, env=child_env(home, code), cwd=config.parent, check=True, capture_output=True,
        timeout=3600 if callgrind else 600,
    )  # fmt: skip
    wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    if callgrind:  # the main process has the lowest pid (its forked workers came later)
        files = sorted(config.parent.glob("callgrind.out.*"), key=lambda f: int(f.suffix[1:]))
        summary = next(line for line in files[0].read_text().splitlines()
                       if line.startswith("summary:"))  # fmt: skip
        for f in files:
            f.unlink()
        return wall, int(summary.split()[1]) / 1e6
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("revs", nargs="+", help="git revisions, or 'worktree'")
    ap.add_argument("--feeds", type=int, default=200)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--turns", type=int, default=12)
    ap.add_argument(
        "--callgrind", action="store_true",
        help="count the main process's instructions under valgrind instead (try --turns 2)",
    )  # fmt: skip
    args = ap.parse_args(argv)
    ensure_nm_venv()
    with tempfile.TemporaryDirectory(prefix="nm-warm-ab-") as tmp:
        root = Path(tmp)
        codes = [code_snapshot(rev, root / f"code-{i}") for i, rev in enumerate(args.revs)]
        farm = FarmProcess(args.feeds, args.latency, 1, root)
        try:
            urls = farm.call("GET", "/_control/feeds")
            configs = []
            for i, code in enumerate(codes):
                config = news_monitor_config(root / f"run-{i}", urls)
                once(config, code, root / "home", "--all")  # cold: fills the database
                configs.append(config)
            warm: list[list[tuple[float, float]]] = [[] for _ in codes]
            idle: list[list[tuple[float, float]]] = [[] for _ in codes]
            started = time.monotonic()
            for turn in range(args.turns):
                order = range(len(codes)) if turn % 2 == 0 else reversed(range(len(codes)))
                for i in order:
                    cg = args.callgrind
                    warm[i].append(once(configs[i], codes[i], root / "home", "--all", callgrind=cg))
                    idle[i].append(once(configs[i], codes[i], root / "home", callgrind=cg))
        finally:
            farm.stop()
    print(f"# {args.feeds} feeds, {args.latency:g} s latency, {args.turns} turns "
          f"({time.monotonic() - started:.0f} s), medians")  # fmt: skip
    unit, per = ("M instructions", "k instructions") if args.callgrind else ("CPU s", "ms")
    print(f"| code | warm wall s | warm {unit} | idle {unit} | above idle, {per} per feed |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for code, w, i in zip(codes, warm, idle, strict=True):
        above = statistics.median(a[1] - b[1] for a, b in zip(w, i, strict=True)) / args.feeds
        print(f"| {code.label} | {statistics.median(x[0] for x in w):.3f} "
              f"| {statistics.median(x[1] for x in w):.3f} "
              f"| {statistics.median(x[1] for x in i):.3f} | {above * 1000:.3f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
