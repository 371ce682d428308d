"""Dialing tables: campaigns and their settings, lists, leads, DNC, call attempts, callbacks.

Import these through :mod:`core.models`. Column names of :class:`CallAttempt` are the CDR
vocabulary shared with ClickHouse (``sql/clickhouse``): rename nothing without both sides.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship, synonym

from core.model_base import Base, created_at_column, e164_check, in_check, updated_at_column

DIAL_METHODS = ("manual", "preview", "progressive", "ratio", "predictive", "vicidial-adapt")
# FTC TSR 16 CFR 310.4(b)(4)(i): abandonment rate over 30 days per campaign; Ofcom's persistent
# misuse policy (2016) s. A1.8: abandoned calls per 24 hours per campaign.
ABANDON_WINDOWS = ("ftc_30d", "ofcom_24h")
DROP_ACTIONS = ("hangup", "message", "audio", "voicemail")
AMD_MACHINE_ACTIONS = ("hangup", "message")
RECORDING_POLICIES = ("none", "all", "on_demand")
LEAD_ORDERS = ("priority", "new_first", "oldest_last_call", "random", "tz_east_to_west")
DNC_SCOPES = ("global", "campaign")
AMD_VERDICTS = ("human", "machine", "notsure")
CALL_OUTCOMES = ("human", "machine", "busy", "congestion", "no_answer", "failed", "abandoned", "cancelled")
CALLBACK_SCOPES = ("anyone", "agent")
CALLBACK_STATUSES = ("pending", "done", "cancelled")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Status / disposition / pause codes: short upper-case tokens, as VICIdial uses them (SALE, NI, A).
CODE_REGEX = "^[A-Z0-9_]{1,20}$"

# TCPA, 47 CFR 64.1200(c)(1): no telephone solicitation before 8 a.m. or after 9 p.m. at the
# called party's location. Stricter state rules live in state_calling_rules.
DEFAULT_CALLING_WINDOWS: dict[str, list[str]] = {day: ["08:00", "21:00"] for day in WEEKDAYS}
_DEFAULT_WINDOWS_SQL = (
    "'{" + ", ".join(f'"{day}": ["08:00", "21:00"]' for day in WEEKDAYS) + "}'::jsonb"
)


def _code_check(column: str) -> str:
    return f"{column} ~ '{CODE_REGEX}'"


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint(in_check("dial_method", DIAL_METHODS), name="dial_method"),
        CheckConstraint(
            "dial_level >= 0 AND min_dial_level >= 0 AND min_dial_level <= max_dial_level AND max_dial_level <= 20",
            name="dial_levels",
        ),
        CheckConstraint("dial_ratio > 0 AND dial_ratio <= 20", name="dial_ratio"),
        CheckConstraint("target_abandon_rate >= 0 AND target_abandon_rate <= 1", name="target_abandon_rate"),
        CheckConstraint(in_check("abandon_window", ABANDON_WINDOWS), name="abandon_window"),
        # 16 CFR 310.4(b)(4)(iii): connect to a sales representative within two seconds of the
        # greeting, else the call is abandoned; we allow longer for non-TSR (e.g. Ofcom) campaigns.
        CheckConstraint("drop_after_s >= 0 AND drop_after_s <= 60", name="drop_after_s"),
        CheckConstraint(in_check("drop_action", DROP_ACTIONS), name="drop_action"),
        # 16 CFR 310.4(b)(4)(i): ring at least 15 seconds or four rings before disconnecting.
        CheckConstraint("dial_timeout_s >= 15 AND dial_timeout_s <= 120", name="dial_timeout_s"),
        CheckConstraint("jsonb_typeof(calling_windows) = 'object'", name="calling_windows_object"),
        CheckConstraint("max_attempts >= 1", name="max_attempts"),
        CheckConstraint(in_check("amd_machine_action", AMD_MACHINE_ACTIONS), name="amd_machine_action"),
        CheckConstraint("wrap_up_s >= 0", name="wrap_up_s"),
        CheckConstraint(in_check("recording_policy", RECORDING_POLICIES), name="recording_policy"),
        CheckConstraint(in_check("lead_order", LEAD_ORDERS), name="lead_order"),
        CheckConstraint("hopper_level >= 1", name="hopper_level"),
        CheckConstraint(f"caller_id IS NULL OR {e164_check('caller_id')}", name="caller_id_e164"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, server_default="")
    active: Mapped[bool] = mapped_column(server_default=text("true"))
    dial_method: Mapped[str] = mapped_column(String(20), server_default="progressive")
    dial_level: Mapped[float] = mapped_column(Float, server_default=text("1.0"))
    min_dial_level: Mapped[float] = mapped_column(Float, server_default=text("1.0"))
    max_dial_level: Mapped[float] = mapped_column(Float, server_default=text("3.0"))
    dial_ratio: Mapped[float] = mapped_column(Float, server_default=text("1.0"))
    target_abandon_rate: Mapped[float] = mapped_column(Float, server_default=text("0.03"))
    abandon_window: Mapped[str] = mapped_column(String(20), server_default="ftc_30d")
    drop_after_s: Mapped[int] = mapped_column(server_default=text("2"))
    drop_action: Mapped[str] = mapped_column(String(20), server_default="message")
    safe_harbor_audio: Mapped[str | None] = mapped_column(String(255))
    caller_id: Mapped[str | None] = mapped_column(String(16))
    dial_timeout_s: Mapped[int] = mapped_column(server_default=text("26"))
    calling_windows: Mapped[dict[str, Any]] = mapped_column(server_default=text(_DEFAULT_WINDOWS_SQL))
    dial_statuses: Mapped[list[str]] = mapped_column(ARRAY(String(20)), server_default=text("'{NEW}'"))
    max_attempts: Mapped[int] = mapped_column(server_default=text("5"))
    amd_enabled: Mapped[bool] = mapped_column(server_default=text("false"))
    amd_machine_action: Mapped[str] = mapped_column(String(20), server_default="hangup")
    wrap_up_s: Mapped[int] = mapped_column(server_default=text("10"))
    recording_policy: Mapped[str] = mapped_column(String(20), server_default="none")
    lead_order: Mapped[str] = mapped_column(String(20), server_default="priority")
    hopper_level: Mapped[int] = mapped_column(server_default=text("100"))
    script_template: Mapped[str] = mapped_column(Text, server_default="")
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = updated_at_column()

    lists: Mapped[list[LeadList]] = relationship(back_populates="campaign")
    recycle_rules: Mapped[list[RecycleRule]] = relationship(back_populates="campaign", cascade="all, delete-orphan")

    def __repr__(self) -> str:
        return f"Campaign(id={self.id!r}, name={self.name!r}, dial_method={self.dial_method!r})"


class RecycleRule(Base):
    """Redial leads left in ``status`` after ``delay_s``, at most ``max_attempts`` times
    (VICIdial's vicidial_lead_recycle)."""

    __tablename__ = "campaign_recycle_rules"
    __table_args__ = (
        UniqueConstraint("campaign_id", "status"),
        CheckConstraint(_code_check("status"), name="status_code"),
        CheckConstraint("delay_s >= 0", name="delay_s"),
        CheckConstraint("max_attempts >= 1", name="max_attempts"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20))
    delay_s: Mapped[int] = mapped_column(server_default=text("1800"))
    max_attempts: Mapped[int] = mapped_column(server_default=text("2"))
    active: Mapped[bool] = mapped_column(server_default=text("true"))

    campaign: Mapped[Campaign] = relationship(back_populates="recycle_rules")


class PauseCode(Base):
    """Why an agent is paused. ``campaign_id`` NULL = available in every campaign."""

    __tablename__ = "pause_codes"
    __table_args__ = (
        UniqueConstraint("campaign_id", "code", postgresql_nulls_not_distinct=True),
        CheckConstraint(_code_check("code"), name="code"),
        CheckConstraint("max_s IS NULL OR max_s > 0", name="max_s"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    billable: Mapped[bool] = mapped_column(server_default=text("false"))
    max_s: Mapped[int | None]


class Disposition(Base):
    """A call result an agent (or the system) can set. ``campaign_id`` NULL = global.

    ``human_answered`` feeds the abandonment-rate denominator (VICIdial counts DROP as answered,
    see VICIDIAL.md section 1); ``dnc`` adds the number to the campaign's DNC list."""

    __tablename__ = "dispositions"
    __table_args__ = (
        UniqueConstraint("campaign_id", "code", postgresql_nulls_not_distinct=True),
        CheckConstraint(_code_check("code"), name="code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    human_answered: Mapped[bool] = mapped_column(server_default=text("false"))
    sale: Mapped[bool] = mapped_column(server_default=text("false"))
    dnc: Mapped[bool] = mapped_column(server_default=text("false"))
    callback: Mapped[bool] = mapped_column(server_default=text("false"))
    # False for system statuses (B, NA, DC, DROP) that agents never pick from the list; "A" is both: the
    # dialer sets it on AMD machine verdicts, and agents pick it for a machine AMD let through.
    selectable: Mapped[bool] = mapped_column(server_default=text("true"))


class LeadList(Base):
    __tablename__ = "lists"
    __table_args__ = (
        UniqueConstraint("campaign_id", "name"),
        CheckConstraint("default_region ~ '^[A-Z]{2}$'", name="default_region"),
        CheckConstraint("reset_count >= 0", name="reset_count"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(server_default=text("true"))
    # phonenumbers region used to parse numbers written without a leading '+'.
    default_region: Mapped[str] = mapped_column(String(2), server_default="US")
    reset_count: Mapped[int] = mapped_column(server_default=text("0"))
    last_reset_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = created_at_column()

    campaign: Mapped[Campaign] = relationship(back_populates="lists")


class ListZone(Base):
    """The time zones occurring in a list's leads (a superset), kept by triggers (migration 0005).

    The hopper's SQL prefilter lists only these zones, not all ~400 IANA zones."""

    __tablename__ = "list_zones"

    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True)
    zone: Mapped[str] = mapped_column(String(64), primary_key=True)


class Lead(Base):
    __tablename__ = "leads"
    __table_args__ = (
        UniqueConstraint("list_id", "phone_e164"),
        CheckConstraint(e164_check("phone_e164"), name="phone_e164"),
        CheckConstraint(f"alt_phone_e164 IS NULL OR {e164_check('alt_phone_e164')}", name="alt_phone_e164"),
        CheckConstraint(_code_check("status"), name="status_code"),
        CheckConstraint("attempts >= 0", name="attempts_nonnegative"),
        CheckConstraint("jsonb_typeof(custom_fields) = 'object'", name="custom_fields_object"),
        # The hopper's standard pass: dialable statuses not yet called since the list's last reset,
        # whose next_call_at (if any) has passed.
        Index(
            "ix_leads_hopper",
            "list_id",
            "status",
            "next_call_at",
            postgresql_where=text("NOT called_since_reset"),
        ),
        # The recycling pass: status + time since the last call (VICIdial's lead recycle rules).
        Index("ix_leads_recycle", "list_id", "status", "last_called_at"),
        # The hopper's ORDER BY priority DESC, id LIMIT n with list/status IN-lists: an ordered scan
        # that stops after n matches instead of sorting every dialable lead (dialer/leads_repo.py).
        Index(
            "ix_leads_standard_order",
            text("priority DESC"),
            "id",
            postgresql_where=text("NOT called_since_reset"),
        ),
        Index("ix_leads_recycled_order", text("priority DESC"), "id", postgresql_where=text("called_since_reset")),
        # DNC scrub, cross-list duplicate check and inbound caller lookup.
        Index("ix_leads_phone_e164", "phone_e164"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"))
    phone_e164: Mapped[str] = mapped_column(String(16))
    alt_phone_e164: Mapped[str | None] = mapped_column(String(16))
    first_name: Mapped[str] = mapped_column(String(100), server_default="")
    last_name: Mapped[str] = mapped_column(String(100), server_default="")
    email: Mapped[str | None] = mapped_column(String(254))
    address: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str | None] = mapped_column(String(32))  # postal state / province code ("TX")
    postal_code: Mapped[str | None] = mapped_column(String(16))
    country: Mapped[str | None] = mapped_column(String(2))
    # IANA zone when unambiguous; tz_candidates keeps every zone phonenumbers returned when they
    # disagree (e.g. an area code straddling two zones): the hopper then requires all of them to
    # be inside the calling window.
    timezone: Mapped[str | None] = mapped_column(String(64))
    tz_candidates: Mapped[list[str] | None] = mapped_column(ARRAY(String(64)))
    status: Mapped[str] = mapped_column(String(20), server_default="NEW")
    attempts: Mapped[int] = mapped_column(server_default=text("0"))
    priority: Mapped[int] = mapped_column(server_default=text("0"))
    last_called_at: Mapped[dt.datetime | None]
    next_call_at: Mapped[dt.datetime | None]
    called_since_reset: Mapped[bool] = mapped_column(server_default=text("false"))
    vendor_lead_code: Mapped[str | None] = mapped_column(String(50))
    custom_fields: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    # Prior express consent (TCPA 47 CFR 64.1200(a)) for autodialed calls / texts, and its origin.
    consent_call: Mapped[bool] = mapped_column(server_default=text("false"))
    consent_sms: Mapped[bool] = mapped_column(server_default=text("false"))
    consent_source: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = updated_at_column()

    lead_list: Mapped[LeadList] = relationship()

    def __repr__(self) -> str:
        return f"Lead(id={self.id!r}, phone={self.phone_e164!r}, status={self.status!r})"


class DncEntry(Base):
    """A do-not-call number: ``global`` (every campaign) or one campaign's list."""

    __tablename__ = "dnc_entries"
    __table_args__ = (
        # One entry per number per scope; NULLS NOT DISTINCT makes a second global entry for the
        # same number a conflict too (PostgreSQL 15+).
        UniqueConstraint("phone_e164", "campaign_id", postgresql_nulls_not_distinct=True),
        CheckConstraint(e164_check("phone_e164"), name="phone_e164"),
        CheckConstraint(in_check("scope", DNC_SCOPES), name="scope"),
        CheckConstraint(
            "(scope = 'global' AND campaign_id IS NULL) OR (scope = 'campaign' AND campaign_id IS NOT NULL)",
            name="scope_campaign_consistent",
        ),
        CheckConstraint("expires_at IS NULL OR expires_at > added_at", name="expires_after_added"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    phone_e164: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str] = mapped_column(String(10), server_default="global")
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(50), server_default="manual")  # manual, import, disposition, api
    reason: Mapped[str | None] = mapped_column(Text)
    added_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    added_at: Mapped[dt.datetime] = created_at_column()
    expires_at: Mapped[dt.datetime | None]


class CallAttempt(Base):
    """One outbound dial: the CDR row of the system of record (mirrored to ClickHouse)."""

    __tablename__ = "call_attempts"
    __table_args__ = (
        CheckConstraint(e164_check("phone_e164"), name="phone_e164"),
        CheckConstraint("attempt_no >= 1", name="attempt_no"),
        CheckConstraint(in_check("dial_method", DIAL_METHODS), name="dial_method"),
        CheckConstraint(in_check("amd_verdict", AMD_VERDICTS, nullable=True), name="amd_verdict"),
        CheckConstraint(in_check("outcome", CALL_OUTCOMES, nullable=True), name="outcome"),
        # ITU-T Q.850 cause values are 0..127 (Asterisk's HANGUPCAUSE).
        CheckConstraint("hangup_cause IS NULL OR (hangup_cause >= 0 AND hangup_cause <= 127)", name="hangup_cause"),
        Index("ix_call_attempts_campaign_dialed", "campaign_id", "dialed_at"),
        Index("ix_call_attempts_agent_dialed", "agent_id", "dialed_at"),
        # Per-number call limits (e.g. 24-hour caps) look up recent attempts by phone.
        Index("ix_call_attempts_phone_dialed", "phone_e164", "dialed_at"),
        # AMI events carry (server, Uniqueid): the lookup from an event to our call.
        Index(
            "uq_call_attempts_pbx_uniqueid",
            "pbx",
            "uniqueid",
            unique=True,
            postgresql_where=text("uniqueid IS NOT NULL"),
        ),
        # Calls still in flight (crash recovery, wallboard).
        Index("ix_call_attempts_in_flight", "dialed_at", postgresql_where=text("ended_at IS NULL")),
    )

    call_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    id = synonym("call_id")
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="RESTRICT"))
    list_id: Mapped[int | None] = mapped_column(ForeignKey("lists.id", ondelete="SET NULL"))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    pbx: Mapped[str] = mapped_column(String(64))
    uniqueid: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(128))
    phone_e164: Mapped[str] = mapped_column(String(16))
    attempt_no: Mapped[int] = mapped_column(server_default=text("1"))
    dial_method: Mapped[str] = mapped_column(String(20))
    dialed_at: Mapped[dt.datetime] = created_at_column()
    ringing_at: Mapped[dt.datetime | None]
    answered_at: Mapped[dt.datetime | None]
    amd_verdict: Mapped[str | None] = mapped_column(String(10))
    amd_at: Mapped[dt.datetime | None]
    connected_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None]
    wrap_ended_at: Mapped[dt.datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(20))
    hangup_cause: Mapped[int | None] = mapped_column(SmallInteger)
    hangup_cause_txt: Mapped[str | None] = mapped_column(String(64))
    dropped: Mapped[bool] = mapped_column(server_default=text("false"))
    safe_harbor_played: Mapped[bool] = mapped_column(server_default=text("false"))
    disposition_code: Mapped[str | None] = mapped_column(String(20))
    # The primary recording; recordings.call_id is the authoritative link. use_alter breaks the
    # call_attempts <-> recordings creation cycle.
    recording_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("recordings.id", ondelete="SET NULL", use_alter=True)
    )

    def __repr__(self) -> str:
        return f"CallAttempt(call_id={self.call_id!s}, phone={self.phone_e164!r}, outcome={self.outcome!r})"


class Callback(Base):
    """A scheduled callback: for ``anyone`` in the campaign, or for one ``agent`` only."""

    __tablename__ = "callbacks"
    __table_args__ = (
        CheckConstraint(in_check("scope", CALLBACK_SCOPES), name="scope"),
        CheckConstraint(
            "(scope = 'anyone' AND agent_id IS NULL) OR (scope = 'agent' AND agent_id IS NOT NULL)",
            name="scope_agent_consistent",
        ),
        CheckConstraint(in_check("status", CALLBACK_STATUSES), name="status"),
        Index("ix_callbacks_due", "campaign_id", "due_at", postgresql_where=text("status = 'pending'")),
        Index("ix_callbacks_agent_pending", "agent_id", "due_at", postgresql_where=text("status = 'pending'")),
        # At most one pending callback per lead: scheduling another replaces it.
        Index("uq_callbacks_lead_pending", "lead_id", unique=True, postgresql_where=text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    # No ON DELETE: SET NULL would break the scope check; users are deactivated, not deleted.
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    scope: Mapped[str] = mapped_column(String(10), server_default="anyone")
    due_at: Mapped[dt.datetime]
    # What the agent promised, in the customer's words/time ("Tue 10:00 America/Chicago").
    lead_local_time: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, server_default="")
    status: Mapped[str] = mapped_column(String(10), server_default="pending")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = created_at_column()
    completed_at: Mapped[dt.datetime | None]
