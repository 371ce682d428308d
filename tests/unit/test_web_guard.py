"""The id -> page -> role mapping and the callback decision, without Flask or a database."""

from __future__ import annotations

import pytest

from app import registry
from app.guard import callback_decision, callback_output_ids, match_rule
from app.registry import PageSpec


@pytest.fixture()
def pages(monkeypatch):
    """A registry with known pages, independent of whatever app/pages holds."""
    fake = {
        "live": PageSpec("live", "/live", "Live", frozenset({"admin", "manager", "supervisor"})),
        "audit": PageSpec("audit", "/audit", "Audit", frozenset({"admin"})),
        "home": PageSpec("home", "/", "Home", frozenset({"admin", "manager", "supervisor", "agent"})),
    }
    monkeypatch.setattr(registry, "PAGES", fake)
    return fake


@pytest.mark.parametrize(
    "component_id,owner",
    [
        ("live-agents-table", "live"),
        ("audit-pagination", "audit"),
        ("shell-logout", "shell"),
        ("_pages_content", "router"),
        ("_pages_location", "router"),
        ({"page": "audit", "type": "row", "index": 3}, "audit"),
        ({"page": "nosuch", "type": "row"}, None),
        ({"type": "row"}, None),
        ({"page": 5}, None),
        ("wallboard-grid", None),  # a page that is not registered
        ("liveagents", None),  # no prefix separator
        ("", None),
        ("-live", None),
        (None, None),
        (42, None),
        (["live-x"], None),
    ],
)
def test_owner_of(pages, component_id, owner):
    assert registry.owner_of(component_id) == owner


@pytest.mark.parametrize(
    "role,owner,allowed",
    [
        ("agent", "live", False),
        ("supervisor", "live", True),
        ("manager", "live", True),
        ("admin", "audit", True),
        ("supervisor", "audit", False),
        ("manager", "audit", False),
        ("agent", "home", True),
        ("agent", "shell", True),
        ("agent", "router", True),
        (None, "shell", False),
        ("root", "live", False),  # not a role
        ("admin", None, False),  # unknown owner: fail closed, even for admin
        ("admin", "nosuch", False),
    ],
)
def test_may_use(pages, role, owner, allowed):
    assert registry.may_use(role, owner) is allowed


def test_page_for_path(pages):
    assert registry.page_for_path("/live").name == "live"
    assert registry.page_for_path("/live/").name == "live"
    assert registry.page_for_path("/live?x=1").name == "live"
    assert registry.page_for_path("/").name == "home"
    assert registry.page_for_path("/livex") is None
    assert registry.page_for_path("live") is None
    assert registry.page_for_path(None) is None


def test_pages_for_role_orders_and_filters(pages):
    assert [p.name for p in registry.pages_for_role("agent")] == ["home"]
    assert {p.name for p in registry.pages_for_role("admin")} == {"home", "live", "audit"}


@pytest.mark.parametrize(
    "name,path,roles,message",
    [
        ("Live", "/x", ["admin"], "must match"),
        ("li-ve", "/x", ["admin"], "must match"),
        ("shell", "/x", ["admin"], "reserved"),
        ("newpage", "x", ["admin"], "must start with"),
        ("newpage", "/x/", ["admin"], "must start with"),
        ("newpage", "/x", [], "at least one role"),
        ("newpage", "/x", ["root"], "unknown roles"),
        ("newpage", "/live", ["admin"], "already used"),
    ],
)
def test_bad_registrations_are_rejected(pages, name, path, roles, message):
    with pytest.raises(ValueError, match=message):
        registry.validate_spec(name, path, roles)


def test_output_ids_single_multi_and_pattern_matching():
    assert callback_output_ids({"output": "live-updated.children"}) == ["live-updated"]
    multi = "..live-updated.children...live-health.children.."
    assert callback_output_ids({"output": multi}) == ["live-updated", "live-health"]
    body = {
        "output": '{"index":["ALL"],"page":"audit"}.children',
        "outputs": [[{"id": {"page": "audit", "index": 1}, "property": "children"}]],
    }
    assert callback_output_ids(body) == [{"index": ["ALL"], "page": "audit"}, {"page": "audit", "index": 1}]
    # dots inside ids are escaped by Dash; allow_duplicate appends @<hash> to the property
    assert callback_output_ids({"output": "live-a\\.b.children@abc123"}) == ["live-a.b"]


@pytest.mark.parametrize(
    "body",
    [None, [], "x", {}, {"output": ""}, {"output": 5}, {"output": "noprop"}, {"output": "{bad json.children"},
     {"output": "live-x.children", "outputs": [{"property": "children"}]},
     {"output": "live-x.children", "outputs": ["live-y"]}],
)
def test_malformed_bodies_are_400(pages, body):
    decision = callback_decision("admin", body)
    assert not decision.allowed and decision.status == 400


def test_callback_decision_checks_every_output(pages):
    ok = {"output": "..live-updated.children...live-health.children..", "outputs": [
        {"id": "live-updated", "property": "children"}, {"id": "live-health", "property": "children"}]}
    assert callback_decision("supervisor", ok).allowed
    assert callback_decision("agent", ok).status == 403
    # one output of another page is enough to refuse the whole request
    mixed = {"output": "..live-updated.children...audit-table.children.."}
    assert callback_decision("supervisor", mixed).status == 403
    assert callback_decision("admin", mixed).allowed
    # 'outputs' naming a page the role may not use, behind an allowed 'output'
    sneaky = {"output": "live-updated.children", "outputs": {"id": "audit-table", "property": "children"}}
    assert callback_decision("supervisor", sneaky).status == 403
    unknown = {"output": "mystery.children"}
    assert callback_decision("admin", unknown).status == 403
    assert callback_decision(None, {"output": "shell-x.children"}).status == 403


def test_rules_are_declared_for_public_and_dash_paths():
    assert match_rule("/login").access.value == "public"
    assert match_rule("/healthz").access.value == "public"
    assert match_rule("/_dash-component-suites/dash/dash.js").access.value == "public"
    assert match_rule("/assets/../app/auth.py") is None  # no traversal through a public prefix
    assert match_rule("/_dash-update-component").access.value == "callback"
    assert match_rule("/_dash-layout").access.value == "signed_in"
    assert match_rule("/static/x") is None
    assert match_rule("/_mcp") is None
