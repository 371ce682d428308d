"""/analytics callbacks through Flask's test client, on generated data in chdb.

Expected numbers come from the generator's DataFrames (pandas), never from the KPI functions.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.integration import test_analytics_page_helpers as helpers
from tests.integration.test_analytics_page_helpers import FIRST, LAST, call, out, signed_in, state

loaded_ch = helpers.loaded_ch  # shared fixtures, registered in this module
page_app = helpers.page_app


@pytest.fixture()
def cdr(loaded_ch) -> pd.DataFrame:
    return loaded_ch[1].cdr


def test_summary_cards_for_one_campaign(page_app, cdr):
    client = signed_in(page_app, "manager")
    cards = out(call(client, page_app, "analytics-cards.children", {"analytics-filter.data": state([2])}),
                "analytics-cards", "children")
    texts = [c["props"]["children"]["props"]["children"] for c in cards]
    labels = {t[0]["props"]["children"]: t[1]["props"]["children"] for t in texts}
    mine = cdr[cdr["campaign_id"] == 2]
    assert labels["Dials"] == f"{len(mine):,}"
    assert labels["Contacts"] == f"{int(mine['is_contact'].sum()):,}"
    assert labels["Conversions"] == f"{int(mine['is_sale'].sum()):,}"
    assert labels["Contact rate"] == f"{mine['is_contact'].mean():.1%}"


def test_funnel_and_heatmap_figures_match_the_data(page_app, cdr):
    client = signed_in(page_app, "manager")
    fig = out(call(client, page_app, "analytics-funnel.figure", {"analytics-filter.data": state([1, 3])}),
              "analytics-funnel", "figure")
    mine = cdr[cdr["campaign_id"].isin([1, 3])]
    expected = [len(mine), int(mine["outcome"].isin(["human", "machine", "abandoned"]).sum()),
                int(mine["is_contact"].sum()), int(mine["connected_at"].notna().sum()), int(mine["is_sale"].sum())]
    assert fig["data"][0]["x"] == expected
    heat = out(call(client, page_app, "analytics-heatmap.figure", {"analytics-filter.data": state([1, 3])}),
               "analytics-heatmap", "figure")
    assert sum(sum(row) for row in heat["data"][0]["customdata"]) == len(mine)  # every dial in one cell


def _values(array):
    """A plotly JSON array: a list, or plotly 6's typed form {"dtype", "bdata" (base64)}."""
    import base64

    import numpy as np

    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def test_every_chart_renders_for_the_whole_range(page_app, cdr, loaded_ch):
    import sqlalchemy as sa

    # Campaign settings in PostgreSQL: the abandon chart draws each campaign against ITS target.
    with page_app.extensions["pydialer"].engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO campaigns (id, name, target_abandon_rate) VALUES "
                             "(1, 'Solar', 0.01), (2, 'Roofing', 0.02)"))
    client = signed_in(page_app, "admin")
    figs = {name: out(call(client, page_app, f"analytics-{name}.figure", {"analytics-filter.data": state()}),
                      f"analytics-{name}", "figure")
            for name in ("dispositions", "abandon", "penetration", "pacing", "sentiment")}
    disp = figs["dispositions"]["data"]
    assert {t["name"] for t in disp} == set(cdr["disposition_code"])
    pen = figs["penetration"]["data"]
    assert {t["name"] for t in pen} == {f"list {i}" for i in cdr["list_id"].unique()}
    abandon = figs["abandon"]["data"]
    names = [t["name"] for t in abandon]
    assert names[0] == "daily (selection)" and len(abandon[0]["x"]) == 4  # four UTC days
    assert sorted(names[1:]) == sorted(["Solar 30-day", "Solar target 1.0%", "Roofing 30-day",
                                        "Roofing target 2.0%", "campaign 3 30-day", "campaign 3 target 3.0%"])
    lines = {t["name"]: _values(t["y"]) for t in abandon}
    assert set(lines["Solar target 1.0%"]) == {0.01}
    # Each rolling line is that campaign's own FTC ratio (all 4 days are inside one 30-day window).
    for label, campaign_id in (("Solar", 1), ("Roofing", 2), ("campaign 3", 3)):
        mine = cdr[cdr["campaign_id"] == campaign_id]
        assert lines[f"{label} 30-day"][-1] == pytest.approx(mine["dropped"].sum() / mine["is_contact"].sum())
    assert [t["name"] for t in figs["pacing"]["data"]] == ["dial level", "idle agents", "abandons"]
    assert {t["name"] for t in figs["sentiment"]["data"]} == set(loaded_ch[1].utterances["speaker"])


