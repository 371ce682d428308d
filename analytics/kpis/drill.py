"""Chart drill-downs: the calls behind one mark of a chart, paged (what a click on the page lists).

A :class:`CallDrill` names the mark: an agent (leaderboard row), a lead-local weekday x hour
(heatmap cell), a day x disposition (dispositions bar), a list x attempt number (penetration
bar), or a funnel stage. :func:`drill_calls` lists those calls, newest first, from ``cdr FINAL``.

Lead-local weekday/hour: ``toHour(t, tz)`` needs a *constant* zone, so the (zone, UTC hour) pairs
that fall on that local weekday x hour are found from the ``cdr_hour`` rollup in pandas (DST
included, as the heatmap itself does) and passed as parameters; ``cdr`` is then read for those
UTC hours only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
from clickhouse_connect.driver.client import Client

from analytics.filters import KpiFilter
from analytics.kpis._time import local_hours
from analytics.kpis.agents import CALL_COLUMNS, MAX_PAGE_SIZE, CallPage
from core.exceptions import ValidationError

_ZONE = re.compile(r"^[A-Za-z0-9_+\-/]{0,64}$")
_CODE = re.compile(r"^[A-Za-z0-9_\-]{1,32}$")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# Funnel stages (app/figures.funnel_figure's labels) -> the condition on one CDR.
STAGES = {
    "dials": "1",
    "answers": "outcome IN ('human', 'machine', 'abandoned')",
    "contacts": "is_contact = 1",
    "connected": "connected_at IS NOT NULL",
    "sales": "is_sale = 1",
}


@dataclass(frozen=True)
class CallDrill:
    """One chart mark. All set fields must match (AND); at least one is set."""

    agent_id: int | None = None
    weekday: int | None = None  # 0 = Monday, lead local
    hour: int | None = None  # 0..23, lead local
    day: date | None = None  # UTC day (the dispositions chart's default clock)
    disposition: str | None = None
    list_id: int | None = None
    attempt_no: int | None = None
    stage: str | None = None

    def __post_init__(self) -> None:
        errors: dict[str, str] = {}
        if self.agent_id is not None and self.agent_id <= 0:
            errors["agent_id"] = "a positive agent id"
        if self.weekday is not None and not 0 <= self.weekday <= 6:
            errors["weekday"] = "0 (Monday) .. 6"
        if self.hour is not None and not 0 <= self.hour <= 23:
            errors["hour"] = "0 .. 23"
        if (self.weekday is None) != (self.hour is None):
            errors["hour"] = "weekday and hour go together"
        if self.disposition is not None and not _CODE.match(self.disposition):
            errors["disposition"] = "a disposition code"
        if self.list_id is not None and self.list_id <= 0:
            errors["list_id"] = "a positive list id"
        if self.attempt_no is not None and self.attempt_no <= 0:
            errors["attempt_no"] = "a positive attempt number"
        if self.stage is not None and self.stage not in STAGES:
            errors["stage"] = f"one of {', '.join(STAGES)}"
        if not errors and all(getattr(self, f.name) is None for f in fields(self)):
            errors["drill"] = "pick something to drill into"
        if errors:
            raise ValidationError("invalid drill-down", errors)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> CallDrill:
        """From query-string / JSON values (strings or numbers); bad values -> ValidationError."""
        kwargs: dict[str, Any] = {}
        for name in ("agent_id", "weekday", "hour", "list_id", "attempt_no"):
            raw = params.get(name)
            if raw in (None, ""):
                continue
            try:
                kwargs[name] = int(raw)
            except (TypeError, ValueError):
                raise ValidationError("invalid drill-down", {name: "a whole number"}) from None
        if params.get("day") not in (None, ""):
            try:
                kwargs["day"] = date.fromisoformat(str(params["day"])[:10])
            except ValueError:
                raise ValidationError("invalid drill-down", {"day": "YYYY-MM-DD"}) from None
        for name in ("disposition", "stage"):
            if params.get(name) not in (None, ""):
                kwargs[name] = str(params[name])
        return cls(**kwargs)

    def params(self) -> dict[str, str]:
        """The inverse of :meth:`from_params` (for export links)."""
        return {f.name: str(getattr(self, f.name)) for f in fields(self) if getattr(self, f.name) is not None}

    def label(self, agent_names: Mapping[int, str] | None = None) -> str:
        parts = []
        if self.agent_id is not None:
            name = (agent_names or {}).get(self.agent_id)
            parts.append(f"agent {name} ({self.agent_id})" if name else f"agent {self.agent_id}")
        if self.weekday is not None:
            parts.append(f"{WEEKDAYS[self.weekday]} {self.hour:02d}:00 lead local")
        if self.day is not None:
            parts.append(f"{self.day:%Y-%m-%d} (UTC)")
        if self.disposition is not None:
            parts.append(f"disposition {self.disposition}")
        if self.list_id is not None:
            parts.append(f"list {self.list_id}")
        if self.attempt_no is not None:
            parts.append(f"attempt {self.attempt_no}")
        if self.stage is not None:
            parts.append(f"funnel: {self.stage}")
        return ", ".join(parts)


def _local_hour_pairs(client: Client, flt: KpiFilter, weekday: int, hour: int) -> list[tuple[str, datetime]]:
    """(zone, UTC hour) pairs whose lead-local time is ``weekday`` x ``hour``, from the ``cdr_hour``
    rollup (a few thousand rows instead of a scan of ``cdr``). The rollup has no team/agent and
    hour grain, so this is a superset (hour-floored start, campaign/list filter only); the exact
    filter is applied to ``cdr`` afterwards."""
    start = flt.start.replace(minute=0, second=0, microsecond=0)
    where, params = replace(flt, start=start, team_ids=(), agent_ids=()).where("cdr_hour")
    frame = client.query_df(f"SELECT DISTINCT lead_timezone AS tz, hour AS utc_hour FROM cdr_hour WHERE {where}",
                            parameters=params)
    if frame.empty:
        return []
    bad = [z for z in frame["tz"].unique() if not _ZONE.match(str(z))]
    if bad:
        raise ValidationError("unexpected lead time zone in the data", {"lead_timezone": str(bad[0])[:80]})
    local = local_hours(frame)
    hit = frame[(local.dt.day_of_week == weekday) & (local.dt.hour == hour)]
    return [(str(z), pd.Timestamp(h).to_pydatetime()) for z, h in zip(hit["tz"], hit["utc_hour"], strict=True)]


def _hour_ranges(hours: Iterable[datetime]) -> list[tuple[datetime, datetime]]:
    """Whole UTC hours as [start, end) ranges, adjacent hours merged."""
    ranges: list[tuple[datetime, datetime]] = []
    for hour in sorted(set(hours)):
        if ranges and ranges[-1][1] == hour:
            ranges[-1] = (ranges[-1][0], hour + timedelta(hours=1))
        else:
            ranges.append((hour, hour + timedelta(hours=1)))
    return ranges


def _conditions(client: Client, flt: KpiFilter, drill: CallDrill) -> tuple[KpiFilter, list[str], dict[str, Any]]:
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if drill.day is not None:  # narrow the range to that UTC day (inside the filter's range)
        start = datetime.combine(drill.day, datetime.min.time(), UTC)
        flt = replace(flt, start=max(flt.start, start), end=min(flt.end, start + timedelta(days=1)))
    if drill.agent_id is not None:
        clauses.append("agent_id = {d_agent:UInt32}")
        params["d_agent"] = drill.agent_id
    if drill.disposition is not None:
        clauses.append("disposition_code = {d_disp:String}")
        params["d_disp"] = drill.disposition
    if drill.list_id is not None:
        clauses.append("list_id = {d_list:UInt32}")
        params["d_list"] = drill.list_id
    if drill.attempt_no is not None:
        clauses.append("attempt_no = {d_attempt:UInt32}")
        params["d_attempt"] = drill.attempt_no
    if drill.stage is not None:
        clauses.append(STAGES[drill.stage])
    if drill.weekday is not None and drill.hour is not None:
        pairs = _local_hour_pairs(client, flt, drill.weekday, drill.hour)
        if not pairs:
            clauses.append("0")
        else:
            # The UTC hours first, as plain ``dialed_at`` ranges: the sorting key is (campaign_id,
            # dialed_at), and ClickHouse prunes granules on an OR of key ranges, not on
            # ``toStartOfHour(dialed_at) IN (...)`` (that one read every granule of the range).
            # Then the exact (zone, hour) pairs.
            params["d_zones"] = [z for z, _h in pairs]
            params["d_zone_hours"] = [h for _z, h in pairs]
            ranges: list[str] = []
            for n, (lo, hi) in enumerate(_hour_ranges(h for _z, h in pairs)):
                params[f"d_lo{n}"], params[f"d_hi{n}"] = lo, hi
                ranges.append(f"(dialed_at >= {{d_lo{n}:DateTime('UTC')}} AND dialed_at < {{d_hi{n}:DateTime('UTC')}})")
            clauses.append("(" + " OR ".join(ranges) + ")")
            clauses.append("(lead_timezone, toStartOfHour(toDateTime(dialed_at, 'UTC'))) IN "
                           "arrayZip({d_zones:Array(String)}, {d_zone_hours:Array(DateTime('UTC'))})")
    return flt, clauses, params


def drill_calls(client: Client, flt: KpiFilter, drill: CallDrill, page: int = 0, page_size: int = 50) -> CallPage:
    """The calls behind ``drill`` in the filter's range, newest first, ``page_size`` per page."""
    if page < 0 or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValidationError("invalid request", {"page": f"page >= 0 and 1 <= page_size <= {MAX_PAGE_SIZE}"})
    flt, clauses, extra = _conditions(client, flt, drill)
    where, params = flt.where("cdr")
    where = " AND ".join([where, *clauses])
    params.update(extra)
    # The page's calls and the total in one pass, without FINAL: a call is live when its signs sum
    # to 1, so every live call is one group and the groups' count is the total. Then each page
    # call's latest state: with VersionedCollapsingMergeTree that is its +1 row of the highest
    # version (a change writes a -1 copy of the old version and a +1 row of the new one). FINAL over
    # the drill range instead merged every part of a month (~0.5 s at 10 M CDRs).
    keys = client.query(
        f"SELECT call_id, dialed_at, count() OVER (), campaign_id FROM cdr WHERE {where} "
        f"GROUP BY campaign_id, dialed_at, call_id HAVING sum(sign) > 0 "
        f"ORDER BY dialed_at DESC, call_id LIMIT {{limit:UInt32}} OFFSET {{offset:UInt64}}",
        parameters={**params, "limit": page_size, "offset": page * page_size},
    ).result_rows
    if not keys:  # past the last page (or nothing at all): the total still has to be told
        rows = client.query(f"SELECT sum(sign) FROM cdr WHERE {where}", parameters=params).result_rows
        total = int(rows[0][0] or 0) if rows else 0
        return CallPage(rows=pd.DataFrame(columns=list(CALL_COLUMNS)), total=total, page=page, page_size=page_size)
    total = int(keys[0][2])
    frame = client.query_df(
        f"SELECT {', '.join(CALL_COLUMNS)} FROM ("
        f"SELECT * FROM cdr WHERE campaign_id IN {{p_campaigns:Array(UInt32)}} "  # the key's first column
        f"AND call_id IN {{p_ids:Array(UUID)}} AND sign = 1 "
        f"AND dialed_at >= {{p_lo:DateTime64(3, 'UTC')}} AND dialed_at <= {{p_hi:DateTime64(3, 'UTC')}} "
        f"ORDER BY version DESC LIMIT 1 BY call_id) ORDER BY dialed_at DESC, call_id",
        parameters={"p_campaigns": sorted({k[3] for k in keys}), "p_ids": [k[0] for k in keys], "p_lo": min(k[1] for k in keys), "p_hi": max(k[1] for k in keys)},
    )
    return CallPage(rows=frame, total=total, page=page, page_size=page_size)
