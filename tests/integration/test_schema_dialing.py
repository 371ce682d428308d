"""Constraints of the dialing schema, enforced by PostgreSQL itself (not only by the ORM)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.models import (
    DEFAULT_CALLING_WINDOWS,
    AgentSession,
    AgentStateInterval,
    Base,
    CallAttempt,
    Callback,
    Campaign,
    Disposition,
    DncEntry,
    Lead,
    LeadList,
    OutboxMessage,
    PauseCode,
    Recording,
    User,
    Utterance,
)

NOW = dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC)


@pytest.fixture()
def lead_list(db_session: Session) -> LeadList:
    campaign = Campaign(name="Test campaign", dial_method="predictive")
    lead_list = LeadList(campaign=campaign, name="List A")
    db_session.add(lead_list)
    db_session.flush()
    return lead_list


def _fails(session: Session, constraint: str, *objects: object) -> None:
    """Adding ``objects`` must violate the named constraint; the session is usable afterwards."""
    savepoint = session.begin_nested()
    session.add_all(objects)
    with pytest.raises(IntegrityError) as info:
        session.flush()
    savepoint.rollback()
    assert constraint in str(info.value), str(info.value)


def test_campaign_defaults(db_session: Session, lead_list: LeadList) -> None:
    campaign = lead_list.campaign
    db_session.refresh(campaign)
    assert campaign.calling_windows == DEFAULT_CALLING_WINDOWS
    assert campaign.dial_statuses == ["NEW"]
    assert campaign.target_abandon_rate == pytest.approx(0.03)
    assert campaign.dial_timeout_s >= 15 and campaign.active


@pytest.mark.parametrize(
    ("field", "value", "constraint"),
    [
        ("dial_method", "telepathy", "ck_campaigns_dial_method"),
        ("target_abandon_rate", 1.5, "ck_campaigns_target_abandon_rate"),
        ("dial_timeout_s", 10, "ck_campaigns_dial_timeout_s"),
        ("abandon_window", "weekly", "ck_campaigns_abandon_window"),
        ("caller_id", "5551234", "ck_campaigns_caller_id_e164"),
        ("calling_windows", ["08:00", "21:00"], "ck_campaigns_calling_windows_object"),
    ],
)
def test_campaign_checks(db_session: Session, field: str, value: object, constraint: str) -> None:
    _fails(db_session, constraint, Campaign(name=f"bad {field}", **{field: value}))


def test_campaign_min_max_dial_level(db_session: Session) -> None:
    _fails(db_session, "ck_campaigns_dial_levels", Campaign(name="levels", min_dial_level=3.0, max_dial_level=2.0))


def test_lead_defaults(db_session: Session, lead_list: LeadList) -> None:
    lead = Lead(list_id=lead_list.id, phone_e164="+12125550123")
    db_session.add(lead)
    db_session.flush()
    db_session.refresh(lead)
    assert (lead.status, lead.attempts, lead.called_since_reset, lead.custom_fields) == ("NEW", 0, False, {})


def test_duplicate_phone_in_list_rejected(db_session: Session, lead_list: LeadList) -> None:
    db_session.add(Lead(list_id=lead_list.id, phone_e164="+12125550123"))
    db_session.flush()
    _fails(db_session, "uq_leads_list_id_phone_e164", Lead(list_id=lead_list.id, phone_e164="+12125550123"))
    # ... but the same number in another list is fine.
    other = LeadList(campaign_id=lead_list.campaign_id, name="List B")
    db_session.add(other)
    db_session.flush()
    db_session.add(Lead(list_id=other.id, phone_e164="+12125550123"))
    db_session.flush()


def test_negative_attempts_rejected(db_session: Session, lead_list: LeadList) -> None:
    _fails(db_session, "ck_leads_attempts_nonnegative", Lead(list_id=lead_list.id, phone_e164="+12125550123", attempts=-1))


@pytest.mark.parametrize("phone", ["2125550123", "+0212555012", "+1 212 555 0123", "+1-212-555-0123", "+12", "", "+1212555012x"])
def test_non_e164_phone_rejected(db_session: Session, lead_list: LeadList, phone: str) -> None:
    _fails(db_session, "ck_leads_phone_e164", Lead(list_id=lead_list.id, phone_e164=phone))


def test_lead_status_must_be_a_code(db_session: Session, lead_list: LeadList) -> None:
    _fails(db_session, "ck_leads_status_code", Lead(list_id=lead_list.id, phone_e164="+12125550123", status="sale!"))


def test_dnc_scope_consistency(db_session: Session, lead_list: LeadList) -> None:
    cid = lead_list.campaign_id
    _fails(db_session, "ck_dnc_entries_scope_campaign_consistent", DncEntry(phone_e164="+12125550123", scope="global", campaign_id=cid))
    _fails(db_session, "ck_dnc_entries_scope_campaign_consistent", DncEntry(phone_e164="+12125550123", scope="campaign"))
    _fails(db_session, "ck_dnc_entries_scope", DncEntry(phone_e164="+12125550123", scope="team"))
    db_session.add_all(
        [
            DncEntry(phone_e164="+12125550123", scope="global"),
            DncEntry(phone_e164="+12125550123", scope="campaign", campaign_id=cid),
        ]
    )
    db_session.flush()


def test_dnc_duplicate_global_rejected_nulls_not_distinct(db_session: Session) -> None:
    db_session.add(DncEntry(phone_e164="+12125550199", scope="global"))
    db_session.flush()
    _fails(db_session, "uq_dnc_entries_phone_e164_campaign_id", DncEntry(phone_e164="+12125550199", scope="global"))


def test_global_and_campaign_dispositions_unique(db_session: Session, lead_list: LeadList) -> None:
    db_session.add(Disposition(code="SALE", name="Sale", sale=True, human_answered=True))
    db_session.add(Disposition(campaign_id=lead_list.campaign_id, code="SALE", name="Sale (campaign)"))
    db_session.flush()
    _fails(db_session, "uq_dispositions_campaign_id_code", Disposition(code="SALE", name="dup"))
    _fails(db_session, "uq_pause_codes_campaign_id_code", PauseCode(code="BRK", name="a"), PauseCode(code="BRK", name="b"))


def _call(lead_list: LeadList, **kw: object) -> CallAttempt:
    values: dict[str, object] = {
        "campaign_id": lead_list.campaign_id,
        "list_id": lead_list.id,
        "pbx": "sim1",
        "phone_e164": "+12125550123",
        "dial_method": "predictive",
    }
    values.update(kw)
    return CallAttempt(**values)


def test_call_attempt_vocabulary_and_uniqueid(db_session: Session, lead_list: LeadList) -> None:
    call_id = uuid.uuid4()
    call = _call(lead_list, call_id=call_id, uniqueid="1763900000.1", outcome="human", amd_verdict="human")
    db_session.add(call)
    db_session.flush()
    assert call.id == call_id  # `id` is a synonym of the CDR's call_id
    assert call.dialed_at is not None and call.dropped is False
    _fails(db_session, "uq_call_attempts_pbx_uniqueid", _call(lead_list, uniqueid="1763900000.1"))
    # The same Asterisk uniqueid on another PBX is a different call; NULL uniqueids never clash.
    db_session.add_all([_call(lead_list, pbx="sim2", uniqueid="1763900000.1"), _call(lead_list), _call(lead_list)])
    db_session.flush()
    _fails(db_session, "ck_call_attempts_outcome", _call(lead_list, outcome="maybe"))
    _fails(db_session, "ck_call_attempts_amd_verdict", _call(lead_list, amd_verdict="fax"))
    _fails(db_session, "ck_call_attempts_hangup_cause", _call(lead_list, hangup_cause=200))


def test_recording_link_and_utterances(db_session: Session, lead_list: LeadList) -> None:
    call = _call(lead_list)
    db_session.add(call)
    db_session.flush()
    rec = Recording(call_id=call.call_id, path="/rec/x.wav", started_at=NOW, duration_s=12.5, size_bytes=200_000)
    db_session.add(rec)
    db_session.flush()
    call.recording_id = rec.id
    db_session.add(Utterance(call_id=call.call_id, seq=0, speaker="agent", started_s=0.0, ended_s=1.2, text="hi", sentiment=0.4))
    db_session.flush()
    _fails(db_session, "ck_utterances_sentiment_range", Utterance(call_id=call.call_id, seq=1, speaker="customer", started_s=1, ended_s=2, text="x", sentiment=1.5))
    _fails(db_session, "ck_utterances_speaker", Utterance(call_id=call.call_id, seq=2, speaker="bot", started_s=1, ended_s=2, text="x"))
    _fails(db_session, "uq_utterances_call_id_seq", Utterance(call_id=call.call_id, seq=0, speaker="agent", started_s=1, ended_s=2, text="x"))
    _fails(db_session, "ck_utterances_times", Utterance(call_id=call.call_id, seq=3, speaker="agent", started_s=2, ended_s=1, text="x"))


def test_callback_scope_and_single_pending(db_session: Session, lead_list: LeadList) -> None:
    agent = User(username="cb_agent", password_hash="x", role="agent")
    lead = Lead(list_id=lead_list.id, phone_e164="+12125550123")
    db_session.add_all([agent, lead])
    db_session.flush()
    base = {"lead_id": lead.id, "campaign_id": lead_list.campaign_id, "due_at": NOW}
    _fails(db_session, "ck_callbacks_scope_agent_consistent", Callback(scope="agent", **base))
    _fails(db_session, "ck_callbacks_scope_agent_consistent", Callback(scope="anyone", agent_id=agent.id, **base))
    db_session.add(Callback(scope="agent", agent_id=agent.id, **base))
    db_session.flush()
    _fails(db_session, "uq_callbacks_lead_pending", Callback(scope="anyone", **base))
    db_session.add(Callback(scope="anyone", status="done", **base))  # history is fine
    db_session.flush()


def test_agent_state_intervals(db_session: Session, lead_list: LeadList) -> None:
    agent = User(username="st_agent", password_hash="x", role="agent")
    db_session.add(agent)
    db_session.flush()
    sess = AgentSession(user_id=agent.id, campaign_id=lead_list.campaign_id, extension="PJSIP/1001")
    db_session.add(sess)
    db_session.flush()
    common = {"session_id": sess.id, "user_id": agent.id, "campaign_id": lead_list.campaign_id}
    _fails(db_session, "ck_agent_state_intervals_pause_code_only_when_paused", AgentStateInterval(state="ready", pause_code="BRK", started_at=NOW, **common))
    _fails(db_session, "ck_agent_state_intervals_state", AgentStateInterval(state="asleep", started_at=NOW, **common))
    _fails(db_session, "ck_agent_state_intervals_ended_after_started", AgentStateInterval(state="ready", started_at=NOW, ended_at=NOW - dt.timedelta(seconds=1), **common))
    db_session.add(AgentStateInterval(state="paused", pause_code="BRK", started_at=NOW, **common))
    db_session.flush()
    _fails(db_session, "uq_agent_state_intervals_session_open", AgentStateInterval(state="ready", started_at=NOW, **common))
    _fails(db_session, "uq_agent_sessions_user_open", AgentSession(user_id=agent.id))


def test_outbox_undelivered_index_is_used(db_session: Session) -> None:
    db_session.add_all([OutboxMessage(topic="cdr", key=str(i), payload={"i": i}) for i in range(50)])
    db_session.flush()
    db_session.execute(sa.text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(
        db_session.execute(
            sa.text("EXPLAIN SELECT id FROM outbox WHERE delivered_at IS NULL AND topic = 'cdr' ORDER BY id LIMIT 10")
        ).scalars()
    )
    assert "ix_outbox_undelivered" in plan, plan


def _db_names(conn: sa.Connection, sql: str) -> set[tuple[str, str]]:
    return {(t, n) for t, n in conn.execute(sa.text(sql))}


def test_constraint_and_index_names_match_models(db_engine: sa.Engine) -> None:
    """compare_metadata does not compare CHECK constraints or partial-index predicates: check
    that every named CHECK constraint and index of the models exists in the migrated database."""
    expected_checks = {
        (t.name, c.name) for t in Base.metadata.tables.values() for c in t.constraints if isinstance(c, sa.CheckConstraint)
    }
    expected_indexes = {(t.name, i.name) for t in Base.metadata.tables.values() for i in t.indexes}
    with db_engine.connect() as conn:
        checks = _db_names(
            conn,
            "SELECT cl.relname, co.conname FROM pg_constraint co JOIN pg_class cl ON cl.oid = co.conrelid "
            "JOIN pg_namespace n ON n.oid = cl.relnamespace WHERE co.contype = 'c' AND n.nspname = 'public'",
        )
        indexes = _db_names(conn, "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = 'public'")
        partial = _db_names(
            conn,
            "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = 'public' AND indexdef LIKE '% WHERE %'",
        )
    assert checks == expected_checks
    assert expected_indexes <= indexes
    expected_partial = {
        (t.name, i.name)
        for t in Base.metadata.tables.values()
        for i in t.indexes
        if i.dialect_options["postgresql"].get("where") is not None
    }
    assert partial == expected_partial


def test_raw_sql_update_touches_updated_at(db_engine: sa.Engine) -> None:
    """updated_at moves on plain-SQL updates too (trigger, migration 0004), not only via the ORM."""
    with db_engine.connect() as conn:
        outer = conn.begin()
        try:
            cid = conn.execute(sa.text("INSERT INTO campaigns (name) VALUES ('touch') RETURNING id")).scalar_one()
            lid = conn.execute(sa.text("INSERT INTO lists (campaign_id, name) VALUES (:c, 'l') RETURNING id"), {"c": cid}).scalar_one()
            conn.execute(sa.text("INSERT INTO leads (list_id, phone_e164, updated_at) VALUES (:l, '+12125550123', '2000-01-01')"), {"l": lid})
            conn.execute(sa.text("UPDATE leads SET attempts = attempts + 1 WHERE list_id = :l"), {"l": lid})
            stamped, now = conn.execute(sa.text("SELECT updated_at, now() FROM leads WHERE list_id = :l"), {"l": lid}).one()
            assert stamped == now
        finally:
            outer.rollback()
