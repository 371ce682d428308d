"""``/audit``: the audit log for administrators (paged, filter by actor and action)."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, dcc, html

from app.audit_view import AuditPage, known_actions, query_audit
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


def render_table(page: AuditPage) -> html.Div:
    if not page.rows:
        return html.Div("No audit entries match.", className="text-body-secondary p-2")
    head = html.Thead(html.Tr([html.Th(h) for h in ("When (UTC)", "Actor", "Action", "Object", "IP", "Details")]))
    body = html.Tbody(
        [
            html.Tr(
                [
                    html.Td(f"{r.at:%Y-%m-%d %H:%M:%S}", className="text-nowrap font-monospace small"),
                    html.Td(r.actor),
                    html.Td(html.Code(r.action)),
                    html.Td(r.object),
                    html.Td(r.ip or "—", className="font-monospace small"),
                    html.Td(r.details, className="small text-break"),
                ]
            )
            for r in page.rows
        ]
    )
    return dbc.Table([head, body], hover=True, size="sm", className="mb-0 align-middle")


def refresh(actor: str | None, action: str | None, active_page: int | None) -> tuple[object, int, str]:
    services = get_services()
    with services.sessions() as session:
        page = query_audit(session, actor=actor, action=action, page=active_page or 1)
    summary = f"{page.total:,} {'entry' if page.total == 1 else 'entries'} · page {page.page} of {page.pages}"
    return render_table(page), page.pages, summary


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
