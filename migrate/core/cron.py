"""The longest gap between two firings of a cron schedule (GitLab pipeline schedules).

A job that runs only from a monthly schedule looks unused for up to a month: retirement must wait
at least that long after the cut-over before concluding the key is unused, and keep a disabled key
around at least that long before deleting it. GitLab parses `cron` with fugit (standard five
fields: minute hour day-of-month month day-of-week; lists, ranges, steps, names; when both
day-of-month and day-of-week are restricted a day matching *either* fires, as in Vixie cron) —
https://docs.gitlab.com/ci/pipelines/schedules/ . `max_interval` evaluates the schedule over two
years of days (leap years and month lengths included) without iterating minute by minute.
Unparseable expressions raise `ValueError` (the caller turns it into a refusal with the reason).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_NAMES = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
          "oct": 10, "nov": 11, "dec": 12, "sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5,
          "sat": 6}
_MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
           "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}


def _field(text: str, low: int, high: int) -> tuple[set[int], bool]:
    """(values, restricted?) of one cron field."""
    values: set[int] = set()
    for part in text.lower().split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
            if step < 1:
                raise ValueError(f"bad step in {text!r}")
        if part in ("*", "?", ""):
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _value(a), _value(b)
        else:
            start = _value(part)
            end = high if step > 1 else start
        if start < low or end > high or start > end:
            raise ValueError(f"{text!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return values, text not in ("*", "?")


def _value(text: str) -> int:
    return _NAMES[text] if text in _NAMES else int(text)  # int() raises ValueError on anything else


def _parse(expression: str) -> tuple[list[int], Callable[[date], bool]]:
    """(sorted minutes-of-day it fires at, does it fire on this day?) of a five-field cron."""
    text = _MACROS.get(expression.strip().lower(), expression)
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"cron {expression!r}: expected five fields")
    minutes, _ = _field(fields[0], 0, 59)
    hours, _ = _field(fields[1], 0, 23)
    doms, dom_restricted = _field(fields[2], 1, 31)
    months, _ = _field(fields[3], 1, 12)
    dows, dow_restricted = _field(fields[4].replace("7", "0"), 0, 6)

    def fires_on(day: date) -> bool:
        dow = (day.weekday() + 1) % 7  # cron: 0 = Sunday
        if day.month not in months:
            return False
        if dom_restricted and dow_restricted:
            return day.day in doms or dow in dows
        return day.day in doms and dow in dows

    return sorted(h * 60 + m for h in hours for m in minutes), fires_on


def next_run(expression: str, after: datetime, timezone: str) -> datetime | None:
    """The first firing strictly after `after` (aware), in UTC; the cron is read in `timezone`
    (an IANA name, as `cron_timezone` holds). None when it never fires within four years or the
    zone is unknown. Raises ValueError on an unparseable expression."""
    times, fires_on = _parse(expression)
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    local = after.astimezone(zone)
    for offset in range(366 * 4):
        day = local.date() + timedelta(days=offset)
        if not fires_on(day):
            continue
        for minute in times:
            at = datetime.combine(day, time(minute // 60, minute % 60), zone)
            if at > local:
                return at.astimezone(UTC)
    return None


def max_interval(expression: str) -> timedelta:
    """The longest time between consecutive firings of `expression` (a five-field cron)."""
    times, fires_on = _parse(expression)
    start = date(2024, 1, 1)
    days = [offset for offset in range(366 * 4)  # four years: every leap-year and weekday combination
            if fires_on(start + timedelta(days=offset))]
    if not days or not times:
        raise ValueError(f"cron {expression!r} never fires")
    gap = 24 * 60 - times[-1] + times[0]  # from the last firing of a day to the first of the next
    longest = max((b - a for a, b in zip(times, times[1:], strict=False)), default=0)
    for a, b in zip(days, days[1:], strict=False):
        longest = max(longest, (b - a - 1) * 24 * 60 + gap)
    if len(days) == 1:
        longest = max(longest, 4 * 366 * 24 * 60)
    return timedelta(minutes=longest)
