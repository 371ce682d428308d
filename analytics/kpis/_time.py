"""Time buckets in UTC or in the lead's local time.

ClickHouse's ``toTimeZone``/``toHour(t, tz)`` need a CONSTANT zone, but every CDR carries its own
(``lead_timezone``). So lead-local KPIs are aggregated in SQL by ``(lead_timezone, UTC hour)`` --
a few thousand rows at most -- and shifted to local wall-clock time here, per zone, with the
zone's DST rules (pandas/zoneinfo). Zones whose offset is not a whole hour (Asia/Kolkata,
Australia/Adelaide) are bucketed by the local time of the start of each UTC hour.
"""

from __future__ import annotations

from typing import Literal

import pandas as pd

from analytics.filters import KpiFilter

Grain = Literal["hour", "day"]
_FLOOR = {"hour": "h", "day": "D"}


def check_grain(grain: str) -> None:
    if grain not in _FLOOR:
        raise ValueError(f"grain must be 'hour' or 'day', got {grain!r}")


def bucket_sql(flt: KpiFilter, grain: Grain, column: str = "dialed_at") -> tuple[str, list[str]]:
    """SELECT expressions and GROUP BY names that :func:`finish_buckets` turns into ``bucket``."""
    check_grain(grain)
    if flt.clock == "utc":
        fn = "toStartOfHour" if grain == "hour" else "toStartOfDay"
        return f"{fn}(toDateTime({column}, 'UTC')) AS bucket", ["bucket"]
    return f"lead_timezone AS tz, toStartOfHour(toDateTime({column}, 'UTC')) AS utc_hour", ["tz", "utc_hour"]


def _naive(values: pd.Series) -> pd.Series:
    stamps = pd.to_datetime(values)
    return stamps.dt.tz_convert("UTC").dt.tz_localize(None) if stamps.dt.tz is not None else stamps


def local_hours(frame: pd.DataFrame) -> pd.Series:
    """Naive local wall-clock time of each ``(tz, utc_hour)`` row."""
    utc = pd.to_datetime(frame["utc_hour"])
    utc = utc.dt.tz_localize("UTC") if utc.dt.tz is None else utc.dt.tz_convert("UTC")
    out = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    for tz, rows in frame.groupby("tz", observed=True).groups.items():
        zone = tz or "UTC"
        out.loc[rows] = utc.loc[rows].dt.tz_convert(zone).dt.tz_localize(None).astype("datetime64[ns]")
    return out


def finish_buckets(frame: pd.DataFrame, flt: KpiFilter, grain: Grain, by: list[str]) -> pd.DataFrame:
    """Sum a :func:`bucket_sql` result into one row per (bucket, *by) on the filter's clock."""
    if frame.empty:  # no rows: clickhouse-connect's frame has no columns at all
        return pd.DataFrame(columns=["bucket", *by])
    if flt.clock == "utc":
        frame = frame.assign(bucket=_naive(frame["bucket"]))
    else:
        frame = frame.assign(bucket=local_hours(frame).dt.floor(_FLOOR[grain])).drop(columns=["tz", "utc_hour"])
    if frame.empty:
        return frame
    return frame.groupby(["bucket", *by], as_index=False, observed=True).sum().sort_values(["bucket", *by],
                                                                                           ignore_index=True)
