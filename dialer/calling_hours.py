"""Calling windows in the called party's local time, and delays counted in calling hours only.

Layers, intersected for one local date (the strictest wins):

* ``baseline``: the federal 08:00-21:00 local window (47 CFR 64.1200(c)(1); 16 CFR 310.4(c)).
  A campaign cannot widen it; set it to None only for non-US traffic governed by other rules.
* the campaign's per-weekday windows (a missing weekday = no calls that day);
* the lead's state rule (:mod:`dialer.state_rules`): stricter hours, closed days;
* holidays: campaign-wide or per state; a holiday closes the day or narrows it.

A lead with several candidate zones (:mod:`dialer.timezones`) is "open" only when EVERY zone is open.

Pure: every function takes ``now``; no I/O.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

logger = logging.getLogger(__name__)

MINUTES_PER_DAY = 1440


@dataclass(frozen=True, slots=True)
class Window:
    """[start, end) in minutes after local midnight; end may be 1440 (midnight)."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not (0 <= self.start < self.end <= MINUTES_PER_DAY):
            raise ValueError(f"invalid window {self.start}-{self.end}: need 0 <= start < end <= 1440")

    @classmethod
    def parse(cls, start: str, end: str) -> Window:
        return cls(_parse_hhmm(start), _parse_hhmm(end))

    def contains(self, seconds_of_day: float) -> bool:
        return self.start * 60 <= seconds_of_day < self.end * 60

    def intersect(self, other: Window | None) -> Window | None:
        if other is None:
            return None
        start, end = max(self.start, other.start), min(self.end, other.end)
        return Window(start, end) if start < end else None


def _parse_hhmm(text: str) -> int:
    try:
        hours, minutes = text.strip().split(":")[:2]
        value = int(hours) * 60 + int(minutes)
    except (ValueError, AttributeError) as exc:
        raise ValueError(f"time must be HH:MM, got {text!r}") from exc
    if not 0 <= value <= MINUTES_PER_DAY or not 0 <= int(minutes) < 60:
        raise ValueError(f"time out of range: {text!r}")
    return value


FEDERAL_WINDOW = Window(8 * 60, 21 * 60)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Seven days of (window or None = closed); index 0 = Monday like date.weekday().
Weekly = tuple[Window | None, Window | None, Window | None, Window | None, Window | None, Window | None, Window | None]
ALL_WEEK_FEDERAL: Weekly = (FEDERAL_WINDOW,) * 7  # type: ignore[assignment]


def weekly_from_json(data: Mapping[str, Sequence[str] | None] | None) -> Weekly:
    """``{"mon": ["09:00", "20:00"], "sun": null, ...}`` -> Weekly. Missing keys = closed; None/{} = federal."""
    if not data:
        return ALL_WEEK_FEDERAL
    days: list[Window | None] = []
    for index, name in enumerate(WEEKDAYS):
        raw = data.get(name, data.get(str(index), data.get(index)))  # type: ignore[call-overload]
        days.append(Window.parse(raw[0], raw[1]) if raw else None)
    return tuple(days)  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Holiday:
    """A date on which calls stop (``window=None``) or are narrowed. ``year=None`` recurs every year."""

    month: int
    day: int
    year: int | None = None
    window: Window | None = None
    name: str = ""

    def applies(self, on: date) -> bool:
        return on.month == self.month and on.day == self.day and (self.year is None or self.year == on.year)


@dataclass(frozen=True, slots=True)
class StateRule:
    state: str
    weekly: Weekly
    holidays: tuple[Holiday, ...] = ()
    source: str = ""


@dataclass(frozen=True, eq=False)  # identity hash: per-day windows are cached per policy object
class CallingPolicy:
    weekly: Weekly = ALL_WEEK_FEDERAL
    baseline: Window | None = FEDERAL_WINDOW
    holidays: tuple[Holiday, ...] = ()
    state_rules: Mapping[str, StateRule] = field(default_factory=dict)


