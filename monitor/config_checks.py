"""Configuration checks across keys: names unique, references resolve, schedules,
cron expressions, time zones and watch queries compile.

Run by ``config.parse`` after the per-key validation; every problem is collected and
reported at once, each naming the file and the key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.errors import ConfigError
from monitor.query import QuerySyntaxError, compile_watch
from monitor.schedule import parse_cron, parse_quiet_hours, parse_schedule

if TYPE_CHECKING:
    from monitor.config import Settings, WatchConfig


def _compile_problems(watch: WatchConfig) -> list[str]:
    """Compile the watch as the matcher will; report a syntax error with its caret."""
    try:
        compile_watch(
            watch.name,
            terms=watch.terms,
            exclude=watch.exclude,
            query=watch.query,
            languages=watch.languages,
        )
    except QuerySyntaxError as exc:
        return [f".query: {exc}"]
    except ValueError as exc:
        return [f": {exc}"]
    return []


def check_references(settings: Settings) -> None:
    """Cross-key checks pydantic cannot express; raises one ConfigError listing them all."""
    path = settings.path
    problems: list[str] = []

    for section in ("sources", "watches", "channels", "subscribers"):
        seen: set[str] = set()
        for i, entry in enumerate(getattr(settings, section)):
            if entry.name in seen:
                problems.append(f"{section}[{i}].name: duplicate name {entry.name!r}")
            seen.add(entry.name)

    for i, source in enumerate(settings.sources):
        key = f"sources[{i}] ({source.name})"
        if source.interval is not None and source.cron is not None:
            problems.append(f"{key}: set either interval or cron, not both")
        if source.cron is not None:
            try:
                parse_cron(source.cron, ZoneInfo("UTC"))
            except ValueError as exc:
                problems.append(f"{key}.cron: {exc}")
        if source.links is not None and source.type != "page":
            problems.append(f'{key}.links: only a type = "page" source has links')

    for i, watch in enumerate(settings.watches):
        key = f"watches[{i}] ({watch.name})"
        if watch.query is not None and watch.terms:
            problems.append(f"{key}: set either query or terms, not both")
        elif watch.query is None and not watch.terms:
            problems.append(f"{key}: a watch needs terms (or a query)")
        else:
            problems.extend(f"{key}{p}" for p in _compile_problems(watch))

    watch_names = {w.name for w in settings.watches}
    channel_names = {c.name for c in settings.channels}
    for i, sub in enumerate(settings.subscribers):
        key = f"subscribers[{i}] ({sub.name})"
        for j, name in enumerate(sub.watches):
            if name not in watch_names:
                problems.append(f"{key}.watches[{j}]: no watch named {name!r}")
        for j, name in enumerate(sub.channels):
            if name not in channel_names:
                problems.append(f"{key}.channels[{j}]: no channel named {name!r}")
        if sub.fallback is not None and sub.fallback not in channel_names:
            problems.append(f"{key}.fallback: no channel named {sub.fallback!r}")
        if sub.quiet_hours is not None:
            try:
                parse_quiet_hours(sub.quiet_hours)
            except ValueError as exc:
                problems.append(f"{key}.quiet_hours: {exc}")
        try:
            zone = ZoneInfo(sub.timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long
            problems.append(f"{key}.timezone: unknown time zone {sub.timezone!r}")
            continue
        try:
            parse_schedule(sub.schedule, zone)
        except ValueError as exc:
            problems.append(f"{key}.schedule: {exc}")

    if problems:
        raise ConfigError("\n".join(f"{path}: {p}" for p in problems))
