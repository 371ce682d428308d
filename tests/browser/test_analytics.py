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
    import dataclasses

    import clickhouse_connect
    import sqlalchemy as sa

    from analytics.schema import Migrator

    # The generated agents are the seeded agent users: the leaderboard shows their names.
    with live_server.engine.connect() as conn:
        agents = conn.execute(sa.text("SELECT id FROM users WHERE role = 'agent' ORDER BY id LIMIT :n"),
                              {"n": SPEC.agents}).scalars().all()
    assert len(agents) == SPEC.agents, agents
    name = live_server.settings.clickhouse_database
    client = clickhouse_connect.get_client(interface="chdb", path=str(ch_engine_path))
    existed = client.command("SELECT count() FROM system.databases WHERE name = {n:String}", parameters={"n": name})
    Migrator(client, name).up()
    client.database = name
    data = generate(dataclasses.replace(SPEC, agent_ids=tuple(agents)))
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
    page.fill("#sql-text", "SELECT name FROM system.tables")
    page.click("#sql-run")
    page.wait_for_function("() => document.querySelector('#sql-error')?.innerText.includes('server table')",
                           timeout=30_000)
    assert page.locator("#sql-grid .ag-center-cols-container .ag-row").count() == 0
    assert page.errors == [], page.errors


# --- every role on every analytics/admin page ------------------------------------------------------

PAGES = ("/analytics", "/sql", "/campaigns", "/lists", "/dnc", "/users", "/audit")
MAY = {  # role -> page -> (ids that must show, ids that must not); None: the 403 panel
    "admin": {"/analytics": (["analytics-kpi-0", "analytics-view-save"], []), "/sql": (["sql-run"], []),
              "/campaigns": (["campaigns-save"], []), "/lists": (["lists-upload"], []), "/dnc": (["dnc-add"], []),
              "/users": (["users-create"], []), "/audit": (["audit-table"], [])},
    "manager": {"/analytics": (["analytics-kpi-0", "analytics-view-save"], []), "/sql": (["sql-run"], []),
                "/campaigns": (["campaigns-save"], []), "/lists": (["lists-upload"], []), "/dnc": (["dnc-add"], []),
                "/users": (["users-table"], ["users-create"]), "/audit": None},
    # Supervisors read analytics (saved views are personal, so they keep them) and the campaign,
    # list and DNC pages without any edit control; /sql, /users and /audit are not theirs.
    "supervisor": {"/analytics": (["analytics-kpi-0", "analytics-view-save"], []), "/sql": None,
                   "/campaigns": (["campaigns-table"], ["campaigns-save", "campaigns-whatif-run"]),
                   "/lists": (["lists-table"], ["lists-upload", "lists-reset"]),
                   "/dnc": (["dnc-search-number"], ["dnc-add"]), "/users": None, "/audit": None},
    "agent01": dict.fromkeys(PAGES),
}


@pytest.mark.parametrize("username", [*MAY, "anonymous"])
def test_each_role_on_every_page(page, live_server, analytics_data, artifacts_dir, username):
    if username != "anonymous":
        sign_in(page, username, live_server.password)
    for path in PAGES:
        response = page.goto(path)
        if username == "anonymous":
            assert re.search(r"/login\?next=(%2F|/)" + re.escape(path[1:]), page.url), page.url
            page.locator("#login-submit").wait_for()
            continue
        expect = MAY[username][path]
        if expect is None:
            assert response.status == 403, (username, path)
            assert "You do not have access" in page.locator("#forbidden").inner_text()
            # the browser logs the refused document load itself; nothing else may be logged
            page.errors[:] = [e for e in page.errors if "403 (FORBIDDEN)" not in e]
            continue
        assert response.status == 200, (username, path)
        present, absent = expect
        for ident in present:
            page.locator(f"#{ident}").wait_for(timeout=90_000)  # generous: the 2 cores are shared
        page.wait_for_load_state("networkidle")
        for ident in absent:
            assert page.locator(f"#{ident}").count() == 0, (username, path, ident)
        if path == "/analytics":
            page.wait_for_function("() => /\\d/.test(document.querySelector('#analytics-kpi-0')?.innerText || '')",
                                   timeout=60_000)
        page.screenshot(path=str(artifacts_dir / f"roles-{username}{path.replace('/', '-')}.png"), full_page=True)
    assert page.errors == [], (username, page.errors)


def dropdown_text(page, ident: str) -> str:
    """What a (multi) dropdown shows as chosen; "all" is its placeholder (nothing chosen)."""
    page.wait_for_function("id => !/^\\s*all\\s*$/.test(document.getElementById(id)?.innerText || 'all')", arg=ident,
                           timeout=30_000)
    return page.locator(f"#{ident}").inner_text().strip()


