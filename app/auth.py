"""Sign-in and sign-out: Flask-Login sessions over :class:`core.models.User`.

``/login`` is a plain server-rendered Flask form (fast, no JavaScript needed, CSRF token in a
hidden field); ``/logout`` is a POST with the same token. Every outcome — success, failure,
lockout, logout — is written to the audit log with the client IP.

The session holds ``"<user id>.<password_changed_at epoch>"`` as the Flask-Login id, so changing
a password signs out every other session of that user, and a deactivated user is signed out on
their next request (the user loader re-reads the row on each request).
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import flask
from flask_login import LoginManager, current_user, login_user, logout_user
from sqlalchemy import select

from app import registry
from app.services import get_services
from app.throttle import AccountState, IpThrottle, after_failure, is_locked
from core import audit
from core.models import User
from core.passwords import hash_password, needs_rehash, verify_password

logger = logging.getLogger(__name__)

GENERIC_FAILURE = "Invalid username or password, or too many attempts. Please try again later."
MAX_USERNAME = 64
CSRF_FIELD = "csrf_token"
#: Double-submit copy of the session's CSRF token for Dash: its renderer reads this cookie and
#: echoes it in this header on every callback POST (``Dash(csrf_token_name=, csrf_header_name=)``);
#: the guard compares the header with the session. Not HttpOnly on purpose: scripts must read it.
CSRF_COOKIE = "pydialer_csrf"
CSRF_HEADER = "X-CSRFToken"

#: ``(user, form) -> bool``: checks the second factor of a user whose ``mfa_secret`` is set.
#: Put one in ``flask_app.extensions["pydialer_mfa"]``. With none installed, such users cannot
#: sign in (fail closed) rather than skipping their second factor.
SecondFactorCheck = Callable[[User, Mapping[str, str]], bool]


@dataclass(frozen=True)
class SessionUser:
    """What a request knows about its signed-in user (a snapshot, not an ORM object)."""

    id: int
    username: str
    full_name: str
    role: str
    team_id: int | None
    password_epoch: int

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        return f"{self.id}.{self.password_epoch}"

    @property
    def display_name(self) -> str:
        return self.full_name or self.username

    @classmethod
    def from_model(cls, user: User) -> SessionUser:
        return cls(
            id=user.id,
            username=user.username,
            full_name=user.full_name or "",
            role=user.role,
            team_id=user.team_id,
            password_epoch=int(user.password_changed_at.timestamp()),
        )


def load_session_user(token: str) -> SessionUser | None:
    user_id, _, epoch = token.partition(".")
    if not user_id.isdigit() or not epoch.lstrip("-").isdigit():
        return None
    services = get_services()
    with services.sessions() as session:
        user = session.get(User, int(user_id))
        if user is None or not user.is_active:
            return None
        snapshot = SessionUser.from_model(user)
    if snapshot.password_epoch != int(epoch):
        return None
    return snapshot


# --- CSRF for the two HTML forms (Dash XHRs are JSON + SameSite=Lax + the Origin check) ---------


def csrf_token() -> str:
    token = flask.session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        flask.session[CSRF_FIELD] = token
    return token


def csrf_ok(form: Mapping[str, str]) -> bool:
    expected = flask.session.get(CSRF_FIELD)
    given = form.get(CSRF_FIELD, "")
    return isinstance(expected, str) and bool(given) and hmac.compare_digest(expected, given)


def csrf_header_ok() -> bool:
    expected = flask.session.get(CSRF_FIELD)
    given = flask.request.headers.get(CSRF_HEADER, "")
    return isinstance(expected, str) and bool(given) and hmac.compare_digest(expected, given)


def _sync_csrf_cookie(response: flask.Response) -> flask.Response:
    token = flask.session.get(CSRF_FIELD)
    if isinstance(token, str) and flask.request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(
            CSRF_COOKIE, token, httponly=False, samesite="Lax", path="/",
            secure=bool(flask.current_app.config.get("SESSION_COOKIE_SECURE")),
        )
    elif token is None and CSRF_COOKIE in flask.request.cookies:
        response.delete_cookie(CSRF_COOKIE, path="/")
    return response


def safe_next(target: str | None) -> str:
    """Only same-site relative paths: ``//evil.example`` or ``https://...`` would be an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


#: Where a role lands after sign-in when it asked for no particular page (no ``next``, or ``/``,
#: which is what the guard sends for a bare ``http://host:port``). The floor roles land on live
#: data; admins (who set things up) and agents keep the start page with their links.
LANDING_BY_ROLE: Mapping[str, str] = {"supervisor": "/wallboard", "manager": "/wallboard"}


def landing_page(role: str | None, target: str | None) -> str:
    """The page to send a just-signed-in ``role`` to: its ``next`` if it named one, else the
    role's landing page, if the role may open it (a page dropped from the registry falls back to ``/``)."""
    wanted = safe_next(target)
    if wanted != "/":
        return wanted
    landing = LANDING_BY_ROLE.get(role or "", "/")
    spec = registry.page_for_path(landing)
    return landing if spec is not None and spec.allows(role) else "/"


# --- the login attempt itself (no Flask request objects below this line but ``ip``) ----------


_DUMMY_HASH: str | None = None


