"""Admin pages against the real database: saving nothing on invalid input, audit rows, per-action
role checks on callbacks (403 for supervisors/agents, 401 anonymous), the downloads and an import job."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from dash._utils import split_callback_id
from sqlalchemy.orm import Session

from app.admin import campaigns as campaign_service
from app.admin import dnc as dnc_service
from app.admin import lists as list_service
from app.admin import users as user_service
from app.admin.campaign_form import DEFAULT_FORM
from app.auth import CSRF_COOKIE, CSRF_HEADER
from core.models import AuditLog, Campaign, ImportJob, Lead, LeadList, User
from core.passwords import verify_password
from dialer.import_jobs import PROGRESS_KEY, run_import_job, upload_path
from tests.conftest import WEB_USERS, web_login

BAD_ROWS_CSV = (
    "phone,first_name,last_name,state,plan\n"
    "(312) 555-0101,Ann,Lee,IL,gold\n"
    "not-a-number,Bob,Ray,TX,silver\n"
    "312-555-0102,=HYPERLINK(\"http://x\"),Kay,IL,gold\n"
    "3125550101,Dup,Licate,IL,gold\n"
    "312.555.0103,Cy,Moe,IL,\n"
)


@pytest.fixture()
def campaign(web_app, db_committed) -> dict[str, int]:
    with Session(db_committed) as session, session.begin():
        c = Campaign(name="Spring", safe_harbor_audio="sh.wav")
        session.add(c)
        session.flush()
        lst = LeadList(campaign_id=c.id, name="Main")
        session.add(lst)
        session.flush()
        return {"campaign": c.id, "list": lst.id}


def signed_in(app, role: str):
    client = app.test_client()
    web_login(client, WEB_USERS[role])
    client.get("/")
    return client


def post(client, body):
    cookie = client.get_cookie(CSRF_COOKIE)
    headers = {CSRF_HEADER: cookie.value} if cookie is not None else {}
    return client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json",
                       headers=headers)


def body_for(app, output_fragment: str, values: dict[str, object]) -> dict:
    """A callback request as Dash's renderer sends it after a click (``values``: input/state -> value)."""
    app.test_client().get("/healthz")
    callbacks = app.extensions["pydialer_dash"].callback_map
    key = next(k for k in callbacks if output_fragment in k)
    entry = callbacks[key]
    parts = split_callback_id(key)
    outputs = [[] if '["ALL"]' in str(p["id"]) else p for p in (parts if isinstance(parts, list) else [parts])]

    def wire(items):
        return [[] if isinstance(i["id"], dict) or str(i["id"]).startswith("{") else
                {"id": i["id"], "property": i["property"], "value": values.get(i["id"])} for i in items]

    inputs = wire(entry["inputs"])
    changed = [f"{i['id']}.{i['property']}" for i in inputs if isinstance(i, dict) and i.get("value") is not None]
    return {"output": key, "outputs": outputs if isinstance(parts, list) else outputs[0], "inputs": inputs,
            "changedPropIds": changed, "state": wire(entry.get("state", []))}


def actor(session: Session, role: str = "admin") -> User:
    return session.scalar(sa.select(User).where(User.username == WEB_USERS[role]))


def audit_count(engine, action: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(AuditLog).where(AuditLog.action == action)).scalar()


def test_invalid_campaign_edit_saves_nothing_and_valid_one_is_audited(campaign, db_committed):
    cid = campaign["campaign"]
    with Session(db_committed) as session, session.begin():
        bad = dict(DEFAULT_FORM, name="Renamed", dial_level="9", max_dial_level="abc", win_mon_start="06:00",
                   safe_harbor_audio="sh.wav", dispositions="SALE | Sale | sale")
        result = campaign_service.save_campaign(session, cid, bad, actor=actor(session))
    assert set(result.errors) == {"max_dial_level", "win_mon_start"}
    with Session(db_committed) as session:
        c = session.get(Campaign, cid)
        assert (c.name, c.dial_level) == ("Spring", 1.0)  # nothing saved, not even the valid fields
    assert audit_count(db_committed, "campaign.update") == 0
    with Session(db_committed) as session, session.begin():
        good = dict(DEFAULT_FORM, name="Renamed", dial_level="2", safe_harbor_audio="sh.wav", recycle_rules="NA 30 2",
                    dispositions="SALE | Sale | human sale", pause_codes="LUNCH | Lunch | unpaid | 45")
        assert campaign_service.save_campaign(session, cid, good, actor=actor(session)).ok
    with Session(db_committed) as session:
        entry = session.scalars(sa.select(AuditLog).where(AuditLog.action == "campaign.update")).one()
        assert entry.before["name"] == "Spring" and entry.after["name"] == "Renamed"
        assert entry.after["recycle_rules"] == [["NA", 1800, 2]] and "SALE | Sale" in entry.after["dispositions"]
        assert session.get(Campaign, cid).dial_level == 2.0
        clash = campaign_service.save_campaign(session, None, dict(good), actor=actor(session))
        assert "already has this name" in clash.errors["name"]


