"""What the page router shows for a path no page serves (Dash looks this module up by name).

It is registered with Dash only, not in :mod:`app.registry`: it has no ids of its own and no
path a user can be allowed or refused.
"""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import html


def layout(**_query: str) -> html.Div:
    return html.Div(
        dbc.Card(
            dbc.CardBody(
                [
                    html.P("404", className="display-6 fw-semibold text-body-secondary mb-1"),
                    html.H1("There is no such page", className="h5"),
                    dbc.Button("Back to the start page", href="/", outline=True, color="primary"),
                ],
                className="text-center p-4",
            ),
            className="pyd-narrow-card shadow-sm",
        ),
        className="py-5",
    )


dash.register_page(__name__, path="/404", layout=layout, title="Not found · PyDialer")
