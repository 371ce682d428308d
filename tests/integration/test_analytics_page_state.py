"""/analytics state: URL <-> controls <-> store, saved views (PostgreSQL), CSV/XLSX exports."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pandas as pd
import pytest

from app.api.exports import safe_cell, to_csv
from app.pages import analytics_state as st
from tests.integration import test_analytics_page_helpers as helpers
from tests.integration.test_analytics_page_helpers import FIRST, LAST, call, out, signed_in, state

TODAY = date(2026, 11, 22)

loaded_ch = helpers.loaded_ch  # shared fixtures, registered in this module
page_app = helpers.page_app


# --- pure: query string <-> state <-> KpiFilter ------------------------------------------------------


def test_query_round_trip():
    s = st.normalize({"start": "2026-11-01", "end": "2026-11-07", "campaign": [2, 1], "agent": "12,14"}, TODAY)
    q = st.to_query(s)
    assert q == "?start=2026-11-01&end=2026-11-07&campaign=1,2&agent=12,14"
    assert st.from_query(q, TODAY) == s
    flt = st.to_filter(s)
    assert (flt.start, flt.end) == (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 8, tzinfo=UTC))
    assert flt.campaign_ids == (1, 2) and flt.agent_ids == (12, 14) and flt.list_ids == ()


@pytest.mark.parametrize("search", ["", None, "?start=nope&end=&campaign=a,-1,99999999999", "?%%%"])
def test_garbage_query_gives_defaults(search):
    s = st.from_query(search, TODAY)
    assert (s["start"], s["end"]) == ("2026-11-16", "2026-11-22") and s["campaign"] == []


def test_reversed_and_huge_ranges_are_repaired():
    s = st.normalize({"start": "2026-11-10", "end": "2026-11-01"}, TODAY)
    assert (s["start"], s["end"]) == ("2026-11-01", "2026-11-10")
    s = st.normalize({"start": "2000-01-01", "end": "2026-11-01"}, TODAY)
    assert (date.fromisoformat(s["end"]) - date.fromisoformat(s["start"])).days == st.MAX_DAYS - 1


# --- the sync callback ----------------------------------------------------------------------------


def _sync(client, app, values, changed):
    keys = ["analytics-url.search", "analytics-dates.start_date", "analytics-dates.end_date",
            *[f"analytics-{d}.value" for d in st.DIMENSIONS], "analytics-view.value"]
    return call(client, app, "analytics-url.search", {k: values.get(k) for k in keys}, changed=changed)


def test_url_to_controls_and_controls_to_url(page_app):
    client = signed_in(page_app, "manager")
    resp = _sync(client, page_app, {"analytics-url.search": f"?start={FIRST}&end={LAST}&campaign=2&team=1"},
                 "analytics-url.search")
    assert out(resp, "analytics-filter", "data") == state([2], team=[1])
    assert out(resp, "analytics-campaign", "value") == [2]
    assert out(resp, "analytics-dates", "start_date") == FIRST
    assert "analytics-url" not in resp.get_json()["response"]  # the URL is already right
    resp = _sync(client, page_app, {"analytics-url.search": "?ignored", "analytics-dates.start_date": FIRST,
                                    "analytics-dates.end_date": LAST, "analytics-campaign.value": [3, 1],
                                    "analytics-agent.value": [5]}, "analytics-campaign.value")
    assert out(resp, "analytics-url", "search") == f"?start={FIRST}&end={LAST}&campaign=1,3&agent=5"
    assert out(resp, "analytics-filter", "data") == state([1, 3], agent=[5])


# --- saved views ----------------------------------------------------------------------------------


def _views(client, app, values, changed):
    keys = ["analytics-view-save.n_clicks", "analytics-view-delete.n_clicks", "analytics-view-name.value",
            "analytics-view.value", "analytics-filter.data"]
    return call(client, app, "analytics-view.options", {k: values.get(k) for k in keys}, changed=changed)


def test_saved_views_crud_per_user(page_app):
    manager = signed_in(page_app, "manager")
    resp = _views(manager, page_app, {"analytics-view-save.n_clicks": 1, "analytics-view-name.value": "  Camp 2  ",
                                      "analytics-filter.data": state([2])}, "analytics-view-save.n_clicks")
    options = out(resp, "analytics-view", "options")
    assert [o["label"] for o in options] == ["Camp 2"]
    view_id = out(resp, "analytics-view", "value")
    assert view_id == options[0]["value"]
    # overwrite by name, then a second view
    _views(manager, page_app, {"analytics-view-save.n_clicks": 2, "analytics-view-name.value": "Camp 2",
                               "analytics-filter.data": state([2], list=[201])}, "analytics-view-save.n_clicks")
    resp = _views(manager, page_app, {"analytics-view-save.n_clicks": 3, "analytics-view-name.value": "All",
                                      "analytics-filter.data": state()}, "analytics-view-save.n_clicks")
    assert [o["label"] for o in out(resp, "analytics-view", "options")] == ["All", "Camp 2"]
    # load: the sync callback puts the view's state in the store, URL and controls
    loaded = _sync(manager, page_app, {"analytics-view.value": view_id}, "analytics-view.value")
    assert out(loaded, "analytics-filter", "data") == state([2], list=[201])
    assert out(loaded, "analytics-url", "search") == f"?start={FIRST}&end={LAST}&campaign=2&list=201"
    # another user neither sees nor loads it
    admin = signed_in(page_app, "admin")
    assert out(_views(admin, page_app, {}, "analytics-view-save.n_clicks"), "analytics-view", "options") == []
    assert _sync(admin, page_app, {"analytics-view.value": view_id}, "analytics-view.value").status_code == 404
    # a nameless save is refused with a message
    resp = _views(manager, page_app, {"analytics-view-save.n_clicks": 4, "analytics-view-name.value": " ",
                                      "analytics-filter.data": state()}, "analytics-view-save.n_clicks")
    assert "give the view a name" in out(resp, "analytics-view-msg", "children")
    # delete
    resp = _views(manager, page_app, {"analytics-view-delete.n_clicks": 1, "analytics-view.value": view_id},
                  "analytics-view-delete.n_clicks")
    assert [o["label"] for o in out(resp, "analytics-view", "options")] == ["All"]
    assert out(resp, "analytics-view", "value") is None


# --- exports --------------------------------------------------------------------------------------


def _rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_csv_and_xlsx_exports_have_the_rows(page_app, loaded_ch):
    from openpyxl import load_workbook

    cdr = loaded_ch[1].cdr
    client = signed_in(page_app, "manager")
    query = f"start={FIRST}&end={LAST}&campaign=2"
    resp = client.get(f"/api/exports/analytics/penetration.csv?{query}")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert 'filename="penetration-' in resp.headers["Content-Disposition"]
    rows = _rows(resp.data)
    assert rows[0] == ["list_id", "attempt_no", "dials", "share_of_dials", "contacts", "contact_rate", "sales"]
    mine = cdr[cdr["campaign_id"] == 2]
    expected = mine.groupby(["list_id", "attempt_no"]).size()
    assert {(int(r[0]), int(r[1])): int(r[2]) for r in rows[1:]} == {(int(a), int(b)): int(n)
                                                                    for (a, b), n in expected.items()}
    resp = client.get(f"/api/exports/analytics/leaderboard.xlsx?{query}")
    assert resp.status_code == 200
    sheet = load_workbook(io.BytesIO(resp.data)).active
    values = list(sheet.values)
    assert values[0][:2] == ("agent_id", "team_id")
    board = client.get(f"/api/exports/analytics/leaderboard.csv?{query}")
    assert len(values) == len(_rows(board.data))
    agent = int(mine[mine["agent_id"] != 0]["agent_id"].iloc[0])
    calls = _rows(client.get(f"/api/exports/analytics/agent_calls.csv?{query}&agent_id={agent}").data)
    assert len(calls) - 1 == int(((mine["agent_id"] == agent)).sum())
    assert calls[1][calls[0].index("phone_e164")].startswith("+1")  # a phone number stays readable


def test_export_refusals(page_app):
    manager = signed_in(page_app, "manager")
    assert manager.get("/api/exports/analytics/nosuch.csv").status_code == 404
    assert manager.get("/api/exports/analytics/summary.pdf").status_code == 404
    assert manager.get("/api/exports/analytics/agent_calls.csv?agent_id=abc").status_code == 400
    agent = signed_in(page_app, "agent")
    assert agent.get("/api/exports/analytics/summary.csv").status_code == 403
    assert page_app.test_client().get("/api/exports/analytics/summary.csv").status_code == 401


def test_formula_injection_is_neutralised():
    assert safe_cell("=HYPERLINK(\"http://evil\")") == "'=HYPERLINK(\"http://evil\")"
    assert safe_cell("@SUM(A1)") == "'@SUM(A1)" and safe_cell("-2+3") == "'-2+3" and safe_cell("\tx") == "'\tx"
    assert safe_cell("+15551234567") == "+15551234567" and safe_cell("-3.5") == "-3.5"
    assert safe_cell(-3) == -3 and safe_cell(float("nan")) == "" and safe_cell(None) == ""
    assert safe_cell(pd.Timestamp("2026-11-01 10:00")) == "2026-11-01 10:00:00"
    assert _rows(to_csv(["=cmd"], [["=1+1", 5]])) == [["'=cmd"], ["'=1+1", "5"]]
