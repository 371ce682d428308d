"""Sign-in, sign-out, throttling and session handling through Flask's test client, on the real
migrated PostgreSQL and Redis."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from app.auth import GENERIC_FAILURE
from app.throttle import IP_KEY
from tests.conftest import WEB_PASSWORD, WEB_USERS, web_login


def audit_actions(engine: sa.Engine) -> list[tuple[str, str, str | None, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT action, actor_username, object_id, host(ip) FROM audit_log ORDER BY id")
        ).all()
    return [tuple(r) for r in rows]


def set_cookie(response, name: str) -> str:
    found = [c for c in response.headers.getlist("Set-Cookie") if c.startswith(f"{name}=")]
    assert len(found) == 1, response.headers.getlist("Set-Cookie")
    return found[0]


def navbar_csrf(tree: object) -> str | None:
    """The value of the hidden ``csrf_token`` input somewhere in a Dash layout JSON tree."""
    if isinstance(tree, dict):
        props = tree.get("props")
        if isinstance(props, dict) and props.get("name") == "csrf_token":
            return props.get("value")
        for value in tree.values():
            found = navbar_csrf(value)
            if found:
                return found
    elif isinstance(tree, list):
        for value in tree:
            found = navbar_csrf(value)
            if found:
                return found
    return None


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def test_login_page_is_public_and_has_local_css_and_csrf(web_app):
    client = web_app.test_client()
    response = client.get("/login")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'href="/assets/vendor/bootstrap-5.3.6.min.css"' in html
    assert "http://" not in html and "https://" not in html  # nothing from a CDN
    assert csrf_from(html)
    assert client.get("/assets/vendor/bootstrap-5.3.6.min.css").status_code == 200


def test_login_success_sets_hardened_cookie_and_audits(web_app, web_users, db_committed):
    client = web_app.test_client()
    response = web_login(client, "Supervisor ")  # usernames are case- and space-insensitive
    assert response.status_code == 302 and response.headers["Location"] == "/wallboard"  # supervisors land on live data
    cookie = set_cookie(response, "pydialer_session")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # session_cookie_secure=False in these settings
    csrf_cookie = set_cookie(response, "pydialer_csrf")
    assert "HttpOnly" not in csrf_cookie and "SameSite=Lax" in csrf_cookie  # Dash's renderer reads it
    me = client.get("/api/me").get_json()
    assert me["username"] == "supervisor" and me["role"] == "supervisor" and me["team"] == "Team A"
    assert me["last_login_at"] is not None
    assert ("auth.login", "supervisor", str(web_users["supervisor"]), "127.0.0.1") in audit_actions(db_committed)


def test_secure_cookie_flag_follows_settings(web_settings, web_users, web_redis):
    import dataclasses

    from app import create_app

    app = create_app(dataclasses.replace(web_settings, session_cookie_secure=True), testing=True)
    response = web_login(app.test_client(), "agent01")
    assert "Secure" in set_cookie(response, "pydialer_session")
    assert "Secure" in set_cookie(response, "pydialer_csrf")
    app.extensions["pydialer"].engine.dispose()


@pytest.mark.parametrize("username,password", [("supervisor", "wrong"), ("nobody", WEB_PASSWORD), ("", "")])
def test_failures_share_one_generic_message(web_app, db_committed, username, password):
    client = web_app.test_client()
    response = web_login(client, username, password)
    assert response.status_code == 401
    html = response.get_data(as_text=True)
    assert GENERIC_FAILURE.replace(",", "") in html.replace(",", "")
    assert client.get("/api/me").status_code == 401
    actions = [a[0] for a in audit_actions(db_committed)]
    assert actions == ["auth.login_failed"]


def test_login_without_csrf_token_is_refused_and_not_counted(web_app, db_committed):
    client = web_app.test_client()
    client.get("/login")
    response = client.post("/login", data={"username": "admin", "password": WEB_PASSWORD})
    assert response.status_code == 400
    assert client.get("/api/me").status_code == 401
    assert audit_actions(db_committed) == []


def test_account_lockout_after_max_failures_then_expires(web_app, web_users, db_committed):
    """login_max_failures=3 in web_settings: the third bad password locks the account; even the
    right password is then refused with the same message, until locked_until passes."""
    client = web_app.test_client()
    for _ in range(3):
        assert web_login(client, "manager", "bad").status_code == 401
    locked = web_login(client, "manager", WEB_PASSWORD)
    assert locked.status_code == 401
    assert GENERIC_FAILURE in locked.get_data(as_text=True)
    actions = [a[0] for a in audit_actions(db_committed)]
    assert actions.count("auth.lockout") == 1
    with db_committed.begin() as conn:
        until = conn.execute(sa.text("SELECT locked_until FROM users WHERE username='manager'")).scalar_one()
        assert until > dt.datetime.now(dt.UTC)
        conn.execute(sa.text("UPDATE users SET locked_until = now() - interval '1 second' WHERE username='manager'"))
    assert web_login(client, "manager", WEB_PASSWORD).status_code == 302
    with db_committed.connect() as conn:
        row = conn.execute(sa.text("SELECT failed_logins, locked_until FROM users WHERE username='manager'")).one()
    assert tuple(row) == (0, None)


def test_ip_throttle_refuses_even_correct_password(web_app, web_redis, db_committed):
    """IP limit = 4 x login_max_failures (12) failures within the window, across any usernames."""
    client = web_app.test_client()
    web_redis.set(IP_KEY.format(ip="127.0.0.1"), 12, ex=60)
    response = web_login(client, "admin", WEB_PASSWORD)
    assert response.status_code == 401 and GENERIC_FAILURE in response.get_data(as_text=True)
    assert audit_actions(db_committed)[-1][0] == "auth.login_failed"
    web_redis.delete(IP_KEY.format(ip="127.0.0.1"))
    assert web_login(client, "admin", WEB_PASSWORD).status_code == 302


def test_ip_failures_are_counted_with_expiry(web_app, web_redis):
    client = web_app.test_client()
    web_login(client, "ghost", "x")
    web_login(client, "ghost2", "x")
    key = IP_KEY.format(ip="127.0.0.1")
    assert web_redis.get(key) == "2"
    assert 0 < web_redis.ttl(key) <= 60


def test_inactive_user_cannot_log_in_and_is_signed_out(web_app, db_committed):
    client = web_app.test_client()
    assert web_login(client, "agent01").status_code == 302
    assert client.get("/api/me").status_code == 200
    with db_committed.begin() as conn:
        conn.execute(sa.text("UPDATE users SET is_active = false WHERE username='agent01'"))
    assert client.get("/api/me").status_code == 401
    assert web_login(web_app.test_client(), "agent01").status_code == 401


def test_password_change_signs_out_existing_sessions(web_app, db_committed):
    client = web_app.test_client()
    web_login(client, "admin")
    with db_committed.begin() as conn:
        conn.execute(sa.text("UPDATE users SET password_changed_at = now() + interval '5 seconds' WHERE username='admin'"))
    assert client.get("/api/me").status_code == 401


def test_mfa_user_is_refused_without_a_second_factor_check(web_app, db_committed):
    with db_committed.begin() as conn:
        conn.execute(sa.text("UPDATE users SET mfa_secret = 'JBSWY3DPEHPK3PXP' WHERE username='admin'"))
    client = web_app.test_client()
    assert web_login(client, "admin").status_code == 401
    web_app.extensions["pydialer_mfa"] = lambda user, form: form.get("otp") == "123456"
    assert web_login(client, "admin").status_code == 401
    page = client.get("/login").get_data(as_text=True)
    response = client.post("/login", data={"csrf_token": csrf_from(page), "username": "admin",
                                           "password": WEB_PASSWORD, "otp": "123456"})
    assert response.status_code == 302
    reasons = [r[0] for r in audit_actions(db_committed)]
    assert reasons == ["auth.login_failed", "auth.login_failed", "auth.login"]


def test_logout_requires_post_with_csrf_and_audits(web_app, web_users, db_committed):
    client = web_app.test_client()
    web_login(client, "supervisor")
    assert client.get("/logout").status_code == 405
    assert client.post("/logout", data={}).status_code == 400
    assert client.get("/api/me").status_code == 200
    token = navbar_csrf(client.get("/_dash-layout").get_json())
    assert token, "the navbar carries the CSRF token for sign-out"
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert client.get("/api/me").status_code == 401
    assert audit_actions(db_committed)[-1][:2] == ("auth.logout", "supervisor")


def test_next_parameter_cannot_redirect_off_site(web_app):
    client = web_app.test_client()
    assert web_login(client, "admin", next_url="https://evil.example/x").headers["Location"] == "/"
    client2 = web_app.test_client()
    assert web_login(client2, "admin", next_url="//evil.example").headers["Location"] == "/"
    client3 = web_app.test_client()
    assert web_login(client3, "admin", next_url="/audit").headers["Location"] == "/audit"


def test_all_seeded_roles_can_sign_in(web_app):
    for username in WEB_USERS.values():
        client = web_app.test_client()
        assert web_login(client, username).status_code == 302, username


def test_strong_session_protection_drops_a_session_moved_to_another_browser(web_app):
    client = web_app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = "browser-a"
    web_login(client, "admin")
    assert client.get("/api/me").status_code == 200
    client.environ_base["HTTP_USER_AGENT"] = "browser-b"  # a stolen cookie replayed elsewhere
    assert client.get("/api/me").status_code == 401


def test_redis_outage_keeps_login_working_and_healthz_says_so(web_settings, web_users, db_committed):
    """The IP limiter fails open (logged); the account lockout in PostgreSQL still applies."""
    import dataclasses

    from app import create_app

    app = create_app(dataclasses.replace(web_settings, redis_url="redis://127.0.0.1:1/0"), testing=True)
    app.extensions["pydialer"].redis.connection_pool.connection_kwargs["socket_connect_timeout"] = 0.2
    client = app.test_client()
    assert web_login(client, "admin").status_code == 302
    assert client.get("/api/me").status_code == 200
    health = app.test_client().get("/healthz")
    assert health.status_code == 503
    assert health.get_json()["engines"]["redis"]["ok"] is False
    for _ in range(3):
        assert web_login(app.test_client(), "manager", "bad").status_code == 401
    with db_committed.connect() as conn:
        assert conn.execute(sa.text("SELECT locked_until FROM users WHERE username='manager'")).scalar_one() is not None
    app.extensions["pydialer"].engine.dispose()
