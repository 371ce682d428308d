"""Users and teams: create, change role, enable/disable, reset password; teams create/rename.

Only administrators call these (the page checks the role on every callback). Passwords are hashed
with Argon2id (:mod:`core.passwords`); a generated one is shown once and never stored in clear.
"""

from __future__ import annotations

import logging
import re
import secrets
import string
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import audit
from core.models import ROLES, Team, User
from core.passwords import hash_password

logger = logging.getLogger(__name__)

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MIN_PASSWORD = 10
_ALPHABET = string.ascii_letters + string.digits


def password_problems(password: str, username: str = "") -> list[str]:
    """Empty when acceptable. NIST SP 800-63B §5.1.1.2: length over composition rules, and no
    password equal to (or containing) the username."""
    problems = []
    if len(password) < MIN_PASSWORD:
        problems.append(f"at least {MIN_PASSWORD} characters")
    if username and username.lower() in password.lower():
        problems.append("must not contain the username")
    if len(set(password)) < 5:
        problems.append("too repetitive")
    if password.lower() in {"password123", "1234567890", "qwertyuiop", "letmein123", "changeme123"}:
        problems.append("too common")
    return problems


def generate_password(length: int = 16) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def user_rows(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(
        sa.select(User.id, User.username, User.full_name, User.role, Team.name.label("team"), User.is_active,
                  User.last_login_at).join(Team, Team.id == User.team_id, isouter=True).order_by(User.username)).all()
    return [dict(r._mapping) for r in rows]


def team_rows(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(sa.select(Team.id, Team.name, sa.func.count(User.id).label("members"))
                           .join(User, User.team_id == Team.id, isouter=True).group_by(Team.id).order_by(Team.name)).all()
    return [dict(r._mapping) for r in rows]


def _snap(user: User) -> dict[str, Any]:
    return {"username": user.username, "full_name": user.full_name, "role": user.role, "team_id": user.team_id,
            "is_active": user.is_active}


def create_user(session: Session, username: str, full_name: str, role: str, team_id: int | None, password: str, *,
                actor: User, ip: str | None = None) -> User:
    username = (username or "").strip().lower()
    if not USERNAME.match(username):
        raise ValueError("username: 1-64 of a-z, 0-9, '.', '_' or '-', starting with a letter or digit")
    if role not in ROLES:
        raise ValueError(f"role: one of {', '.join(ROLES)}")
    if session.scalar(sa.select(User.id).where(User.username == username)) is not None:
        raise ValueError(f"username {username!r} is taken")
    if team_id is not None and session.get(Team, team_id) is None:
        raise ValueError("no such team")
    problems = password_problems(password, username)
    if problems:
        raise ValueError("password: " + "; ".join(problems))
    user = User(username=username, full_name=(full_name or "").strip()[:200], role=role, team_id=team_id,
                password_hash=hash_password(password))
    session.add(user)
    session.flush()
    audit.record(session, actor=actor, action="user.create", object_type="user", object_id=user.id, after=_snap(user),
                 ip=ip)
    return user


def update_user(session: Session, user_id: int, *, actor: User, role: str | None = None, team_id: int | None = -1,
                is_active: bool | None = None, ip: str | None = None) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise LookupError(f"no user {user_id}")
    if user.id == actor.id and ((role is not None and role != "admin") or is_active is False):
        raise ValueError("you cannot demote or disable your own account")
    before = _snap(user)
    if role is not None:
        if role not in ROLES:
            raise ValueError(f"role: one of {', '.join(ROLES)}")
        user.role = role
    if team_id != -1:
        if team_id is not None and session.get(Team, team_id) is None:
            raise ValueError("no such team")
        user.team_id = team_id
    if is_active is not None:
        user.is_active = is_active
    session.flush()
    audit.record(session, actor=actor, action="user.update", object_type="user", object_id=user.id, before=before,
                 after=_snap(user), ip=ip)
    return user


def reset_password(session: Session, user_id: int, password: str | None, *, actor: User, now: Any,
                   ip: str | None = None) -> str:
    """Set ``password`` (checked) or a generated one; returns the password to show once."""
    user = session.get(User, user_id)
    if user is None:
        raise LookupError(f"no user {user_id}")
    new = password or generate_password()
    problems = password_problems(new, user.username)
    if problems:
        raise ValueError("password: " + "; ".join(problems))
    user.password_hash = hash_password(new)
    user.password_changed_at = now
    user.failed_logins = 0
    user.locked_until = None
    audit.record(session, actor=actor, action="user.password_reset", object_type="user", object_id=user.id,
                 after={"generated": password is None}, ip=ip)
    return new


def save_team(session: Session, team_id: int | None, name: str, *, actor: User, ip: str | None = None) -> Team:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValueError("team name: 1-100 characters")
    clash = session.scalar(sa.select(Team.id).where(Team.name == name))
    if clash is not None and clash != team_id:
        raise ValueError(f"a team named {name!r} exists")
    if team_id is None:
        team = Team(name=name)
        session.add(team)
        session.flush()
        audit.record(session, actor=actor, action="team.create", object_type="team", object_id=team.id,
                     after={"name": name}, ip=ip)
        return team
    existing = session.get(Team, team_id)
    if existing is None:
        raise LookupError(f"no team {team_id}")
    before = existing.name
    existing.name = name
    audit.record(session, actor=actor, action="team.rename", object_type="team", object_id=existing.id,
                 before={"name": before}, after={"name": name}, ip=ip)
    return existing