def _dummy_hash() -> str:
    """A real Argon2 hash to verify against for unknown users, so timing does not tell
    whether a username exists."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
    return _DUMMY_HASH


@dataclass(frozen=True)
class LoginResult:
    user: SessionUser | None
    reason: str  # "ok" or why it failed (audit only, never shown)


def attempt_login(username: str, password: str, ip: str, form: Mapping[str, str]) -> LoginResult:
    services = get_services()
    settings = services.settings
    now = services.clock.now()
    throttle = IpThrottle.for_settings(services.redis, settings.login_max_failures, settings.login_lockout_s)
    name = username.strip().lower()[: MAX_USERNAME + 1]
    audit_ip = ip or None

    if throttle.blocked(ip):
        with services.sessions.begin() as session:
            audit.record(
                session, actor=None, action="auth.login_failed", object_type="user", object_id=None,
                after={"username": name[:MAX_USERNAME], "reason": "ip_throttled"}, ip=audit_ip,
            )
        return LoginResult(None, "ip_throttled")

    with services.sessions.begin() as session:
        user = None
        if name and len(name) <= MAX_USERNAME:
            user = session.scalars(select(User).where(User.username == name).with_for_update()).one_or_none()
        if user is None:
            verify_password(_dummy_hash(), password)
            throttle.record_failure(ip)
            audit.record(
                session, actor=None, action="auth.login_failed", object_type="user", object_id=None,
                after={"username": name[:MAX_USERNAME], "reason": "unknown_user"}, ip=audit_ip,
            )
            return LoginResult(None, "unknown_user")

        if is_locked(user.locked_until, now):
            throttle.record_failure(ip)
            audit.record(
                session, actor=user, action="auth.login_failed", object_type="user", object_id=user.id,
                after={"reason": "locked"}, ip=audit_ip,
            )
            return LoginResult(None, "locked")

        password_ok = verify_password(user.password_hash, password)
        reason = "ok"
        if not password_ok:
            reason = "bad_password"
        elif not user.is_active:
            reason = "inactive"
        elif user.mfa_secret:
            # MFA hook: the password was right; the second factor decides.
            check: SecondFactorCheck | None = flask.current_app.extensions.get("pydialer_mfa")
            if check is None or not check(user, form):
                reason = "mfa_failed" if check is not None else "mfa_unavailable"

        if reason != "ok":
            throttle.record_failure(ip)
            if reason == "bad_password":
                state, locked_now = after_failure(
                    AccountState(user.failed_logins, user.locked_until),
                    now, settings.login_max_failures, settings.login_lockout_s,
                )
                user.failed_logins = state.failed_logins
                user.locked_until = state.locked_until
                if locked_now:
                    audit.record(
                        session, actor=user, action="auth.lockout", object_type="user", object_id=user.id,
                        after={"locked_until": state.locked_until}, ip=audit_ip,
                    )
            audit.record(
                session, actor=user, action="auth.login_failed", object_type="user", object_id=user.id,
                after={"reason": reason}, ip=audit_ip,
            )
            return LoginResult(None, reason)

        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        user.failed_logins = 0
        user.locked_until = None
        user.last_login_at = now
        audit.record(session, actor=user, action="auth.login", object_type="user", object_id=user.id, ip=audit_ip)
        return LoginResult(SessionUser.from_model(user), "ok")


# --- views ------------------------------------------------------------------------------------


def _render_login(error: str | None, username: str, next_url: str, status: int = 200) -> flask.Response:
    html = flask.render_template(
        "login.html", error=error, username=username, next_url=next_url, csrf_token=csrf_token()
    )
    response = flask.Response(html, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def login_view() -> flask.Response:
    request = flask.request
    next_url = safe_next(request.values.get("next"))
    if current_user.is_authenticated:
        return flask.redirect(landing_page(current_user.role, next_url))  # type: ignore[return-value]
    if request.method == "GET":
        return _render_login(None, "", next_url)

    form = request.form
    username = form.get("username", "")
    if not csrf_ok(form):
        # An expired page or a forged cross-site POST: a fresh token, and nothing is counted.
        return _render_login("Your session expired. Please sign in again.", username[:MAX_USERNAME], next_url, 400)
    result = attempt_login(username, form.get("password", ""), request.remote_addr or "", form)
    if result.user is None:
        logger.info("login failed for %r from %s (%s)", username[:MAX_USERNAME], request.remote_addr, result.reason)
        return _render_login(GENERIC_FAILURE, username[:MAX_USERNAME], next_url, 401)
    # A new session on privilege change: whatever an attacker planted in the old one goes.
    flask.session.clear()
    login_user(result.user)
    csrf_token()
    logger.info("login %s (%s) from %s", result.user.username, result.user.role, request.remote_addr)
    return flask.redirect(landing_page(result.user.role, next_url))  # type: ignore[return-value]


def logout_view() -> flask.Response:
    request = flask.request
    if not csrf_ok(request.form):
        return flask.Response("Invalid or missing CSRF token.", status=400, mimetype="text/plain")
    services = get_services()
    user_id = int(current_user.id)
    with services.sessions.begin() as session:
        user = session.get(User, user_id)
        audit.record(
            session, actor=user, action="auth.logout", object_type="user", object_id=user_id,
            ip=request.remote_addr or None,
        )
    logout_user()
    flask.session.clear()
    return flask.redirect("/login")  # type: ignore[return-value]


def init_app(server: flask.Flask) -> LoginManager:
    manager = LoginManager()
    manager.session_protection = "strong"
    manager.login_view = None  # the guard answers unauthenticated requests, not Flask-Login
    manager.user_loader(load_session_user)
    manager.init_app(server)
    server.add_url_rule("/login", "login", login_view, methods=["GET", "POST"])
    server.add_url_rule("/logout", "logout", logout_view, methods=["POST"])
    server.after_request(_sync_csrf_cookie)
    return manager
