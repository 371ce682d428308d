"""Layout pieces and table renderers for ``/analytics`` (Dash components, no queries)."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
import pandas as pd
from dash import dcc, html

from app.figures import empty_figure

EXPORT_FORMATS = ("csv", "xlsx")
EXPORT_KPIS = ("summary", "funnel", "heatmap", "dispositions", "abandon", "penetration", "leaderboard", "pacing",
               "sentiment")
GRAPH_CONFIG: Any = {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"], "responsive": True}

LEADERBOARD_COLUMNS = [
    {"field": "agent_id", "headerName": "Agent", "width": 90, "pinned": "left"},
    {"field": "agent", "headerName": "Name", "minWidth": 140},
    {"field": "team_id", "headerName": "Team", "width": 80},
    {"field": "calls", "headerName": "Calls", "width": 90},
    {"field": "conversions", "headerName": "Conv.", "width": 90},
    {"field": "conversions_per_hour", "headerName": "Conv./h", "width": 100},
    {"field": "aht_s", "headerName": "AHT s", "width": 90},
    {"field": "talk_h", "headerName": "Talk h", "width": 90},
    {"field": "wait_h", "headerName": "Wait h", "width": 90},
    {"field": "wrap_h", "headerName": "Wrap h", "width": 90},
    {"field": "pause_h", "headerName": "Pause h", "width": 90},
]
CALL_COLUMNS = [
    {"field": "dialed_at", "headerName": "Dialed (UTC)", "minWidth": 170},
    {"field": "call_id", "headerName": "Call", "minWidth": 120},
    {"field": "campaign_id", "headerName": "Camp.", "width": 80},
    {"field": "list_id", "headerName": "List", "width": 80},
    {"field": "phone_e164", "headerName": "Phone", "minWidth": 130},
    {"field": "outcome", "headerName": "Outcome", "width": 110},
    {"field": "disposition_code", "headerName": "Disp.", "width": 90},
    {"field": "talk_s", "headerName": "Talk s", "width": 90},
    {"field": "wrap_s", "headerName": "Wrap s", "width": 90},
]


def export_links(kpi: str) -> html.Span:
    return html.Span(
        [html.A(fmt.upper(), id=f"analytics-export-{kpi}-{fmt}", href="#",
                className="analytics-export-link", download="") for fmt in ("csv", "xlsx")],
        className="analytics-exports ms-auto",
    )


def chart_card(name: str, title: str, kpi: str, height: int = 320) -> dbc.Card:
    return dbc.Card(
        [
            dbc.CardHeader(html.Div([html.Span(title), export_links(kpi)], className="d-flex align-items-center")),
            dbc.CardBody(dcc.Loading(dcc.Graph(id=f"analytics-{name}", figure=empty_figure(title, "Loading…"),
                                               config=GRAPH_CONFIG, style={"height": f"{height}px"}),
                                     type="dot", delay_show=300), className="p-1"),
        ],
        className="shadow-sm h-100",
    )


def grid(grid_id: str, columns: list[dict[str, Any]], row_id: str, height: int = 360,
         fit: bool = True) -> dag.AgGrid:
    return dag.AgGrid(
        id=grid_id, columnDefs=columns, rowData=[], getRowId=f"params.data.{row_id}",
        defaultColDef={"sortable": True, "resizable": True, "filter": True},
        dashGridOptions={"animateRows": False, "suppressCellFocus": True},
        columnSize="responsiveSizeToFit" if fit else None, style={"height": f"{height}px", "width": "100%"},
        className="analytics-grid",
    )


def kpi_cards(cards: list[tuple[str, str]]) -> list[dbc.Col]:
    if not cards:
        return [dbc.Col(html.Div("No calls for this filter.", className="text-body-secondary"))]
    return [dbc.Col(html.Div([html.Div(label, className="analytics-kpi-label"),
                              html.Div(value, className="analytics-kpi-value", id=f"analytics-kpi-{i}")],
                             className="analytics-kpi"), xs=6, md=3, xl=True)
            for i, (label, value) in enumerate(cards)]


def _clean(value: object) -> object:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 2)
    if isinstance(value, pd.Timestamp):
        return value.isoformat(sep=" ", timespec="seconds")
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-safe rows for a grid (NaN -> None, timestamps -> text, UUIDs -> text)."""
    out = []
    for row in frame.to_dict("records"):
        out.append({str(k): _clean(v) if isinstance(v, (float, pd.Timestamp, int, str, type(None)))
                    else str(v) for k, v in row.items()})
    return out


def leaderboard_rows(frame: pd.DataFrame, names: dict[int, str]) -> list[dict[str, Any]]:
    if frame.empty:
        return []
    view = pd.DataFrame({
        "agent_id": frame["agent_id"].astype(int),
        # An id without a PostgreSQL user (data loaded from elsewhere) still gets a visible name.
        "agent": [names.get(int(a)) or f"agent {int(a)} (no user)" for a in frame["agent_id"]],
        "team_id": frame["team_id"].astype(int),
        "calls": frame["calls"].astype(int),
        "conversions": frame["conversions"].astype(int),
        "conversions_per_hour": frame["conversions_per_hour"].astype(float),
        "aht_s": frame["aht_s"].astype(float),
        "talk_h": frame["talk_s"].astype(float) / 3600, "wait_h": frame["wait_s"].astype(float) / 3600,
        "wrap_h": frame["wrap_s"].astype(float) / 3600, "pause_h": frame["pause_s"].astype(float) / 3600,
    })
    return records(view)


def call_detail_panel(cdr: dict[str, Any] | None, utterances: pd.DataFrame | None) -> html.Div:
    if cdr is None:
        return html.Div("Call not found.", className="text-body-secondary")
    keys = ("call_id", "dialed_at", "campaign_id", "list_id", "lead_id", "agent_id", "phone_e164", "lead_timezone",
            "attempt_no", "outcome", "disposition_code", "ring_s", "wait_s", "talk_s", "wrap_s", "hangup_cause",
            "recording_id")
    facts = html.Dl([item for k in keys if k in cdr for item in (html.Dt(k), html.Dd(str(_clean(cdr[k]))))],
                    className="analytics-cdr small mb-2")
    if utterances is None or utterances.empty:
        transcript: Any = html.Div("No transcript for this call.", className="text-body-secondary small")
    else:
        transcript = html.Div(
            [html.Div([html.Span(f"{float(u['started_s']):6.1f}s", className="analytics-utt-time"),
                       html.Span(str(u["speaker"]), className=f"analytics-utt-speaker is-{u['speaker']}"),
                       html.Span(str(u["text"])),
                       html.Span(f"{float(u['sentiment']):+.2f}", className="analytics-utt-sentiment")],
                      className="analytics-utt") for u in utterances.to_dict("records")],
            id="analytics-transcript", className="analytics-transcript")
    return html.Div([html.H6(f"Call {cdr.get('call_id')}", className="mb-2"), facts, transcript])


def export_href(kpi: str, query: str, fmt: str, **extra: object) -> str:
    params = query.lstrip("?")
    if extra:
        params += ("&" if params else "") + urlencode(extra)
    return f"/api/exports/analytics/{kpi}.{fmt}?{params}"
