"""The top bar: the pages this role may open, who is signed in, and a sign-out button.

Rendered per request by the shell layout, so an agent's navbar never even names a supervisor
page. The sign-out is a real ``<form method="post">`` carrying the CSRF token.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from app.registry import pages_for_role

ROLE_LABELS = {"admin": "Administrator", "manager": "Manager", "supervisor": "Supervisor", "agent": "Agent"}


def navbar(display_name: str, role: str, csrf_token: str) -> dbc.Navbar:
    links = [
        dbc.NavItem(dbc.NavLink(page.title, href=page.path, active="exact", id=f"shell-nav-{page.name}"))
        for page in pages_for_role(role)
    ]
    user_box = html.Div(
        [
            html.Div(
                [
                    html.Span(display_name, className="fw-semibold", id="shell-user-name"),
                    html.Span(ROLE_LABELS.get(role, role), className="badge pyd-role-badge ms-2", id="shell-user-role"),
                ],
                className="me-3 text-white-50 small d-flex align-items-center",
            ),
            html.Form(
                [
                    dcc.Input(type="hidden", name="csrf_token", value=csrf_token, id="shell-logout-csrf"),
                    html.Button("Sign out", type="submit", className="btn btn-sm btn-outline-light", id="shell-logout"),
                ],
                method="post",
                action="/logout",
                className="m-0",
            ),
        ],
        className="d-flex align-items-center ms-auto",
    )
    return dbc.Navbar(
        dbc.Container(
            [
                html.A(
                    [html.Span("P", className="pyd-logo me-2"), html.Span("PyDialer", className="fw-semibold")],
                    href="/",
                    className="navbar-brand d-flex align-items-center",
                ),
                dbc.Nav(links, navbar=True, className="me-auto"),
                user_box,
            ],
            fluid=True,
        ),
        color="dark",
        dark=True,
        className="pyd-navbar mb-3",
    )