def test_sentiment_says_no_utterances_yet_on_an_empty_range(page_app):
    client = signed_in(page_app, "manager")
    fig = out(call(client, page_app, "analytics-sentiment.figure",
                   {"analytics-filter.data": state(start="2020-01-01", end="2020-01-02")}),
              "analytics-sentiment", "figure")
    assert fig["layout"]["annotations"][0]["text"] == "No utterances yet"


def test_leaderboard_then_agent_calls_then_call_detail(page_app, cdr, loaded_ch):
    client = signed_in(page_app, "manager")
    rows = out(call(client, page_app, "analytics-leaderboard.rowData", {"analytics-filter.data": state()}),
               "analytics-leaderboard", "rowData")
    agents = cdr[cdr["agent_id"] != 0]
    expected_calls = agents[agents["connected_at"].notna()].groupby("agent_id").size()
    expected_sales = agents.groupby("agent_id")["is_sale"].sum()
    assert {r["agent_id"]: r["calls"] for r in rows if r["calls"]} == {int(k): int(v) for k, v in expected_calls.items()}
    assert {r["agent_id"]: r["conversions"] for r in rows} == {int(k): int(v) for k, v in expected_sales.items()}
    assert [r["conversions"] for r in rows] == sorted((r["conversions"] for r in rows), reverse=True)

    busiest = int(agents.groupby("agent_id").size().idxmax())
    agent = out(call(client, page_app, "analytics-agent-sel.data",
                     {"analytics-leaderboard.cellClicked": {"rowId": str(busiest), "colId": "calls"}},
                     changed="analytics-leaderboard.cellClicked"),
                "analytics-agent-sel", "data")
    assert agent == {"agent_id": str(busiest)}
    total = int((agents["agent_id"] == busiest).sum())
    first = call(client, page_app, "analytics-calls.rowData",
                 {"analytics-agent-sel.data": busiest, "analytics-filter.data": state()}, changed="analytics-agent-sel.data")
    page_rows = out(first, "analytics-calls", "rowData")
    assert len(page_rows) == min(50, total)
    assert out(first, "analytics-calls-title", "children") == f"Agent {busiest}: {total:,} calls"
    assert out(first, "analytics-calls-page", "max_value") == -(-total // 50)
    second = call(client, page_app, "analytics-calls.rowData",
                  {"analytics-agent-sel.data": busiest, "analytics-calls-page.active_page": 2,
                   "analytics-filter.data": state()}, changed="analytics-calls-page.active_page")
    assert len(out(second, "analytics-calls", "rowData")) == min(50, max(0, total - 50))
    assert not {r["call_id"] for r in page_rows} & {r["call_id"] for r in out(second, "analytics-calls", "rowData")}

    utt = loaded_ch[1].utterances
    call_id = str(utt["call_id"].iloc[0])
    panel = call(client, page_app, "analytics-call.children",
                 {"analytics-calls.cellClicked": {"rowId": call_id, "colId": "call_id"}})
    text = panel.get_data(as_text=True)
    assert panel.status_code == 200 and call_id in text
    first_line = str(utt[utt["call_id"] == call_id].sort_values("seq")["text"].iloc[0])
    assert first_line in text


def _local(cdr: pd.DataFrame) -> pd.Series:
    return pd.concat([rows["dialed_at"].dt.tz_convert(tz or "UTC").dt.tz_localize(None)
                      for tz, rows in cdr.groupby("lead_timezone")]).loc[cdr.index]


def _drill(client, app, trigger: str, click: dict, page: int = 1):
    """Click ``trigger`` -> the drill store -> the calls panel (as the browser chains them)."""
    sel = call(client, app, "analytics-agent-sel.data", {f"{trigger}.clickData": click}, changed=f"{trigger}.clickData")
    drill = out(sel, "analytics-agent-sel", "data")
    resp = call(client, app, "analytics-calls.rowData",
                {"analytics-agent-sel.data": drill, "analytics-filter.data": state(),
                 "analytics-calls-page.active_page": page}, changed="analytics-agent-sel.data")
    return out(sel, "analytics-drill", "children"), drill, resp


def test_heatmap_click_lists_the_calls_of_that_local_hour_and_weekday(page_app, cdr):
    client = signed_in(page_app, "manager")
    local = _local(cdr)
    cells = cdr.assign(weekday=local.dt.day_of_week, hour=local.dt.hour).groupby(["weekday", "hour"]).size()
    (weekday, hour), total = cells.idxmax(), int(cells.max())
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    text, drill, resp = _drill(client, page_app, "analytics-heatmap",
                               {"points": [{"x": f"{hour:02d}:00", "y": days[weekday], "z": 20.0, "customdata": total}]})
    assert drill == {"weekday": str(weekday), "hour": str(hour)}
    assert text == f"Calls of {days[weekday]} {hour:02d}:00 lead local are listed below."
    assert out(resp, "analytics-calls-title", "children") == f"Calls of {days[weekday]} {hour:02d}:00 lead local: {total:,}"
    rows = out(resp, "analytics-calls", "rowData")
    expected = set(cdr.loc[(local.dt.day_of_week == weekday) & (local.dt.hour == hour), "call_id"].astype(str))
    assert len(rows) == min(50, total) and {r["call_id"] for r in rows} <= expected


def test_disposition_penetration_and_funnel_clicks_drill_down(page_app, cdr):
    client = signed_in(page_app, "manager")
    day = cdr["dialed_at"].dt.tz_convert("UTC").dt.floor("D")
    first_day = day.min()
    mine = cdr[(day == first_day) & (cdr["disposition_code"] == "SALE")]
    _text, drill, resp = _drill(client, page_app, "analytics-dispositions",
                                {"points": [{"x": f"{first_day:%Y-%m-%d}", "y": len(mine), "customdata": "SALE"}]})
    assert drill == {"day": f"{first_day:%Y-%m-%d}", "disposition": "SALE"}
    assert out(resp, "analytics-calls-title", "children").endswith(f": {len(mine):,}")
    list_id = int(cdr["list_id"].iloc[0])
    mine = cdr[(cdr["list_id"] == list_id) & (cdr["attempt_no"] == 1)]
    _text, drill, resp = _drill(client, page_app, "analytics-penetration",
                                {"points": [{"x": 1, "y": len(mine), "customdata": [list_id, 0.2]}]})
    assert out(resp, "analytics-calls-title", "children") == f"Calls of list {list_id}, attempt 1: {len(mine):,}"
    links = json.dumps(out(resp, "analytics-calls-export", "children"))
    assert f"/api/exports/analytics/calls.xlsx?start={FIRST}&end={LAST}&list_id={list_id}&attempt_no=1" in links
    _text, _drill_, resp = _drill(client, page_app, "analytics-funnel",
                                  {"points": [{"x": 1, "y": "Sales", "customdata": "sales"}]})
    assert out(resp, "analytics-calls-title", "children") == f"Calls of funnel: sales: {int(cdr['is_sale'].sum()):,}"
    # A click the page cannot use changes nothing (no update, no error).
    bad = call(client, page_app, "analytics-agent-sel.data", {"analytics-heatmap.clickData": {"points": [{"x": "zz"}]}},
               changed="analytics-heatmap.clickData")
    assert bad.status_code == 204


def test_export_links_carry_the_filter(page_app):
    client = signed_in(page_app, "manager")
    resp = call(client, page_app, "analytics-export-summary-csv.href", {"analytics-filter.data": state([2])})
    href = out(resp, "analytics-export-leaderboard-xlsx", "href")
    assert href == f"/api/exports/analytics/leaderboard.xlsx?start={FIRST}&end={LAST}&campaign=2"


def test_bad_filter_values_do_not_break_a_callback(page_app):
    client = signed_in(page_app, "manager")
    resp = call(client, page_app, "analytics-funnel.figure",
                {"analytics-filter.data": {"start": "garbage", "end": "2026-13-45", "campaign": ["x", -1, 2**40]}})
    assert resp.status_code == 200


@pytest.mark.parametrize("output", ["analytics-cards.children", "analytics-funnel.figure",
                                    "analytics-leaderboard.rowData", "analytics-view.options"])
def test_agent_gets_403_and_anonymous_401(page_app, output):
    agent = signed_in(page_app, "agent")
    assert call(agent, page_app, output, {"analytics-filter.data": state()}).status_code == 403
    assert call(page_app.test_client(), page_app, output, {"analytics-filter.data": state()}).status_code == 401
