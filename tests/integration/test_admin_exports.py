"""Admin tables: CSV + XLSX export of every table (role-checked, formula cells neutralised), and
list enable/disable through the /lists callback (audited, refused to non-editors)."""

from __future__ import annotations

import csv
import io

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from app.admin import dnc as dnc_service
from app.admin import lists as list_service
from core.models import AuditLog, Campaign, Lead, LeadList, User
from tests.integration.test_admin_web import actor, body_for, post, signed_in

EVIL = '=HYPERLINK("http://x","y")'


@pytest.fixture()
def tables(web_app, db_committed) -> dict[str, int]:
    """A campaign, a list with leads and a DNC entry, each carrying a formula-looking value."""
    with Session(db_committed) as session, session.begin():
        c = Campaign(name=EVIL, safe_harbor_audio="sh.wav", target_abandon_rate=0.015)
        session.add(c)
        session.flush()
        lst = LeadList(campaign_id=c.id, name="@list")
        session.add(lst)
        session.flush()
        session.add_all([Lead(list_id=lst.id, phone_e164="+13125550101", first_name=EVIL, status="NEW"),
                         Lead(list_id=lst.id, phone_e164="+13125550102", first_name="Ann", status="NA")])
        session.scalar(sa.select(User).where(User.username == "admin")).full_name = "-1+1"
        dnc_service.add(session, "(312) 555-0199", None, "+cmd|' /C calc'!A0", actor=actor(session))
        return {"campaign": c.id, "list": lst.id}


def _csv(resp) -> list[list[str]]:
    return list(csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))))


def _xlsx(resp) -> list[tuple]:
    return list(load_workbook(io.BytesIO(resp.data)).active.values)


EXPORTS = [  # table, query string, a column, the neutralised value expected in it
    ("campaigns", "", "name", "'" + EVIL),
    ("lists", "", "campaign", "'" + EVIL),
    ("list-leads", "list_id={list}", "first_name", "'" + EVIL),
    ("dnc", "", "reason", "'+cmd|' /C calc'!A0"),
    ("dnc", "number=312.555.0199", "reason", "'+cmd|' /C calc'!A0"),
    ("users", "", "full_name", "'-1+1"),
    ("audit", "action=dnc.add", "action", "dnc.add"),
]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_every_admin_table_exports_neutralised(web_app, tables, fmt):
    client = signed_in(web_app, "admin")
    for table, query, column, expected in EXPORTS:
        resp = client.get(f"/api/exports/admin/{table}.{fmt}?" + query.format(**tables))
        assert resp.status_code == 200, (table, resp.data[:200])
        assert f'filename="{table}' in resp.headers["Content-Disposition"]
        rows = _csv(resp) if fmt == "csv" else [["" if v is None else str(v) for v in r] for r in _xlsx(resp)]
        header, data = rows[0], rows[1:]
        values = [r[header.index(column)] for r in data]
        assert expected in values, (table, values)
        assert not any(v.startswith(("=", "@")) for r in data for v in r), (table, data)
    # The counts are the tables' own: 2 leads in the list, 1 DNC entry, the whole users table.
    leads = _csv(client.get(f"/api/exports/admin/list-leads.csv?list_id={tables['list']}"))
    assert len(leads) == 3 and "password_hash" not in _csv(client.get("/api/exports/admin/users.csv"))[0]


def test_export_roles_and_bad_requests(web_app, tables):
    paths = ["campaigns.csv", "lists.xlsx", "dnc.csv", f"list-leads.csv?list_id={tables['list']}", "users.xlsx",
             "audit.csv"]
    allowed = {"admin": set(paths), "manager": set(paths) - {"audit.csv"}, "supervisor": set(), "agent": set()}
    for role, ok in allowed.items():
        client = signed_in(web_app, role)
        for path in paths:
            status = client.get(f"/api/exports/admin/{path}").status_code
            assert status == (200 if path in ok else 403), (role, path, status)
    anonymous = web_app.test_client()
    assert anonymous.get("/api/exports/admin/campaigns.csv").status_code == 401
    admin = signed_in(web_app, "admin")
    assert admin.get("/api/exports/admin/nosuch.csv").status_code == 404
    assert admin.get("/api/exports/admin/campaigns.pdf").status_code == 404
    assert admin.get("/api/exports/admin/list-leads.csv?list_id=x").status_code == 400
    assert admin.get("/api/exports/admin/list-leads.csv?list_id=999999").status_code == 404


def _active(engine, list_id: int) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(sa.select(LeadList.active).where(LeadList.id == list_id)).scalar_one())


def test_list_enable_disable_through_the_page_is_audited_and_editor_only(web_app, tables, db_committed):
    list_id = tables["list"]
    manager = signed_in(web_app, "manager")
    resp = post(manager, body_for(web_app, "lists-action-msg", {"lists-disable": 1, "lists-select": list_id}))
    assert resp.status_code == 200 and "List disabled." in resp.get_data(as_text=True)
    assert _active(db_committed, list_id) is False
    resp = post(manager, body_for(web_app, "lists-action-msg", {"lists-enable": 1, "lists-select": list_id}))
    assert "List enabled." in resp.get_data(as_text=True) and _active(db_committed, list_id) is True
    with db_committed.connect() as conn:
        trail = conn.execute(sa.select(AuditLog.action, AuditLog.actor_username, AuditLog.before, AuditLog.after)
                             .where(AuditLog.object_type == "list", AuditLog.object_id == str(list_id))
                             .order_by(AuditLog.id)).all()
    assert [tuple(t) for t in trail] == [("list.disable", "manager", {"active": True}, {"active": False}),
                                         ("list.enable", "manager", {"active": False}, {"active": True})]
    for role in ("supervisor", "agent"):
        refused = post(signed_in(web_app, role), body_for(web_app, "lists-action-msg",
                                                          {"lists-disable": 1, "lists-select": list_id}))
        assert refused.status_code == 403, role
    assert _active(db_committed, list_id) is True  # nothing changed
    with Session(db_committed) as session, pytest.raises(LookupError, match="no list 999999"):
        list_service.set_list_active(session, 999999, False, actor=actor(session))
