"""Background list exports through the Flask test client: start (202) -> poll -> done -> download
equals the list's leads with formula cells neutralised; 401/403/404 like every /api view; the
/lists callback that starts one checks the role too."""

from __future__ import annotations

import csv
import io
import time

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.api.export_jobs import LAUNCHER_KEY, thread_launcher
from app.auth import CSRF_COOKIE, CSRF_HEADER
from core.models import Campaign, Lead, LeadList
from tests.integration.test_admin_web import body_for, post, signed_in

EVIL = '=HYPERLINK("http://x","y")'


@pytest.fixture()
def export_app(web_app):
    """The export runs in a real background thread of this process, as a Celery worker would run it."""
    services = web_app.extensions["pydialer"]
    web_app.extensions[LAUNCHER_KEY] = thread_launcher(services.engine, services.redis, services.settings.data_dir)
    return web_app


@pytest.fixture()
def lead_list(export_app, db_committed) -> int:
    with Session(db_committed) as session, session.begin():
        c = Campaign(name="Exports", safe_harbor_audio="sh.wav")
        session.add(c)
        session.flush()
        lst = LeadList(campaign_id=c.id, name="Export me")
        session.add(lst)
        session.flush()
        session.add_all([Lead(list_id=lst.id, phone_e164=f"+1312555{i:04d}", first_name=f"Lead {i}", status="NEW")
                         for i in range(1, 26)])
        session.add(Lead(list_id=lst.id, phone_e164="+13125559999", first_name=EVIL, last_name="@sum",
                         status="NA", custom_fields={"plan": "gold"}))
        return lst.id


def api_post(client, url: str):
    return client.post(url, headers={CSRF_HEADER: client.get_cookie(CSRF_COOKIE).value})


def wait_done(client, export_id: str, timeout_s: float = 30.0) -> list[dict]:
    seen, deadline = [], time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = client.get(f"/api/admin/exports/{export_id}")
        assert response.status_code == 200, response.get_data()[:300]
        seen.append(response.get_json())
        if seen[-1]["state"] == "done":
            return seen
        time.sleep(0.05)
    raise AssertionError(f"export {export_id} did not finish: {seen[-1:]}")


def test_start_poll_download_equals_the_lists_leads(export_app, lead_list, db_committed):
    client = signed_in(export_app, "manager")
    started = api_post(client, f"/api/admin/lists/{lead_list}/exports")
    assert started.status_code == 202, started.get_data()[:300]
    body = started.get_json()
    export_id = body["export"]
    assert body["list_id"] == lead_list and started.headers["Location"] == body["progress"]
    progress = wait_done(client, export_id)
    final = progress[-1]
    assert (final["done"], final["total"], final["percent"]) == (26, 26, 100.0), final
    assert all(p["state"] in ("queued", "running", "done") for p in progress)

    download = client.get(body["download"])
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert "attachment" in download.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(download.get_data(as_text=True))))
    with db_committed.connect() as conn:
        leads = conn.execute(sa.text("SELECT id, phone_e164, first_name, status FROM leads WHERE list_id = :l "
                                     "ORDER BY id"), {"l": lead_list}).all()
    assert [(int(r["id"]), r["phone_e164"], r["status"]) for r in rows] == [(i, p, s) for i, p, _f, s in leads]
    by_phone = {r["phone_e164"]: r for r in rows}
    assert by_phone["+13125559999"]["first_name"] == "'" + EVIL  # formula neutralised
    assert by_phone["+13125559999"]["last_name"] == "'@sum"
    assert by_phone["+13125550001"]["first_name"] == "Lead 1"
    assert not any(v.startswith(("=", "@")) for r in rows for v in r.values())
    # a second start is a new export id, the first one's file stays downloadable
    again = api_post(signed_in(export_app, "admin"), f"/api/admin/lists/{lead_list}/exports").get_json()["export"]
    assert again != export_id
    wait_done(client, again)
    assert client.get(body["download"]).get_data() == download.get_data()


