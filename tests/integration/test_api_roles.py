"""Every Flask route under ``/api/`` checks the caller's role itself.

The guard (app/guard.py) only requires *a* session for ``/api/...``: "views add their own role
checks". A view added without ``@require_roles`` would be open to every signed-in agent. This
test walks the app's real URL map, so a new endpoint is covered the day it is registered: it must
be wrapped by ``require_roles`` (or be listed in ``ANY_SIGNED_IN_USER`` with the reason), and a
role it does not allow really gets the 403, and anonymous callers the guard's 401.
"""

from __future__ import annotations

import pytest

from app.api import require_roles
from app.auth import CSRF_COOKIE, CSRF_HEADER
from core.models import ROLES
from tests.conftest import WEB_USERS
from tests.integration.test_security_guard import signed_in

#: ``/api/`` endpoints every signed-in user may call on purpose (endpoint name -> why).
ANY_SIGNED_IN_USER = {"api_me": "a user's own account"}
#: The code object every ``require_roles`` wrapper shares: how a wrapped view is recognised.
_WRAPPER_CODE = require_roles(["admin"])(lambda: None).__code__


def allowed_roles(view: object) -> frozenset[str] | None:
    """The roles a ``require_roles``-wrapped view allows, or None when the view is not wrapped."""
    code = getattr(view, "__code__", None)
    if code is not _WRAPPER_CODE:
        return None
    cells = dict(zip(code.co_freevars, view.__closure__ or (), strict=True))  # type: ignore[attr-defined]
    return cells["allowed"].cell_contents


def api_rules(app) -> list:
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/api/")]
    assert len(rules) >= 7, [r.rule for r in rules]  # the test sees the real map (push, exports, downloads, me)
    return rules


def sample_url(rule) -> str:
    """A concrete URL for ``rule``: 1 for numeric converters, a plain word for the rest."""
    values = {arg: 1 if type(rule._converters[arg]).__name__ in ("IntegerConverter", "NumberConverter") else "csv"
              for arg in rule.arguments}
    return rule.build(values, append_unknown=False)[1]


def method_of(rule) -> str:
    return sorted(rule.methods - {"HEAD", "OPTIONS"})[0]


def test_every_api_view_is_wrapped_by_require_roles(web_app) -> None:
    unguarded = []
    for rule in api_rules(web_app):
        roles = allowed_roles(web_app.view_functions[rule.endpoint])
        if rule.endpoint in ANY_SIGNED_IN_USER:
            assert roles is None, f"{rule.rule} is role-checked: drop it from ANY_SIGNED_IN_USER"
            continue
        if roles is None:
            unguarded.append(rule.rule)
            continue
        assert roles and roles <= set(ROLES), f"{rule.rule}: odd roles {sorted(roles)}"
    assert not unguarded, f"/api/ views without @require_roles: {unguarded}"


def test_the_wrapper_is_recognised_and_a_bare_view_is_not() -> None:
    def view() -> str:
        return "ok"

    assert allowed_roles(require_roles(["manager", "admin"])(view)) == {"manager", "admin"}
    assert allowed_roles(view) is None


def test_roles_an_api_view_does_not_allow_get_403_and_anonymous_401(web_app) -> None:
    clients = {role: signed_in(web_app, role) for role in ROLES}
    anonymous = web_app.test_client()
    refused = 0
    for rule in api_rules(web_app):
        url, method = sample_url(rule), method_of(rule)
        response = anonymous.open(url, method=method)
        assert response.status_code == 401, f"anonymous {method} {url}: {response.status_code}"
        roles = allowed_roles(web_app.view_functions[rule.endpoint])
        for role in sorted(set(ROLES) - (roles or set(ROLES))):
            client = clients[role]
            # past the guard's CSRF check for POSTs, so the refusal seen is the view's own
            headers = {} if method == "GET" else {CSRF_HEADER: client.get_cookie(CSRF_COOKIE).value}
            response = client.open(url, method=method, headers=headers, buffered=True)
            assert response.status_code == 403, f"{role} {method} {url}: {response.status_code}"
            assert "may not use this endpoint" in response.get_json()["message"]
            refused += 1
    assert refused >= 5  # agents, at least, are refused every export and download


@pytest.mark.parametrize("role", ROLES)
def test_api_me_answers_every_signed_in_role(web_app, role: str) -> None:
    response = signed_in(web_app, role).get("/api/me")
    assert response.status_code == 200 and response.get_json()["username"] == WEB_USERS[role]
