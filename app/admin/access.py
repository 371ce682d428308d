"""Role checks and request context for the admin pages' callbacks and downloads.

The guard already refuses a callback whose outputs belong to a page the role may not open;
these checks are the finer, per-action layer (a supervisor may open /campaigns but not save).
"""

from __future__ import annotations

from collections.abc import Iterable

import flask
from flask_login import current_user
from sqlalchemy.orm import Session

from core.exceptions import NotAuthenticated, PermissionDenied
from core.models import User

EDITORS = ("admin", "manager")
VIEWERS = ("admin", "manager", "supervisor")
ADMINS = ("admin",)


def role() -> str | None:
    if current_user and current_user.is_authenticated:
        return str(current_user.role)
    return None


def require(roles: Iterable[str]) -> str:
    current = role()
    if current is None:
        raise NotAuthenticated("login required")
    if current not in tuple(roles):
        raise PermissionDenied("your role may not do this")
    return current


def can(roles: Iterable[str]) -> bool:
    return role() in tuple(roles)


def actor(session: Session) -> User:
    user = session.get(User, int(current_user.id))
    if user is None:
        raise NotAuthenticated("user no longer exists")
    return user


def client_ip() -> str | None:
    try:
        return flask.request.remote_addr
    except RuntimeError:
        return None


def clicked() -> object:
    """The id of the input that fired this callback, or ``PreventUpdate`` when nothing was really
    clicked (a fresh page, or a request replaying ``None`` inputs)."""
    import dash
    from dash.exceptions import PreventUpdate

    triggered = [t for t in dash.ctx.triggered if t.get("value")]
    if not triggered:
        raise PreventUpdate
    return dash.ctx.triggered_id
