"""/lists "Export in background" in headless Chromium against a real server: the button starts the
export job, the progress bar reaches 100 % and the download link serves the list's leads.
Screenshots go to test-artifacts/admin-export-*.png."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tests.browser.conftest import LiveServer, job_server, open_as

pytestmark = [pytest.mark.browser, pytest.mark.slow]
LEADS = 30_000  # three of run_export_job's 10,000-row batches: progress is published between them


@pytest.fixture(scope="module")
def export_server(base_settings, db_engine, db_url, web_redis_url) -> Iterator[LiveServer]:
    from app.api.export_jobs import LAUNCHER_KEY, thread_launcher

    with job_server(base_settings, db_engine, db_url, web_redis_url, secret_key="browser-export-secret", lead_count=50,
                    dnc_count=0, launchers={LAUNCHER_KEY: thread_launcher}) as server:
        yield server


def test_background_export_shows_progress_then_download(chromium, export_server, artifacts_dir, tmp_path):
    with export_server.engine.begin() as conn:
        campaign = conn.execute(sa.text("SELECT id FROM campaigns ORDER BY id LIMIT 1")).scalar()
        list_id = conn.execute(sa.text("INSERT INTO lists (campaign_id, name) VALUES (:c, 'Browser export') "
                                       "RETURNING id"), {"c": campaign}).scalar()
        conn.execute(sa.text("INSERT INTO leads (list_id, phone_e164, first_name, status) "
                             "SELECT :l, '+1415' || lpad(g::text, 7, '0'), CASE WHEN g = 7 THEN '=1+1' "
                             "ELSE 'Lead ' || g END, 'NEW' FROM generate_series(1, :n) g"), {"l": list_id, "n": LEADS})
    context, page = open_as(chromium, export_server, "manager")
    try:
        page.goto("/lists")
        page.click("#lists-select")
        page.get_by_role("option", name=re.compile("Browser export")).first.click()
        page.locator("#lists-status-table").wait_for(timeout=15000)
        # record every value the progress bar shows (it is driven by the job's published progress)
        page.evaluate("""() => { window.seen = [];
            new MutationObserver(() => { const el = document.querySelector('#lists-export-progress .progress-bar');
              if (el) window.seen.push(Number(el.getAttribute('aria-valuenow'))); })
              .observe(document.querySelector('#lists-export-progress'),
                       {attributes: true, subtree: true, childList: true}); }""")
        page.click("#lists-export-bg")
        page.locator("#lists-export-running, #lists-export-done").first.wait_for(timeout=15000)
        page.screenshot(path=str(artifacts_dir / "admin-export-progress.png"), full_page=True)
        page.locator("#lists-export-download").wait_for(timeout=60000)
        seen = page.evaluate("window.seen")
        assert seen and seen[-1] == 100, seen
        assert page.locator("#lists-export-progress .progress-bar").inner_text().strip() == "100 %"
        assert f"Done: {LEADS:,} leads" in page.locator("#lists-export-done").inner_text()
        page.wait_for_timeout(1200)  # polling has stopped: the bar stays where it is
        assert page.evaluate("window.seen.length") == len(seen)
        page.screenshot(path=str(artifacts_dir / "admin-export-done.png"), full_page=True)
        with page.expect_download() as info:
            page.click("#lists-export-download")
        path = tmp_path / "export.csv"
        info.value.save_as(path)
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == LEADS and rows[0]["phone_e164"] == "+14150000001"
        assert rows[6]["first_name"] == "'=1+1"  # formula neutralised
        assert info.value.suggested_filename == f"list-{list_id}-export.csv"
        assert page.errors == [], page.errors
    finally:
        context.close()
