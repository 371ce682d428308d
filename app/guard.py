"""The fail-closed access guard: one ``before_request`` hook in front of every route.

Every request path must match one of :data:`RULES` (or be a registered page); anything else is
a 404 even when a view exists for it, so a route added later (by us or by a Dash upgrade, e.g.
Dash's catch-all that serves the app shell for *any* path) is closed until someone declares it.

* public: ``/login``, ``/healthz``, ``/assets/...``, ``/_dash-component-suites/...`` (the JS
  bundles, which hold no data), the favicons;
* signed-in, any role: ``/logout``, ``/api/...`` (views add their own role checks), the Dash
  layout/dependencies endpoints;
* a registered page path (``GET /live``): signed in *and* a role the page allows;
* ``POST /_dash-update-component``: signed in, the session's CSRF token in the ``X-CSRFToken``
  header, and every output of the callback must belong to a page the role may use
  (:func:`callback_decision`).

Unauthenticated requests get ``401`` JSON on API/Dash endpoints and a redirect to ``/login`` for
page GETs; a wrong role gets ``403`` (JSON, or an HTML page for page GETs).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import quote, urlsplit

import flask
from flask_login import current_user
from werkzeug.wrappers import Response as WerkzeugResponse

from app import registry
from app.auth import CSRF_HEADER, csrf_header_ok
from core.exceptions import NotAuthenticated, NotFound, PermissionDenied, PyDialerError, ValidationError

logger = logging.getLogger(__name__)

DASH_CALLBACK_PATH = "/_dash-update-component"


class Access(Enum):
    PUBLIC = "public"
    SIGNED_IN = "signed_in"
    PAGE = "page"
    CALLBACK = "callback"


@dataclass(frozen=True)
class Rule:
    name: str
    matches: Callable[[str], bool]
    methods: frozenset[str]
    access: Access
    json: bool  # answer refusals with JSON (API / Dash XHR) rather than HTML / a redirect


def _exact(path: str) -> Callable[[str], bool]:
    return lambda p: p == path


def _under(prefix: str) -> Callable[[str], bool]:
    return lambda p: p.startswith(prefix) and ".." not in p


GET = frozenset({"GET", "HEAD"})
POST = frozenset({"POST"})

RULES: tuple[Rule, ...] = (
    Rule("healthz", _exact("/healthz"), GET, Access.PUBLIC, json=True),
    Rule("login", _exact("/login"), GET | POST, Access.PUBLIC, json=False),
    Rule("assets", _under("/assets/"), GET, Access.PUBLIC, json=False),
    Rule("dash-bundles", _under("/_dash-component-suites/"), GET, Access.PUBLIC, json=False),
    Rule("favicon", _exact("/_favicon.ico"), GET, Access.PUBLIC, json=False),
    Rule("favicon-root", _exact("/favicon.ico"), GET, Access.PUBLIC, json=False),
    Rule("logout", _exact("/logout"), POST, Access.SIGNED_IN, json=False),
    Rule("api", _under("/api/"), GET | POST | frozenset({"PUT", "PATCH", "DELETE"}), Access.SIGNED_IN, json=True),
    Rule("dash-layout", _exact("/_dash-layout"), GET, Access.SIGNED_IN, json=True),
    Rule("dash-dependencies", _exact("/_dash-dependencies"), GET, Access.SIGNED_IN, json=True),
    Rule("dash-reload-hash", _exact("/_reload-hash"), GET, Access.SIGNED_IN, json=True),
    Rule("dash-callback", _exact(DASH_CALLBACK_PATH), POST, Access.CALLBACK, json=True),
)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    status: int = 200
    reason: str = ""


ALLOW = Decision(True)


def match_rule(path: str) -> Rule | None:
    for rule in RULES:
        if rule.matches(path):
            return rule
    return None


# ---------------------------------------------------------------------------------------------
# Dash callbacks: which component ids does a /_dash-update-component body write to?


def _parse_output_part(part: str) -> object:
    """``'live-kpis.children'`` -> ``'live-kpis'``; ``'{"page":"audit",...}.data'`` -> dict.

    Dash escapes dots inside ids as ``\\.`` and may append ``@<hash>`` to the property of an
    ``allow_duplicate`` output (``dash._utils.create_callback_id``).
    """
    id_part, dot, _prop = part.rpartition(".")
    if not dot or not id_part:
        raise ValueError(f"malformed callback output {part!r}")
    id_part = id_part.replace("\\.", ".")
    if id_part.startswith("{"):
        value = json.loads(id_part)
        if not isinstance(value, dict):
            raise ValueError(f"malformed pattern-matching id {id_part!r}")
        return value
    return id_part


def callback_output_ids(body: object) -> list[object]:
    """Every component id a callback request names as an output (``output`` and ``outputs``).

    ``output`` is the key Dash uses to pick the Python function to run, so it is authoritative;
    ``outputs`` is what the renderer will update and is checked too. Raises ``ValueError`` for a
    body that is not a Dash callback request.
    """
    if not isinstance(body, Mapping):
        raise ValueError("callback body must be a JSON object")
    output = body.get("output")
    if not isinstance(output, str) or not output:
        raise ValueError("callback body has no 'output'")
    if output.startswith("..") and output.endswith("..") and len(output) > 4:
        parts = output[2:-2].split("...")
    else:
        parts = [output]
    ids = [_parse_output_part(p) for p in parts]
    outputs = body.get("outputs")
    items = outputs if isinstance(outputs, list) else [outputs] if outputs is not None else []
    for item in items:
        # pattern-matching outputs (ALL / ALLSUB) arrive as a list of {id, property}
        for sub in item if isinstance(item, list) else [item]:
            if not isinstance(sub, Mapping) or "id" not in sub:
                raise ValueError("callback 'outputs' entries need an 'id'")
            ids.append(sub["id"])
    return ids


def callback_decision(role: str | None, body: object) -> Decision:
    """May ``role`` run the callback described by ``body``? Pure: no Flask, no Dash."""
    try:
        ids = callback_output_ids(body)
    except (ValueError, TypeError) as exc:
        return Decision(False, 400, f"bad callback request: {exc}")
    for component_id in ids:
        owner = registry.owner_of(component_id)
        if owner is None:
            return Decision(False, 403, f"no page owns component id {component_id!r}")
        if not registry.may_use(role, owner):
            return Decision(False, 403, f"role {role!r} may not use page {owner!r}")
    return ALLOW


# ---------------------------------------------------------------------------------------------
# the hook


def _error(exc: PyDialerError) -> flask.Response:
    response = flask.jsonify(exc.to_dict())
    response.status_code = exc.http_status
    response.headers["Cache-Control"] = "no-store"
    return response


def _forbidden_page(title: str) -> flask.Response:
    html = flask.render_template("forbidden.html", title=title)
    return flask.Response(html, status=403, mimetype="text/html")


def _not_found(json_wanted: bool) -> flask.Response:
    if json_wanted:
        return _error(NotFound("no such resource"))
    return flask.Response(flask.render_template("not_found.html"), status=404, mimetype="text/html")


def _role() -> str | None:
    if current_user and current_user.is_authenticated:
        return str(current_user.role)
    return None


def _cross_origin(request: flask.Request) -> bool:
    """A state-changing request whose ``Origin`` is another site (defence in depth on top of
    SameSite=Lax cookies and the login form's CSRF token)."""
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return origin == "null"
    return urlsplit(origin).netloc != request.host


def check_request() -> WerkzeugResponse | None:
    """The ``before_request`` hook: ``None`` lets the request through."""
    request = flask.request
    path = request.path
    rule = match_rule(path)
    page = registry.page_for_path(path) if rule is None else None
    method = request.method
    if rule is None and page is None:
        return _not_found(json_wanted=path.startswith(("/api/", "/_dash")))
    if rule is not None and method not in rule.methods:
        if method == "OPTIONS":
            return flask.Response(status=204, headers={"Allow": ", ".join(sorted(rule.methods))})
        return flask.Response(status=405, headers={"Allow": ", ".join(sorted(rule.methods))})
    if page is not None and method not in GET:
        return flask.Response(status=405, headers={"Allow": "GET, HEAD"})
    if rule is not None and rule.access is Access.PUBLIC:
        return None

    role = _role()
    wants_json = rule.json if rule is not None else False
    if role is None:
        if wants_json:
            return _error(NotAuthenticated("login required"))
        if page is not None:
            target = request.full_path.rstrip("?")
            return flask.redirect(f"/login?next={quote(target, safe='/')}", code=302)
        return flask.redirect("/login", code=302)

    if method not in GET and _cross_origin(request):
        logger.warning("cross-origin %s %s refused (Origin %s)", method, path, request.headers.get("Origin"))
        return _error(PermissionDenied("cross-origin request refused"))
    if rule is not None and rule.json and method not in GET and not csrf_header_ok():
        # Dash callbacks and API writes carry the session's CSRF token in a header
        # (double submit); the HTML forms carry it in a field, checked by their views.
        logger.warning("%s %s refused: missing or wrong %s header", method, path, CSRF_HEADER)
        return _error(PermissionDenied("missing or invalid CSRF token", {"header": CSRF_HEADER}))

    if page is not None:
        if not page.allows(role):
            logger.info("role %s refused page %s", role, page.path)
            return _forbidden_page(page.title)
        return None
    assert rule is not None
    if rule.access is Access.CALLBACK:
        body: Any = request.get_json(silent=True)
        decision = callback_decision(role, body)
        if not decision.allowed:
            logger.info("callback refused for %s: %s", role, decision.reason)
            if decision.status == 400:
                return _error(ValidationError(decision.reason))
            return _error(PermissionDenied("not allowed", {"reason": decision.reason}))
    return None


def init_app(server: flask.Flask) -> None:
    """Register the guard. Call before Dash is attached so it runs before Dash's own hooks."""
    server.before_request(check_request)
