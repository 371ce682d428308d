"""The admin pages in headless Chromium against a real server: per-role visibility, a rejected
campaign edit that saves nothing, a lead import with bad rows (progress bar, then the error report
download) and the what-if chart. Screenshots go to test-artifacts/admin-*.png."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.browser.conftest import LiveServer, job_server, open_as

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PAGES = ("/campaigns", "/lists", "/dnc", "/users")
VISIBLE = {  # role -> page -> (ids that must be present, ids that must be absent); None = refused (403)
    "admin": {"/campaigns": (["campaigns-table", "campaigns-save"], []), "/lists": (["lists-upload"], []),
              "/dnc": (["dnc-add", "dnc-export"], []), "/users": (["users-create", "users-audit-link"], [])},
    "manager": {"/campaigns": (["campaigns-save", "campaigns-whatif-run"], []), "/lists": (["lists-upload"], []),
                "/dnc": (["dnc-add"], []), "/users": (["users-table"], ["users-create", "users-reset"])},
    "supervisor": {"/campaigns": (["campaigns-table"], ["campaigns-save", "campaigns-whatif-run",
                                                        "campaigns-export-csv"]),
                   "/lists": (["lists-table"], ["lists-upload", "lists-reset", "lists-table-export-xlsx"]),
                   "/dnc": (["dnc-search-number"], ["dnc-add", "dnc-export", "dnc-export-xlsx"]), "/users": None},
    "agent01": dict.fromkeys(PAGES),
}


class _UnhurriedProgress:
    """The job's Redis client, pausing after each progress update it publishes.

    The 40,000-row import takes under a second here, less than two of the page's 500 ms polls, so
    a browser on a busy CI machine could see only 0 and 100. Pausing after each of its ~20 chunk
    updates stretches the same real job over ~4 s: the bar then has to show what the job publishes."""

    def __init__(self, client: Any, pause_s: float = 0.2) -> None:
        self._client, self._pause_s = client, pause_s

    def hset(self, *args: Any, **kwargs: Any) -> Any:
        result = self._client.hset(*args, **kwargs)
        time.sleep(self._pause_s)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def unhurried_import_launcher(engine: sa.Engine, redis_client: Any, data_dir: Path) -> Any:
    from app.admin.imports import thread_launcher

    return thread_launcher(engine, _UnhurriedProgress(redis_client), data_dir)


@pytest.fixture(scope="module")
def admin_server(base_settings, db_engine, db_url, web_redis_url) -> Iterator[LiveServer]:
    from app.admin.imports import LAUNCHER_KEY

    with job_server(base_settings, db_engine, db_url, web_redis_url, secret_key="browser-admin-secret", lead_count=300,
                    dnc_count=10, launchers={LAUNCHER_KEY: unhurried_import_launcher}) as server:
        yield server


@pytest.mark.parametrize("username", list(VISIBLE))
def test_each_role_sees_only_what_it_may(chromium, admin_server, artifacts_dir, username):
    context, page = open_as(chromium, admin_server, username)
    try:
        for path, expect in VISIBLE[username].items():
            response = page.goto(path)
            if expect is None:
                assert response.status == 403, (username, path)
                # the browser logs the refused document load itself; nothing else may be logged
                page.errors[:] = [e for e in page.errors if "403 (FORBIDDEN)" not in e]
                continue
            assert response.status == 200
            present, absent = expect
            for ident in present:
                page.locator(f"#{ident}").wait_for(timeout=15000)
            page.wait_for_load_state("networkidle")
            for ident in absent:
                assert page.locator(f"#{ident}").count() == 0, (username, path, ident)
            page.screenshot(path=str(artifacts_dir / f"admin-{username}{path.replace('/', '-')}.png"), full_page=True)
        assert page.errors == [], page.errors
    finally:
        context.close()


def choose(page, dropdown_id: str, label: str) -> None:
    page.click(f"#{dropdown_id}")
    page.get_by_role("option", name=re.compile(re.escape(label))).first.click()


def test_invalid_campaign_edit_shows_messages_and_saves_nothing(chromium, admin_server, artifacts_dir):
    with admin_server.engine.connect() as conn:
        cid, name, level = conn.execute(sa.text("SELECT id, name, max_dial_level FROM campaigns ORDER BY id LIMIT 1")).one()
        audits = conn.execute(sa.text("SELECT count(*) FROM audit_log WHERE action = 'campaign.update'")).scalar()
    context, page = open_as(chromium, admin_server, "admin")
    try:
        page.goto("/campaigns")
        choose(page, "campaigns-select", name)
        name_box = page.locator('[id*=\'"field":"name"\']')
        page.wait_for_function("el => el.value !== ''", arg=name_box.element_handle(), timeout=15000)
        name_box.fill("Renamed by a bad edit")
        page.locator('[id*=\'"field":"max_dial_level"\']').fill("lots")
        page.locator('[id*=\'"field":"win_mon_start"\']').fill("06:30")
        page.locator('[id*=\'"field":"target_abandon_rate"\']').fill("7")
        page.click("#campaigns-save")
        page.locator("#campaigns-alert-error").wait_for(timeout=15000)
        assert "Nothing was saved" in page.locator("#campaigns-alert-error").inner_text()
        assert "not a number" in page.locator('[id*=\'"fb":"max_dial_level"\']').inner_text()
        assert "TCPA" in page.locator('[id*=\'"fb":"win_mon_start"\']').inner_text()
        assert "310.4" in page.locator('[id*=\'"fb":"target_abandon_rate"\']').inner_text()
        page.wait_for_timeout(500)  # let any follow-up callback run: the typed values must stay
        assert page.locator('[id*=\'"field":"max_dial_level"\']').input_value() == "lots"
        assert name_box.input_value() == "Renamed by a bad edit"
        page.screenshot(path=str(artifacts_dir / "admin-campaign-invalid.png"), full_page=True)
        assert page.errors == [], page.errors
    finally:
        context.close()
    with admin_server.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT name, max_dial_level FROM campaigns WHERE id = :i"), {"i": cid}).one() == (
            name, level)
        assert conn.execute(sa.text("SELECT count(*) FROM audit_log WHERE action = 'campaign.update'")).scalar() == audits


def leads_file(rows: int) -> bytes:
    lines = ["phone,first_name,last_name,state,plan"]
    for i in range(rows):
        lines.append(f"(312) {200 + i // 10000:03d}-{i % 10000:04d},First{i},Last{i},IL,gold")
    lines[5] = "not a phone,Bad,Row,IL,gold"
    lines[9] = lines[8].replace("First7", "Dupe")  # same phone as the row above
    return ("\n".join(lines) + "\n").encode()


def test_import_with_bad_rows_shows_progress_then_error_report(chromium, admin_server, artifacts_dir, tmp_path):
    with admin_server.engine.begin() as conn:
        campaign = conn.execute(sa.text("SELECT id FROM campaigns ORDER BY id LIMIT 1")).scalar()
        list_id = conn.execute(sa.text("INSERT INTO lists (campaign_id, name) VALUES (:c, 'Browser import') RETURNING id"),
                               {"c": campaign}).scalar()
    context, page = open_as(chromium, admin_server, "manager")
    try:
        page.goto("/lists")
        choose(page, "lists-select", "Browser import")
        page.set_input_files("#lists-upload input[type=file]",
                             files=[{"name": "leads.csv", "mimeType": "text/csv", "buffer": leads_file(40_000)}])
        page.locator("#lists-preview-table").wait_for(timeout=15000)
        page.screenshot(path=str(artifacts_dir / "admin-import-preview.png"), full_page=True)
        # record every value the progress bar shows (it is driven by the job's published progress)
        page.evaluate("""() => { window.seen = []; const bar = document.querySelector('#lists-progress .progress-bar')
            || document.querySelector('#lists-progress');
            new MutationObserver(() => { const el = document.querySelector('#lists-progress .progress-bar');
              if (el) window.seen.push(Number(el.getAttribute('aria-valuenow'))); })
              .observe(document.querySelector('#lists-progress'), {attributes: true, subtree: true, childList: true}); }""")
        page.click("#lists-import-start")
        page.locator("#lists-import-running, #lists-import-summary").first.wait_for(timeout=15000)
        page.screenshot(path=str(artifacts_dir / "admin-import-progress.png"), full_page=True)
        page.locator("#lists-error-report").wait_for(timeout=60000)
        seen = page.evaluate("window.seen")
        assert seen and seen[-1] == 100, seen
        assert any(0 < v < 100 for v in seen), seen  # it moved through intermediate values
        summary = page.locator("#lists-import-summary").inner_text()
        assert "39,998 imported" in summary and "2 rejected" in summary, summary
        page.screenshot(path=str(artifacts_dir / "admin-import-done.png"), full_page=True)
        with page.expect_download() as info:
            page.click("#lists-error-report")
        path = tmp_path / "errors.csv"
        info.value.save_as(path)
        report = path.read_text()
        assert report.startswith("row,column,severity,reason,value") and "not a phone" in report
        assert "duplicate of row 9" in report, report
        assert page.errors == [], page.errors
    finally:
        context.close()
    with admin_server.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM leads WHERE list_id = :l"), {"l": list_id}).scalar() == 39_998


def test_whatif_chart_renders(chromium, admin_server, artifacts_dir):
    with admin_server.engine.connect() as conn:
        name = conn.execute(sa.text("SELECT name FROM campaigns ORDER BY id LIMIT 1")).scalar()
    context, page = open_as(chromium, admin_server, "manager")
    try:
        page.goto("/campaigns")
        choose(page, "campaigns-select", name)
        page.wait_for_function(
            "() => { const el = document.querySelector('[id*=\\'\"field\":\"name\"\\']'); return el && el.value; }",
            timeout=15000)
        page.click("#campaigns-whatif-run")
        page.locator("#campaigns-whatif-graph .main-svg").first.wait_for(timeout=60000)
        assert page.locator("#campaigns-whatif-graph .bar, #campaigns-whatif-graph .point").count() >= 8
        assert "calls" in page.locator("#campaigns-whatif-source").inner_text()
        page.locator("#campaigns-editor").scroll_into_view_if_needed()
        page.locator("#campaigns-whatif-graph").screenshot(path=str(artifacts_dir / "admin-whatif.png"))
        assert page.errors == [], page.errors
    finally:
        context.close()


def test_admin_creates_user_with_one_time_password_and_manages_dnc(chromium, admin_server, artifacts_dir):
    from core.passwords import verify_password

    context, page = open_as(chromium, admin_server, "admin")
    try:
        page.goto("/users")
        page.fill("#users-new-username", "newagent")
        page.fill("#users-new-fullname", "New Agent")
        page.fill("#users-new-password", "short")
        page.locator("#users-new-strength").get_by_text("at least 10 characters").wait_for(timeout=10000)
        page.fill("#users-new-password", "")
        page.click("#users-create")
        code = page.locator("#users-onetime")
        code.wait_for(timeout=15000)
        password = code.inner_text()
        page.screenshot(path=str(artifacts_dir / "admin-user-created.png"), full_page=True)
        with admin_server.engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT password_hash FROM users WHERE username = 'newagent'")).scalar()
        assert verify_password(stored, password)
        page.goto("/dnc")
        page.fill("#dnc-add-number", "(312) 555-0142")
        page.fill("#dnc-add-reason", "asked on the phone")
        page.click("#dnc-add")
        page.locator("#dnc-added").wait_for(timeout=10000)
        page.fill("#dnc-search-number", "312.555.0142")
        page.press("#dnc-search-number", "Enter")
        page.locator("#dnc-search-verdict").get_by_text("+13125550142: on DNC").wait_for(timeout=10000)
        page.screenshot(path=str(artifacts_dir / "admin-dnc-search.png"), full_page=True)
        assert page.errors == [], page.errors
    finally:
        context.close()
    with admin_server.engine.connect() as conn:
        actions = set(conn.execute(sa.text("SELECT action FROM audit_log WHERE actor_username = 'admin'")).scalars())
    assert {"user.create", "dnc.add"} <= actions


def test_admin_tables_export_from_the_page_and_big_tables_are_grids(chromium, admin_server, artifacts_dir):
    import csv
    import io
    from pathlib import Path

    from openpyxl import load_workbook

    context, page = open_as(chromium, admin_server, "admin")
    try:
        for path, link, first_header in (("/campaigns", "campaigns-export-xlsx", "id"),
                                         ("/lists", "lists-table-export-xlsx", "id"),
                                         ("/users", "users-export-xlsx", "id")):
            page.goto(path)
            page.locator(f"#{link}").wait_for(timeout=30000)
            with page.expect_download() as info:
                page.click(f"#{link}")
            rows = list(load_workbook(io.BytesIO(Path(info.value.path()).read_bytes())).active.values)
            assert rows[0][0] == first_header and len(rows) > 1, (path, rows[:2])
        # /audit: an AG Grid, and the CSV of what the filter matches
        page.goto("/audit")
        page.locator("#audit-grid .ag-center-cols-container .ag-row").first.wait_for(timeout=30000)
        with page.expect_download() as info:
            page.click("#audit-export-csv")
        audit = list(csv.reader(io.StringIO(Path(info.value.path()).read_text(encoding="utf-8-sig"))))
        assert audit[0] == ["id", "at", "actor", "action", "object", "ip", "details"] and len(audit) > 1
        page.screenshot(path=str(artifacts_dir / "admin-audit-grid.png"), full_page=True)
        # /dnc: the entries are an AG Grid; the whole list downloads as XLSX
        page.goto("/dnc")
        page.locator("#dnc-results-table .ag-center-cols-container .ag-row").first.wait_for(timeout=30000)
        with page.expect_download() as info:
            page.click("#dnc-export-xlsx")
        assert list(load_workbook(io.BytesIO(Path(info.value.path()).read_bytes())).active.values)[0][0] == "phone_e164"
        page.screenshot(path=str(artifacts_dir / "admin-dnc-grid.png"), full_page=True)
        assert page.errors == [], page.errors
    finally:
        context.close()