def test_shared_url_restores_the_controls_and_saved_views_load(page, live_server, analytics_data, artifacts_dir):
    start, end = SPEC.start + timedelta(days=1), SPEC.start + timedelta(days=3)
    sign_in(page, "manager", live_server.password)
    page.goto(f"/analytics?start={start}&end={end}&campaign=2&team=2")  # team 2 works campaign 2
    page.wait_for_function("() => /\\d/.test(document.querySelector('#analytics-kpi-0')?.innerText || '')",
                           timeout=60_000)
    # The controls show what the shared URL says.
    # (Dash 4's date picker does not put the component id on a wrapper: it is the page's only one.)
    shown = [page.locator(f"input.dash-datepicker-{which}-date").input_value() for which in ("start", "end")]
    assert shown == [f"{start}", f"{end}"], shown
    chosen = dropdown_text(page, "analytics-campaign"), dropdown_text(page, "analytics-team")
    assert all(re.search(r"\(2\)|^2$", text) for text in chosen), chosen
    cdr = analytics_data.cdr
    day = cdr["dialed_at"].dt.tz_convert("UTC").dt.date
    mine = cdr[(cdr["campaign_id"] == 2) & (cdr["team_id"] == 2) & (day >= start) & (day <= end)]  # end: inclusive day
    assert len(mine) > 0
    page.wait_for_function("v => document.querySelector('#analytics-kpi-0').innerText === v",
                           arg=f"{len(mine):,}", timeout=30_000)

    # Save it as a named view, go back to the default page, load the view: URL and controls return.
    page.fill("#analytics-view-name", "campaign 2, team 2")
    page.click("#analytics-view-save")
    page.wait_for_function("() => document.querySelector('#analytics-view-msg').innerText.startsWith('Saved')",
                           timeout=30_000)
    page.goto("/analytics")
    page.locator("#analytics-view").click()
    page.get_by_role("option", name="campaign 2, team 2").click()
    page.wait_for_url(re.compile(r".*[?&]campaign=2(&|$)"), timeout=30_000)
    assert "team=2" in page.url and f"start={start}" in page.url
    page.wait_for_function("v => document.querySelector('#analytics-kpi-0').innerText === v",
                           arg=f"{len(mine):,}", timeout=30_000)
    assert re.search(r"\(2\)|^2$", dropdown_text(page, "analytics-campaign"))
    page.screenshot(path=str(artifacts_dir / "analytics-saved-view.png"), full_page=True)

    # XLSX export of the summary from the page, for the restored filter.
    page.wait_for_function("() => document.querySelector('#analytics-export-summary-xlsx').href.includes('team=2')",
                           timeout=30_000)
    with page.expect_download() as info:
        page.click("#analytics-export-summary-xlsx")
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(Path(info.value.path()).read_bytes())).active  # the path has no .xlsx
    header, values = list(sheet.values)[:2]
    assert dict(zip(header, values, strict=True))["dials"] == len(mine)
    assert page.errors == [], page.errors


def test_heatmap_click_drills_into_that_hours_calls(page, live_server, analytics_data, artifacts_dir):
    import pandas as pd

    sign_in(page, "manager", live_server.password)
    page.goto("/analytics")
    plot = page.locator("#analytics-heatmap .nsewdrag").first
    plot.wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    box = plot.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    page.wait_for_function("() => /^Calls of \\w{3} \\d\\d:00 lead local: [\\d,]+$/"
                           ".test(document.querySelector('#analytics-calls-title').innerText)", timeout=30_000)
    title = page.locator("#analytics-calls-title").inner_text()
    weekday_name, hour, total = re.match(r"^Calls of (\w{3}) (\d\d):00 lead local: ([\d,]+)$", title).groups()
    cdr = analytics_data.cdr
    local = pd.concat([rows["dialed_at"].dt.tz_convert(tz or "UTC").dt.tz_localize(None)
                       for tz, rows in cdr.groupby("lead_timezone")]).loc[cdr.index]
    weekday = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun").index(weekday_name)
    expected = int(((local.dt.day_of_week == weekday) & (local.dt.hour == int(hour))).sum())
    assert int(total.replace(",", "")) == expected
    if expected:
        page.locator("#analytics-calls .ag-center-cols-container .ag-row").first.wait_for(timeout=30_000)
    assert "lead local are listed below" in page.locator("#analytics-drill").inner_text()
    page.locator("#analytics-calls").scroll_into_view_if_needed()
    page.wait_for_timeout(800)  # the grid redraws its rows after a full-page resize
    page.screenshot(path=str(artifacts_dir / "analytics-heatmap-drill.png"), full_page=True)
    assert page.errors == [], page.errors