class ClosedCause(StrEnum):
    OUTSIDE_CALLING_HOURS = "OUTSIDE_CALLING_HOURS"
    STATE_RESTRICTION = "STATE_RESTRICTION"
    HOLIDAY = "HOLIDAY"


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("unknown IANA zone %r", name)
        return None


def _layers(policy: CallingPolicy, state: str | None, on: date) -> tuple[Window | None, Window | None, Window | None]:
    """(campaign ∩ baseline, ... ∩ state weekly, ... ∩ holidays) for one local date."""
    base = policy.weekly[on.weekday()]
    if base is not None and policy.baseline is not None:
        base = base.intersect(policy.baseline)
    rule = policy.state_rules.get(state.upper()) if state else None
    with_state = base
    if rule is not None and base is not None:
        with_state = base.intersect(rule.weekly[on.weekday()])
    final = with_state
    holidays = list(policy.holidays) + (list(rule.holidays) if rule else [])
    for holiday in holidays:
        if final is not None and holiday.applies(on):
            final = final.intersect(holiday.window) if holiday.window else None
    return base, with_state, final


def local_window(policy: CallingPolicy, state: str | None, on: date) -> Window | None:
    return _layers(policy, state, on)[2]


@lru_cache(maxsize=8192)  # a hopper batch asks the same (zone, state, now) hundreds of times
def zone_verdict(policy: CallingPolicy, zone_name: str, state: str | None, now: datetime) -> ClosedCause | None:
    """None when ``zone_name`` is open at ``now``; otherwise the layer that closed it."""
    tz = zone(zone_name)
    if tz is None:
        return ClosedCause.OUTSIDE_CALLING_HOURS
    local = now.astimezone(tz)
    seconds = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    base, with_state, final = _layers(policy, state, local.date())
    if base is None or not base.contains(seconds):
        return ClosedCause.OUTSIDE_CALLING_HOURS
    if with_state is None or not with_state.contains(seconds):
        return ClosedCause.STATE_RESTRICTION
    if final is None or not final.contains(seconds):
        return ClosedCause.HOLIDAY
    return None


def is_open(policy: CallingPolicy, zones: Iterable[str], state: str | None, now: datetime) -> bool:
    zones = tuple(zones)
    return bool(zones) and all(zone_verdict(policy, z, state, now) is None for z in zones)


Interval = tuple[datetime, datetime]