def test_roles_unknown_ids_and_bad_lists(export_app, lead_list):
    admin = signed_in(export_app, "admin")
    export_id = api_post(admin, f"/api/admin/lists/{lead_list}/exports").get_json()["export"]
    wait_done(admin, export_id)
    urls = [("POST", f"/api/admin/lists/{lead_list}/exports"), ("GET", f"/api/admin/exports/{export_id}"),
            ("GET", f"/api/admin/exports/{export_id}/download")]
    anonymous = export_app.test_client()
    for method, url in urls:
        assert anonymous.open(url, method=method).status_code == 401, url
        for role in ("agent", "supervisor"):
            client = signed_in(export_app, role)
            headers = {CSRF_HEADER: client.get_cookie(CSRF_COOKIE).value} if method == "POST" else {}
            response = client.open(url, method=method, headers=headers)
            assert response.status_code == 403, (role, url, response.status_code)
            assert "may not use this endpoint" in response.get_json()["message"]

    for url in ("/api/admin/exports/0123456789abcdef", "/api/admin/exports/0123456789abcdef/download",
                "/api/admin/exports/..%2F..%2Fetc/download"):
        response = admin.get(url)
        assert response.status_code == 404, (url, response.status_code)
        if response.is_json:
            assert response.get_json()["error"] == "not_found"
    missing = api_post(admin, "/api/admin/lists/999999/exports")
    assert missing.status_code == 404 and missing.get_json()["error"] == "not_found"
    assert "no list 999999" in missing.get_json()["message"]
    bad = api_post(admin, "/api/admin/lists/abc/exports")
    assert bad.status_code == 400 and "not a list id" in bad.get_json()["details"]["list_id"]


def test_download_before_the_file_is_done_is_409(export_app, lead_list):
    services = export_app.extensions["pydialer"]
    export_app.extensions[LAUNCHER_KEY] = lambda _export_id, _list_id: None  # a worker that never picks it up
    admin = signed_in(export_app, "admin")
    export_id = api_post(admin, f"/api/admin/lists/{lead_list}/exports").get_json()["export"]
    progress = admin.get(f"/api/admin/exports/{export_id}").get_json()
    assert (progress["state"], progress["done"], progress["percent"]) == ("queued", 0, 0.0)
    response = admin.get(f"/api/admin/exports/{export_id}/download")
    assert response.status_code == 409 and response.get_json()["error"] == "conflict"
    assert services.redis.ttl(f"pyd:export:{export_id}:progress") > 0  # progress hashes expire


def test_a_failing_export_says_so_and_the_page_stops_polling(export_app, lead_list, tmp_path):
    services = export_app.extensions["pydialer"]
    (tmp_path / "exports").write_text("a file where the exports directory should be")
    export_app.extensions[LAUNCHER_KEY] = thread_launcher(services.engine, services.redis, tmp_path)
    admin = signed_in(export_app, "admin")
    export_id = api_post(admin, f"/api/admin/lists/{lead_list}/exports").get_json()["export"]
    deadline = time.monotonic() + 30
    while (p := admin.get(f"/api/admin/exports/{export_id}").get_json())["state"] != "failed":
        assert time.monotonic() < deadline and p["state"] != "done", p
        time.sleep(0.05)
    assert p["error"] and p["percent"] < 100
    assert admin.get(f"/api/admin/exports/{export_id}/download").status_code == 409
    poll = body_for(export_app, "lists-export-poll.disabled@", {"lists-export-poll": 1,
                                                                 "lists-export-job": {"export": export_id}})
    done = post(admin, poll).get_json()["response"]
    assert done["lists-export-poll"]["disabled"] is True
    assert done["lists-export-status"]["children"]["props"]["id"] == "lists-export-failed"


def test_the_lists_callback_starts_an_export_and_checks_the_role(export_app, lead_list):
    body = body_for(export_app, "lists-export-job.data", {"lists-export-bg": 1, "lists-select": lead_list})
    assert post(export_app.test_client(), body).status_code == 401
    for role in ("agent", "supervisor"):
        assert post(signed_in(export_app, role), body).status_code == 403, role
    manager = signed_in(export_app, "manager")
    response = post(manager, body)
    assert response.status_code == 200, response.get_data()[:300]
    export_id = response.get_json()["response"]["lists-export-job"]["data"]["export"]
    assert wait_done(manager, export_id)[-1]["done"] == 26
    poll = body_for(export_app, "lists-export-poll.disabled@", {"lists-export-poll": 1,
                                                                 "lists-export-job": {"export": export_id}})
    assert post(signed_in(export_app, "agent"), poll).status_code == 403
    done = post(manager, poll).get_json()["response"]
    assert done["lists-export-poll"]["disabled"] is True and done["lists-export-progress"]["value"] == 100.0
    link = done["lists-export-status"]["children"]["props"]["children"][1]["props"]
    assert (link["id"], link["href"]) == ("lists-export-download", f"/api/admin/exports/{export_id}/download")
