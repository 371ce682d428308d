"""kpis.drill_calls on real ClickHouse (chdb): a corrected CDR (a -1/+1 pair) comes out once, in its
latest state; totals and pages agree with the rows written; a page past the end still tells the total."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from analytics import kpis
from analytics.cdr import insert_cdrs
from analytics.filters import KpiFilter

DAY = datetime.combine(date.today(), datetime.min.time(), UTC) - timedelta(days=2)


def _call(minute: int, disposition: str, version: int, call_id: str | None = None) -> dict[str, object]:
    at = DAY + timedelta(hours=14, minutes=minute)
    return {"call_id": call_id or str(uuid.uuid4()), "campaign_id": 3, "list_id": 5, "dialed_at": at,
            "outcome": "human", "answered_at": at + timedelta(seconds=4), "connected_at": at + timedelta(seconds=5),
            "ended_at": at + timedelta(seconds=65), "disposition_code": disposition, "version": version,
            "lead_timezone": "America/New_York"}


def test_drill_pages_show_each_call_once_in_its_latest_state(ch_client) -> None:  # type: ignore[no-untyped-def]
    calls = [_call(m, "NI", 1) for m in range(7)]
    insert_cdrs(ch_client, calls)
    corrected = dict(calls[3], disposition_code="SALE", is_sale=True, version=2)
    assert insert_cdrs(ch_client, [corrected]).corrected == 1  # the stored -1 copy plus the new +1 row
    flt = KpiFilter(DAY, DAY + timedelta(days=1), campaign_ids=(3,))

    pages = [kpis.drill_calls(ch_client, flt, kpis.CallDrill(list_id=5), page=p, page_size=3) for p in range(3)]
    assert [p.total for p in pages] == [7, 7, 7]
    ids = [str(c) for p in pages for c in p.rows["call_id"]]
    assert ids == [str(c["call_id"]) for c in reversed(calls)]  # newest first, each once
    rows = {str(r.call_id): r for p in pages for r in p.rows.itertuples()}
    assert rows[str(calls[3]["call_id"])].disposition_code == "SALE"
    assert [r.disposition_code for k, r in rows.items() if k != str(calls[3]["call_id"])] == ["NI"] * 6

    past_the_end = kpis.drill_calls(ch_client, flt, kpis.CallDrill(list_id=5), page=5, page_size=3)
    assert past_the_end.rows.empty and past_the_end.total == 7
    sales = kpis.drill_calls(ch_client, flt, kpis.CallDrill(disposition="SALE"))
    assert sales.total == 1 and list(sales.rows["disposition_code"]) == ["SALE"]


def test_heatmap_cell_drill_finds_the_calls_of_that_local_hour(ch_client) -> None:  # type: ignore[no-untyped-def]
    calls = [_call(m, "NI", 1) for m in range(0, 120, 10)]  # 14:00-15:50 UTC = 09:00-10:50 or 10:00-11:50 local
    insert_cdrs(ch_client, calls)
    flt = KpiFilter(DAY, DAY + timedelta(days=1), campaign_ids=(3,))
    local = [c["dialed_at"].astimezone(ZoneInfo("America/New_York")) for c in calls]
    for hour in sorted({t.hour for t in local}):
        want = [str(c["call_id"]) for c, t in zip(calls, local, strict=True) if t.hour == hour]
        got = kpis.drill_calls(ch_client, flt, kpis.CallDrill(weekday=local[0].weekday(), hour=hour))
        assert got.total == len(want) and sorted(map(str, got.rows["call_id"])) == sorted(want)


def _last_dst_change(zone: str) -> datetime:
    """Midnight UTC of the most recent day (before yesterday) on which ``zone``'s UTC offset changed."""
    tz = ZoneInfo(zone)
    day = datetime.combine(date.today(), datetime.min.time(), UTC) - timedelta(days=2)
    while (day - timedelta(days=1)).astimezone(tz).utcoffset() == day.astimezone(tz).utcoffset():
        day -= timedelta(days=1)
    return day


def _cell(at: datetime, zone: str) -> tuple[int, int]:
    """Lead-local (weekday, hour) the way the heatmap buckets: the local time of the start of the UTC
    hour (so a +05:30 zone's 10:40 UTC call is in 15:00 local, not 16:00)."""
    local = at.replace(minute=0, second=0, microsecond=0).astimezone(ZoneInfo(zone)) if zone else at
    return local.weekday(), local.hour


