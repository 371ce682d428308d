"""``/analytics``: the analytics explorer (filters in the URL, KPI cards, charts, drill-downs).

Data flow: the filter controls and the URL query string are kept in sync by one callback
(:func:`sync_state`) which writes the normalised state into ``analytics-filter``; every KPI panel
is its own callback on that store, running ONE ``analytics.kpis`` query and handing the frame to
``app.figures`` -- Dash fires them in parallel, so the slowest panel never holds up the others.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import dash
import dash_bootstrap_components as dbc
import sqlalchemy as sa
from dash import Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate
from flask_login import current_user

from analytics import kpis
from app import figures
from app import saved_views as views
from app.pages import analytics_panels as panels
from app.pages import analytics_state as st
from app.pages import register_page
from app.pages.analytics_data import campaign_settings, query, require_role, today
from app.services import get_services
from core.db import transaction
from core.exceptions import PyDialerError

logger = logging.getLogger(__name__)

ROLES = ("admin", "manager", "supervisor")
PAGE = "analytics"
CALLS_PAGE_SIZE = 50
CHARTS = {  # graph id suffix -> (title, kpi function, figure function)
    "funnel": ("Funnel", kpis.funnel, figures.funnel_figure),
    "heatmap": ("Contact rate by lead local time", kpis.contact_heatmap, figures.heatmap_figure),
    "dispositions": ("Dispositions over time", kpis.dispositions_over_time, figures.dispositions_figure),
    "abandon": ("Abandon rate trend", kpis.abandon_trend, figures.abandon_figure),
    "penetration": ("List penetration by attempt", kpis.list_penetration, figures.penetration_figure),
    "pacing": ("Pacing explainer", kpis.pacing_explainer, figures.pacing_figure),
    "sentiment": ("Sentiment over time", kpis.sentiment_over_time, figures.sentiment_figure),
}


def _dropdown(dim: str, values: list[int]) -> dbc.Col:
    return dbc.Col([dbc.Label(dim.title(), html_for=f"analytics-{dim}", className="small mb-1"),
                    dcc.Dropdown(id=f"analytics-{dim}", multi=True, value=values, placeholder="all",
                                 options=[{"label": str(v), "value": v} for v in values])], md=2)


def layout(**query_args: str) -> html.Div:
    state = st.normalize({k: v for k, v in query_args.items() if k in ("start", "end", *st.DIMENSIONS)}, today())
    filters = dbc.Card(dbc.CardBody([dbc.Row([
        dbc.Col([dbc.Label("Days (UTC)", className="small mb-1"),
                 dcc.DatePickerRange(id="analytics-dates", start_date=state["start"], end_date=state["end"],
                                     display_format="YYYY-MM-DD", minimum_nights=0, className="d-block")], md=3),
        *[_dropdown(dim, state[dim]) for dim in st.DIMENSIONS],
    ], className="g-2 mb-2"), dbc.Row([
        dbc.Col(dcc.Dropdown(id="analytics-view", placeholder="Saved views: load one…", clearable=True), md=4),
        dbc.Col(dbc.InputGroup([dbc.Input(id="analytics-view-name", placeholder="save the current filter as…",
                                          maxLength=100),
                                dbc.Button("Save view", id="analytics-view-save", color="primary"),
                                dbc.Button("Delete", id="analytics-view-delete", color="secondary", outline=True)],
                               size="sm"), md=5),
        dbc.Col(html.Div(id="analytics-view-msg", className="small text-body-secondary"), md=3,
                className="d-flex align-items-center"),
    ], className="g-2 align-items-center")]), className="mb-3 shadow-sm analytics-filters")
    charts = [("funnel", 5), ("heatmap", 7), ("dispositions", 6), ("abandon", 6), ("penetration", 6),
              ("pacing", 6), ("sentiment", 12)]
    return html.Div([
        dcc.Location(id="analytics-url", refresh=False),
        dcc.Store(id="analytics-filter", data=state),
        dcc.Store(id="analytics-agent-sel"),
        html.Div([html.H1("Analytics", className="h3 mb-0"),
                  html.Span(id="analytics-status", className="text-body-secondary small ms-3")],
                 className="d-flex align-items-center mb-3"),
        filters,
        html.Div([html.Span("Summary", className="fw-semibold"), panels.export_links("summary")],
                 className="d-flex align-items-center mb-1"),
        dbc.Row(id="analytics-cards", className="g-2 mb-3"),
        dbc.Row([dbc.Col(panels.chart_card(name, CHARTS[name][0], name), lg=width, className="mb-3")
                 for name, width in charts]),
        dbc.Alert(id="analytics-drill", color="light", className="small", children="Click a chart mark or a leaderboard row: its calls are listed below."),
        dbc.Card([dbc.CardHeader(html.Div([html.Span("Agent leaderboard (click a row to drill down)"),
                                           panels.export_links("leaderboard")], className="d-flex")),
                  dbc.CardBody(panels.grid("analytics-leaderboard", panels.LEADERBOARD_COLUMNS, "agent_id"),
                               className="p-2")], className="mb-3 shadow-sm"),
        dbc.Row([
            dbc.Col(dbc.Card([dbc.CardHeader(html.Div([html.Span(id="analytics-calls-title",
                                                                 children="Calls: click an agent or a chart mark"),
                                                       html.Span(id="analytics-calls-export",
                                                                 className="ms-auto small")], className="d-flex")),
                              dbc.CardBody([panels.grid("analytics-calls", panels.CALL_COLUMNS, "call_id", 320, fit=False),
                                            dbc.Pagination(id="analytics-calls-page", max_value=1, active_page=1,
                                                           fully_expanded=False, first_last=True,
                                                           previous_next=True, size="sm", className="mt-2 mb-0")],
                                           className="p-2")], className="shadow-sm h-100"), lg=7, className="mb-3"),
            dbc.Col(dbc.Card([dbc.CardHeader("Call detail"),
                              dbc.CardBody(html.Div("Click a call.", id="analytics-call",
                                                    className="text-body-secondary"))], className="shadow-sm h-100"),
                    lg=5, className="mb-3"),
        ]),
    ], id="analytics-root")


# --- callbacks -------------------------------------------------------------------------------------


def _user_id() -> int:
    return int(current_user.id)


def sync_state(search: str | None, start: str | None, end: str | None, campaign: Any, lists: Any, team: Any,
               agent: Any, view_id: Any) -> tuple[Any, ...]:
    """URL <-> controls <-> store. Returns (search, store, start, end, campaign, list, team, agent)."""
    require_role(ROLES)
    trigger = ctx.triggered_id
    if trigger == "analytics-view":
        if view_id is None:
            raise PreventUpdate
        with get_services().sessions() as session:
            state = st.normalize(views.get_view(session, _user_id(), PAGE, int(view_id)).state, today())
        return (st.to_query(state), state, state["start"], state["end"], *[state[d] for d in st.DIMENSIONS])
    if trigger is None or trigger == "analytics-url":
        state = st.from_query(search, today())
        return (no_update, state, state["start"], state["end"], *[state[d] for d in st.DIMENSIONS])
    state = st.normalize({"start": start, "end": end, "campaign": campaign, "list": lists, "team": team,
                          "agent": agent}, today())
    return (st.to_query(state), state, *([no_update] * 6))


def _names() -> dict[str, dict[int, str]]:
    """Display names from PostgreSQL (the analytics copy carries ids only)."""
    out: dict[str, dict[int, str]] = {}
    sql = {"campaign": "SELECT id, name FROM campaigns", "list": "SELECT id, name FROM lists",
           "team": "SELECT id, name FROM teams", "agent": "SELECT id, coalesce(nullif(full_name, ''), username) "
                                                        "FROM users WHERE role = 'agent'"}
    with get_services().engine.connect() as conn:
        for dim, text in sql.items():
            out[dim] = {int(i): str(n) for i, n in conn.execute(sa.text(text)).all()}
    return out


def options(_pathname: Any, state: dict[str, Any] | None) -> tuple[Any, ...]:
    """Dropdown options: every id seen in the analytics data of the last 90 days, named from PG."""
    require_role(ROLES)
    names = _names()
    try:
        ids = query(lambda c: c.query(
            "SELECT groupUniqArray(campaign_id), groupUniqArray(list_id), groupUniqArray(team_id), "
            "groupUniqArray(agent_id) FROM cdr WHERE dialed_at >= now() - INTERVAL 90 DAY").result_rows[0])
    except PyDialerError:
        ids = ([], [], [], [])
    out = []
    for dim, seen in zip(st.DIMENSIONS, ids, strict=True):
        chosen = set((state or {}).get(dim) or [])
        all_ids = sorted((set(seen) | set(names[dim]) | chosen) - {0})
        out.append([{"label": f"{names[dim][i]} ({i})" if i in names[dim] else str(i), "value": i} for i in all_ids])
    return tuple(out)


def _chart(name: str) -> Any:
    title, kpi, figure = CHARTS[name]

    def render(state: dict[str, Any] | None) -> Any:
        require_role(ROLES)
        flt = st.to_filter(st.normalize(state, today()))
        try:
            if name == "abandon":  # each campaign against its own target (PostgreSQL settings)
                settings = campaign_settings()
                targets = {i: t for i, (_n, t) in settings.items()}
                frame = query(lambda c: kpis.abandon_trend(c, flt, targets))
                fig = figures.abandon_figure(frame, {i: n for i, (n, _t) in settings.items()})
            else:
                fig = figure(query(lambda c: kpi(c, flt)))
        except PyDialerError as exc:
            fig = figures.empty_figure(title, f"Cannot load: {exc.message}")
        return fig.update_layout(title=None, margin={"t": 12})  # the card header carries the title

    render.__name__ = f"render_{name}"
    return render


def summary_cards(state: dict[str, Any] | None) -> tuple[Any, str]:
    require_role(ROLES)
    flt = st.to_filter(st.normalize(state, today()))
    try:
        frame = query(lambda c: kpis.summary(c, flt))
    except PyDialerError as exc:
        return [dbc.Col(dbc.Alert(f"ClickHouse unavailable: {exc.message}", color="warning"))], "error"
    return panels.kpi_cards(figures.summary_cards(frame)), f"{flt.start:%Y-%m-%d} – {flt.end:%Y-%m-%d} (UTC, end excl.)"


def leaderboard(state: dict[str, Any] | None) -> list[dict[str, Any]]:
    require_role(ROLES)
    flt = st.to_filter(st.normalize(state, today()))
    try:
        frame = query(lambda c: kpis.agent_leaderboard(c, flt))
    except PyDialerError:
        return []
    return panels.leaderboard_rows(frame, _names()["agent"])


def export_hrefs(state: dict[str, Any] | None) -> tuple[str, ...]:
    require_role(ROLES)
    q = st.to_query(st.normalize(state, today()))
    return tuple(panels.export_href(kpi, q, fmt) for kpi in panels.EXPORT_KPIS for fmt in panels.EXPORT_FORMATS)


def drill_target(trigger: str, payload: dict[str, Any] | None) -> kpis.CallDrill | None:
    """The :class:`kpis.CallDrill` behind one click: a leaderboard cell or a chart point."""
    if not payload:
        return None
    if trigger == "analytics-leaderboard":
        row = str(payload.get("rowId") or "")
        return kpis.CallDrill(agent_id=int(row)) if row.isdigit() and int(row) > 0 else None
    points = payload.get("points") or []
    if not points:
        return None
    p = points[0]
    try:
        if trigger == "analytics-heatmap":
            return kpis.CallDrill(weekday=figures.WEEKDAYS.index(str(p["y"])), hour=int(str(p["x"])[:2]))
        if trigger == "analytics-dispositions":
            return kpis.CallDrill(day=dt.date.fromisoformat(str(p["x"])[:10]), disposition=str(p["customdata"]))
        if trigger == "analytics-penetration":
            return kpis.CallDrill(list_id=int(p["customdata"][0]), attempt_no=int(p["x"]))
        if trigger == "analytics-funnel":
            return kpis.CallDrill(stage=str(p["customdata"]))
    except (KeyError, ValueError, TypeError, IndexError, PyDialerError):
        logger.info("unusable click on %s: %r", trigger, p)
    return None


def select_drill(cell: dict[str, Any] | None, heat: dict[str, Any] | None, disp: dict[str, Any] | None,
                 pen: dict[str, Any] | None, fun: dict[str, Any] | None) -> tuple[dict[str, str], str]:
    """A leaderboard row or a chart mark -> (the drill the calls panel lists, a sentence about it)."""
    require_role(ROLES)
    trigger = str(ctx.triggered_id)
    payload = {"analytics-leaderboard": cell, "analytics-heatmap": heat, "analytics-dispositions": disp,
               "analytics-penetration": pen, "analytics-funnel": fun}.get(trigger)
    drill = drill_target(trigger, payload)
    if drill is None:
        raise PreventUpdate
    names = _names()["agent"] if drill.agent_id else {}
    return drill.params(), f"Calls of {drill.label(names)} are listed below."


def agent_calls(drill_params: Any, active_page: int | None, state: dict[str, Any] | None) -> tuple[Any, ...]:
    """(rows, max page, active page, title, export links) for the calls behind the selected drill."""
    require_role(ROLES)
    if isinstance(drill_params, int):  # an agent id (older clients' store value)
        drill_params = {"agent_id": drill_params}
    if not drill_params:
        return [], 1, 1, "Calls: click an agent in the leaderboard or a chart mark", ""
    try:
        drill = kpis.CallDrill.from_params(drill_params)
    except PyDialerError as exc:
        return [], 1, 1, f"Calls: {exc.message}", ""
    page = 1 if ctx.triggered_id != "analytics-calls-page" else max(1, int(active_page or 1))
    st_ = st.normalize(state, today())
    flt = st.to_filter(st_)
    names = _names()["agent"] if drill.agent_id else {}
    try:
        result = query(lambda c: kpis.drill_calls(c, flt, drill, page - 1, CALLS_PAGE_SIZE))
    except PyDialerError as exc:
        return [], 1, 1, f"Calls of {drill.label(names)}: {exc.message}", ""
    pages = max(1, -(-result.total // CALLS_PAGE_SIZE))
    q = st.to_query(st_)
    links = [html.A(fmt.upper(), href=panels.export_href("calls", q, fmt, **drill.params()),
                    id=f"analytics-calls-{fmt}", className="analytics-export-link", download="")
             for fmt in ("csv", "xlsx")]
    title = (f"Agent {drill.agent_id}: {result.total:,} calls" if drill.params().keys() == {"agent_id"}
             else f"Calls of {drill.label(names)}: {result.total:,}")
    return (panels.records(result.rows), pages, page, title, links)


def call_panel(cell: dict[str, Any] | None) -> Any:
    require_role(ROLES)
    if not cell or not cell.get("rowId"):
        raise PreventUpdate
    try:
        detail = query(lambda c: kpis.call_detail(c, str(cell["rowId"])))
    except PyDialerError as exc:
        return dbc.Alert(exc.message, color="warning")
    return panels.call_detail_panel(detail.cdr if detail else None, detail.utterances if detail else None)


def view_crud(_save: Any, _delete: Any, name: str | None, view_id: Any, state: dict[str, Any] | None
              ) -> tuple[Any, Any, str]:
    """Save (create/overwrite by name) or delete the user's views; returns (options, value, message)."""
    require_role(ROLES)
    uid, trigger, message = _user_id(), ctx.triggered_id, ""
    value: Any = no_update
    try:
        with transaction(get_services().sessions) as session:
            if trigger == "analytics-view-save":
                saved = views.save_view(session, uid, PAGE, name, st.normalize(state, today()))
                message, value = f"Saved “{saved.name}”.", saved.id
            elif trigger == "analytics-view-delete":
                if view_id is None:
                    message = "Pick a view to delete."
                else:
                    views.delete_view(session, uid, PAGE, int(view_id))
                    message, value = "View deleted.", None
            listed = views.list_views(session, uid, PAGE)
    except PyDialerError as exc:
        details = "; ".join(str(v) for v in (exc.details or {}).values())
        with get_services().sessions() as session:
            listed = views.list_views(session, uid, PAGE)
        message = f"{exc.message}: {details}" if details else exc.message
    return [{"label": v.name, "value": v.id} for v in listed], value, message