def test_campaign_save_callback_refuses_supervisor_agent_and_anonymous(web_app, campaign):
    body = body_for(web_app, "campaigns-alert.children", {"campaigns-save": 1, "campaigns-select": campaign["campaign"]})
    assert post(signed_in(web_app, "supervisor"), body).status_code == 403
    assert post(signed_in(web_app, "agent"), body).status_code == 403
    assert post(web_app.test_client(), body).status_code == 401
    # an editor gets per-field messages from the same request (empty form -> required fields)
    response = post(signed_in(web_app, "manager"), body)
    assert response.status_code == 200, response.get_data()[:300]
    assert "Nothing was saved" in response.get_data(as_text=True)


@pytest.mark.parametrize("fragment,values", [
    ("users-message.children", {"users-create": 1}),
    ("dnc-message.children", {"dnc-add": 1}),
    ("lists-action-msg.children", {"lists-reset": 1, "lists-select": 1}),
    ("campaigns-whatif-note.children", {"campaigns-whatif-run": 1, "campaigns-select": 1}),
])
def test_write_callbacks_refuse_non_editors(web_app, campaign, fragment, values):
    body = body_for(web_app, fragment, values)
    assert post(web_app.test_client(), body).status_code == 401
    for role in ("agent", "supervisor"):
        assert post(signed_in(web_app, role), body).status_code == 403, role
    if fragment.startswith("users"):
        assert post(signed_in(web_app, "manager"), body).status_code == 403  # managers only view users


def test_import_job_with_bad_rows_reports_and_downloads(web_app, campaign, db_committed):
    services = web_app.extensions["pydialer"]
    data_dir = services.settings.data_dir
    with Session(db_committed) as session, session.begin():
        job = list_service.create_import_job(session, campaign["list"], "leads.csv", actor=actor(session))
        job_id = job.id
    upload_path(data_dir, job_id).parent.mkdir(parents=True, exist_ok=True)
    upload_path(data_dir, job_id).write_bytes(BAD_ROWS_CSV.encode())
    mapping = {"phone": "phone", "first_name": "first_name", "last_name": "last_name", "state": "state",
               "plan": "custom:plan"}
    summary = run_import_job(services.engine, services.redis, data_dir, job_id, mapping)
    assert summary["imported"] == 3 and summary["rejected"] == 2, summary
    assert run_import_job(services.engine, services.redis, data_dir, job_id, mapping)["skipped"]  # idempotent
    assert services.redis.hgetall(PROGRESS_KEY.format(id=job_id)) == {"done": "5", "total": "5"}
    with Session(db_committed) as session:
        row = session.get(ImportJob, job_id)
        assert (row.status, row.good_rows, row.bad_rows) == ("done", 3, 2)
    url = f"/api/admin/imports/{job_id}/errors.csv"
    assert web_app.test_client().get(url).status_code == 401
    assert signed_in(web_app, "agent").get(url).status_code == 403
    assert signed_in(web_app, "supervisor").get(url).status_code == 403
    report = signed_in(web_app, "manager").get(url)
    assert report.status_code == 200 and report.mimetype == "text/csv"
    text = report.get_data(as_text=True)
    assert "row,column,severity,reason,value" in text and "not-a-number" in text and "duplicate of row 2" in text
    export = signed_in(web_app, "admin").get(f"/api/admin/lists/{campaign['list']}/export.csv")
    lines = export.get_data(as_text=True).splitlines()
    assert len(lines) == 4 and "plan=gold" in lines[1]
    assert "\"'=HYPERLINK(" in lines[2] and ",+13125550102," in lines[2], lines  # formula neutralised, phone kept
    assert signed_in(web_app, "agent").get(f"/api/admin/lists/{campaign['list']}/export.csv").status_code == 403