def _to_utc(local_day: date, minute: int, tz: ZoneInfo, *, is_start: bool) -> datetime:
    """Local wall time -> UTC; in a DST gap or overlap pick the conservative instant (later start, earlier end)."""
    day = local_day + timedelta(days=minute // MINUTES_PER_DAY)
    minute %= MINUTES_PER_DAY
    wall = datetime.combine(day, time(minute // 60, minute % 60))
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    return max(first, second) if is_start else min(first, second)


@lru_cache(maxsize=65536)
def _day_interval(policy: CallingPolicy, zone_name: str, state: str | None, day: date) -> Interval | None:
    """The UTC interval of ``day``'s local window in ``zone_name`` (cached: leads share zones and days)."""
    tz = zone(zone_name)
    window = local_window(policy, state, day) if tz is not None else None
    if tz is None or window is None:
        return None
    lo, hi = _to_utc(day, window.start, tz, is_start=True), _to_utc(day, window.end, tz, is_start=False)
    return (lo, hi) if lo < hi else None


def _zone_intervals(policy: CallingPolicy, tz: ZoneInfo, state: str | None, start: datetime, end: datetime) -> list[Interval]:
    out: list[Interval] = []
    day = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date() + timedelta(days=1)
    while day <= last:
        interval = _day_interval(policy, tz.key, state, day)
        if interval is not None:
            lo, hi = max(interval[0], start), min(interval[1], end)
            if lo < hi:
                out.append((lo, hi))
        day += timedelta(days=1)
    return out


def _intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo < hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def open_intervals(
    policy: CallingPolicy, zones: Iterable[str], state: str | None, start: datetime, end: datetime
) -> list[Interval]:
    """UTC intervals within [start, end) when every zone is open (a subset of :func:`is_open` at DST edges)."""
    result: list[Interval] | None = None
    for name in zones:
        tz = zone(name)
        if tz is None:
            return []
        intervals = _zone_intervals(policy, tz, state, start, end)
        result = intervals if result is None else _intersect(result, intervals)
        if not result:
            return []
    return result or []


SEARCH_HORIZON = timedelta(days=400)
_CHUNK = timedelta(days=14)


def next_open(policy: CallingPolicy, zones: Iterable[str], state: str | None, now: datetime) -> datetime | None:
    """The first instant >= now when the lead may be called, None if never within ~a year."""
    zones = tuple(zones)
    if not zones:
        return None
    if is_open(policy, zones, state, now):
        return now
    cursor, chunk = now, timedelta(days=1)
    while cursor < now + SEARCH_HORIZON:
        intervals = open_intervals(policy, zones, state, cursor, cursor + chunk)
        if intervals:
            return intervals[0][0]
        cursor += chunk
        chunk = min(chunk * 2, _CHUNK)
    return None


def add_calling_seconds(
    policy: CallingPolicy, zones: Iterable[str], state: str | None, start: datetime, seconds: float
) -> datetime | None:
    """The earliest T such that the calling window was open for ``seconds`` in total during [start, T].

    This is how recycle delays are counted: a 2-hour NO-ANSWER delay started at 20:30 local with a
    21:00 close runs 30 minutes tonight and 90 minutes from tomorrow's opening (VICIdial's
    AST_VDhopper.pl approximates the same by subtracting the overnight gap).
    """
    zones = tuple(zones)
    if seconds <= 0:
        return start
    if not zones:
        return None
    remaining = timedelta(seconds=seconds)
    cursor = start
    # Growing chunks: most recycle delays (minutes to hours) finish inside the first day.
    chunk = timedelta(days=1)
    while cursor < start + SEARCH_HORIZON:
        for lo, hi in open_intervals(policy, zones, state, cursor, cursor + chunk):
            if hi - lo >= remaining:
                return lo + remaining
            remaining -= hi - lo
        cursor += chunk
        chunk = min(chunk * 2, _CHUNK)
    return None


# How far back calling_time_between keeps a prepared timeline: recycle delays are minutes to
# hours, so nearly every last call of a lead still in recycling falls inside it.
_TIMELINE_SPAN = timedelta(days=14)


@lru_cache(maxsize=1024)  # a hopper batch asks this for a few dozen (zones, state) pairs, same now
def _timeline(
    policy: CallingPolicy, zones: tuple[str, ...], state: str | None, now: datetime
) -> tuple[list[datetime], list[datetime], list[timedelta]]:
    """Open intervals within [now - span, now) with, for each, the open time from its start to now."""
    intervals = open_intervals(policy, zones, state, now - _TIMELINE_SPAN, now)
    after: list[timedelta] = [timedelta(0)] * len(intervals)
    total = timedelta(0)
    for index in range(len(intervals) - 1, -1, -1):
        lo, hi = intervals[index]
        total += hi - lo
        after[index] = total
    return [lo for lo, _ in intervals], [hi for _, hi in intervals], after


def calling_time_between(
    policy: CallingPolicy, zones: Iterable[str], state: str | None, start: datetime, now: datetime
) -> timedelta:
    """How long the calling window was open (every zone at once) during [start, now).

    ``calling_time_between(..., start, now) >= timedelta(seconds=s)`` exactly when
    ``add_calling_seconds(..., start, s) <= now``: the hopper asks the first (a binary search in a
    timeline shared by the batch) and computes the second only for leads still waiting.
    """
    zones = tuple(zones)
    if not zones or start >= now:
        return timedelta(0)
    if start < now - _TIMELINE_SPAN:
        return sum((hi - lo for lo, hi in open_intervals(policy, zones, state, start, now)), timedelta(0))
    starts, ends, after = _timeline(policy, zones, state, now)
    index = bisect_right(ends, start)  # the first interval ending after start
    if index == len(ends):
        return timedelta(0)
    total = after[index]
    if starts[index] < start:
        total -= start - starts[index]
    return total
