"""/analytics callbacks through Flask's test client, on generated data in chdb.

Expected numbers come from the generator's DataFrames (pandas), never from the KPI functions.
"""

from __future__ import annotations

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


def test_every_chart_renders_for_the_whole_range(page_app, cdr, loaded_ch):
    client = signed_in(page_app, "admin")
    figs = {name: out(call(client, page_app, f"analytics-{name}.figure", {"analytics-filter.data": state()}),
                      f"analytics-{name}", "figure")
            for name in ("dispositions", "abandon", "penetration", "pacing", "sentiment")}
    disp = figs["dispositions"]["data"]
    assert {t["name"] for t in disp} == set(cdr["disposition_code"])
    pen = figs["penetration"]["data"]
    assert {t["name"] for t in pen} == {f"list {i}" for i in cdr["list_id"].unique()}
    abandon = figs["abandon"]["data"]
    assert [t["name"] for t in abandon] == ["daily", "30-day rolling", "target 3%"]
    assert len(abandon[0]["x"]) == 4  # four UTC days
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
                     {"analytics-leaderboard.cellClicked": {"rowId": str(busiest), "colId": "calls"}}),
                "analytics-agent-sel", "data")
    assert agent == busiest
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


def test_chart_click_fills_the_drill_panel(page_app):
    client = signed_in(page_app, "manager")
    click = {"points": [{"x": "10:00", "y": "Tue", "z": 23.5, "customdata": 120}]}
    text = out(call(client, page_app, "analytics-drill.children", {"analytics-heatmap.clickData": click},
                    changed="analytics-heatmap.clickData"), "analytics-drill", "children")
    assert text == "Tue 10:00 (lead local): contact rate 23.5% over 120 dials."


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
