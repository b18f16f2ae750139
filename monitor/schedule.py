"""Durations and schedules: ``"15m"``, ``"immediate"``, ``"0 8 * * *"``.

Pure values used by config validation, the pass logic and the daemon. This module
computes times; it never sleeps, reads a clock, or touches storage.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_DURATION_WHOLE = re.compile(r"\s*(?:\d+(?:\.\d+)?\s*[smhd]\s*)+")
_LONGEST = timedelta(days=36_525)  # 100 years: longer is a typo, and past it datetimes overflow
_TOO_LONG = int(_LONGEST.total_seconds()) + 1


def parse_duration(text: str | int | float) -> timedelta:
    """``"15m"`` → 15 minutes. A bare number is seconds; ``"1h30m"`` is allowed.

    Raises ValueError with a message that shows the accepted forms.
    """
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise ValueError(f"expected a duration such as '15m', got {text!r}")
    if isinstance(text, int | float):
        if isinstance(text, float) and not math.isfinite(text):
            raise ValueError(f"expected a duration such as '15m', got {text!r}")
        if text < 0:
            raise ValueError(f"a duration cannot be negative, got {text!r}")
        seconds = float(min(text, _TOO_LONG))  # an int of hundreds of digits is no float
    elif not _DURATION_WHOLE.fullmatch(text):
        raise ValueError(
            f"expected a duration: a number followed by s, m, h or d (such as '15m'), got {text!r}"
        )
    else:
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION.findall(text))
    if seconds > _LONGEST.total_seconds():
        shown = repr(text) if len(repr(text)) <= 40 else repr(text)[:39] + "…"
        raise ValueError(f"a duration can be at most 100 years, got {shown}")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """The shortest exact form: 900 s → ``"15m"``."""
    seconds = int(delta.total_seconds())
    for unit in ("d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True, slots=True)
class Immediate:
    """Send a digest as soon as a pass has new matches."""

    def next_after(self, moment: datetime) -> datetime:
        return moment

    def __str__(self) -> str:
        return "immediate"


@dataclass(frozen=True, slots=True)
class Every:
    """Send at most once per ``interval``."""

    interval: timedelta

    def next_after(self, moment: datetime) -> datetime:
        return moment + self.interval

    def __str__(self) -> str:
        return f"every {format_duration(self.interval)}"


@dataclass(frozen=True, slots=True)
class Cron:
    """A five-field cron expression evaluated in ``timezone``."""

    expression: str
    timezone: ZoneInfo

    def trigger(self) -> CronTrigger:
        return CronTrigger.from_crontab(self.expression, timezone=self.timezone)

    def next_after(self, moment: datetime) -> datetime:
        """The first fire time strictly after ``moment``."""
        fire: datetime | None = self.trigger().get_next_fire_time(
            None, moment + timedelta(seconds=1)
        )
        if fire is None:  # pragma: no cover - a valid crontab always fires again
            raise ValueError(f"cron expression {self.expression!r} never fires")
        return fire

    def __str__(self) -> str:
        return f"cron '{self.expression}' ({self.timezone.key})"


Schedule = Immediate | Every | Cron


def parse_cron(expression: str, timezone: ZoneInfo) -> Cron:
    """Validate a five-field crontab; raises ValueError naming the problem."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(
            f"a cron expression has 5 fields (minute hour day month weekday), "
            f"got {len(fields)} in {expression!r}"
        )
    try:
        CronTrigger.from_crontab(expression, timezone=timezone)
    except ValueError as exc:
        raise ValueError(f"invalid cron expression {expression!r}: {exc}") from None
    return Cron(expression, timezone)


def parse_schedule(text: str, timezone: ZoneInfo) -> Schedule:
    """``"immediate"``, a duration such as ``"1h"``, or a cron expression."""
    stripped = text.strip()
    if stripped == "immediate":
        return Immediate()
    if _DURATION_WHOLE.fullmatch(stripped):
        interval = parse_duration(stripped)
        if interval <= timedelta(0):
            raise ValueError(f"an interval schedule must be longer than zero, got {text!r}")
        return Every(interval)
    if len(stripped.split()) == 5:
        return parse_cron(stripped, timezone)
    raise ValueError(
        f"expected 'immediate', an interval such as '1h', or a cron expression "
        f"such as '0 8 * * *', got {text!r}"
    )


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily window (local time) in which no digest is sent; it may cross midnight."""

    start: time
    end: time

    def contains(self, moment: datetime) -> bool:
        now = moment.time()
        if self.start <= self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


_QUIET = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")


def parse_quiet_hours(text: str) -> QuietHours:
    """``"22:00-07:00"`` → QuietHours; raises ValueError naming the expected form."""
    match = _QUIET.fullmatch(text)
    if not match:
        raise ValueError(f"expected a range such as '22:00-07:00', got {text!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ValueError(f"not a time of day in {text!r}")
    if (h1, m1) == (h2, m2):
        raise ValueError(f"quiet hours start and end at the same time in {text!r}")
    return QuietHours(time(h1, m1), time(h2, m2))
