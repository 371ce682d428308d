"""The fail-closed guard through Flask's test client on the real app (migrated PostgreSQL, Redis).

The role x callback matrix is generated from the page registry and Dash's callback map, so a
new page is covered the day it is added; :data:`PINNED` also hard-codes cells, so a wrong
registry entry (say, ``/audit`` opened to supervisors) fails here instead of being trusted.
"""

from __future__ import annotations

import json

import pytest
from dash._utils import split_callback_id

from app import registry
from app.auth import CSRF_COOKIE, CSRF_HEADER
from app.guard import DASH_CALLBACK_PATH
from core.models import ROLES
from tests.conftest import WEB_USERS, web_login

LIVE_OUTPUT = "..live-updated.children...live-health.children...live-agent-kpis.children...live-db-kpis.children...live-state-bar.children...live-agents-table.children.."
AUDIT_OUTPUT = "..audit-table.children...audit-pagination.max_value...audit-summary.children.."
ROUTER_OUTPUT = ".._pages_content.children..._pages_store.data.."
ANALYTICS_OUTPUT = "..analytics-cards.children...analytics-status.children.."
SQL_OUTPUT = "..sql-grid.columnDefs...sql-grid.rowData...sql-msg.children...sql-status.children.."
WALLBOARD_OUTPUT = "wallboard-monitor-result.children"

WHATIF_OUTPUT = "..campaigns-whatif-note.children...campaigns-whatif-chart.children.."
USERS_OUTPUT = "..users-message.children...users-table.children...users-teams.children.."
DNC_BULK_OUTPUT = "dnc-bulk-result.children"

#: (role, callback output key) -> allowed. Written by hand, on purpose.
PINNED = {
    ("agent", WHATIF_OUTPUT): False,
    ("supervisor", WHATIF_OUTPUT): True,  # page-level; saving/simulating is refused per action (test_admin_web)
    ("agent", USERS_OUTPUT): False,
    ("supervisor", USERS_OUTPUT): False,
    ("manager", USERS_OUTPUT): True,  # managers view /users; changes are admin-only per action
    ("agent", DNC_BULK_OUTPUT): False,
    ("agent", LIVE_OUTPUT): False,
    ("supervisor", LIVE_OUTPUT): True,
    ("manager", LIVE_OUTPUT): True,
    ("admin", LIVE_OUTPUT): True,
    ("agent", AUDIT_OUTPUT): False,
    ("supervisor", AUDIT_OUTPUT): False,
    ("manager", AUDIT_OUTPUT): False,
    ("admin", AUDIT_OUTPUT): True,
    ("agent", ROUTER_OUTPUT): True,
    ("agent", WALLBOARD_OUTPUT): False,
    ("supervisor", WALLBOARD_OUTPUT): True,
    ("admin", WALLBOARD_OUTPUT): True,
    ("agent", ANALYTICS_OUTPUT): False,
    ("supervisor", ANALYTICS_OUTPUT): True,
    ("manager", ANALYTICS_OUTPUT): True,
    ("agent", SQL_OUTPUT): False,
    ("supervisor", SQL_OUTPUT): False,
    ("manager", SQL_OUTPUT): True,
    ("admin", SQL_OUTPUT): True,
}


def callback_body(output_key: str, inputs: list[dict], pathname: str = "/", state: list[dict] | None = None) -> dict:
    parts = split_callback_id(output_key)
    # A pattern-matching ALL output goes on the wire as the list of ids it matched: none on an empty page.
    outputs = [[] if '["ALL"]' in str(p["id"]) else p for p in (parts if isinstance(parts, list) else [parts])]
    values = []
    for item in inputs:
        value = pathname if (item["id"], item["property"]) == ("_pages_location", "pathname") else None
        values.append({"id": item["id"], "property": item["property"], "value": value})
    return {
        "output": output_key,
        "outputs": outputs if isinstance(parts, list) else outputs[0],
        "inputs": values,
        "changedPropIds": [f"{values[0]['id']}.{values[0]['property']}"] if values else [],
        "state": [{"id": s["id"], "property": s["property"], "value": None} for s in state or []],
    }


def post_callback(client, body: dict, *, csrf: bool = True, **headers):
    """POST like Dash's renderer: JSON, with the CSRF cookie's value echoed in X-CSRFToken."""
    cookie = client.get_cookie(CSRF_COOKIE)
    if csrf and cookie is not None:
        headers.setdefault(CSRF_HEADER, cookie.value)
    return client.post(DASH_CALLBACK_PATH, data=json.dumps(body), content_type="application/json", headers=headers)


