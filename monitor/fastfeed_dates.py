"""Parse stage, fast path: feed dates exactly as feedparser reads them.

``parse_date`` returns what ``feedparser``'s ``_parse_date`` returns (a UTC
``time.struct_time`` or None) for every string.  The two shapes nearly every feed
uses get a regular-expression fast path that repeats feedparser's arithmetic:

* RFC 822 with a day name: ``Tue, 05 Nov 2024 10:00[:00] GMT|UT|UTC|Z|EST|...|+0530``
  (feedparser tries its W3DTF parser first; it rejects any string that starts with
  a day name and a comma, so its RFC 822 parser decides);
* W3DTF / ISO 8601: ``2024-11-05T10:00[:00[.123]]Z|+05:30`` (W3DTF parser, first).

Everything else (two-digit years, odd zones such as ``+0530`` in ISO form, which
feedparser reads as +05:00, dates without a time, other languages ...) and any value
the fast path cannot build is handed to feedparser's own ``_parse_date``, so the
result is feedparser's by construction.  Must not: guess, or use the local zone.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

try:  # feedparser's date chain: the reference for every string the fast path leaves
    from feedparser.datetimes import _parse_date as _reference_parse_date
except ImportError:  # pragma: no cover - a feedparser without it: no fast path at all
    _reference_parse_date = None

AVAILABLE = _reference_parse_date is not None

_MONTHS = {
    "Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6,
    "Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12,
}  # fmt: skip
# Hours east of UTC, as feedparser's RFC 822 table has them (upper-case spellings only).
_ZONES = {
    "GMT": 0, "UT": 0, "UTC": 0, "Z": 0,
    "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7,
}  # fmt: skip
_RFC822 = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{1,2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct"
    r"|Nov|Dec) (\d{4}) (\d\d):(\d\d)(?::(\d\d))? ([A-Z]{1,3}|[+-]\d{4})"
)
_W3DTF = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d)(?:\.\d+)?)?(Z|[+-]\d\d:\d\d)")


def parse_date(value: str) -> time.struct_time | None:
    """feedparser's parse of a date string: a UTC struct_time, or None."""
    fast = _fast(value)
    if fast is not None:
        return fast
    if _reference_parse_date is None:  # pragma: no cover
        raise RuntimeError("feedparser's date parser is not available")
    result: Any = _reference_parse_date(value)
    return result if isinstance(result, time.struct_time) or result is None else None


def _fast(value: str) -> time.struct_time | None:
    m = _RFC822.fullmatch(value)
    if m is not None:
        day, month, year, hour, minute, second, zone = m.groups()
        if zone[0] in "+-":
            sign = -1 if zone[0] == "-" else 1
            offset = (sign * int(zone[1:3]), sign * int(zone[3:]))
        elif zone in _ZONES:
            offset = (_ZONES[zone], 0)
        else:
            return None
        return _utc(int(year), _MONTHS[month], int(day), hour, minute, second, offset)
    m = _W3DTF.fullmatch(value)
    if m is not None:
        year, month, day, hour, minute, second, zone = m.groups()
        if zone == "Z":
            offset = (0, 0)
        else:
            sign = -1 if zone[0] == "-" else 1
            offset = (sign * int(zone[1:3]), sign * int(zone[4:]))
        return _utc(int(year), int(month), int(day), hour, minute, second, offset)
    return None


def _utc(
    year: int,
    month: int,
    day: int,
    hour: str,
    minute: str,
    second: str | None,
    offset: tuple[int, int],
) -> time.struct_time | None:
    """feedparser's ``(stamp - delta).utctimetuple()``; None lets its own chain decide."""
    try:
        stamp = dt.datetime(year, month, day, int(hour), int(minute), int(second or 0))
        return (stamp - dt.timedelta(hours=offset[0], minutes=offset[1])).utctimetuple()
    except (ValueError, OverflowError):
        return None
