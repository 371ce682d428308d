"""Chart drill-downs: the calls behind one mark of a chart, paged (what a click on the page lists).

A :class:`CallDrill` names the mark: an agent (leaderboard row), a lead-local weekday x hour
(heatmap cell), a day x disposition (dispositions bar), a list x attempt number (penetration
bar), or a funnel stage. :func:`drill_calls` lists those calls, newest first, in their latest state.

Lead-local weekday/hour: ``toHour(t, tz)`` needs a *constant* zone, so the cell becomes the
(zone, UTC hour) pairs that fall on that local weekday x hour, computed in pandas with each zone's
DST rules exactly as the heatmap buckets (:func:`analytics.kpis._time.local_hours`), and passed
as parameters. Those drills read ``cdr_by_zone`` (sql/clickhouse/0010): cdr's rows sorted by
(lead_timezone, dialed_at), where each pair is one key range; the others read ``cdr``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
from clickhouse_connect.driver.client import Client

from analytics.filters import KpiFilter
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
    """(zone, UTC hour) pairs whose lead-local time is ``weekday`` x ``hour``: every UTC hour of the
    range for every zone the ``cdr_day`` rollup (0009) has in it. A superset is harmless -- a pair
    without calls matches nothing -- so the rollup's day grain and campaign/list-only filter do;
    what matters is that no zone of the range is missing, and a zone with calls has rollup rows."""
    day = replace(flt, start=flt.start.replace(hour=0, minute=0, second=0, microsecond=0), team_ids=(), agent_ids=())
    where, params = day.where("cdr_day")
    rows = client.query(f"SELECT DISTINCT lead_timezone FROM cdr_day WHERE {where}", parameters=params).result_rows
    zones = sorted(str(r[0]) for r in rows)
    bad = [z for z in zones if not _ZONE.match(z)]
    if bad:
        raise ValidationError("unexpected lead time zone in the data", {"lead_timezone": bad[0][:80]})
    first, end = (pd.Timestamp(t).tz_convert("UTC") for t in (flt.start, flt.end))
    hours = pd.date_range(first.floor("h"), end, freq="h", inclusive="left")
    pairs = []
    for zone in zones:  # the rule of local_hours: the zone's wall clock at the start of each UTC hour
        local = hours.tz_convert(zone or "UTC")
        hit = hours[(local.day_of_week == weekday) & (local.hour == hour)]
        pairs += [(zone, h.tz_localize(None).to_pydatetime()) for h in hit]
    return pairs


def _conditions(client: Client, flt: KpiFilter, drill: CallDrill) -> tuple[KpiFilter, str, list[str], dict[str, Any]]:
    """``(filter, table, clauses, parameters)``: the drill's range, the table to read and its conditions."""
    clauses: list[str] = []
    params: dict[str, Any] = {}
    table = "cdr"
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
        table = "cdr_by_zone"
        pairs = _local_hour_pairs(client, flt, drill.weekday, drill.hour)
        if not pairs:
            clauses.append("0")
        else:
            # A constant set on (key column, monotonic function of a key column): ClickHouse prunes
            # cdr_by_zone's granules with it. (An OR of one range per pair reads as little but
            # takes ~40 ms to plan for a month of pairs.)
            params["d_zones"] = [z for z, _h in pairs]
            params["d_zone_hours"] = [h for _z, h in pairs]
            clauses.append("(lead_timezone, toStartOfHour(dialed_at)) IN "
                           "arrayZip({d_zones:Array(String)}, {d_zone_hours:Array(DateTime('UTC'))})")
    return flt, table, clauses, params


def _page_rows(client: Client, table: str, keys: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """The latest state of the page's calls. With VersionedCollapsingMergeTree that is each call's +1
    row of the highest version (a change writes a -1 copy of the old version and a +1 row of the
    new one). ``keys`` are (call_id, dialed_at, total, campaign_id, lead_timezone) rows."""
    if table == "cdr_by_zone":  # its sorting key, exactly
        where = "(lead_timezone, dialed_at, call_id) IN {p_keys:Array(Tuple(String, DateTime64(3, 'UTC'), UUID))}"
        params: dict[str, Any] = {"p_keys": [(k[4], k[1], k[0]) for k in keys]}
    else:  # the key's first column, the time range of the page, then the bloom filter on call_id
        where = ("campaign_id IN {p_campaigns:Array(UInt32)} AND call_id IN {p_ids:Array(UUID)} "
                 "AND dialed_at >= {p_lo:DateTime64(3, 'UTC')} AND dialed_at <= {p_hi:DateTime64(3, 'UTC')}")
        params = {"p_campaigns": sorted({k[3] for k in keys}), "p_ids": [k[0] for k in keys],
                  "p_lo": min(k[1] for k in keys), "p_hi": max(k[1] for k in keys)}
    return client.query_df(
        f"SELECT {', '.join(CALL_COLUMNS)} FROM ("
        f"SELECT * FROM {table} WHERE {where} AND sign = 1 ORDER BY version DESC LIMIT 1 BY call_id) "
        "ORDER BY dialed_at DESC, call_id",
        parameters=params,
    )


def drill_calls(client: Client, flt: KpiFilter, drill: CallDrill, page: int = 0, page_size: int = 50) -> CallPage:
    """The calls behind ``drill`` in the filter's range, newest first, ``page_size`` per page."""
    if page < 0 or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValidationError("invalid request", {"page": f"page >= 0 and 1 <= page_size <= {MAX_PAGE_SIZE}"})
    flt, table, clauses, extra = _conditions(client, flt, drill)
    where, params = flt.where(table)
    where = " AND ".join([where, *clauses])
    params.update(extra)
    # The page's calls and the total in one pass, without FINAL: a call is live when its signs sum
    # to 1, so every live call is one group and the groups' count is the total (a correction that
    # moved a call out of the drill leaves a +1/-1 pair summing to 0 there). FINAL over the drill
    # range instead merged every part of a month (~0.5 s at 10 M CDRs).
    keys = client.query(
        f"SELECT call_id, dialed_at, count() OVER (), campaign_id, lead_timezone FROM {table} WHERE {where} "
        f"GROUP BY campaign_id, lead_timezone, dialed_at, call_id HAVING sum(sign) > 0 "
        f"ORDER BY dialed_at DESC, call_id LIMIT {{limit:UInt32}} OFFSET {{offset:UInt64}}",
        parameters={**params, "limit": page_size, "offset": page * page_size},
    ).result_rows
    if not keys:  # past the last page (or nothing at all): the total still has to be told
        rows = client.query(f"SELECT sum(sign) FROM {table} WHERE {where}", parameters=params).result_rows
        total = int(rows[0][0] or 0) if rows else 0
        return CallPage(rows=pd.DataFrame(columns=list(CALL_COLUMNS)), total=total, page=page, page_size=page_size)
    return CallPage(rows=_page_rows(client, table, keys), total=int(keys[0][2]), page=page, page_size=page_size)
