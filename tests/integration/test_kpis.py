"""KPI functions against generated calls in chdb, checked against pandas over the generator's frames.

The expected values are computed here, independently, from the DataFrames the generator
returned -- never by calling a KPI function. The stored data also holds what production sends:
a batch of redelivered CDRs (must not double-count), one corrected CDR (a newer version turning
a "not interested" into a sale) and duplicated/open-then-closed agent state intervals.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics import kpis
from analytics.cdr import insert_cdrs
from analytics.filters import KpiFilter
from analytics.generate import Dataset, GenSpec, _records, generate, insert_dataset
from analytics.kpis._source import coarsest
from core.exceptions import ValidationError

# Recent days: dial_decisions has a 90-day TTL (0003), older rows would be dropped on insert.
START = datetime.now(UTC).date() - timedelta(days=3)
SPEC = GenSpec(start=START, days=3, calls=6_000, campaigns=3, agents=24, teams=3, seed=5)
DAY = datetime.combine(START + timedelta(days=2), datetime.min.time(), UTC)  # the day under test
ALL = KpiFilter(datetime.combine(START, datetime.min.time(), UTC), DAY + timedelta(days=2))


@pytest.fixture(scope="module")
def loaded(ch_engine_path: Path) -> Iterator[tuple[object, Dataset]]:
    """One migrated database for the module, loaded as production would (see module docstring)."""
    import clickhouse_connect

    from analytics.schema import Migrator

    client = clickhouse_connect.get_client(interface="chdb", path=str(ch_engine_path))
    name = f"pyd_kpis_{uuid.uuid4().hex[:8]}"
    Migrator(client, name).up()
    client.database = name
    data = generate(SPEC)
    insert_dataset(client, data)
    # Redelivery: the same 200 CDRs again -> skipped, nothing counted twice.
    again = insert_cdrs(client, _records(data.cdr.sample(200, random_state=3)))
    assert (again.inserted, again.corrected, again.skipped) == (0, 0, 200)
    # Correction: a connected NI call becomes a SALE (version 2). Apply it to the expected frame too.
    cdr = data.cdr.copy()
    target = cdr.index[(cdr["disposition_code"] == "NI") & (cdr["dialed_at"] >= DAY)][0]
    cdr.loc[target, ["disposition_code", "is_sale", "version"]] = ["SALE", 1, 2]
    fixed = insert_cdrs(client, _records(cdr.loc[[target]]))
    assert fixed.corrected == 1
    # agent_states: 100 intervals delivered twice, and one written open (version 0) before closed.
    dup = data.agent_states.sample(100, random_state=4)
    client.insert("agent_states", [list(r.values()) for r in _records(dup)], column_names=list(dup.columns))
    closed = data.agent_states.iloc[[7]]
    open_row = closed.assign(ended_at=pd.NaT, duration_s=np.float32(0), version=np.uint64(0))
    client.insert("agent_states", [list(r.values()) for r in _records(open_row)], column_names=list(closed.columns))
    yield client, replace(data, cdr=cdr)
    client.command(f"DROP DATABASE IF EXISTS {name} SYNC")
    client.close()


def in_range(frame: pd.DataFrame, flt: KpiFilter, column: str = "dialed_at") -> pd.DataFrame:
    mask = (frame[column] >= pd.Timestamp(flt.start)) & (frame[column] < pd.Timestamp(flt.end))
    for field, col in (("campaign_ids", "campaign_id"), ("list_ids", "list_id"), ("team_ids", "team_id"),
                       ("agent_ids", "agent_id")):
        ids = getattr(flt, field)
        if ids and col in frame.columns:
            mask &= frame[col].isin(ids)
    return frame[mask]


FILTERS = [  # the first three are answered by the rollups (0006), the others by cdr itself
    ALL,
    KpiFilter(DAY, DAY + timedelta(days=1), campaign_ids=(2,)),
    KpiFilter(DAY, DAY + timedelta(hours=15), campaign_ids=(1, 3), list_ids=(101, 302, 303)),
    KpiFilter(DAY + timedelta(minutes=30), DAY + timedelta(hours=13, seconds=1), campaign_ids=(1,)),
    replace(ALL, team_ids=(1, 3)),
    replace(ALL, agent_ids=(101, 105, 106)),
]


def test_rollups_are_used_only_when_they_answer_exactly() -> None:
    assert [f.rollup_grain() for f in FILTERS] == ["day", "day", "hour", None, None, None]
    # cdr_day (0009) for whole days, cdr_hour for hours, cdr otherwise; lead-local days need hours.
    assert [coarsest(f).table for f in FILTERS] == ["cdr_day", "cdr_day", "cdr_hour", "cdr", "cdr", "cdr"]


EVERY_TEAM = (0, 1, 2, 3)  # a team filter matching every call: same calls, but read from cdr itself


@pytest.mark.parametrize("flt", FILTERS[:3])
def test_rollup_paths_equal_the_raw_path(loaded, flt: KpiFilter) -> None:  # type: ignore[no-untyped-def]
    """Same calls (the fixture's redeliveries and correction included) through cdr_day / cdr_hour and
    through cdr with sign arithmetic: identical counts, equal sums."""
    client, data = loaded
    assert set(data.cdr["team_id"]) <= set(EVERY_TEAM)
    raw = replace(flt, team_ids=EVERY_TEAM)
    pd.testing.assert_frame_equal(kpis.summary(client, flt), kpis.summary(client, raw), rtol=1e-6)
    pd.testing.assert_frame_equal(kpis.funnel(client, flt), kpis.funnel(client, raw))
    for clock in ("utc", "lead_local"):
        got = kpis.abandon_trend(client, replace(flt, clock=clock), targets={1: 0.01})
        pd.testing.assert_frame_equal(got, kpis.abandon_trend(client, replace(raw, clock=clock), targets={1: 0.01}))


@pytest.mark.parametrize("flt", FILTERS)
def test_summary_and_funnel(loaded, flt: KpiFilter) -> None:  # type: ignore[no-untyped-def]
    client, data = loaded
    cdr = in_range(data.cdr, flt)
    connected = cdr["connected_at"].notna()
    got = kpis.summary(client, flt).iloc[0]
    assert got["dials"] == len(cdr) and got["contacts"] == cdr["is_contact"].sum()
    assert got["conversions"] == cdr["is_sale"].sum()
    assert got["contact_rate"] == pytest.approx(cdr["is_contact"].mean())
    assert got["conversion_rate"] == pytest.approx(cdr["is_sale"].sum() / cdr["is_contact"].sum())
    handle = cdr.loc[connected, "talk_s"].astype(float).sum() + cdr.loc[connected, "wrap_s"].astype(float).sum()
    assert got["aht_s"] == pytest.approx(handle / connected.sum(), rel=1e-5)
    assert got["abandon_rate"] == pytest.approx(cdr["dropped"].sum() / cdr["is_contact"].sum())
    assert got["talk_hours"] == pytest.approx(cdr["talk_s"].astype(float).sum() / 3600, rel=1e-5)

    fun = kpis.funnel(client, flt).set_index("stage")
    answers = cdr["outcome"].isin(["human", "machine", "abandoned"]).sum()
    expected = [len(cdr), answers, cdr["is_contact"].sum(), connected.sum(), cdr["is_sale"].sum()]
    assert fun["count"].tolist() == expected
    assert fun.loc["sales", "rate_of_previous"] == pytest.approx(expected[4] / expected[3])
    assert fun.loc["contacts", "rate_of_dials"] == pytest.approx(expected[2] / expected[0])


@pytest.mark.parametrize("teams", [(), (1, 2, 3)])
def test_the_correction_moved_one_call_to_sales(loaded, teams: tuple[int, ...]) -> None:  # type: ignore[no-untyped-def]
    client, data = loaded
    flt = KpiFilter(DAY, DAY + timedelta(days=1), team_ids=teams)
    disp = kpis.dispositions_over_time(client, flt).groupby("disposition_code")["calls"].sum()
    cdr = in_range(data.cdr, flt)
    assert disp.to_dict() == cdr.groupby("disposition_code").size().to_dict()
    raw = client.query("SELECT count() FROM cdr WHERE disposition_code = 'SALE' AND sign = -1").result_rows  # type: ignore[attr-defined]
    assert raw == [(0,)]  # the -1 row carries the OLD disposition, so SALE only gains


@pytest.mark.parametrize("flt", [ALL, replace(ALL, start=ALL.start + timedelta(seconds=1))])
def test_contact_heatmap_is_in_lead_local_time(loaded, flt: KpiFilter) -> None:  # type: ignore[no-untyped-def]
    client, data = loaded
    cdr = in_range(data.cdr, flt)
    local = pd.concat([rows["dialed_at"].dt.tz_convert(tz).dt.tz_localize(None)
                       for tz, rows in cdr.groupby("lead_timezone")]).loc[cdr.index]
    expected = (cdr.assign(weekday=local.dt.day_of_week, hour=local.dt.hour)
                .groupby(["weekday", "hour"]).agg(dials=("call_id", "size"), contacts=("is_contact", "sum")))
    got = kpis.contact_heatmap(client, flt).set_index(["weekday", "hour"])
    assert got.index.get_level_values("hour").min() >= 8 and got.index.get_level_values("hour").max() <= 20
    assert got["dials"].to_dict() == expected["dials"].to_dict()
    assert got["contacts"].to_dict() == expected["contacts"].to_dict()
    assert got["contact_rate"].to_dict() == pytest.approx((expected["contacts"] / expected["dials"]).to_dict())


@pytest.mark.parametrize("clock", ["utc", "lead_local"])
def test_dispositions_over_time_by_hour(loaded, clock: str) -> None:  # type: ignore[no-untyped-def]
    client, data = loaded
    flt = replace(ALL, clock=clock)
    cdr = data.cdr
    if clock == "utc":
        bucket = cdr["dialed_at"].dt.tz_convert("UTC").dt.tz_localize(None).dt.floor("h")
    else:
        bucket = pd.concat([rows["dialed_at"].dt.tz_convert(tz).dt.tz_localize(None).dt.floor("h")
                            for tz, rows in cdr.groupby("lead_timezone")]).loc[cdr.index]
    expected = cdr.assign(bucket=bucket).groupby(["bucket", "disposition_code"]).size()
    got = kpis.dispositions_over_time(client, flt, "hour").set_index(["bucket", "disposition_code"])["calls"]
    assert got.to_dict() == expected.to_dict()


@pytest.mark.parametrize("teams", [(), (2, 3)])
def test_abandon_trend_rolls_per_campaign_against_its_own_target(loaded, teams: tuple[int, ...]) -> None:  # type: ignore[no-untyped-def]
    client, data = loaded
    flt = KpiFilter(DAY, DAY + timedelta(days=1), campaign_ids=(1, 2), team_ids=teams)
    got = kpis.abandon_trend(client, flt, targets={1: 0.01, 2: 0.025})
    today = in_range(data.cdr, flt)
    upto = in_range(data.cdr, replace(flt, start=ALL.start))  # all 3 days are within 30
    seen = sorted(int(c) for c in upto["campaign_id"].unique())
    assert got["day"].tolist() == [pd.Timestamp(DAY.date())] * len(seen) and got["campaign_id"].tolist() == seen
    for campaign_id, target in [(c, {1: 0.01, 2: 0.025}[c]) for c in seen]:
        row = got[got["campaign_id"] == campaign_id].iloc[0]
        mine, window = today[today["campaign_id"] == campaign_id], upto[upto["campaign_id"] == campaign_id]
        assert (row["contacts"], row["abandoned"]) == (mine["is_contact"].sum(), mine["dropped"].sum())
        assert row["rolling_30d"] == pytest.approx(window["dropped"].sum() / window["is_contact"].sum())
        assert row["target"] == target
    if len(seen) > 1:  # not the pooled ratio: the campaigns' rolling rates differ from the selection's
        pooled = upto["dropped"].sum() / upto["is_contact"].sum()
        assert not all(r == pytest.approx(pooled) for r in got["rolling_30d"])


def test_abandon_trend_unknown_campaign_gets_the_default_target(loaded) -> None:  # type: ignore[no-untyped-def]
    client, _data = loaded
    got = kpis.abandon_trend(client, KpiFilter(DAY, DAY + timedelta(days=1), campaign_ids=(3,)), targets={1: 0.01})
    assert got["target"].tolist() == [kpis.DEFAULT_ABANDON_TARGET]
    with pytest.raises(ValueError, match="fraction"):
        kpis.abandon_trend(client, KpiFilter(DAY, DAY + timedelta(days=1)), targets={1: 3.0})


def test_abandon_trend_one_campaign_over_target_is_not_hidden_by_another(ch_client) -> None:  # type: ignore[no-untyped-def]
    """Known data: campaign 7 abandons 2 of 40 (5%, target 1%), campaign 8 abandons 0 of 400. Pooled
    that is 0.45% -- under every target; per campaign, 7 is over its limit."""
    day = datetime.combine(date.today(), datetime.min.time(), UTC) - timedelta(days=1)

    def call(campaign: int, minute: int, outcome: str) -> dict[str, object]:
        at = day + timedelta(hours=10, minutes=minute)
        return {"call_id": str(uuid.uuid4()), "campaign_id": campaign, "dialed_at": at, "outcome": outcome,
                "answered_at": at + timedelta(seconds=5), "ended_at": at + timedelta(seconds=9), "version": 1}

    rows = ([call(7, m, "abandoned" if m < 2 else "human") for m in range(40)]
            + [call(8, m % 600, "human") for m in range(400)])
    insert_cdrs(ch_client, rows)
    got = kpis.abandon_trend(ch_client, KpiFilter(day, day + timedelta(days=1)), targets={7: 0.01, 8: 0.02})
    by = got.set_index("campaign_id")
    assert by.loc[7, "rolling_30d"] == pytest.approx(2 / 40) and by.loc[7, "target"] == 0.01
    assert by.loc[8, "rolling_30d"] == 0.0 and by.loc[8, "target"] == 0.02
    assert (by["rolling_30d"] > by["target"]).tolist() == [True, False]


def test_a_filter_matching_no_calls_gives_empty_frames(loaded) -> None:  # type: ignore[no-untyped-def]
    client, data = loaded
    nobody = replace(ALL, agent_ids=(999_999,))
    assert kpis.dispositions_over_time(client, nobody).empty
    assert kpis.abandon_trend(client, nobody).empty
    assert kpis.contact_heatmap(client, nobody).empty
    assert kpis.summary(client, nobody).iloc[0]["dials"] == 0


def test_abandon_trend_window_is_exactly_30_days(ch_client) -> None:  # type: ignore[no-untyped-def]
    day = datetime.combine(date.today(), datetime.min.time(), UTC) - timedelta(days=1)

    def call(at: datetime, outcome: str) -> dict[str, object]:
        return {"call_id": str(uuid.uuid4()), "campaign_id": 1, "dialed_at": at, "outcome": outcome,
                "answered_at": at + timedelta(seconds=5), "ended_at": at + timedelta(seconds=9), "version": 1}

    insert_cdrs(ch_client, [call(day - timedelta(days=30, hours=-12), "abandoned"),  # 31st day back: out
                            call(day - timedelta(days=29, hours=-12), "abandoned"),  # 30th day back: in
                            *[call(day + timedelta(hours=h), "human") for h in range(10, 18)]])
    got = kpis.abandon_trend(ch_client, KpiFilter(day, day + timedelta(days=1))).iloc[0]
    assert got["campaign_id"] == 1 and got["target"] == kpis.DEFAULT_ABANDON_TARGET
    assert (got["contacts"], got["abandoned"], got["rate"]) == (8, 0, 0.0)
    assert got["rolling_30d"] == pytest.approx(1 / 9)


@pytest.mark.parametrize("hours", [0, 5])
def test_list_penetration(loaded, hours: int) -> None:  # type: ignore[no-untyped-def]
    client, data = loaded
    flt = replace(ALL, campaign_ids=(1,), start=ALL.start + timedelta(hours=hours))
    cdr = in_range(data.cdr, flt)
    expected = cdr.groupby(["list_id", "attempt_no"]).agg(dials=("call_id", "size"), contacts=("is_contact", "sum"))
    got = kpis.list_penetration(client, flt).set_index(["list_id", "attempt_no"])
    assert got[["dials", "contacts"]].astype(int).to_dict() == expected.astype(int).to_dict()
    assert got.groupby("list_id")["share_of_dials"].sum().tolist() == pytest.approx([1.0] * 3)


@pytest.mark.parametrize("flt", [replace(ALL, team_ids=(2,)),  # cdr_agent_day (0008)
                                 replace(ALL, team_ids=(2,), end=DAY + timedelta(hours=20)),  # cdr
                                 replace(ALL, list_ids=(201, 202, 203, 204))])  # cdr (list filter)
def test_agent_leaderboard(loaded, flt: KpiFilter) -> None:  # type: ignore[no-untyped-def]
    client, data = loaded
    states = in_range(data.agent_states, flt, "started_at")
    by_state = states.pivot_table(index="agent_id", columns="state", values="duration_s", aggfunc="sum", fill_value=0)
    cdr = in_range(data.cdr, flt)
    calls = cdr[cdr["connected_at"].notna()].groupby("agent_id")
    got = kpis.agent_leaderboard(client, flt).set_index("agent_id")
    assert set(got.index) == set(by_state.index) | set(calls.groups)
    if flt.team_ids:
        assert (got["team_id"] == 2).all()
    for agent in got.index:
        row = got.loc[agent]
        if agent not in calls.groups:
            assert row["calls"] == 0
            continue
        assert row["talk_s"] == pytest.approx(by_state.loc[agent, "incall"], rel=1e-5)
        assert row["wait_s"] == pytest.approx(by_state.loc[agent, "ready"], rel=1e-5)
        assert row["pause_s"] == pytest.approx(by_state.loc[agent, "paused"], rel=1e-5)
        group = calls.get_group(agent)
        assert row["calls"] == len(group) and row["conversions"] == group["is_sale"].sum()
        handle = group["talk_s"].astype(float).sum() + group["wrap_s"].astype(float).sum()
        assert row["aht_s"] == pytest.approx(handle / len(group), rel=1e-5)
        logged_h = by_state.loc[agent].sum() / 3600
        assert row["conversions_per_hour"] == pytest.approx(group["is_sale"].sum() / logged_h, rel=1e-5)
    assert got["conversions"].is_monotonic_decreasing


def test_agent_calls_paged_and_call_detail(loaded) -> None:  # type: ignore[no-untyped-def]
    client, data = loaded
    agent = 104
    mine = data.cdr[data.cdr["agent_id"] == agent].sort_values("dialed_at", ascending=False)
    first = kpis.agent_calls(client, ALL, agent, page=0, page_size=7)
    second = kpis.agent_calls(client, ALL, agent, page=1, page_size=7)
    assert first.total == second.total == len(mine)
    assert first.rows["call_id"].astype(str).tolist() == mine["call_id"].iloc[:7].tolist()
    assert second.rows["call_id"].astype(str).tolist() == mine["call_id"].iloc[7:14].tolist()
    past = kpis.agent_calls(client, ALL, agent, page=1000, page_size=7)
    assert past.rows.empty and past.total == len(mine)

    transcribed = data.utterances["call_id"].iloc[0]
    detail = kpis.call_detail(client, transcribed)
    assert detail is not None and str(detail.cdr["call_id"]) == transcribed
    utt = data.utterances[data.utterances["call_id"] == transcribed]
    assert detail.utterances["text"].tolist() == utt.sort_values("seq")["text"].tolist()
    hinted = kpis.call_detail(client, transcribed, campaign_id=int(detail.cdr["campaign_id"]),
                              dialed_at=detail.cdr["dialed_at"])
    assert hinted is not None and hinted.cdr == detail.cdr
    assert kpis.call_detail(client, transcribed, campaign_id=int(detail.cdr["campaign_id"]) + 1,
                            dialed_at=detail.cdr["dialed_at"]) is None
    assert kpis.call_detail(client, uuid.uuid4()) is None
    with pytest.raises(ValidationError) as bad_id:
        kpis.call_detail(client, "nope")
    assert "not a UUID" in bad_id.value.details["call_id"]
    with pytest.raises(ValidationError) as bad_page:
        kpis.agent_calls(client, ALL, agent, page_size=0)
    assert "page" in bad_page.value.details


def test_pacing_explainer(loaded) -> None:  # type: ignore[no-untyped-def]
    client, data = loaded
    flt = KpiFilter(DAY, DAY + timedelta(hours=6), campaign_ids=(3,))
    dd = in_range(data.dial_decisions, flt, "at")
    minute = dd["at"].dt.tz_convert("UTC").dt.tz_localize(None).dt.floor("min")
    expected = dd.assign(minute=minute).groupby("minute").agg(level=("dial_level", "mean"),
                                                             idle=("agents_idle", "mean"),
                                                             placed=("calls_placed", "sum"))
    got = kpis.pacing_explainer(client, flt)
    got["minute"] = pd.to_datetime(got["minute"]).dt.tz_localize(None) if got["minute"].dt.tz is None else \
        got["minute"].dt.tz_convert("UTC").dt.tz_localize(None)
    got = got.set_index("minute")
    assert got.index.tolist() == expected.index.tolist()
    assert got["avg_dial_level"].tolist() == pytest.approx(expected["level"].tolist(), rel=1e-5)
    assert got["avg_agents_idle"].tolist() == pytest.approx(expected["idle"].tolist())
    assert got["calls_placed"].tolist() == expected["placed"].tolist()
    # dials per minute come from the CDR rollup; equal to what the decisions placed
    assert got["dials"].tolist() == expected["placed"].tolist()
    cdr = in_range(data.cdr, flt)
    assert got["abandoned"].sum() == cdr["dropped"].sum()


def test_sentiment_over_time(loaded) -> None:  # type: ignore[no-untyped-def]
    client, data = loaded
    flt = replace(ALL, agent_ids=(101, 102, 103, 110))
    utt = in_range(data.utterances, flt, "at")
    day = utt["at"].dt.tz_convert("UTC").dt.tz_localize(None).dt.floor("D")
    expected = utt.assign(bucket=day).groupby(["bucket", "speaker"])["sentiment"].agg(["mean", "size"])
    got = kpis.sentiment_over_time(client, flt, "day")
    got["bucket"] = pd.to_datetime(got["bucket"]).dt.tz_localize(None)
    got = got.set_index(["bucket", "speaker"])
    assert got["utterances"].to_dict() == expected["size"].to_dict()
    assert got["avg_sentiment"].tolist() == pytest.approx(expected["mean"].tolist(), abs=1e-5)


def test_kpis_over_http_match_chdb(ch_http_client) -> None:  # type: ignore[no-untyped-def]
    data = generate(replace(SPEC, days=1, calls=800))
    insert_dataset(ch_http_client, data)
    flt = KpiFilter(datetime.combine(START, datetime.min.time(), UTC), DAY + timedelta(days=2))
    got = kpis.summary(ch_http_client, flt).iloc[0]
    assert got["dials"] == 800 and got["contacts"] == data.cdr["is_contact"].sum()
    heat = kpis.contact_heatmap(ch_http_client, flt)
    assert heat["dials"].sum() == 800
