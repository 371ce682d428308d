"""The 403 panel the page router shows instead of a page the role may not see."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html


def forbidden_panel(title: str) -> html.Div:
    return html.Div(
        dbc.Card(
            dbc.CardBody(
                [
                    html.P("403", className="display-6 fw-semibold text-danger mb-1"),
                    html.H1(f"You do not have access to {title}", className="h5"),
                    html.P(
                        "Your role does not include this page. Ask an administrator if you need it.",
                        className="text-body-secondary",
                    ),
                    dbc.Button("Back to the start page", href="/", outline=True, color="primary"),
                ],
                className="text-center p-4",
            ),
            className="pyd-narrow-card shadow-sm",
        ),
        id="shell-forbidden",
        className="py-5",
    )