def test_bad_file_fails_the_job_with_a_message(web_app, campaign, db_committed):
    services = web_app.extensions["pydialer"]
    with Session(db_committed) as session, session.begin():
        job_id = list_service.create_import_job(session, campaign["list"], "x.csv", actor=actor(session)).id
    upload_path(services.settings.data_dir, job_id).write_bytes(b"\x00\x01\x02binary\x00" * 50)
    result = run_import_job(services.engine, services.redis, services.settings.data_dir, job_id)
    assert "failed" in result
    with Session(db_committed) as session:
        job = session.get(ImportJob, job_id)
        assert job.status == "failed" and job.error


def test_list_reset_and_status_counts(campaign, db_committed):
    with Session(db_committed) as session, session.begin():
        session.add_all([Lead(list_id=campaign["list"], phone_e164=f"+1312555010{i}", status=s, called_since_reset=True)
                         for i, s in enumerate(["NEW", "NA", "NA"])])
    with Session(db_committed) as session, session.begin():
        assert list_service.status_counts(session, campaign["list"]) == {"NA": 2, "NEW": 1}
        n = list_service.reset_list(session, campaign["list"], actor=actor(session), now=sa.func.now())
    assert n == 3
    with Session(db_committed) as session:
        assert session.scalar(sa.select(sa.func.count()).where(Lead.called_since_reset)) == 0
        assert session.get(LeadList, campaign["list"]).reset_count == 1
    assert audit_count(db_committed, "list.reset") == 1


def test_dnc_add_search_remove_bulk_all_audited(web_app, campaign, db_committed):
    with Session(db_committed) as session, session.begin():
        phone, created = dnc_service.add(session, "(312) 555-0199", None, "asked", actor=actor(session))
        assert (phone, created) == ("+13125550199", True)
        assert dnc_service.add(session, "+1 312 555 0199", None, "again", actor=actor(session))[1] is False
        assert dnc_service.add(session, "312 555 0199", campaign["campaign"], "camp", actor=actor(session))[1]
    with Session(db_committed) as session, session.begin():
        found, rows = dnc_service.search(session, "312.555.0199")
        assert found == "+13125550199" and {r["scope"] for r in rows} == {"global", "campaign"}
        with pytest.raises(ValueError, match="reason"):
            dnc_service.remove(session, rows[0]["id"], " ", actor=actor(session))
        dnc_service.remove(session, rows[0]["id"], "consent given", actor=actor(session))
        result = dnc_service.bulk_import(session, b"phone\n3125550150\nnonsense\n3125550151\n3125550150\n", "dnc.csv",
                                         None, "list", actor=actor(session))
    assert (result.added, result.already, [b[0] for b in result.bad]) == (2, 0, [3])
    assert audit_count(db_committed, "dnc.add") == 2 and audit_count(db_committed, "dnc.remove") == 1
    export = signed_in(web_app, "manager").get("/api/admin/dnc/export.csv")
    assert export.status_code == 200 and "+13125550150" in export.get_data(as_text=True)
    assert signed_in(web_app, "agent").get("/api/admin/dnc/export.csv").status_code == 403


def test_users_create_role_disable_reset_and_teams(web_app, db_committed):
    with Session(db_committed) as session, session.begin():
        admin = actor(session)
        with pytest.raises(ValueError, match="password"):
            user_service.create_user(session, "newbie", "N", "agent", None, "short", actor=admin)
        user = user_service.create_user(session, "Newbie", "New Bie", "agent", None, "correct-horse-42", actor=admin)
        uid = user.id
        user_service.update_user(session, uid, actor=admin, role="supervisor", is_active=False)
        team = user_service.save_team(session, None, "Night shift", actor=admin)
        user_service.save_team(session, team.id, "Late shift", actor=admin)
        with pytest.raises(ValueError, match="at least 10"):
            user_service.reset_password(session, uid, "weak", actor=admin, now=sa.func.now())
        assert user_service.reset_password(session, uid, "typed-by-admin-77", actor=admin, now=sa.func.now()) == (
            "typed-by-admin-77")
        new = user_service.reset_password(session, uid, None, actor=admin, now=sa.func.now())
        with pytest.raises(ValueError, match="own account"):
            user_service.update_user(session, admin.id, actor=admin, role="agent")
    with Session(db_committed) as session:
        user = session.get(User, uid)
        assert (user.username, user.role, user.is_active) == ("newbie", "supervisor", False)
        assert verify_password(user.password_hash, new) and new not in json.dumps(
            [a.after for a in session.scalars(sa.select(AuditLog))])
    assert audit_count(db_committed, "user.password_reset") == 2 and audit_count(db_committed, "team.rename") == 1