@pytest.fixture()
def dash_callbacks(web_app) -> dict[str, dict]:
    """Every server-side callback of the app (the page router is added by Dash on the first request)."""
    web_app.test_client().get("/healthz")
    dash_app = web_app.extensions["pydialer_dash"]
    # clientside callbacks (the router's document.title setter) never reach the server
    return {key: entry for key, entry in dash_app.callback_map.items() if entry.get("callback") is not None}


def signed_in(web_app, role: str):
    client = web_app.test_client()
    assert web_login(client, WEB_USERS[role]).status_code == 302
    return client


# --- anonymous --------------------------------------------------------------------------------


def test_anonymous_callback_post_is_401_json(web_app):
    body = callback_body(LIVE_OUTPUT, [{"id": "live-interval", "property": "n_intervals"}])
    response = post_callback(web_app.test_client(), body)
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthenticated"


@pytest.mark.parametrize("path", ["/_dash-layout", "/_dash-dependencies", "/api/me", "/_reload-hash"])
def test_anonymous_dash_and_api_gets_are_401_and_leak_nothing(web_app, path):
    response = web_app.test_client().get(path)
    assert response.status_code == 401
    text = response.get_data(as_text=True)
    assert "live-" not in text and "audit-" not in text and "_pages_content" not in text


@pytest.mark.parametrize("path", ["/", "/live", "/audit"])
def test_anonymous_page_get_redirects_to_login(web_app, path):
    response = web_app.test_client().get(path)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/login?next={path}"


@pytest.mark.parametrize("path", ["/nosuch", "/static/app.py", "/_mcp", "/live/extra", "/api"])
def test_undeclared_paths_are_404_even_where_dash_would_serve_them(web_app, path):
    assert web_app.test_client().get(path).status_code == 404


def test_healthz_is_public_json(web_app):
    response = web_app.test_client().get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["ok"] is True
    assert body["engines"]["postgres"]["ok"] is True and body["engines"]["redis"]["ok"] is True
    assert body["engines"]["clickhouse"]["ok"] is None  # not configured in these settings


def test_dash_bundles_are_public(web_app):
    index = signed_in(web_app, "supervisor").get("/live").get_data(as_text=True)
    # page scripts under /assets/ (e.g. assets/wallboard.js) are public by the "assets" rule
    bundles = [part.split('"')[0] for part in index.split('src="')[1:] if not part.startswith("/assets/")]
    assert bundles and all(b.startswith("/_dash-component-suites/") for b in bundles), bundles
    anon = web_app.test_client()
    assert anon.get(bundles[0]).status_code == 200


def test_wrong_method_is_405(web_app):
    client = signed_in(web_app, "admin")
    assert client.get(DASH_CALLBACK_PATH).status_code == 405
    assert client.post("/live").status_code == 405
    assert client.put("/login").status_code == 405


# --- signed in, wrong role ----------------------------------------------------------------------


def test_agent_page_get_of_supervisor_page_is_403_html(web_app):
    client = signed_in(web_app, "agent")
    for path in ("/live", "/audit"):
        response = client.get(path)
        assert response.status_code == 403
        assert "You do not have access" in response.get_data(as_text=True)
    assert client.get("/").status_code == 200


def test_agent_calling_supervisor_callback_is_403(web_app, dash_callbacks):
    client = signed_in(web_app, "agent")
    entry = dash_callbacks[LIVE_OUTPUT]
    response = post_callback(client, callback_body(LIVE_OUTPUT, entry["inputs"]))
    assert response.status_code == 403
    assert response.get_json()["error"] == "forbidden"


def test_router_renders_403_panel_not_the_page(web_app, dash_callbacks):
    client = signed_in(web_app, "agent")
    entry = dash_callbacks[ROUTER_OUTPUT]
    response = post_callback(client, callback_body(ROUTER_OUTPUT, entry["inputs"], pathname="/live"))
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "shell-forbidden" in text and "live-interval" not in text and "live-agents-table" not in text
    supervisor = signed_in(web_app, "supervisor")
    text = post_callback(supervisor, callback_body(ROUTER_OUTPUT, entry["inputs"], pathname="/live")).get_data(as_text=True)
    assert "live-interval" in text and "shell-forbidden" not in text
    text = post_callback(supervisor, callback_body(ROUTER_OUTPUT, entry["inputs"], pathname="/audit")).get_data(as_text=True)
    assert "shell-forbidden" in text and "audit-table" not in text


def test_callback_with_unregistered_output_is_403_even_for_admin(web_app):
    client = signed_in(web_app, "admin")
    body = {"output": "secret-panel.children", "outputs": {"id": "secret-panel", "property": "children"},
            "inputs": [], "changedPropIds": []}
    assert post_callback(client, body).status_code == 403