def test_heatmap_cell_drills_are_exact_with_redeliveries_and_corrections(ch_client) -> None:  # type: ignore[no-untyped-def]
    """Known calls in four zones (one +05:30, one without a zone) over the last US DST change, redelivered
    and corrected (a disposition change stays in its cell, a zone change moves the call to another):
    every cell's drill (read from cdr_by_zone, 0010) lists exactly the calls pandas puts there, newest
    first, and agrees with the heatmap's count for that cell (read from cdr_hour)."""
    zones = ["America/New_York", "America/Los_Angeles", "Asia/Kolkata", ""]
    first = _last_dst_change("America/New_York") - timedelta(days=4)
    calls = []
    for n in range(8 * 24 * 3):  # every 20 minutes for 8 days, zones and campaigns in turn
        at = first + timedelta(minutes=20 * n, seconds=n % 7, milliseconds=n % 1000)
        calls.append({"call_id": str(uuid.uuid4()), "campaign_id": 1 + n % 2, "list_id": 10 + n % 3,
                      "agent_id": 100 + n % 5, "team_id": 1 + n % 2, "dialed_at": at, "outcome": "human",
                      "answered_at": at + timedelta(seconds=3), "connected_at": at + timedelta(seconds=4),
                      "ended_at": at + timedelta(seconds=50), "disposition_code": "NI", "version": 1,
                      "lead_timezone": zones[(n // 2) % 4]})
    insert_cdrs(ch_client, calls)
    assert insert_cdrs(ch_client, calls[::9]).skipped == len(calls[::9])  # redelivered: nothing written
    final = {c["call_id"]: c for c in calls}
    corrections = [dict(c, disposition_code="SALE", is_sale=True, version=2) for c in calls[5::37]]
    corrections += [dict(c, lead_timezone="America/Los_Angeles", version=3) for c in calls[2::41]
                    if c["lead_timezone"] != "America/Los_Angeles"]
    for fix in corrections:  # one at a time: a call may be corrected twice (zone after disposition)
        fix = dict(final[fix["call_id"]], **{k: v for k, v in fix.items() if k in ("disposition_code", "is_sale",
                                                                                   "lead_timezone", "version")})
        assert insert_cdrs(ch_client, [fix]).corrected == 1
        final[fix["call_id"]] = fix
    assert insert_cdrs(ch_client, corrections[:3]).skipped == 3  # stale versions: skipped

    frame = pd.DataFrame(list(final.values()))
    frame["cell"] = [_cell(at, zone) for at, zone in zip(frame["dialed_at"], frame["lead_timezone"], strict=True)]
    assert any(_cell(c["dialed_at"], c["lead_timezone"]) != _cell(final[c["call_id"]]["dialed_at"],
                                                                   final[c["call_id"]]["lead_timezone"])
               for c in calls)  # some corrections did move calls between cells
    whole = KpiFilter(first, first + timedelta(days=9))
    cases = [whole, KpiFilter(first + timedelta(days=2, minutes=30), first + timedelta(days=6, hours=5),
                              campaign_ids=(2,)), replace_team(whole, (1,))]
    for flt in cases:
        mine = frame[(frame["dialed_at"] >= flt.start) & (frame["dialed_at"] < flt.end)]
        if flt.campaign_ids:
            mine = mine[mine["campaign_id"].isin(flt.campaign_ids)]
        if flt.team_ids:
            mine = mine[mine["team_id"].isin(flt.team_ids)]
        heat = kpis.contact_heatmap(ch_client, flt).set_index(["weekday", "hour"])["dials"]
        for (weekday, hour), want in mine.groupby("cell"):
            want = want.sort_values(["dialed_at", "call_id"], ascending=[False, True])
            got = kpis.drill_calls(ch_client, flt, kpis.CallDrill(weekday=weekday, hour=hour), page_size=500)
            assert got.total == len(want), (flt, weekday, hour)
            assert [str(c) for c in got.rows["call_id"]] == want["call_id"].tolist()
            assert got.rows["lead_timezone"].tolist() == want["lead_timezone"].tolist()
            assert got.rows["disposition_code"].tolist() == want["disposition_code"].tolist()
            assert heat.loc[(weekday, hour)] == len(want)  # whole days: from cdr_hour; else from cdr
            sales = kpis.drill_calls(ch_client, flt, kpis.CallDrill(weekday=weekday, hour=hour, disposition="SALE"))
            assert sales.total == int((want["disposition_code"] == "SALE").sum())
        empty = next((w, h) for w in range(7) for h in range(24) if (w, h) not in set(mine["cell"]))
        nothing = kpis.drill_calls(ch_client, flt, kpis.CallDrill(weekday=empty[0], hour=empty[1]))
        assert nothing.total == 0 and nothing.rows.empty


def replace_team(flt: KpiFilter, teams: tuple[int, ...]) -> KpiFilter:
    return KpiFilter(flt.start, flt.end, campaign_ids=flt.campaign_ids, team_ids=teams)
