"""``/audit``: the audit log for administrators (paged, filter by actor and action)."""

from __future__ import annotations

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import Input, Output, dcc, html

from app.admin.export_links import export_links
from app.audit_view import AuditPage, clean_filter, known_actions, query_audit
from app.pages import register_page
from app.services import get_services


def layout(**_query: str) -> html.Div:
    services = get_services()
    with services.sessions() as session:
        actions = known_actions(session)
    return html.Div(
        [
            html.H1("Audit log", className="h3 mb-3"),
            dbc.Card(
                dbc.CardBody(
                    dbc.Row(
                        [
                            dbc.Col(
                                [
                                    dbc.Label("Actor (username)", html_for="audit-actor"),
                                    dbc.Input(id="audit-actor", type="search", debounce=True, maxLength=64,
                                              placeholder="any"),
                                ],
                                md=4,
                            ),
                            dbc.Col(
                                [
                                    dbc.Label("Action", html_for="audit-action"),
                                    dcc.Dropdown(id="audit-action", options=actions, placeholder="any", clearable=True),
                                ],
                                md=4,
                            ),
                            dbc.Col(html.Div(id="audit-summary", className="text-body-secondary small"),
                                    md=4, className="d-flex align-items-end"),
                        ],
                        className="g-3",
                    )
                ),
                className="mb-3 shadow-sm",
            ),
            dbc.Card(dbc.CardBody(html.Div(id="audit-table"), className="p-2"), className="mb-3 shadow-sm"),
            dbc.Pagination(id="audit-pagination", max_value=1, active_page=1, fully_expanded=False,
                           first_last=True, previous_next=True),
        ],
        id="audit-root",
    )


GRID_COLUMNS = [
    {"field": "at", "headerName": "When (UTC)", "width": 190},
    {"field": "actor", "headerName": "Actor", "width": 130},
    {"field": "action", "headerName": "Action", "width": 170},
    {"field": "object", "headerName": "Object", "width": 140},
    {"field": "ip", "headerName": "IP", "width": 120},
    {"field": "details", "headerName": "Details", "flex": 1, "wrapText": True, "autoHeight": True},
]


def render_table(page: AuditPage, actor: str | None = None, action: str | None = None) -> html.Div:
    """One page of the log as an AG Grid, with CSV/XLSX of everything the filter matches."""
    links = export_links("audit", "audit-export", actor=clean_filter(actor), action=clean_filter(action))
    if not page.rows:
        return html.Div([html.Div("No audit entries match.", className="text-body-secondary p-2"), links])
    data = [{"id": r.id, "at": f"{r.at:%Y-%m-%d %H:%M:%S}", "actor": r.actor, "action": r.action, "object": r.object,
             "ip": r.ip or "—", "details": r.details} for r in page.rows]
    return html.Div([
        html.Div([html.Span("Export what the filter matches:", className="small text-body-secondary"), links],
                 className="d-flex align-items-center mb-1"),
        dag.AgGrid(id="audit-grid", rowData=data, columnDefs=GRID_COLUMNS, getRowId="params.data.id",
                   defaultColDef={"sortable": True, "resizable": True},
                   dashGridOptions={"suppressCellFocus": True, "domLayout": "autoHeight"}, style={"width": "100%"}),
    ])


def refresh(actor: str | None, action: str | None, active_page: int | None) -> tuple[object, int, str]:
    services = get_services()
    with services.sessions() as session:
        page = query_audit(session, actor=actor, action=action, page=active_page or 1)
    summary = f"{page.total:,} {'entry' if page.total == 1 else 'entries'} · page {page.page} of {page.pages}"
    return render_table(page, actor, action), page.pages, summary


def register(dash_app: dash.Dash) -> None:
    dash_app.callback(
        Output("audit-table", "children"),
        Output("audit-pagination", "max_value"),
        Output("audit-summary", "children"),
        Input("audit-actor", "value"),
        Input("audit-action", "value"),
        Input("audit-pagination", "active_page"),
    )(refresh)


register_page(
    __name__,
    name="audit",
    path="/audit",
    title="Audit log",
    roles=("admin",),
    layout=layout,
    callbacks=register,
    order=90,
    description="Every sign-in, sign-out and change, who made it and from where.",
)
