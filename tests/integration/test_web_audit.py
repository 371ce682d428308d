"""The /audit page: its query (filters, paging, bad input) and its callback for an admin."""

from __future__ import annotations

import json

from sqlalchemy import select

from app.audit_view import known_actions, query_audit
from core import audit
from core.models import User
from tests.conftest import web_login
from tests.integration.test_security_guard import AUDIT_OUTPUT, callback_body, post_callback


def test_query_filters_pages_and_clamps(db_session, web_password_hash):
    user = User(username="auditor", password_hash=web_password_hash, role="admin")
    db_session.add(user)
    db_session.flush()
    for i in range(30):
        audit.record(db_session, actor=user if i % 3 else None, action="thing.done" if i % 2 else "thing.made",
                     object_type="thing", object_id=i, after={"i": i}, ip="10.0.0.1")
    everything = query_audit(db_session, page_size=10)
    assert (everything.total, everything.pages, everything.page, len(everything.rows)) == (30, 3, 1, 10)
    assert everything.rows[0].object == "thing:29"  # newest first
    by_actor = query_audit(db_session, actor=" AUDITOR ", page_size=100)
    assert by_actor.total == 20 and {r.actor for r in by_actor.rows} == {"auditor"}
    both = query_audit(db_session, actor="auditor", action="thing.done", page_size=100)
    assert both.total == len([i for i in range(30) if i % 3 and i % 2])
    last = query_audit(db_session, page=99, page_size=10)
    assert last.page == 3 and last.rows[-1].object == "thing:0"
    for bad_page in (0, -5, "2", None, True):
        assert query_audit(db_session, page=bad_page, page_size=10).page == 1
    assert query_audit(db_session, actor=["x"], page_size=10).total == 30  # unusable filter: ignored
    assert query_audit(db_session, actor="nobody").total == 0
    assert query_audit(db_session, page_size=10).rows[0].ip == "10.0.0.1"
    assert known_actions(db_session) == ["thing.done", "thing.made"]
    assert db_session.scalars(select(User).where(User.username == "auditor")).one()


def test_audit_callback_for_admin(web_app):
    client = web_app.test_client()
    web_login(client, "supervisor", "wrong")
    web_login(client, "admin")
    inputs = [{"id": "audit-actor", "property": "value"}, {"id": "audit-action", "property": "value"},
              {"id": "audit-pagination", "property": "active_page"}]
    body = callback_body(AUDIT_OUTPUT, inputs)
    body["inputs"][1]["value"] = "auth.login_failed"
    response = post_callback(client, body)
    assert response.status_code == 200
    payload = json.loads(response.get_data(as_text=True))["response"]
    assert payload["audit-summary"]["children"] == "1 entry · page 1 of 1"
    table = json.dumps(payload["audit-table"])
    assert "bad_password" in table and "auth.login_failed" in table and '"auth.login"' not in table
    assert payload["audit-pagination"]["max_value"] == 1
