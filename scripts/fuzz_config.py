"""Mutation fuzzing of the config: every bad value must be a ConfigError naming its key.

    .venv/bin/python scripts/fuzz_config.py --cases 30000 --seed 1

The seeds are the shipped ``config/monitor.toml`` and the full example in README.md
(its first ``toml`` block, which shows every key), parsed. Each case replaces one to
three values anywhere in a seed (a whole section, a list, one key) with a value from
a list of troublemakers (wrong types, ``inf``, ``nan``, huge numbers, dates, empty
and very long strings, ``${UNSET}``, broken cron and query syntax), deletes one, or
doubles one, then validates it as ``news-monitor check`` does and computes what the
passes compute from it (each subscriber's schedule and quiet hours, each source's
``max_age``). A case fails when this raises anything but ``ConfigError``: it is
printed with the key paths it changed, and the exit status is 1. Offline, and
deterministic for a seed.
"""

from __future__ import annotations

import argparse
import copy
import random
import sys
import tomllib
import traceback
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from monitor import config  # noqa: E402
from monitor.errors import ConfigError  # noqa: E402

VALUES: list[object] = [
    "", " ", "x" * 5000, "x" * 300, -1, 0, 1, 2**63 - 1, -(2**63), 10**30, 10**400,
    float("nan"), float("inf"), -0.0, 1e308, True, False, [], {}, [{}], [[]], [1, "a"],
    {"a": 1}, "${UNSET}", "$$", "$", "\x00", "💥", "0", "-5", "1e9", "a\nb",
    date(2026, 1, 1), time(1, 2), datetime(2026, 1, 1, 1, 1),
    "*/0 * * * *", "0 25 * * *", "@hourly", "99:99", "25:00-26:00", "Mars/Olympus",
    "http://", "mailto:", "ftp://x", "sqlite:///", "postgresql://", "0s", "-1h",
    "1000000000d", "every 0 minutes", "[", "(", '"', "NEAR/0", "title:", "NOT", "AND", "*",
]  # fmt: skip
ENVIRONMENT = {
    name: "https://hooks.example.org/x"
    for name in (
        "SMTP_PASSWORD",
        "WEBHOOK_URL",
        "WEBHOOK_SECRET",
        "SLACK_WEBHOOK_URL",
        "TELEGRAM_BOT_TOKEN",
        "FEED_TOKEN",
    )
}
Path_ = tuple[str | int, ...]


def seeds() -> list[dict[str, Any]]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    example = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    shipped = (REPO / "config" / "monitor.toml").read_text(encoding="utf-8")
    return [tomllib.loads(example), tomllib.loads(shipped)]


def key_paths(value: object, prefix: Path_ = ()) -> list[Path_]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found += key_paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += key_paths(inner, (*prefix, index))
    return found


def mutate(raw: dict[str, Any], rng: random.Random) -> tuple[dict[str, Any], list[str]]:
    raw, changed = copy.deepcopy(raw), []
    for _ in range(rng.randint(1, 3)):
        paths = key_paths(raw)
        if not paths:
            break
        path = rng.choice(paths)
        parent: Any = raw
        for key in path[:-1]:
            parent = parent[key]
        last, roll = path[-1], rng.random()
        if roll < 0.7:
            parent[last] = copy.deepcopy(rng.choice(VALUES))
            changed.append(f"{path} = {parent[last]!r:.60}")
        elif roll < 0.85:
            del parent[last]
            changed.append(f"{path} deleted")
        elif isinstance(parent, list) and isinstance(last, int):
            parent.append(copy.deepcopy(parent[last]))
            changed.append(f"{path} doubled")
        else:
            parent[last] = [parent[last]]
            changed.append(f"{path} in a list")
    return raw, changed


def case(raw: dict[str, Any]) -> None:
    settings = config.parse(raw, REPO / "config" / "fuzz.toml", ENVIRONMENT)
    now = datetime.now(UTC)
    for subscriber in settings.subscribers:
        subscriber.parsed_schedule.next_after(now)
        subscriber.is_quiet(now)
    for source in settings.sources:
        settings.source_max_age(source)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cases", type=int, default=20_000)
    args = ap.parse_args()
    rng, pool, failures = random.Random(args.seed), seeds(), 0
    for _ in range(args.cases):
        raw, changed = mutate(rng.choice(pool), rng)
        try:
            case(raw)
        except ConfigError:
            continue
        except Exception as exc:  # any other exception is the finding
            failures += 1
            where = traceback.extract_tb(exc.__traceback__)[-1]
            print(f"{type(exc).__name__}: {str(exc)[:120]} ({where.filename}:{where.lineno})")
            print("  after: " + "; ".join(changed))
    print(f"config: {args.cases} cases, {failures} failing")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
