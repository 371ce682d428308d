"""``/``: the start page: the pages a role may open and its account. Admins and agents land here
after sign-in; supervisors and managers land on the wallboard (``app.auth.LANDING_BY_ROLE``)."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html
from flask_login import current_user

from app.components.navbar import ROLE_LABELS
from app.pages import register_page
from app.registry import pages_for_role
from app.services import get_services
from core.models import User


def _account_card() -> dbc.Card:
    services = get_services()
    with services.sessions() as session:
        user = session.get(User, int(current_user.id))
        team = user.team.name if user is not None and user.team is not None else "—"
        last = f"{user.last_login_at:%Y-%m-%d %H:%M} UTC" if user is not None and user.last_login_at else "—"
    rows = [
        ("Username", current_user.username),
        ("Role", ROLE_LABELS.get(current_user.role, current_user.role)),
        ("Team", team),
        ("Signed in", last),
    ]
    return dbc.Card(
        [
            dbc.CardHeader("Your account"),
            dbc.CardBody(
                html.Dl(
                    [item for label, value in rows for item in (html.Dt(label, className="col-5"), html.Dd(value, className="col-7"))],
                    className="row mb-0 small",
                ),
            ),
        ],
        className="shadow-sm",
        id="home-account",
    )


def layout(**_query: str) -> html.Div:
    pages = [p for p in pages_for_role(current_user.role) if p.name != "home"]
    if pages:
        cards = [
            dbc.Col(
                html.A(
                    dbc.Card(dbc.CardBody([html.H2(p.title, className="h5"), html.P(p.description, className="mb-0 text-body-secondary small")])),
                    href=p.path,
                    className="text-decoration-none pyd-page-card",
                    id=f"home-link-{p.name}",
                ),
                md=6,
            )
            for p in pages
        ]
        body: object = dbc.Row(cards, className="g-3")
    else:
        body = html.P("There are no pages for your role in this release yet.", className="text-body-secondary")
    return html.Div(
        [
            html.H1(f"Welcome, {current_user.display_name}", className="h3 mb-3"),
            dbc.Row([dbc.Col(body, lg=8), dbc.Col(_account_card(), lg=4)], className="g-3"),
        ],
        id="home-root",
    )


register_page(
    __name__,
    name="home",
    path="/",
    title="Home",
    roles=("admin", "manager", "supervisor", "agent"),
    layout=layout,
    order=0,
    description="Your start page.",
)
