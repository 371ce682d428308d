"""End to end in headless Chromium against a real server: sign-in, the live page, refusals,
sign-out. Screenshots go to test-artifacts/ (and the live page to docs/screenshots/live.png)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "live.png"
LIVE_BODY = {
    "output": "..live-updated.children...live-health.children...live-agent-kpis.children...live-db-kpis.children...live-state-bar.children...live-agents-table.children..",
    "outputs": [{"id": i, "property": "children"} for i in
                ("live-updated", "live-health", "live-agent-kpis", "live-db-kpis", "live-state-bar", "live-agents-table")],
    "inputs": [{"id": "live-interval", "property": "n_intervals", "value": 1}],
    "changedPropIds": ["live-interval.n_intervals"],
    "state": [],
}


def sign_in(page, username: str, password: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-submit")


def test_login_page_and_wrong_password(page, live_server, artifacts_dir):
    page.goto("/login")
    assert page.title() == "Sign in · PyDialer"
    page.screenshot(path=str(artifacts_dir / "login.png"))
    sign_in(page, "supervisor", "not-the-password")
    alert = page.locator("#login-error")
    alert.wait_for()
    assert "Invalid username or password" in alert.inner_text()
    assert page.url.endswith("/login")
    sign_in(page, "no-such-user", live_server.password)
    assert page.locator("#login-error").inner_text() == alert.inner_text()  # same words, no hint
    page.screenshot(path=str(artifacts_dir / "login-error.png"))
    assert page.errors == [] or all("401" in e for e in page.errors), page.errors


def test_supervisor_sees_live_page_refreshing(page, live_server, artifacts_dir):
    sign_in(page, "supervisor", live_server.password)
    page.wait_for_url(re.compile(r".*/wallboard$"))  # supervisors land on live data
    page.goto("/")
    page.locator("#home-link-live").wait_for()
    assert page.locator("#shell-nav-audit").count() == 0  # admin only
    page.screenshot(path=str(artifacts_dir / "home-supervisor.png"))
    live_server.write_agent_states()
    page.click("#shell-nav-live")
    page.wait_for_url(re.compile(r".*/live$"))
    agents = page.locator("#live-kpi-agents-value")
    agents.wait_for()
    page.wait_for_function("document.querySelector('#live-kpi-agents-value').innerText === '6'")
    assert page.locator("#live-kpi-incall-value").inner_text() == "2"
    assert page.locator("#live-kpi-ready-value").inner_text() == "2"
    assert page.locator("#live-kpi-leads-value").inner_text() == "3,000"
    assert page.locator("#live-health-postgres").get_attribute("class").endswith("pyd-health-ok")
    first = page.locator("#live-updated").inner_text()
    page.wait_for_function(
        "prev => document.querySelector('#live-updated').innerText !== prev", arg=first, timeout=6000
    )
    assert page.title() == "Live · PyDialer"
    page.screenshot(path=str(artifacts_dir / "live-supervisor.png"), full_page=True)
    DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(artifacts_dir / "live-supervisor.png", DOCS_SCREENSHOT)
    assert page.errors == [], page.errors
    foreign = [u for u in page.requested if not u.startswith((live_server.url, "data:"))]
    assert foreign == [], foreign  # no CDN, no telemetry: everything is served by the app
    assert any("/_dash-component-suites/" in u for u in page.requested)


def test_agent_is_refused_live_page_and_callbacks(page, live_server, artifacts_dir):
    sign_in(page, "agent01", live_server.password)
    page.wait_for_url(re.compile(r".*/$"))
    page.locator("#home-root").wait_for()
    assert page.locator("#shell-nav-live").count() == 0
    assert page.locator("#home-account").inner_text().count("agent01") == 1
    page.screenshot(path=str(artifacts_dir / "home-agent.png"))
    # client-side navigation through Dash's router: the 403 panel, not the page
    page.evaluate("window.history.pushState({}, '', '/live'); window.dispatchEvent(new PopStateEvent('popstate'))")
    page.locator("#shell-forbidden").wait_for()
    assert page.locator("#live-root").count() == 0
    # a hand-made callback POST from the agent's own session, CSRF header and all: refused for the role
    refusal = page.evaluate(
        """body => {
            const token = document.cookie.split('; ').find(c => c.startsWith('pydialer_csrf=')).split('=')[1];
            return fetch('/_dash-update-component', {method: 'POST', body: JSON.stringify(body),
                         headers: {'Content-Type': 'application/json', 'X-CSRFToken': token}})
                .then(r => r.json().then(j => [r.status, j]));
        }""",
        LIVE_BODY,
    )
    assert refusal[0] == 403 and "may not use page 'live'" in refusal[1]["details"]["reason"], refusal
    page.screenshot(path=str(artifacts_dir / "live-agent-router-403.png"))
    errors_before_reload = list(page.errors)
    # a full page load of /live: the server's own 403 page
    response = page.goto("/live")
    assert response.status == 403
    assert "You do not have access" in page.content()
    page.screenshot(path=str(artifacts_dir / "live-agent-403.png"))
    assert all("403" in e for e in page.errors), page.errors  # only the refusals we provoked
    assert all("403" in e for e in errors_before_reload), errors_before_reload


def test_logout(page, live_server, artifacts_dir):
    sign_in(page, "admin", live_server.password)
    page.wait_for_url(re.compile(r".*/$"))
    page.click("#shell-nav-audit")
    page.locator("#audit-table .ag-row").first.wait_for()  # an AG Grid since issue 7
    assert "auth.login" in page.locator("#audit-table").inner_text()
    page.screenshot(path=str(artifacts_dir / "audit-admin.png"), full_page=True)
    page.click("#shell-logout")
    page.wait_for_url(re.compile(r".*/login$"))
    page.goto("/live")
    assert "/login" in page.url
    me = page.evaluate("fetch('/api/me').then(r => r.status)")
    assert me == 401
    assert all("401" in e for e in page.errors), page.errors
    json.dumps(page.errors)
