"""The agent service writes Redis live state, the agents event stream and PostgreSQL intervals."""

import json

import pytest
import sqlalchemy as sa

from core.models import AgentSession, AgentStateInterval, CallAttempt
from dialer.agents import AgentService, PgAgentStore, PgDispositions
from dialer.live import LiveState
from dialer.state import AgentState, InvalidTransition
from tests.integration.dialer_fixtures import make_agents, make_attempt, make_campaign


class Tick:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture()
def world(db_committed, redis_client):
    campaign_id = make_campaign(db_committed, wrap_up_s=5)
    [agent] = make_agents(db_committed, 1)
    clock = Tick()
    live = LiveState(redis_client)
    service = AgentService(live, PgAgentStore(db_committed), PgDispositions(db_committed),
                           wrap_up_s=lambda _c: 5.0, clock=clock)
    return db_committed, live, service, clock, campaign_id, agent


def _intervals(engine: sa.Engine, agent: int) -> list[tuple]:
    i = AgentStateInterval
    with engine.connect() as conn:
        return conn.execute(
            sa.select(i.state, i.pause_code, i.started_at, i.ended_at, i.call_id).where(i.user_id == agent)
            .order_by(i.id)
        ).all()


def test_full_agent_cycle_writes_redis_stream_and_contiguous_intervals(world) -> None:
    engine, live, service, clock, campaign_id, agent = world
    snap = service.login(agent, campaign_id, name="Ann", extension="PJSIP/agent01")
    assert snap.state is AgentState.PAUSED and snap.session_id and snap.session_id.isdigit()
    clock.t += 3
    service.ready(agent)
    call_id = make_attempt(engine, campaign_id)
    clock.t += 10
    change = live.reserve_longest_idle(campaign_id, call_id, clock.t)
    assert change is not None
    service.record_reservation(change)
    clock.t += 1
    service.connect(agent, call_id)
    clock.t += 30
    service.customer_hung_up(agent, call_id)
    clock.t += 2
    snap = service.end_call(agent)
    assert snap.state is AgentState.WRAP and snap.wrap_deadline == clock.t + 5
    clock.t += 1
    snap = service.disposition(agent, call_id, "sale")
    assert snap.state is AgentState.WRAP, "wrap-up seconds not over"
    assert service.finish_wraps(campaign_id) == []
    clock.t += 4
    [done] = service.finish_wraps(campaign_id)
    assert done.state is AgentState.READY
    clock.t += 5
    service.pause(agent, "break")
    clock.t += 60
    service.logout(agent)

    rows = _intervals(engine, agent)
    assert [(r.state, r.pause_code) for r in rows] == [
        ("paused", "LOGIN"), ("ready", None), ("reserved", None), ("incall", None), ("dead", None),
        ("wrap", None), ("ready", None), ("paused", "BREAK"),
    ]
    assert all(r.ended_at is not None for r in rows)
    for a, b in zip(rows, rows[1:], strict=False):
        assert a.ended_at == b.started_at, "intervals are contiguous"
    assert str(rows[3].call_id) == call_id
    with engine.connect() as conn:
        session = conn.execute(sa.select(AgentSession).where(AgentSession.user_id == agent)).one()
        assert session.ended_at is not None and session.extension == "PJSIP/agent01"
        code, wrap_ended = conn.execute(sa.select(CallAttempt.disposition_code, CallAttempt.wrap_ended_at)).one()
        assert code == "SALE" and wrap_ended is not None and wrap_ended.timestamp() == rows[6].started_at.timestamp()
    assert live.stats(campaign_id)["sales"] == 1
    events = [json.loads(e[1]["data"]) for e in live.r.xrange("pyd:events:agents")]
    assert [e["to"] for e in events] == ["paused", "ready", "reserved", "incall", "dead", "wrap", "ready", "paused",
                                         "logged_out"]
    assert {e["agent_id"] for e in events} == {agent}


def test_bad_requests_are_refused_without_side_effects(world) -> None:
    engine, live, service, clock, campaign_id, agent = world
    with pytest.raises(InvalidTransition):
        service.ready(agent)
    service.login(agent, campaign_id)
    with pytest.raises(InvalidTransition):
        service.login(agent, campaign_id)
    with pytest.raises(ValueError):
        service.pause(agent, "")
    with pytest.raises(InvalidTransition):
        service.end_call(agent)
    with pytest.raises(InvalidTransition):
        service.disposition(agent, "00000000-0000-0000-0000-000000000000", "SALE")
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(AgentSession)).scalar_one() == 1
    assert len(_intervals(engine, agent)) == 1


def test_pause_during_a_call_takes_effect_after_wrap(world) -> None:
    engine, live, service, clock, campaign_id, agent = world
    service.login(agent, campaign_id)
    service.ready(agent)
    call_id = make_attempt(engine, campaign_id)
    change = live.reserve_longest_idle(campaign_id, call_id, clock.t)
    service.record_reservation(change)
    service.connect(agent, call_id)
    service.pause(agent, "LUNCH")
    clock.t += 20
    service.end_call(agent)
    clock.t += 10
    snap = service.disposition(agent, call_id, "NI")
    assert snap.state is AgentState.PAUSED and snap.pause_code == "LUNCH"
    assert _intervals(engine, agent)[-1].pause_code == "LUNCH"
    assert live.ready_agents(campaign_id) == []


def test_stale_session_is_closed_by_a_new_login(world) -> None:
    engine, live, service, clock, campaign_id, agent = world
    service.login(agent, campaign_id)
    live.r.delete(f"pyd:agent:{agent}")  # the Redis state was lost (flush, failover)
    clock.t += 5
    service.login(agent, campaign_id)
    with engine.connect() as conn:
        ended = conn.execute(sa.select(AgentSession.ended_at).order_by(AgentSession.id)).scalars().all()
    assert ended[0] is not None and ended[1] is None
    assert sum(1 for r in _intervals(engine, agent) if r.ended_at is None) == 1


def test_interval_writes_arriving_out_of_order_are_slotted_in(world) -> None:
    """The loop and the agent page write concurrently: a late write must not reopen the past."""
    from dialer import state as st
    from dialer.live import AgentChange

    engine, live, service, clock, campaign_id, agent = world
    store = PgAgentStore(engine)
    t = clock.t
    session = store.open_session(agent, campaign_id, t, None)
    paused = st.login(st.AgentSnapshot(agent), t, campaign_id=campaign_id, session_id=session)
    ready = st.go_ready(paused, t + 1)
    on_break = st.pause(ready, t + 2, "BREAK")
    store.record(AgentChange(st.AgentSnapshot(agent), paused), t)
    store.record(AgentChange(ready, on_break), t + 2)  # arrives first
    store.record(AgentChange(paused, ready), t + 1)  # arrives late
    rows = sorted(_intervals(engine, agent), key=lambda r: r.started_at)
    assert [(r.state, r.started_at.timestamp(), r.ended_at and r.ended_at.timestamp()) for r in rows] == [
        ("paused", t, t + 1), ("ready", t + 1, t + 2), ("paused", t + 2, None),
    ]
