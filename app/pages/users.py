"""``/users``: users and teams. Administrators manage them; managers see the list.

A generated password is shown once, in the response of the callback that set it, and stored only
as an Argon2id hash (:mod:`core.passwords`). Every change is audited (link to ``/audit``).
"""

from __future__ import annotations

import logging
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html

from app.admin import access
from app.admin import users as service
from app.admin.export_links import export_links
from app.pages import register_page
from app.services import get_services
from core.models import ROLES

logger = logging.getLogger(__name__)
NO_TEAM, NEW_TEAM = "none", "new"


def _team(value: Any) -> int | None:
    return None if value in (None, "", NO_TEAM, NEW_TEAM) else int(value)


def users_table(rows: list[dict[str, Any]]) -> Any:
    head = html.Thead(html.Tr([html.Th(h) for h in ("Username", "Name", "Role", "Team", "Status", "Last login (UTC)")]))
    body = html.Tbody([html.Tr([
        html.Td(r["username"]), html.Td(r["full_name"]), html.Td(r["role"]), html.Td(r["team"] or "—"),
        html.Td(dbc.Badge("active" if r["is_active"] else "disabled", color="success" if r["is_active"] else "secondary")),
        html.Td(f"{r['last_login_at']:%Y-%m-%d %H:%M}" if r["last_login_at"] else "never"),
    ]) for r in rows])
    return dbc.Table([head, body], size="sm", hover=True, className="mb-0", id="users-table-inner")


def _role_options() -> list[dict[str, str]]:
    return [{"label": r, "value": r} for r in ROLES]


def _admin_panel(users: list[dict[str, Any]], teams: list[dict[str, Any]]) -> html.Div:
    team_opts = [{"label": "(no team)", "value": NO_TEAM}] + [{"label": t["name"], "value": str(t["id"])} for t in teams]
    user_opts = [{"label": u["username"], "value": u["id"]} for u in users]
    return html.Div([
        dbc.Card([dbc.CardHeader("New user"), dbc.CardBody(dbc.Row([
            dbc.Col(dbc.Input(id="users-new-username", placeholder="username", maxLength=64), md=2),
            dbc.Col(dbc.Input(id="users-new-fullname", placeholder="full name", maxLength=200), md=3),
            dbc.Col(dbc.Select(id="users-new-role", options=_role_options(), value="agent"), md=2),
            dbc.Col(dbc.Select(id="users-new-team", options=team_opts, value=NO_TEAM), md=2),
            dbc.Col([dbc.Input(id="users-new-password", type="password", placeholder="password (empty = generate)",
                               maxLength=200, autoComplete="new-password"),
                     html.Div(id="users-new-strength", className="small")], md=2),
            dbc.Col(dbc.Button("Create", id="users-create", color="primary"), md=1),
        ], className="g-2"))], className="mb-3 shadow-sm"),
        dbc.Card([dbc.CardHeader("Change a user"), dbc.CardBody(dbc.Row([
            dbc.Col(dcc.Dropdown(id="users-select", options=user_opts, placeholder="user"), md=2),
            dbc.Col(dbc.Select(id="users-role", options=_role_options(), placeholder="role"), md=2),
            dbc.Col(dbc.Select(id="users-team", options=team_opts, placeholder="team"), md=2),
            dbc.Col(dbc.Input(id="users-reset-password", type="password", placeholder="new password (empty = generate)",
                              maxLength=200, autoComplete="new-password"), md=2),
            dbc.Col([dbc.Button("Apply role/team", id="users-apply", color="primary", size="sm", className="me-1"),
                     dbc.Button("Enable", id="users-enable", color="success", outline=True, size="sm", className="me-1"),
                     dbc.Button("Disable", id="users-disable", color="secondary", outline=True, size="sm",
                                className="me-1"),
                     dbc.Button("Reset password", id="users-reset", color="warning", outline=True, size="sm")], md=4),
        ], className="g-2"))], className="mb-3 shadow-sm"),
        dbc.Card([dbc.CardHeader("Teams"), dbc.CardBody(dbc.Row([
            dbc.Col(dbc.Select(id="users-team-select", options=[{"label": "+ new team", "value": NEW_TEAM}] + team_opts[1:],
                               value=NEW_TEAM), md=4),
            dbc.Col(dbc.Input(id="users-team-name", placeholder="team name", maxLength=100), md=5),
            dbc.Col(dbc.Button("Save team", id="users-team-save", color="primary"), md=3),
        ], className="g-2"))], className="mb-3 shadow-sm"),
    ])


