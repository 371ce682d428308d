"""SQLAlchemy 2.0 typed models of the system-of-record PostgreSQL database.

The schema itself is owned by the Alembic migrations in ``sql/postgres/versions``; these models
must describe exactly what the migrations build (``tests/integration/test_schema_migrations.py``
runs ``alembic.autogenerate.compare_metadata`` and fails on any difference; CHECK constraints and
partial-index predicates, which that comparison ignores, are checked by name in
``test_schema_dialing.py``). Triggers exist only in the migrations: the audit log's append-only
guard (0001) and ``updated_at`` stamping on raw-SQL updates (0004).

Enumerations are ``text`` columns with ``CHECK`` constraints rather than PostgreSQL ``ENUM``
types: adding a value is then one ``ALTER TABLE ... CHECK`` in a migration instead of an
``ALTER TYPE`` that cannot run inside a transaction block on older servers. The allowed values
are module-level tuples (``ROLES``, ``DIAL_METHODS``, ``CALL_OUTCOMES``, ``AGENT_STATES`` ...,
all importable from here), so Python code validates against the same lists.

The dialing tables (campaigns, lists, leads, DNC, call attempts ...) live in
:mod:`core.models_dialing` and the agent/AI/ops tables in :mod:`core.models_ops`; both are
re-exported here so ``from core.models import Lead`` works and every table is registered on
:data:`Base.metadata`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, func, text
from sqlalchemy.dialects.postgresql import INET
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from core.model_base import NAMING_CONVENTION, Base, created_at_column, in_check

ROLES = ("admin", "manager", "supervisor", "agent")


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[dt.datetime] = created_at_column()

    members: Mapped[list[User]] = relationship(back_populates="team")

    def __repr__(self) -> str:
        return f"Team(id={self.id!r}, name={self.name!r})"


class User(Base):
    """A person who logs in. Never deleted once they have acted (the audit log references them):
    deactivate with ``is_active = false`` instead."""

    __tablename__ = "users"
    __table_args__ = (
        # citext is not shipped by pgserver, so case-insensitivity is "store lowercase":
        # the ORM lowercases on assignment and the database refuses anything else.
        CheckConstraint("username = lower(username)", name="username_lowercase"),
        CheckConstraint("length(username) BETWEEN 1 AND 64", name="username_length"),
        CheckConstraint(in_check("role", ROLES), name="role"),
        CheckConstraint("failed_logins >= 0", name="failed_logins_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), server_default="")
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(20))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"), index=True)
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))
    failed_logins: Mapped[int] = mapped_column(server_default=text("0"))
    locked_until: Mapped[dt.datetime | None]
    last_login_at: Mapped[dt.datetime | None]
    # Base32 TOTP secret (RFC 6238) once MFA is enabled; NULL = MFA off.
    mfa_secret: Mapped[str | None] = mapped_column(String(64))
    password_changed_at: Mapped[dt.datetime] = created_at_column()
    created_at: Mapped[dt.datetime] = created_at_column()

    team: Mapped[Team | None] = relationship(back_populates="members")

    @validates("username")
    def _lowercase_username(self, _key: str, value: str) -> str:
        return value.strip().lower()

    @validates("role")
    def _known_role(self, _key: str, value: str) -> str:
        if value not in ROLES:
            raise ValueError(f"unknown role {value!r}; expected one of {', '.join(ROLES)}")
        return value

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, username={self.username!r}, role={self.role!r})"


class AuditLog(Base):
    """Who changed what, when. Append-only: a trigger (migration 0001) rejects UPDATE and DELETE,
    so even a compromised web process cannot rewrite history through its database role."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_object", "object_type", "object_id", "at"),
        Index("ix_audit_log_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    # RESTRICT (the default): a user who appears in the audit log cannot be deleted, and ON DELETE
    # SET NULL would be an UPDATE of audit_log, which the append-only trigger forbids anyway.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    actor_username: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]
    ip: Mapped[str | None] = mapped_column(INET)

    def __repr__(self) -> str:
        return f"AuditLog(id={self.id!r}, action={self.action!r}, object={self.object_type}:{self.object_id})"


# Register every table on Base.metadata and offer one import point. Imported last: those modules
# refer to users/teams by table name only, never to this module.
from core.models_dialing import (  # noqa: E402
    ABANDON_WINDOWS,
    AMD_MACHINE_ACTIONS,
    AMD_VERDICTS,
    CALL_OUTCOMES,
    CALLBACK_SCOPES,
    CALLBACK_STATUSES,
    DEFAULT_CALLING_WINDOWS,
    DIAL_METHODS,
    DNC_SCOPES,
    DROP_ACTIONS,
    LEAD_ORDERS,
    RECORDING_POLICIES,
    WEEKDAYS,
    CallAttempt,
    Callback,
    Campaign,
    Disposition,
    DncEntry,
    Lead,
    LeadList,
    PauseCode,
    RecycleRule,
)
from core.models_ops import (  # noqa: E402
    AGENT_STATES,
    IMPORT_STATUSES,
    RECORDING_FORMATS,
    SPEAKERS,
    AgentSession,
    AgentStateInterval,
    Holiday,
    ImportJob,
    OutboxMessage,
    Recording,
    SavedView,
    StateCallingRule,
    Utterance,
)

__all__ = [
    "ABANDON_WINDOWS", "AGENT_STATES", "AMD_MACHINE_ACTIONS", "AMD_VERDICTS", "CALLBACK_SCOPES",
    "CALLBACK_STATUSES", "CALL_OUTCOMES", "DEFAULT_CALLING_WINDOWS", "DIAL_METHODS", "DNC_SCOPES",
    "DROP_ACTIONS", "IMPORT_STATUSES", "LEAD_ORDERS", "NAMING_CONVENTION", "RECORDING_FORMATS",
    "RECORDING_POLICIES", "ROLES", "SPEAKERS", "WEEKDAYS",
    "AgentSession", "AgentStateInterval", "AuditLog", "Base", "CallAttempt", "Callback", "Campaign",
    "Disposition", "DncEntry", "Holiday", "ImportJob", "Lead", "LeadList", "OutboxMessage", "PauseCode",
    "Recording", "RecycleRule", "SavedView", "StateCallingRule", "Team", "User", "Utterance",
]