def register(dash_app: dash.Dash) -> None:
    from app.api import exports

    exports.init_app(dash_app.server)  # the /api export routes of this page's tables
    cb = dash_app.callback
    cb(Output("analytics-url", "search"), Output("analytics-filter", "data"),
       Output("analytics-dates", "start_date"), Output("analytics-dates", "end_date"),
       *[Output(f"analytics-{d}", "value") for d in st.DIMENSIONS],
       Input("analytics-url", "search"), Input("analytics-dates", "start_date"), Input("analytics-dates", "end_date"),
       *[Input(f"analytics-{d}", "value") for d in st.DIMENSIONS], Input("analytics-view", "value"))(sync_state)
    cb(*[Output(f"analytics-{d}", "options") for d in st.DIMENSIONS],
       Input("analytics-url", "pathname"), State("analytics-filter", "data"))(options)
    cb(Output("analytics-cards", "children"), Output("analytics-status", "children"),
       Input("analytics-filter", "data"))(summary_cards)
    for name in CHARTS:
        cb(Output(f"analytics-{name}", "figure"), Input("analytics-filter", "data"))(_chart(name))
    cb(Output("analytics-leaderboard", "rowData"), Input("analytics-filter", "data"))(leaderboard)
    cb(*[Output(f"analytics-export-{kpi}-{fmt}", "href") for kpi in panels.EXPORT_KPIS for fmt in panels.EXPORT_FORMATS],
       Input("analytics-filter", "data"))(export_hrefs)
    cb(Output("analytics-agent-sel", "data"), Output("analytics-drill", "children"),
       Input("analytics-leaderboard", "cellClicked"), Input("analytics-heatmap", "clickData"),
       Input("analytics-dispositions", "clickData"), Input("analytics-penetration", "clickData"),
       Input("analytics-funnel", "clickData"))(select_drill)
    cb(Output("analytics-calls", "rowData"), Output("analytics-calls-page", "max_value"),
       Output("analytics-calls-page", "active_page"), Output("analytics-calls-title", "children"),
       Output("analytics-calls-export", "children"),
       Input("analytics-agent-sel", "data"), Input("analytics-calls-page", "active_page"),
       State("analytics-filter", "data"))(agent_calls)
    cb(Output("analytics-call", "children"), Input("analytics-calls", "cellClicked"))(call_panel)
    cb(Output("analytics-view", "options"), Output("analytics-view", "value"), Output("analytics-view-msg", "children"),
       Input("analytics-view-save", "n_clicks"), Input("analytics-view-delete", "n_clicks"),
       State("analytics-view-name", "value"), State("analytics-view", "value"),
       State("analytics-filter", "data"))(view_crud)


register_page(
    __name__,
    name="analytics",
    path="/analytics",
    title="Analytics",
    roles=ROLES,
    layout=layout,
    callbacks=register,
    order=30,
    description="Funnel, contact-rate heatmap, abandon trend, agent leaderboard and drill-downs.",
)