def layout(**_query: str) -> html.Div:
    with get_services().sessions() as session:
        users = service.user_rows(session)
        teams = service.team_rows(session)
    is_admin = access.can(access.ADMINS)
    return html.Div([
        html.Div([html.H1("Users and teams", className="h3 mb-0"),
                  html.A("Audit log", href="/audit", className="ms-auto small", id="users-audit-link") if is_admin else None],
                 className="d-flex align-items-center mb-3"),
        html.Div(id="users-message"),
        _admin_panel(users, teams) if is_admin else dbc.Alert("Only administrators can change users.", color="light"),
        dbc.Card([dbc.CardHeader(html.Div(["Users", export_links("users", "users-export")],
                                          className="d-flex align-items-center")), dbc.CardBody(html.Div(users_table(users), id="users-table"), className="p-2")],
                 className="mb-3 shadow-sm"),
        dbc.Card([dbc.CardHeader("Teams"), dbc.CardBody(html.Div(
            ", ".join(f"{t['name']} ({t['members']})" for t in teams) or "No teams.", id="users-teams"))],
                 className="shadow-sm"),
    ], id="users-root")


def strength(password: str | None, username: str | None) -> Any:
    if not password:
        return ""
    access.require(access.ADMINS)
    problems = service.password_problems(password, username or "")
    if problems:
        return html.Span("; ".join(problems), className="text-danger")
    return html.Span("strong enough", className="text-success")


def _refresh() -> tuple[Any, str]:
    with get_services().sessions() as session:
        users = service.user_rows(session)
        teams = service.team_rows(session)
    return users_table(users), ", ".join(f"{t['name']} ({t['members']})" for t in teams) or "No teams."


def _once(password: str, who: str) -> Any:
    return dbc.Alert([f"Password for {who} (shown once, copy it now): ", html.Code(password, id="users-onetime")],
                     color="warning")


def act(*args: Any) -> tuple[Any, Any, Any]:
    trigger = access.clicked()
    access.require(access.ADMINS)
    (_c, _a, _e, _d, _r, _t, username, fullname, role, team, password, selected, new_role, new_team, team_id,
     team_name, reset_to) = (list(args) + [None] * 17)[:17]
    services = get_services()
    ip = access.client_ip()
    try:
        with services.sessions() as session, session.begin():
            actor = access.actor(session)
            if trigger == "users-create":
                given = password or service.generate_password()
                user = service.create_user(session, username or "", fullname or "", role or "", _team(team),
                                           given, actor=actor, ip=ip)
                msg = _once(given, user.username) if not password else dbc.Alert(f"User {user.username} created.",
                                                                                 color="success")
            elif trigger == "users-team-save":
                saved = service.save_team(session, _team(team_id), team_name or "", actor=actor, ip=ip)
                msg = dbc.Alert(f"Team {saved.name} saved.", color="success")
            else:
                if selected is None:
                    raise ValueError("choose a user")
                uid = int(selected)
                if trigger == "users-apply":
                    changes: dict[str, Any] = {}
                    if new_role:
                        changes["role"] = new_role
                    if new_team is not None:
                        changes["team_id"] = _team(new_team)
                    user = service.update_user(session, uid, actor=actor, ip=ip, **changes)
                    msg = dbc.Alert(f"{user.username}: role {user.role}.", color="success")
                elif trigger in ("users-enable", "users-disable"):
                    user = service.update_user(session, uid, actor=actor, ip=ip, is_active=trigger == "users-enable")
                    msg = dbc.Alert(f"{user.username} {'enabled' if user.is_active else 'disabled'}.", color="success")
                else:
                    new = service.reset_password(session, uid, reset_to or None, actor=actor, now=services.clock.now(),
                                                 ip=ip)
                    msg = _once(new, f"user #{uid}") if not reset_to else dbc.Alert("Password changed.", color="success")
    except (ValueError, LookupError) as exc:
        return dbc.Alert(str(exc), color="danger", id="users-error"), dash.no_update, dash.no_update
    table, teams = _refresh()
    return msg, table, teams


def register(dash_app: dash.Dash) -> None:
    dash_app.callback(Output("users-new-strength", "children"), Input("users-new-password", "value"),
                      State("users-new-username", "value"), prevent_initial_call=True)(strength)
    dash_app.callback(
        Output("users-message", "children"), Output("users-table", "children"), Output("users-teams", "children"),
        Input("users-create", "n_clicks"), Input("users-apply", "n_clicks"), Input("users-enable", "n_clicks"),
        Input("users-disable", "n_clicks"), Input("users-reset", "n_clicks"), Input("users-team-save", "n_clicks"),
        State("users-new-username", "value"), State("users-new-fullname", "value"), State("users-new-role", "value"),
        State("users-new-team", "value"), State("users-new-password", "value"), State("users-select", "value"),
        State("users-role", "value"), State("users-team", "value"), State("users-team-select", "value"),
        State("users-team-name", "value"), State("users-reset-password", "value"),
        prevent_initial_call=True,
    )(act)


register_page(
    __name__,
    name="users",
    path="/users",
    title="Users",
    roles=("admin", "manager"),
    layout=layout,
    callbacks=register,
    order=80,
    description="Users, roles, teams and password resets (administrators).",
)
