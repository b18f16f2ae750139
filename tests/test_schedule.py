from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from monitor.schedule import Cron, Every, Immediate, parse_duration, parse_schedule

HAVANA = ZoneInfo("America/Havana")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("1h", 3600), ("3d", 259200), ("1h30m", 5400), ("1.5h", 5400),
     (90, 90), ("0s", 0)],
)  # fmt: skip
def test_durations(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["15", "15 minutes", "m", "-5m", "", "1w"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


def test_schedule_kinds() -> None:
    assert parse_schedule("immediate", HAVANA) == Immediate()
    assert parse_schedule("2h", HAVANA) == Every(timedelta(hours=2))
    cron = parse_schedule("0 8 * * 1-5", HAVANA)
    assert isinstance(cron, Cron)


def test_cron_fires_in_subscriber_timezone() -> None:
    cron = parse_schedule("0 8 * * *", HAVANA)
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)  # 07:00 in Havana (UTC-5)
    fire = cron.next_after(now)
    assert fire.astimezone(HAVANA).hour == 8
    assert fire.astimezone(UTC) == datetime(2026, 11, 27, 13, 0, tzinfo=UTC)
    # strictly after: asking at the fire time gives the next day
    assert cron.next_after(fire).astimezone(UTC) == datetime(2026, 11, 28, 13, 0, tzinfo=UTC)


def test_zero_interval_schedule_rejected() -> None:
    with pytest.raises(ValueError, match="longer than zero"):
        parse_schedule("0s", HAVANA)
