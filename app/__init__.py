"""The PyDialer web app: Flask (login, JSON API, health) with Dash (the pages) on top.

:func:`create_app` is the only wiring point (the flaskr pattern): nothing is bound at import,
so tests build as many apps as they like, each with its own settings and engines.

Request order: the fail-closed guard (:mod:`app.guard`) runs first, before Dash's own hooks,
then Flask-Login resolves the session, then the view.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import flask

    from core.clock import Clock
    from core.config import Settings

logger = logging.getLogger(__name__)

# 'unsafe-inline' / 'unsafe-eval' for scripts: Dash's renderer boot line is an inline script
# and clientside callbacks are compiled from strings. No other origin is allowed anywhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'; object-src 'none'"
)


def _security_headers(response: flask.Response) -> flask.Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "application/json":
        headers.setdefault("Cache-Control", "no-store")
    return response


def create_app(settings: Settings | None = None, *, testing: bool = False, clock: Clock | None = None) -> flask.Flask:
    import flask
    import redis

    from app import api, auth, guard
    from app.api import downloads
    from app.dash_app import APP_DIR, create_dash
    from app.live import LiveData
    from app.services import EXTENSION_KEY, Services
    from core.clock import SystemClock
    from core.config import Settings
    from core.db import make_engine, make_session_factory
    from core.engines import postgres_url, redis_url

    settings = settings or Settings.from_env()
    server = flask.Flask("app", static_folder=None, template_folder=str(APP_DIR / "templates"))
    server.config.update(
        SECRET_KEY=settings.secret_key,
        TESTING=testing,
        SESSION_COOKIE_NAME="pydialer_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        MAX_CONTENT_LENGTH=8 * 1024 * 1024,
    )
    if not settings.secret_key:
        raise ValueError("Settings.secret_key is empty: sessions could be forged")

    engine = make_engine(postgres_url(settings), pool_size=10)
    services = Services(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        redis=redis.Redis.from_url(redis_url(settings), decode_responses=True, socket_timeout=2.0),
        clock=clock or SystemClock(),
    )
    server.extensions[EXTENSION_KEY] = services
    server.extensions["pydialer_live"] = LiveData(services)

    guard.init_app(server)  # first before_request hook: nothing runs ahead of the guard
    auth.init_app(server)
    api.init_app(server)
    downloads.init_app(server)
    server.after_request(_security_headers)
    create_dash(server)
    logger.info("web app ready (postgres %s, redis %s)", engine.url.render_as_string(hide_password=True), "ok")
    return server
