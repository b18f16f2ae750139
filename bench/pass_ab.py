"""Cold or +1 new passes of several revisions side by side, taking turns.

Stage: benchmark only (not a test).  Must not: talk to anything but the feed farm it
starts on 127.0.0.1 (``bench/farm.py``), or download anything (``bench/.nm-venv`` is
made by ``bench/polling.py`` when missing, from the local project).

``bench/polling.py`` runs each revision's passes apart, minutes apart on a shared
machine whose speed drifts by 20-30 % within minutes; a change of a few per cent to the
cold pass is lost in that.  Here the revisions take turns, in alternating order, and
each turn measures the same pass of every revision:

* ``cold``: a new database, ``once --all`` against the farm's first state;
* ``new``: a new database, an unmeasured cold pass, one item published in every feed,
  then the measured ``once --all`` (the farm is reset first, so every revision reads
  the same documents).

Prints the medians of wall and CPU time (the ``once`` process and its parse workers)
and the median of the paired differences against the first revision.

    .venv/bin/python bench/pass_ab.py HEAD worktree                     # cold, 200 feeds
    .venv/bin/python bench/pass_ab.py --pass new --turns 8 HEAD~1 HEAD
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from polling import code_snapshot, ensure_nm_venv, news_monitor_config  # noqa: E402
from profile_once import FarmProcess  # noqa: E402
from warm_ab import once  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("revs", nargs="+", help="git revisions, or 'worktree'")
    ap.add_argument("--pass", dest="which", choices=("cold", "new"), default="cold")
    ap.add_argument("--feeds", type=int, default=200)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--turns", type=int, default=8)
    args = ap.parse_args(argv)
    ensure_nm_venv()
    runs: list[list[tuple[float, float]]] = [[] for _ in args.revs]
    with tempfile.TemporaryDirectory(prefix="nm-pass-ab-") as tmp:
        root = Path(tmp)
        codes = [code_snapshot(rev, root / f"code-{i}") for i, rev in enumerate(args.revs)]
        farm = FarmProcess(args.feeds, args.latency, 1, root)
        started = time.monotonic()
        try:
            urls = farm.call("GET", "/_control/feeds")
            for turn in range(args.turns):
                order = range(len(codes)) if turn % 2 == 0 else reversed(range(len(codes)))
                for i in order:
                    config = news_monitor_config(root / f"run-{turn}-{i}", urls)
                    if args.which == "new":
                        farm.call("POST", "/_control/reset")
                        once(config, codes[i], root / "home", "--all")
                        farm.call("POST", "/_control/publish")
                    runs[i].append(once(config, codes[i], root / "home", "--all"))
        finally:
            farm.stop()
    print(f"# {args.which} pass, {args.feeds} feeds, {args.latency:g} s latency, "
          f"{args.turns} turns ({time.monotonic() - started:.0f} s), medians")  # fmt: skip
    print("| code | wall s | CPU s | wall vs first, paired | CPU vs first, paired |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for code, mine in zip(codes, runs, strict=True):
        wall = statistics.median(m[0] for m in mine)
        cpu = statistics.median(m[1] for m in mine)
        dwall = statistics.median(m[0] - f[0] for m, f in zip(mine, runs[0], strict=True))
        dcpu = statistics.median(m[1] - f[1] for m, f in zip(mine, runs[0], strict=True))
        print(f"| {code.label} | {wall:.3f} | {cpu:.3f} | {dwall:+.3f} | {dcpu:+.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
