"""KpiFilter validation and WHERE rendering; lead-local time buckets (pure, no ClickHouse)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pytest

from analytics.filters import KpiFilter
from analytics.kpis._time import bucket_sql, finish_buckets, local_hours
from core.exceptions import ValidationError

T0 = datetime(2026, 3, 7, tzinfo=UTC)


def test_naive_datetimes_are_utc_and_aware_ones_are_converted() -> None:
    flt = KpiFilter(datetime(2026, 3, 7), datetime(2026, 3, 8, 1, tzinfo=timezone(timedelta(hours=1))))
    assert flt.start == T0
    assert flt.end == datetime(2026, 3, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"end": T0}, "end"),
        ({"end": T0 - timedelta(days=1)}, "end"),
        ({"campaign_ids": (1, -2)}, "campaign_ids"),
        ({"agent_ids": (True,)}, "agent_ids"),
        ({"list_ids": ("7",)}, "list_ids"),
        ({"team_ids": (2**32,)}, "team_ids"),
        ({"clock": "local"}, "clock"),
    ],
)
def test_bad_filters_are_refused_with_the_field_named(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"start": T0, "end": T0 + timedelta(days=1)} | kwargs
    with pytest.raises(ValidationError) as info:
        KpiFilter(**args)  # type: ignore[arg-type]
    assert field in info.value.details


def test_start_must_be_a_datetime() -> None:
    with pytest.raises(ValidationError) as info:
        KpiFilter("2026-03-07", T0)  # type: ignore[arg-type]
    assert "start" in info.value.details


def test_where_uses_parameters_and_only_the_table_dimensions() -> None:
    flt = KpiFilter(T0, T0 + timedelta(days=1), campaign_ids=(3, 1, 3), list_ids=(9,), team_ids=(2,), agent_ids=(7,))
    assert flt.campaign_ids == (1, 3)
    sql, params = flt.where("cdr")
    assert "campaign_id IN {f_campaign_ids:Array(UInt32)}" in sql and "list_id IN" in sql and "team_id IN" in sql
    assert params["f_campaign_ids"] == [1, 3] and params["f_start"] == T0
    sql, params = flt.where("dial_decisions")
    assert "list_id" not in sql and "team_id" not in sql and "agent_id" not in sql and "at >=" in sql
    sql, _ = flt.where("agent_states", prefix="s.")
    assert "s.started_at >=" in sql and "s.team_id IN" in sql and "list_id" not in sql
    with pytest.raises(ValueError):
        flt.where("leads")


def test_where_with_an_earlier_start_for_trailing_windows() -> None:
    flt = KpiFilter(T0, T0 + timedelta(days=1))
    _, params = flt.where("cdr", start=T0 - timedelta(days=30))
    assert params["f_start"] == T0 - timedelta(days=30)


def test_local_hours_follow_each_zone_and_its_dst_change() -> None:
    # 2026-03-08: US DST starts at 02:00 local. 12:00 UTC is 07:00 EST before... and 08:00 EDT after.
    frame = pd.DataFrame({
        "tz": ["America/New_York", "America/New_York", "America/Phoenix", "Pacific/Honolulu", ""],
        "utc_hour": pd.to_datetime(["2026-03-07 12:00", "2026-03-09 12:00", "2026-03-09 12:00", "2026-03-09 12:00",
                                    "2026-03-09 12:00"]),
    })
    assert [str(t) for t in local_hours(frame)] == [
        "2026-03-07 07:00:00", "2026-03-09 08:00:00", "2026-03-09 05:00:00", "2026-03-09 02:00:00",
        "2026-03-09 12:00:00",
    ]


def test_finish_buckets_sums_zones_into_local_days() -> None:
    flt = KpiFilter(T0, T0 + timedelta(days=2), clock="lead_local")
    select, keys = bucket_sql(flt, "day")
    assert keys == ["tz", "utc_hour"] and "lead_timezone" in select
    frame = pd.DataFrame({
        "tz": ["America/Los_Angeles", "America/New_York"],
        # 03:00 UTC on the 8th is still the 7th in Los Angeles (19:00 PST); 04:00 UTC is 23:00 EST on the 7th.
        "utc_hour": pd.to_datetime(["2026-03-08 03:00", "2026-03-08 04:00"]),
        "calls": [2, 5],
    })
    out = finish_buckets(frame, flt, "day", [])
    assert out.to_dict("list") == {"bucket": [pd.Timestamp("2026-03-07")], "calls": [7]}
    utc = KpiFilter(T0, T0 + timedelta(days=2))
    assert bucket_sql(utc, "hour") == ("toStartOfHour(toDateTime(dialed_at, 'UTC')) AS bucket", ["bucket"])
    with pytest.raises(ValueError):
        bucket_sql(utc, "week")  # type: ignore[arg-type]