def test_callback_without_the_csrf_header_is_403(web_app, dash_callbacks):
    client = signed_in(web_app, "supervisor")
    body = callback_body(LIVE_OUTPUT, dash_callbacks[LIVE_OUTPUT]["inputs"])
    assert post_callback(client, body, csrf=False).status_code == 403
    assert post_callback(client, body, csrf=False, **{CSRF_HEADER: "forged"}).status_code == 403
    cookie = client.get_cookie(CSRF_COOKIE)
    assert cookie is not None and not cookie.http_only  # the renderer must be able to read it
    assert post_callback(client, body).status_code == 200


def test_malformed_callback_body_is_400(web_app):
    client = signed_in(web_app, "admin")
    token = client.get_cookie(CSRF_COOKIE).value
    response = client.post(DASH_CALLBACK_PATH, data="not json", content_type="application/json",
                           headers={CSRF_HEADER: token})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid"


def test_cross_origin_post_is_refused(web_app, dash_callbacks):
    client = signed_in(web_app, "supervisor")
    body = callback_body(LIVE_OUTPUT, dash_callbacks[LIVE_OUTPUT]["inputs"])
    assert post_callback(client, body, Origin="http://evil.example").status_code == 403
    assert post_callback(client, body, Origin="http://localhost").status_code == 200


def test_navbar_lists_only_the_roles_pages(web_app):
    agent_layout = signed_in(web_app, "agent").get("/_dash-layout").get_data(as_text=True)
    assert "shell-nav-home" in agent_layout and "shell-nav-live" not in agent_layout and "shell-nav-audit" not in agent_layout
    supervisor_layout = signed_in(web_app, "supervisor").get("/_dash-layout").get_data(as_text=True)
    assert "shell-nav-live" in supervisor_layout and "shell-nav-audit" not in supervisor_layout
    admin_layout = signed_in(web_app, "admin").get("/_dash-layout").get_data(as_text=True)
    assert "shell-nav-live" in admin_layout and "shell-nav-audit" in admin_layout


def test_api_role_decorator(web_settings, web_users, web_redis):
    from app import create_app
    from app.api import require_roles

    app = create_app(web_settings, testing=True)
    app.add_url_rule("/api/admin-probe", "admin_probe", require_roles(["admin"])(lambda: {"ok": True}))
    agent = signed_in(app, "agent")
    response = agent.get("/api/admin-probe")
    assert response.status_code == 403 and response.get_json()["error"] == "forbidden"
    assert signed_in(app, "admin").get("/api/admin-probe").get_json() == {"ok": True}
    assert app.test_client().get("/api/admin-probe").status_code == 401
    app.extensions["pydialer"].engine.dispose()


def test_security_headers(web_app):
    response = web_app.test_client().get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# --- the generated matrix -----------------------------------------------------------------------


def expected_allowed(role: str, output_key: str) -> bool:
    parts = split_callback_id(output_key)
    ids = [p["id"] for p in (parts if isinstance(parts, list) else [parts])]
    owners = [registry.owner_of(json.loads(i) if i.startswith("{") else i) for i in ids]
    return all(registry.may_use(role, o) for o in owners)


def test_role_by_callback_matrix(web_app, dash_callbacks):
    assert {LIVE_OUTPUT, AUDIT_OUTPUT, ROUTER_OUTPUT} <= set(dash_callbacks), "the pinned callbacks exist"
    clients = {role: signed_in(web_app, role) for role in ROLES}
    seen = 0
    for role in ROLES:
        for key, entry in dash_callbacks.items():
            expected = expected_allowed(role, key)
            if (role, key) in PINNED:
                assert PINNED[(role, key)] is expected, f"registry disagrees with the pinned cell {role} x {key}"
            response = post_callback(clients[role], callback_body(key, entry["inputs"], state=entry.get("state")))
            if expected:
                # allowed callbacks must also survive empty inputs (a fresh page sends None)
                assert response.status_code in (200, 204), (role, key, response.status_code, response.get_data()[:300])
            else:
                assert response.status_code == 403, (role, key, response.status_code)
            seen += 1
    assert seen == len(ROLES) * len(dash_callbacks)


def test_every_page_get_matches_the_registry(web_app):
    clients = {role: signed_in(web_app, role) for role in ROLES}
    assert {"home", "live", "audit"} <= set(registry.PAGES)
    for spec in registry.PAGES.values():
        for role in ROLES:
            status = clients[role].get(spec.path).status_code
            assert status == (200 if spec.allows(role) else 403), (role, spec.path, status)
    assert not registry.PAGES["audit"].allows("supervisor")
    assert not registry.PAGES["live"].allows("agent")
    assert registry.PAGES["live"].allows("supervisor")
