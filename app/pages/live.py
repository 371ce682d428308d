"""``/live``: the live overview for supervisors, managers and admins (refreshes every 2 s)."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import flask
from dash import Input, Output, dcc, html

from app.components import live_panels, to_plain
from app.live import LiveData, TtlCache
from app.pages import register_page

REFRESH_MS = 2000
RENDER_TTL_S = 1.0
RENDER_CACHE_KEY = "pydialer_live_render"


def layout(**_query: str) -> html.Div:
    return html.Div(
        [
            html.Div(
                [
                    html.H1("Live overview", className="h3 mb-0"),
                    html.Span(id="live-updated", className="text-body-secondary small ms-3"),
                    html.Div(id="live-health", className="ms-auto d-flex gap-2 flex-wrap"),
                ],
                className="d-flex align-items-center flex-wrap gap-2 mb-3",
            ),
            dbc.Row(id="live-agent-kpis", className="g-3 mb-3"),
            dbc.Row(id="live-db-kpis", className="g-3 mb-3"),
            dbc.Card(
                [dbc.CardHeader("Agents by state"), dbc.CardBody(html.Div(id="live-state-bar"))],
                className="mb-3 shadow-sm",
            ),
            dbc.Card(
                [dbc.CardHeader("Agents"), dbc.CardBody(html.Div(id="live-agents-table"), className="p-2")],
                className="shadow-sm",
            ),
            dcc.Interval(id="live-interval", interval=REFRESH_MS, n_intervals=0),
        ],
        id="live-root",
    )


def render(data: LiveData) -> tuple[object, ...]:
    snap = data.snapshot()
    return (
        live_panels.updated_text(snap),
        live_panels.health_badges(snap.health),
        live_panels.agent_kpis(snap),
        live_panels.db_kpis(snap),
        live_panels.state_bar(snap),
        live_panels.agents_table(snap),
    )


def refresh(_n_intervals: int | None) -> tuple[object, ...]:
    cache: TtlCache[tuple[object, ...]] = flask.current_app.extensions[RENDER_CACHE_KEY]
    return cache.get()


def register(dash_app: dash.Dash) -> None:
    # Every role allowed here sees the same overview, so one render per second serves all
    # viewers of this process: building ~1,300 components and JSON-encoding them through
    # Plotly's encoder cost ~250 ms per request, plain dicts a few ms (bench/web_live.py).
    data: LiveData = dash_app.server.extensions["pydialer_live"]
    dash_app.server.extensions[RENDER_CACHE_KEY] = TtlCache(lambda: to_plain(render(data)), RENDER_TTL_S)
    dash_app.callback(
        Output("live-updated", "children"),
        Output("live-health", "children"),
        Output("live-agent-kpis", "children"),
        Output("live-db-kpis", "children"),
        Output("live-state-bar", "children"),
        Output("live-agents-table", "children"),
        Input("live-interval", "n_intervals"),
    )(refresh)


register_page(
    __name__,
    name="live",
    path="/live",
    title="Live",
    roles=("admin", "manager", "supervisor"),
    layout=layout,
    callbacks=register,
    order=10,
    description="Agents by state, dialable supply and engine health, refreshed every 2 seconds.",
)
