"""Users, teams and the append-only audit log, against real PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from core import audit
from core.exceptions import ValidationError
from core.models import AuditLog, Team, User


def _user(username: str = "alice", role: str = "agent", **kw: object) -> User:
    return User(username=username, full_name="Alice A", password_hash="x", role=role, **kw)


def test_user_defaults_and_lowercase_username(db_session: Session) -> None:
    team = Team(name="Blue")
    user = _user("Alice", team=team)
    db_session.add(user)
    db_session.commit()
    db_session.refresh(user)
    assert user.username == "alice"
    assert user.is_active is True
    assert user.failed_logins == 0
    assert user.created_at is not None and user.created_at.tzinfo is not None
    assert user.team_id == team.id and team.members == [user]


def test_unknown_role_rejected_by_database(db_session: Session) -> None:
    db_session.add(_user())
    db_session.flush()
    with pytest.raises(IntegrityError, match="ck_users_role"):
        db_session.execute(sa.text("UPDATE users SET role = 'god' WHERE username = 'alice'"))
    db_session.rollback()


def test_unknown_role_rejected_by_model() -> None:
    with pytest.raises(ValueError, match="unknown role"):
        _user(role="god")


def test_uppercase_username_rejected_by_database(db_session: Session) -> None:
    with pytest.raises(IntegrityError, match="ck_users_username_lowercase"):
        db_session.execute(
            sa.text("INSERT INTO users (username, password_hash, role) VALUES ('Bob', 'x', 'agent')")
        )
    db_session.rollback()


def test_duplicate_username_rejected(db_session: Session) -> None:
    db_session.add(_user("carol"))
    db_session.commit()
    db_session.add(_user("CAROL"))
    with pytest.raises(IntegrityError, match="uq_users_username"):
        db_session.commit()
    db_session.rollback()


def test_negative_failed_logins_rejected(db_session: Session) -> None:
    db_session.add(_user(failed_logins=-1))
    with pytest.raises(IntegrityError, match="ck_users_failed_logins_nonnegative"):
        db_session.flush()
    db_session.rollback()


def test_audit_record_and_append_only(db_session: Session) -> None:
    admin = _user("root", role="admin")
    db_session.add(admin)
    entry = audit.record(
        db_session,
        actor=admin,
        action="campaign.update",
        object_type="campaign",
        object_id=7,
        before={"dial_level": 1.0},
        after={"dial_level": 2.5, "when": __import__("datetime").datetime(2026, 1, 1)},
        ip="10.1.2.3",
    )
    db_session.commit()
    row = db_session.get(AuditLog, entry.id)
    assert row is not None
    assert row.actor_id == admin.id and row.actor_username == "root"
    assert row.object_id == "7" and row.after == {"dial_level": 2.5, "when": "2026-01-01T00:00:00"}
    assert row.ip == "10.1.2.3"

    with pytest.raises(DBAPIError, match="append-only: UPDATE"):
        db_session.execute(sa.text("UPDATE audit_log SET action = 'x' WHERE id = :id"), {"id": entry.id})
    db_session.rollback()
    with pytest.raises(DBAPIError, match="append-only: DELETE"):
        db_session.execute(sa.text("DELETE FROM audit_log WHERE id = :id"), {"id": entry.id})
    db_session.rollback()
    # ... and through the ORM too.
    row = db_session.get(AuditLog, entry.id)
    assert row is not None
    row.action = "tampered"
    with pytest.raises(DBAPIError, match="append-only"):
        db_session.flush()
    db_session.rollback()


def test_audit_system_actor_and_bad_ip(db_session: Session) -> None:
    entry = audit.record(db_session, actor=None, action="seed.run", object_type="system", object_id=None)
    assert entry.actor_username == audit.SYSTEM_ACTOR and entry.actor_id is None and entry.at is not None
    with pytest.raises(ValidationError) as info:
        audit.record(db_session, actor=None, action="x", object_type="y", object_id=1, ip="not-an-ip")
    assert "ip" in info.value.details


def test_user_with_audit_history_cannot_be_deleted(db_session: Session) -> None:
    user = _user("dave")
    db_session.add(user)
    audit.record(db_session, actor=user, action="login", object_type="user", object_id=None)
    db_session.commit()
    db_session.delete(user)
    with pytest.raises(IntegrityError, match="fk_audit_log_actor_id_users"):
        db_session.flush()
    db_session.rollback()


def test_db_session_isolation_leaves_no_rows(db_engine: sa.Engine, db_session: Session) -> None:
    db_session.add(_user("ghost"))
    db_session.commit()
    with db_engine.connect() as other:  # a separate connection cannot see the savepoint's rows
        assert other.execute(sa.text("SELECT count(*) FROM users WHERE username = 'ghost'")).scalar() == 0


def test_passwords_hash_verify_and_bad_input() -> None:
    from core.passwords import MAX_PASSWORD_LENGTH, hash_password, needs_rehash, verify_password

    digest = hash_password("correct horse")
    assert digest.startswith("$argon2id$") and digest != hash_password("correct horse")  # salted
    assert verify_password(digest, "correct horse")
    assert not verify_password(digest, "Correct horse")
    assert not needs_rehash(digest)
    # Garbage never raises: a login with a corrupt stored hash is just a failed login.
    for stored in ("", "not-a-hash", "$argon2id$v=19$m=1,t=1,p=1$bad$bad", "$2b$12$bcrypt.hash.from.elsewhere"):
        assert verify_password(stored, "correct horse") is False
        assert needs_rehash(stored)
    assert not verify_password(digest, "")
    assert not verify_password(digest, "x" * (MAX_PASSWORD_LENGTH + 1))
    with pytest.raises(ValueError):
        hash_password("")
    with pytest.raises(ValueError):
        hash_password("x" * (MAX_PASSWORD_LENGTH + 1))
