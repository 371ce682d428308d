"""JSON endpoints: ``/healthz`` (public) and ``/api/me``.

Errors are rendered once, here, from :class:`core.exceptions.PyDialerError`
(``{"status", "error", "message", "details"}``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, TypeVar

import flask
from flask_login import current_user

from app.health import probe_all
from app.live import TtlCache
from app.services import get_services
from core.exceptions import PermissionDenied, PyDialerError

logger = logging.getLogger(__name__)

HEALTH_TTL_S = 1.0  # /healthz is public: bound how often anyone can make us probe the engines

F = TypeVar("F", bound=Callable[..., Any])


def require_roles(roles: Iterable[str]) -> Callable[[F], F]:
    """Role check for an API view (the guard has already required a session for ``/api/``)."""
    allowed = frozenset(roles)

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated or current_user.role not in allowed:
                raise PermissionDenied("your role may not use this endpoint")
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def healthz() -> flask.Response:
    cache: TtlCache[dict[str, Any]] = flask.current_app.extensions["pydialer_health"]
    body = cache.get()
    response = flask.jsonify(body)
    response.status_code = 200 if body["ok"] else 503
    response.headers["Cache-Control"] = "no-store"
    return response


def me() -> flask.Response:
    services = get_services()
    from core.models import User

    with services.sessions() as session:
        user = session.get(User, int(current_user.id))
        last_login = user.last_login_at.isoformat() if user is not None and user.last_login_at else None
        team = user.team.name if user is not None and user.team is not None else None
    return flask.jsonify(
        {
            "id": current_user.id,
            "username": current_user.username,
            "full_name": current_user.full_name,
            "role": current_user.role,
            "team_id": current_user.team_id,
            "team": team,
            "last_login_at": last_login,
        }
    )


def favicon() -> flask.Response:
    import pkgutil

    data = pkgutil.get_data("dash", "favicon.ico") or b""
    response = flask.Response(data, mimetype="image/x-icon")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


def _render_error(exc: PyDialerError) -> flask.Response:
    response = flask.jsonify(exc.to_dict())
    response.status_code = exc.http_status
    return response


def init_app(server: flask.Flask) -> None:
    services = get_services(server)

    def compute_health() -> dict[str, Any]:
        probes = probe_all(services.engine, services.redis, services.settings.clickhouse_url)
        required_ok = all(p.ok for p in probes if p.name in ("postgres", "redis"))
        return {"ok": required_ok, "engines": {p.name: p.to_dict() for p in probes}}

    server.extensions["pydialer_health"] = TtlCache(compute_health, HEALTH_TTL_S)
    server.add_url_rule("/healthz", "healthz", healthz, methods=["GET"])
    server.add_url_rule("/api/me", "api_me", me, methods=["GET"])
    server.add_url_rule("/favicon.ico", "favicon", favicon, methods=["GET"])
    server.register_error_handler(PyDialerError, _render_error)
