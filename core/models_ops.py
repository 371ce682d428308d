"""Agent sessions and states, recordings, transcripts, the outbox, imports, UI views, calling rules.

Import these through :mod:`core.models`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import (
    text as sql_text,
)
from sqlalchemy.dialects.postgresql import INET, UUID
from sqlalchemy.orm import Mapped, mapped_column

from core.model_base import Base, created_at_column, in_check, updated_at_column

AGENT_STATES = ("ready", "reserved", "incall", "wrap", "paused", "dead")
SPEAKERS = ("agent", "customer")
IMPORT_STATUSES = ("pending", "running", "done", "failed", "cancelled")
RECORDING_FORMATS = ("wav", "wav49", "gsm", "mp3", "ogg", "opus")


class AgentSession(Base):
    """One login of an agent into a campaign, from their phone/extension."""

    __tablename__ = "agent_sessions"
    __table_args__ = (
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ended_after_started"),
        Index("ix_agent_sessions_campaign_started", "campaign_id", "started_at"),
        Index("ix_agent_sessions_user_started", "user_id", "started_at"),
        # An agent has at most one open session: logging in again must end the previous one.
        Index("uq_agent_sessions_user_open", "user_id", unique=True, postgresql_where=sql_text("ended_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    started_at: Mapped[dt.datetime] = created_at_column()
    ended_at: Mapped[dt.datetime | None]
    extension: Mapped[str | None] = mapped_column(String(64))  # e.g. PJSIP/1001 or a WebRTC endpoint
    pbx: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(INET)


class AgentStateInterval(Base):
    """A span of time an agent spent in one state (mirrored to ClickHouse for the reports)."""

    __tablename__ = "agent_state_intervals"
    __table_args__ = (
        CheckConstraint(in_check("state", AGENT_STATES), name="state"),
        CheckConstraint("pause_code IS NULL OR state = 'paused'", name="pause_code_only_when_paused"),
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ended_after_started"),
        Index("ix_agent_state_intervals_user_started", "user_id", "started_at"),
        Index("ix_agent_state_intervals_campaign_started", "campaign_id", "started_at"),
        Index("ix_agent_state_intervals_call_id", "call_id"),
        Index(
            "uq_agent_state_intervals_session_open",
            "session_id",
            unique=True,
            postgresql_where=sql_text("ended_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("agent_sessions.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(10))
    pause_code: Mapped[str | None] = mapped_column(String(20))
    started_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]
    call_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("call_attempts.call_id", ondelete="SET NULL")
    )


class Recording(Base):
    __tablename__ = "recordings"
    __table_args__ = (
        CheckConstraint(in_check("format", RECORDING_FORMATS), name="format"),
        CheckConstraint("duration_s IS NULL OR duration_s >= 0", name="duration_s"),
        CheckConstraint("size_bytes IS NULL OR size_bytes >= 0", name="size_bytes"),
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ended_after_started"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    call_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("call_attempts.call_id", ondelete="CASCADE"), index=True
    )
    path: Mapped[str] = mapped_column(Text)
    started_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]
    duration_s: Mapped[float | None] = mapped_column(Float)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    format: Mapped[str] = mapped_column(String(10), server_default="wav")
    created_at: Mapped[dt.datetime] = created_at_column()


class Utterance(Base):
    """One transcribed turn of a call, with its PII-redacted text and sentiment."""

    __tablename__ = "utterances"
    __table_args__ = (
        UniqueConstraint("call_id", "seq"),
        CheckConstraint("seq >= 0", name="seq"),
        CheckConstraint(in_check("speaker", SPEAKERS), name="speaker"),
        CheckConstraint("started_s >= 0 AND ended_s >= started_s", name="times"),
        CheckConstraint("sentiment IS NULL OR (sentiment >= -1 AND sentiment <= 1)", name="sentiment_range"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    call_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("call_attempts.call_id", ondelete="CASCADE")
    )
    seq: Mapped[int]
    speaker: Mapped[str] = mapped_column(String(10))
    started_s: Mapped[float] = mapped_column(Float)
    ended_s: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    text_redacted: Mapped[str | None] = mapped_column(Text)
    redacted: Mapped[bool] = mapped_column(server_default=sql_text("false"))
    sentiment: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = created_at_column()


class OutboxMessage(Base):
    """Transactional outbox: rows written in the same transaction as the change they announce,
    then shipped (to ClickHouse, Redis streams) by a relay that marks ``delivered_at``. Consumers
    deduplicate on ``id``, which makes delivery effectively exactly-once."""

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint("attempts >= 0", name="attempts"),
        Index("ix_outbox_undelivered", "topic", "id", postgresql_where=sql_text("delivered_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    topic: Mapped[str] = mapped_column(String(64))
    key: Mapped[str | None] = mapped_column(String(128))  # e.g. the call id: per-key ordering
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime] = created_at_column()
    delivered_at: Mapped[dt.datetime | None]
    attempts: Mapped[int] = mapped_column(server_default=sql_text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)


class SavedView(Base):
    """A named grid/filter state a user saved on a page of the UI."""

    __tablename__ = "saved_views"
    __table_args__ = (UniqueConstraint("user_id", "page", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    page: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    state: Mapped[dict[str, Any]] = mapped_column(server_default=sql_text("'{}'::jsonb"))
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = updated_at_column()


class ImportJob(Base):
    """A lead file import run by a Celery task; ``error_report_path`` lists the rejected rows."""

    __tablename__ = "import_jobs"
    __table_args__ = (
        CheckConstraint(in_check("status", IMPORT_STATUSES), name="status"),
        CheckConstraint(
            "total_rows >= 0 AND good_rows >= 0 AND bad_rows >= 0 AND duplicate_rows >= 0", name="row_counts"
        ),
        Index("ix_import_jobs_list_created", "list_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(10), server_default="pending")
    total_rows: Mapped[int] = mapped_column(server_default=sql_text("0"))
    good_rows: Mapped[int] = mapped_column(server_default=sql_text("0"))
    bad_rows: Mapped[int] = mapped_column(server_default=sql_text("0"))
    duplicate_rows: Mapped[int] = mapped_column(server_default=sql_text("0"))
    error_report_path: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    celery_task_id: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = created_at_column()
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]


class StateCallingRule(Base):
    """A stricter per-state calling window than the campaign's (e.g. state telemarketing laws).

    ``windows`` maps a weekday (``mon`` .. ``sun``) to ``["HH:MM", "HH:MM"]`` local time; a
    weekday absent from the map means no calls that day."""

    __tablename__ = "state_calling_rules"
    __table_args__ = (
        UniqueConstraint("country", "state"),
        CheckConstraint("jsonb_typeof(windows) = 'object'", name="windows_object"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    country: Mapped[str] = mapped_column(String(2), server_default="US")
    state: Mapped[str] = mapped_column(String(32))
    windows: Mapped[dict[str, Any]]
    note: Mapped[str] = mapped_column(Text, server_default="")
    updated_at: Mapped[dt.datetime] = updated_at_column()


class Holiday(Base):
    """A day with no telemarketing calls, nationally (``state`` NULL) or in one state."""

    __tablename__ = "holidays"
    __table_args__ = (UniqueConstraint("country", "state", "day", postgresql_nulls_not_distinct=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    country: Mapped[str] = mapped_column(String(2), server_default="US")
    state: Mapped[str | None] = mapped_column(String(32))
    day: Mapped[dt.date] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(100))
