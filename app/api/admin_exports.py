"""CSV / XLSX exports of every admin table: ``GET /api/exports/admin/<table>.<csv|xlsx>``.

Tables and who may export them (the roles that see the whole table on its page; supervisors
read the pages but export nothing, like the existing list/DNC CSV downloads):

* ``campaigns``, ``lists``, ``dnc`` (``?number=`` limits it to a search, as on /dnc),
  ``list-leads`` (``?list_id=``): admins and managers;
* ``users``: admins and managers (no password hashes, ever);
* ``audit`` (``?actor=&action=`` as on /audit, newest first, up to :data:`MAX_AUDIT_ROWS`): admins.

The bytes come from :func:`app.api.exports.send` -- the same writer as the analytics exports,
which neutralises formula cells (``dialer.importer.report.looks_like_formula``) in CSV and XLSX.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import flask
from sqlalchemy.orm import Session

from app.admin import campaigns as campaign_service
from app.admin import dnc as dnc_service
from app.admin import lists as list_service
from app.admin import users as user_service
from app.admin.access import EDITORS
from app.api import require_roles
from app.api.exports import send
from app.audit_view import query_audit
from app.services import get_services
from core.exceptions import NotFound, PermissionDenied, ValidationError
from core.models import LeadList

logger = logging.getLogger(__name__)

MAX_AUDIT_ROWS = 100_000
Table = tuple[list[str], list[list[Any]]]


def _dicts(rows: list[dict[str, Any]], columns: list[str] | None = None) -> Table:
    cols = columns or (list(rows[0]) if rows else [])
    return cols, [[r.get(c) for c in cols] for r in rows]


def _campaigns(session: Session, _args: Any) -> Table:
    return _dicts(campaign_service.campaign_rows(session),
                  ["id", "name", "active", "dial_method", "target_abandon_rate", "leads"])


def _lists(session: Session, _args: Any) -> Table:
    return _dicts(list_service.list_rows(session),
                  ["id", "name", "active", "campaign", "leads", "not_called", "reset_count", "last_reset_at"])


def _list_leads(session: Session, args: Any) -> Table:
    raw = str(args.get("list_id", ""))
    if not raw.isdigit():
        raise ValidationError("invalid export", {"list_id": "a list id"})
    if session.get(LeadList, int(raw)) is None:
        raise NotFound(f"no list {raw}")
    columns = [*list_service.EXPORT_COLUMNS, "custom_fields"]
    return columns, [list(r) for r in list_service.export_rows(session, int(raw))]


def _dnc(session: Session, args: Any) -> Table:
    number = str(args.get("number", "")).strip()
    if number:
        _normalised, rows = dnc_service.search(session, number, limit=10_000)
        return _dicts(rows)
    columns = ["phone_e164", "scope", "campaign", "source", "reason", "added_at"]
    return columns, [list(r) for r in dnc_service.export_rows(session)]


def _users(session: Session, _args: Any) -> Table:
    return _dicts(user_service.user_rows(session),
                  ["id", "username", "full_name", "role", "team", "is_active", "last_login_at"])


def _audit(session: Session, args: Any) -> Table:
    page = query_audit(session, actor=args.get("actor"), action=args.get("action"), page=1,
                       page_size=MAX_AUDIT_ROWS)
    columns = ["id", "at", "actor", "action", "object", "ip", "details"]
    return columns, [[getattr(r, c) for c in columns] for r in page.rows]


TABLES: dict[str, tuple[tuple[str, ...], Callable[[Session, Any], Table]]] = {
    "campaigns": (EDITORS, _campaigns),
    "lists": (EDITORS, _lists),
    "list-leads": (EDITORS, _list_leads),
    "dnc": (EDITORS, _dnc),
    "users": (("admin", "manager"), _users),
    "audit": (("admin",), _audit),
}


@require_roles(EDITORS)  # the widest set any table allows; each table narrows it below
def admin_export(table: str, fmt: str) -> flask.Response:
    from flask_login import current_user

    if table not in TABLES:
        raise NotFound(f"no admin export named {table!r}")
    roles, build = TABLES[table]
    if current_user.role not in roles:
        raise PermissionDenied(f"your role may not export {table}")
    with get_services().sessions() as session:
        columns, rows = build(session, flask.request.args)
    suffix = f"-{flask.request.args['list_id']}" if table == "list-leads" else ""
    logger.info("admin export %s.%s: %d rows", table, fmt, len(rows))
    return send(columns, rows, f"{table}{suffix}-{datetime.now(UTC):%Y%m%d}", fmt)


def export_href(table: str, fmt: str, **params: object) -> str:
    from urllib.parse import urlencode

    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return f"/api/exports/admin/{table}.{fmt}" + (f"?{query}" if query else "")


def init_app(server: flask.Flask) -> None:
    if "api_export_admin" not in server.view_functions:
        server.add_url_rule("/api/exports/admin/<table>.<fmt>", "api_export_admin", admin_export, methods=["GET"])
