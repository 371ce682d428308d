"""kpis.drill_calls on real ClickHouse (chdb): a corrected CDR (a -1/+1 pair) comes out once, in its
latest state; totals and pages agree with the rows written; a page past the end still tells the total."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

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
