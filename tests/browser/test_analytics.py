"""/analytics and /sql end to end in headless Chromium, on generated data in the server's ClickHouse.

The conftest's ``live_server`` reaches ClickHouse in-process (chdb, ``<data_dir>/clickhouse``,
database ``settings.clickhouse_database``); this module loads generated calls into that database
before the first page view. Screenshots go to test-artifacts/ (analytics also to docs/screenshots/).
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analytics.generate import GenSpec, generate, insert_dataset

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "analytics.png"
TODAY = datetime.now(UTC).date()
SPEC = GenSpec(start=TODAY - timedelta(days=5), days=5, calls=4_000, campaigns=3, agents=12, teams=3, seed=3)


@pytest.fixture(scope="module")
def analytics_data(live_server, ch_engine_path) -> Iterator[object]:
    import clickhouse_connect

    from analytics.schema import Migrator

    name = live_server.settings.clickhouse_database
    client = clickhouse_connect.get_client(interface="chdb", path=str(ch_engine_path))
    existed = client.command("SELECT count() FROM system.databases WHERE name = {n:String}", parameters={"n": name})
    Migrator(client, name).up()
    client.database = name
    data = generate(SPEC)
    insert_dataset(client, data)
    yield data
    if not existed:
        client.command(f"DROP DATABASE IF EXISTS {name} SYNC")
    client.close()


def sign_in(page, username: str, password: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_url(re.compile(r".*/(wallboard)?$"))  # managers land on the wallboard


def test_manager_explores_analytics(page, live_server, analytics_data, artifacts_dir):
    sign_in(page, "manager", live_server.password)
    started = time.monotonic()
    page.goto("/analytics")
    page.wait_for_function("() => /\\d/.test(document.querySelector('#analytics-kpi-0')?.innerText || '')",
                           timeout=60_000)
    assert page.locator("#analytics-kpi-0").inner_text() == f"{len(analytics_data.cdr):,}"
    page.locator("#analytics-leaderboard .ag-row").first.wait_for(timeout=30_000)
    page.locator("#analytics-funnel .main-svg").first.wait_for()
    print(f"analytics page loaded in {time.monotonic() - started:.2f} s")
    page.wait_for_timeout(1500)  # let the charts finish drawing before the picture
    page.screenshot(path=str(artifacts_dir / "analytics-manager.png"), full_page=True)

    # leaderboard row -> that agent's calls -> one call's detail
    row = page.locator("#analytics-leaderboard .ag-center-cols-container .ag-row").first
    row.wait_for()
    row.locator(".ag-cell").first.click()
    page.wait_for_function("() => /^Agent \\d+: /.test(document.querySelector('#analytics-calls-title').innerText)",
                           timeout=30_000)
    call_row = page.locator("#analytics-calls .ag-center-cols-container .ag-row").first
    call_row.wait_for(timeout=30_000)
    call_row.locator(".ag-cell").first.click()
    page.wait_for_function("() => document.querySelector('#analytics-call').innerText.startsWith('Call ')",
                           timeout=30_000)
    page.screenshot(path=str(artifacts_dir / "analytics-drilldown.png"), full_page=True)

    # change a filter: campaign 2 -> the URL (shareable) and the numbers follow
    page.click("#analytics-campaign")
    page.get_by_role("option", name=re.compile(r"^2$|\(2\)$")).first.click()
    page.keyboard.press("Escape")
    page.wait_for_url(re.compile(r".*[?&]campaign=2(&|$)"), timeout=30_000)
    expected = f"{int((analytics_data.cdr['campaign_id'] == 2).sum()):,}"
    page.wait_for_function("v => document.querySelector('#analytics-kpi-0').innerText === v", arg=expected,
                           timeout=30_000)

    # CSV download of the (filtered) leaderboard
    page.wait_for_function("() => document.querySelector('#analytics-export-leaderboard-csv').href"
                           ".includes('campaign=2')", timeout=30_000)
    with page.expect_download() as info:
        page.click("#analytics-export-leaderboard-csv")
    download = info.value
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8-sig"))))
    assert rows[0][:2] == ["agent_id", "team_id"] and len(rows) > 1
    assert "campaign=2" in download.url

    DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(artifacts_dir / "analytics-manager.png", DOCS_SCREENSHOT)
    assert page.errors == [], page.errors


def test_sql_page_runs_select_and_refuses_insert(page, live_server, analytics_data, artifacts_dir):
    sign_in(page, "admin", live_server.password)
    page.goto("/sql")
    page.locator("#sql-schema details").first.wait_for(timeout=30_000)
    page.fill("#sql-text", "SELECT campaign_id, sum(sign) AS calls FROM cdr GROUP BY campaign_id ORDER BY campaign_id")
    page.click("#sql-run")
    page.locator("#sql-grid .ag-center-cols-container .ag-row").nth(2).wait_for(timeout=30_000)
    assert page.locator("#sql-grid .ag-center-cols-container .ag-row").count() == 3
    assert page.locator("#sql-status").inner_text().startswith("3 rows")
    page.screenshot(path=str(artifacts_dir / "sql-select.png"), full_page=True)

    page.fill("#sql-text", "INSERT INTO cdr (campaign_id) VALUES (9)")
    page.click("#sql-run")
    error = page.locator("#sql-error")
    error.wait_for(timeout=30_000)
    assert "not INSERT" in error.inner_text()
    page.screenshot(path=str(artifacts_dir / "sql-refused.png"), full_page=True)
    assert page.errors == [], page.errors
