"""Call KPIs over ``cdr``: summary cards, funnel, contact heatmap, dispositions, abandons, penetration.

``cdr`` is a VersionedCollapsingMergeTree (sql/clickhouse/0001): every measure is a sign-weighted
sum (``sum(sign)``, ``sum(sign * x)``), exact before and after merges and cheaper than FINAL on
large ranges. A corrected CDR's -1 row is a copy of the old row, so grouping by any column
(disposition, zone, agent) moves the call from its old group to its new one.

Definitions (the same on every page):

* dials = call attempts; answers = outcome human, machine or abandoned;
* contacts (humans) = a person answered (``is_contact``: human or abandoned);
* connected = bridged to an agent; conversions = ``is_sale``;
* AHT = (talk + wrap) / connected calls;
* abandon rate = dropped / contacts -- the FTC ratio, 16 CFR 310.4(b)(4)(i): abandoned calls over
  calls answered by a person, per campaign, measured over a 30-day period.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta

import numpy as np
import pandas as pd
from clickhouse_connect.driver.client import Client

from analytics.filters import KpiFilter
from analytics.kpis._source import coarsest, daily_dispositions, hourly_or_raw
from analytics.kpis._time import Grain, bucket_sql, finish_buckets, local_hours

logger = logging.getLogger(__name__)

FTC_WINDOW_DAYS = 30


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else float("nan")


def _rates(num: pd.Series, den: pd.Series) -> pd.Series:
    """Element-wise num / den, NaN where den is 0."""
    return (num / den.replace(0, np.nan)).astype(float)


def _totals(client: Client, flt: KpiFilter) -> pd.Series:
    source = coarsest(flt)
    where, params = flt.where(source.table)
    return client.query_df(f"SELECT {source.measures()} FROM {source.table} WHERE {where}", parameters=params).iloc[0]


def summary(client: Client, flt: KpiFilter) -> pd.DataFrame:
    """One row: dials, contacts, contact_rate, conversions, conversion_rate, aht_s, abandon_rate, talk_hours."""
    row = _totals(client, flt)
    dials, contacts, sales = int(row["dials"]), int(row["contacts"]), int(row["sales"])
    return pd.DataFrame([{
        "dials": dials,
        "contacts": contacts,
        "contact_rate": _ratio(contacts, dials),
        "conversions": sales,
        "conversion_rate": _ratio(sales, contacts),
        "aht_s": _ratio(float(row["talk_total"]) + float(row["wrap_total"]), int(row["connected"])),
        "abandon_rate": _ratio(int(row["abandoned"]), contacts),
        "talk_hours": float(row["talk_total"]) / 3600.0,
    }])


def funnel(client: Client, flt: KpiFilter) -> pd.DataFrame:
    """Stages dials -> answers -> contacts -> connected -> sales with ``rate_of_previous`` and ``rate_of_dials``."""
    row = _totals(client, flt)
    stages = ["dials", "answers", "contacts", "connected", "sales"]
    counts = [int(row[s]) for s in stages]
    return pd.DataFrame({
        "stage": stages,
        "count": counts,
        "rate_of_previous": [1.0 if counts[0] else float("nan")]
        + [_ratio(counts[i], counts[i - 1]) for i in range(1, len(counts))],
        "rate_of_dials": [_ratio(c, counts[0]) for c in counts],
    })


def contact_heatmap(client: Client, flt: KpiFilter) -> pd.DataFrame:
    """Contact rate by the lead's LOCAL weekday (0 = Monday) x hour, whatever ``flt.clock`` says.

    Columns: weekday, hour, dials, contacts, contact_rate. Calling-hours rules and "when do people
    pick up" are about the lead's clock, so this page is always lead-local.
    """
    source = hourly_or_raw(flt)
    where, params = flt.where(source.table)
    frame = client.query_df(
        f"SELECT lead_timezone AS tz, toStartOfHour(toDateTime({source.time_column}, 'UTC')) AS utc_hour, "
        f"{source.dials} AS dials, {source.contacts} AS contacts FROM {source.table} WHERE {where} "
        "GROUP BY tz, utc_hour",
        parameters=params,
    )
    if frame.empty:
        return pd.DataFrame(columns=["weekday", "hour", "dials", "contacts", "contact_rate"])
    local = local_hours(frame)
    grouped = (frame.assign(weekday=local.dt.day_of_week, hour=local.dt.hour)
               .groupby(["weekday", "hour"], as_index=False)[["dials", "contacts"]].sum())
    grouped = grouped[grouped["dials"] != 0].reset_index(drop=True)
    grouped["contact_rate"] = _rates(grouped["contacts"], grouped["dials"])
    return grouped


def dispositions_over_time(client: Client, flt: KpiFilter, grain: Grain = "day") -> pd.DataFrame:
    """Columns: bucket (naive, on the filter's clock), disposition_code, calls."""
    if grain == "day" and flt.clock == "utc" and daily_dispositions(flt):
        where, params = flt.where("cdr_day_disposition")
        frame = client.query_df(
            "SELECT toDateTime(day, 'UTC') AS bucket, disposition_code, sum(dials) AS calls "
            f"FROM cdr_day_disposition WHERE {where} GROUP BY bucket, disposition_code",
            parameters=params,
        )
    else:
        select, keys = bucket_sql(flt, grain)
        where, params = flt.where("cdr")
        frame = client.query_df(
            f"SELECT {select}, disposition_code, sum(sign) AS calls FROM cdr WHERE {where} "
            f"GROUP BY {', '.join(keys)}, disposition_code",
            parameters=params,
        )
    out = finish_buckets(frame, flt, grain, ["disposition_code"])
    return out[out["calls"] != 0].reset_index(drop=True) if not out.empty else out


DEFAULT_ABANDON_TARGET = 0.03  # the FTC ceiling, for campaigns whose own target is unknown
ABANDON_COLUMNS = ["day", "campaign_id", "contacts", "abandoned", "rate", "rolling_30d", "target"]


def abandon_trend(client: Client, flt: KpiFilter, targets: Mapping[int, float] | None = None,
                  default_target: float = DEFAULT_ABANDON_TARGET) -> pd.DataFrame:
    """Per day and campaign: contacts, abandoned, rate, rolling_30d and that campaign's target.

    The FTC rule (16 CFR 310.4(b)(4)(i)) is per campaign over 30 days, so the rolling rate is too:
    abandons / live answers of the campaign over the trailing 30 days including the day. Summing
    campaigns would let a quiet campaign over its limit hide behind a busy compliant one.
    ``targets`` maps campaign id -> its ``target_abandon_rate`` (PostgreSQL campaign settings);
    campaigns missing from it get ``default_target``. Reads 30 extra days before ``flt.start`` so
    the first day's rolling value is complete. Days without calls are 0 contacts (rate NaN).
    """
    targets = dict(targets or {})
    for value in (default_target, *targets.values()):
        if not 0 <= value <= 1:
            raise ValueError("a target is a fraction in [0, 1]")
    # UTC days: cdr_day (a few thousand rows for the 60 days read); lead-local days shift hours.
    source = coarsest(flt) if flt.clock == "utc" else hourly_or_raw(flt)
    select, keys = bucket_sql(flt, "day", source.time_column)
    where, params = flt.where(source.table, start=flt.start - timedelta(days=FTC_WINDOW_DAYS))
    frame = client.query_df(
        f"SELECT {select}, campaign_id, {source.contacts} AS contacts, {source.abandoned} AS abandoned "
        f"FROM {source.table} WHERE {where} GROUP BY {', '.join(keys)}, campaign_id",
        parameters=params,
    )
    daily = finish_buckets(frame, flt, "day", ["campaign_id"])
    if daily.empty:
        return pd.DataFrame(columns=ABANDON_COLUMNS)
    first = pd.Timestamp(flt.start.replace(tzinfo=None)).floor("D")
    last = pd.Timestamp(flt.end.replace(tzinfo=None) - timedelta(microseconds=1)).floor("D")
    days = pd.date_range(min(daily["bucket"].min(), first), max(daily["bucket"].max(), last), freq="D")
    # One column per campaign, one row per day (0 where a campaign had no calls), all rolled at once.
    wide = (daily.set_index(["bucket", "campaign_id"])[["contacts", "abandoned"]]
            .unstack("campaign_id", fill_value=0).reindex(days, fill_value=0))
    rolling = wide.rolling(FTC_WINDOW_DAYS, min_periods=1).sum()
    shown = (days >= first) & (days <= last)
    campaigns = [int(c) for c in wide["contacts"].columns]

    def flat(frame: pd.DataFrame) -> pd.Series:  # row-major: by day, then campaign_id (ascending)
        return pd.Series(frame[shown].to_numpy().ravel())

    contacts, abandoned = flat(wide["contacts"]), flat(wide["abandoned"])
    return pd.DataFrame({
        "day": np.repeat(days[shown], len(campaigns)),
        "campaign_id": np.tile(np.array(campaigns, dtype=np.int64), int(shown.sum())),
        "contacts": contacts,
        "abandoned": abandoned,
        "rate": _rates(abandoned, contacts),
        "rolling_30d": _rates(flat(rolling["abandoned"]), flat(rolling["contacts"])),
        "target": np.tile([float(targets.get(c, default_target)) for c in campaigns], int(shown.sum())),
    })[ABANDON_COLUMNS]


def list_penetration(client: Client, flt: KpiFilter) -> pd.DataFrame:
    """Per list and attempt number: dials, share of the list's dials, contacts, contact_rate, sales."""
    if daily_dispositions(flt):
        table, dials, contacts, sales = ("cdr_day_disposition", "sum(cdr_day_disposition.dials)",
                                         "sum(cdr_day_disposition.contacts)", "sum(cdr_day_disposition.sales)")
    else:
        table, dials, contacts, sales = "cdr", "sum(sign)", "sum(sign * is_contact)", "sum(sign * is_sale)"
    where, params = flt.where(table)
    frame = client.query_df(
        f"SELECT list_id, attempt_no, {dials} AS dials, {contacts} AS contacts, {sales} AS sales "
        f"FROM {table} WHERE {where} GROUP BY list_id, attempt_no HAVING dials != 0 ORDER BY list_id, attempt_no",
        parameters=params,
    )
    if frame.empty:
        return pd.DataFrame(columns=["list_id", "attempt_no", "dials", "share_of_dials", "contacts", "contact_rate",
                                     "sales"])
    frame["share_of_dials"] = frame["dials"] / frame.groupby("list_id")["dials"].transform("sum")
    frame["contact_rate"] = _rates(frame["contacts"], frame["dials"])
    return frame[["list_id", "attempt_no", "dials", "share_of_dials", "contacts", "contact_rate", "sales"]]
