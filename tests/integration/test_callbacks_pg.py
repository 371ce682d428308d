"""Callbacks on the production claim path (real PostgreSQL + Redis).

* A due ``anyone`` callback is dialled exactly once by :func:`dialer.loop_leads.claim_leads`, even
  over max attempts, however many ticks run while its call is in flight and after it ended.
* Two concurrent claimers (the loop's claim path, not a test-only one) never get the same lead.
* Agent-only callbacks are dialled for their agent when that agent is READY, reserved at dial time,
  and the answer is bridged to that agent (not the longest-idle one); an absent agent's callback
  stays pending and is reported.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from core import events as ev
from dialer import compliance as cp
from dialer import leads_repo
from dialer.live import LiveState
from dialer.loop import CampaignLoop
from dialer.loop_leads import callback_report, claim_leads
from dialer.state import AgentState
from telephony.streams import COMMANDS_STREAM, EVENTS_STREAM, encode
from tests.integration.dialer_fixtures import make_agents, make_campaign, make_leads
from tests.integration.test_hopper_pg import NOW, pure_expectation, seed


def _lead_and_callback(engine: sa.Engine, *, scope: str = "anyone", agent_id: int | None = None,
                       due: datetime = NOW - timedelta(minutes=1)) -> tuple[int, int, int]:
    """A campaign (max 4 attempts) with one lead already at 5 attempts and a due callback."""
    with engine.begin() as conn:
        campaign = conn.execute(sa.text("INSERT INTO campaigns (name, dial_statuses, max_attempts)"
                                        " VALUES (:n, '{NEW}', 4) RETURNING id"), {"n": uuid.uuid4().hex}).scalar_one()
        list_id = conn.execute(sa.text("INSERT INTO lists (campaign_id, name) VALUES (:c, 'l') RETURNING id"),
                               {"c": campaign}).scalar_one()
        lead = conn.execute(sa.text(
            "INSERT INTO leads (list_id, phone_e164, timezone, status, attempts, called_since_reset, last_called_at)"
            " VALUES (:l, '+12125550100', 'America/New_York', 'CALLBK', 5, true, :last) RETURNING id"),
            {"l": list_id, "last": NOW - timedelta(days=1)}).scalar_one()
        callback = conn.execute(sa.text(
            "INSERT INTO callbacks (lead_id, campaign_id, scope, agent_id, due_at) VALUES (:l, :c, :s, :a, :d)"
            " RETURNING id"), {"l": lead, "c": campaign, "s": scope, "a": agent_id, "d": due}).scalar_one()
    return campaign, lead, callback


_REDIS: list = []  # the test's Redis client (set by the autouse fixture below)


@pytest.fixture(autouse=True)
def _redis(redis_client):
    _REDIS[:] = [redis_client]
    yield
    _REDIS.clear()


def _claim(engine: sa.Engine, campaign: int, at: datetime, count: int = 10) -> tuple[list, dict[str, int]]:
    return claim_leads(engine, _REDIS[0], campaign, count, at, pbx="sim1", dial_method="predictive")


def test_a_due_callback_is_dialled_exactly_once_past_max_attempts(db_committed: sa.Engine) -> None:
    campaign, lead, callback = _lead_and_callback(db_committed)
    claims, _ = _claim(db_committed, campaign, NOW)
    assert [(c.lead_id, c.callback, c.attempt_no) for c in claims] == [(lead, True, 6)], "past max attempts (4)"
    with db_committed.connect() as conn:
        row = conn.execute(sa.text("SELECT status, completed_at FROM callbacks WHERE id = :id"), {"id": callback}).one()
    assert (row.status, row.completed_at) == ("done", NOW), "closed in the claim's transaction"
    # Every loop tick for the next minute, while the call is in flight: nothing.
    for second in range(1, 60):
        assert _claim(db_committed, campaign, NOW + timedelta(seconds=second))[0] == []
    # The callback row reopened behind our back (a claimer that read it before our commit): the pure
    # guards still refuse -- in flight first, then "already dialled" once the call ended.
    with db_committed.begin() as conn:
        conn.execute(sa.text("UPDATE callbacks SET status = 'pending', completed_at = NULL WHERE id = :id"),
                     {"id": callback})
    later = NOW + timedelta(minutes=2)
    with db_committed.connect() as conn:
        rules = leads_repo.load_rules(conn, campaign)
        assert leads_repo.refusal_counts(conn, rules, later) == {"dialable": 0, "call_in_flight": 1}
        assert leads_repo.recheck_at_originate(conn, lead, campaign, later).reason is cp.ReasonCode.CALL_IN_FLIGHT
    assert _claim(db_committed, campaign, later)[0] == []
    with db_committed.begin() as conn:
        conn.execute(sa.text("UPDATE call_attempts SET ended_at = :t, outcome = 'no_answer' WHERE lead_id = :l"),
                     {"t": NOW + timedelta(seconds=30), "l": lead})
    assert _claim(db_committed, campaign, later)[0] == []
    with db_committed.connect() as conn:
        counts = leads_repo.refusal_counts(conn, leads_repo.load_rules(conn, campaign), later)
        attempts = conn.execute(sa.text("SELECT count(*) FROM call_attempts WHERE lead_id = :l"), {"l": lead}).scalar()
    assert counts == {"dialable": 0, "callback_already_dialed": 1}
    assert attempts == 1, "one dial for one callback"


def test_a_callback_not_yet_due_waits_then_comes_out_first(db_committed: sa.Engine) -> None:
    campaign, lead, _ = _lead_and_callback(db_committed, due=NOW + timedelta(minutes=5))
    with db_committed.begin() as conn:
        list_id = conn.execute(sa.text("SELECT list_id FROM leads WHERE id = :l"), {"l": lead}).scalar_one()
        conn.execute(sa.text("INSERT INTO leads (list_id, phone_e164, timezone, priority) VALUES"
                             " (:l, '+12125550101', 'America/New_York', 9), (:l, '+12125550102', 'America/New_York', 9)"),
                     {"l": list_id})
    claims, _ = _claim(db_committed, campaign, NOW, count=1)
    assert [c.callback for c in claims] == [False]
    with db_committed.connect() as conn:
        counts = leads_repo.refusal_counts(conn, leads_repo.load_rules(conn, campaign), NOW)
    assert counts["callback_not_due"] == 1
    claims, _ = _claim(db_committed, campaign, NOW + timedelta(minutes=5), count=1)
    assert [(c.lead_id, c.callback) for c in claims] == [(lead, True)], "ahead of a priority-9 fresh lead"


def _concurrent_claims(engine: sa.Engine, campaign: int, at: datetime, rounds: int, per: int) -> list[list[int]]:
    claimed: list[list[int]] = [[], []]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        client = _REDIS[0]  # redis-py clients are thread-safe (a connection pool)
        try:
            barrier.wait()
            for _ in range(rounds):
                claims, _ = claim_leads(engine, client, campaign, per, at, pbx=f"sim{index}", dial_method="predictive")
                claimed[index] += [c.lead_id for c in claims]
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return claimed


def test_two_concurrent_loop_claimers_never_get_the_same_lead(db_committed: sa.Engine) -> None:
    """The production claim path (dialer.loop_leads.claim_leads), two threads, real PostgreSQL."""
    campaign, _ = seed(db_committed, random.Random(99), n=600)
    expected, summary = pure_expectation(db_committed, campaign, NOW)
    assert summary.get("callback_not_due") and any(True for _ in expected)
    claimed = _concurrent_claims(db_committed, campaign, NOW, rounds=40, per=7)
    both = claimed[0] + claimed[1]
    assert len(both) == len(set(both)), "a lead was claimed by both loops"
    assert set(both) == set(expected)
    assert claimed[0] and claimed[1]
    with db_committed.connect() as conn:
        per_lead = conn.execute(sa.text("SELECT lead_id, count(*) FROM call_attempts WHERE dialed_at = :t"
                                        " GROUP BY lead_id HAVING count(*) > 1"), {"t": NOW}).all()
    assert per_lead == [], "one new attempt per claimed lead"
    assert _claim(db_committed, campaign, NOW + timedelta(seconds=1), 50)[0] == []


def test_many_due_callbacks_two_claimers_each_dialled_once(db_committed: sa.Engine) -> None:
    campaign = make_campaign(db_committed, dial_statuses=["NEW"], max_attempts=1)
    leads = make_leads(db_committed, campaign, 60)
    now = datetime.now(UTC)  # make_leads' zone is open now
    with db_committed.begin() as conn:
        conn.execute(sa.text("UPDATE leads SET attempts = 3, called_since_reset = true, last_called_at = :t"),
                     {"t": now - timedelta(days=1)})
        conn.execute(sa.text("INSERT INTO callbacks (lead_id, campaign_id, due_at) VALUES (:l, :c, :d)"),
                     [{"l": lead, "c": campaign, "d": now - timedelta(minutes=i)} for i, lead in enumerate(leads)])
    claimed = _concurrent_claims(db_committed, campaign, now, rounds=30, per=3)
    both = claimed[0] + claimed[1]
    assert sorted(both) == sorted(leads), "every callback dialled, none twice"
    with db_committed.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM callbacks WHERE status = 'pending'")).scalar() == 0


# --- agent-only callbacks through the dialing loop ---------------------------------------------------


def _commands(r) -> list[ev.Message]:
    return [ev.from_dict(json.loads(f["data"])) for _id, f in r.xrange(COMMANDS_STREAM)]


class Clock:
    def __init__(self) -> None:
        self.t = datetime.now(UTC).timestamp()

    def __call__(self) -> float:
        return self.t


def _publish(r, loop: CampaignLoop, event_cls, call_id: str, **kw) -> None:
    event = event_cls(call_id=call_id, at=datetime.fromtimestamp(loop.clock(), UTC), campaign_id=loop.campaign_id,
                      **kw)
    r.xadd(EVENTS_STREAM, encode(event))
    loop.step(block_ms=1)


@pytest.fixture()
def rig(db_committed, redis_client):
    engine = db_committed
    campaign = make_campaign(engine, dial_method="progressive", drop_after_s=2, wrap_up_s=0)
    leads = make_leads(engine, campaign, 4)
    clock = Clock()
    loop = CampaignLoop(campaign, engine, redis_client, clock=clock, tick_s=0.01)
    loop.restore()
    agents = make_agents(engine, 2)
    for n, agent in enumerate(agents, start=1):
        loop.agents.login(agent, campaign, extension=f"PJSIP/agent{n:02d}")
        clock.t += 1
        loop.agents.ready(agent)
    return engine, redis_client, loop, clock, campaign, agents, leads


def _agent_callback(engine: sa.Engine, campaign: int, lead: int, agent: int, due: datetime) -> int:
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE leads SET status = 'CALLBK', called_since_reset = true, attempts = 1,"
                             " last_called_at = :t WHERE id = :l"), {"t": due - timedelta(hours=1), "l": lead})
        return conn.execute(sa.text("INSERT INTO callbacks (lead_id, campaign_id, scope, agent_id, due_at)"
                                    " VALUES (:l, :c, 'agent', :a, :d) RETURNING id"),
                            {"l": lead, "c": campaign, "a": agent, "d": due}).scalar_one()


def test_agent_only_callback_is_dialled_for_its_agent_and_bridged_to_them(rig) -> None:
    engine, r, loop, clock, campaign, (a1, a2), leads = rig
    live = LiveState(r)
    # a2 is NOT the longest-idle agent (a1 became ready first): the callback must still go to a2.
    callback = _agent_callback(engine, campaign, leads[0], a2, datetime.fromtimestamp(clock.t - 60, UTC))
    placed = loop.tick(clock())
    originates = [c for c in _commands(r) if isinstance(c, ev.OriginateCommand)]
    cb_call = next(c.call_id for c in originates if c.lead_id == leads[0])
    assert live.agent(a2).state is AgentState.RESERVED and live.agent(a2).call_id == cb_call
    assert live.call(cb_call)["agent_id"] == str(a2)
    assert placed == 1 and len(originates) == 2, "a1 still gets its progressive call (no under-dial)"
    with engine.connect() as conn:
        attempt = conn.execute(sa.text("SELECT agent_id FROM call_attempts WHERE call_id = :c"), {"c": cb_call}).one()
        status = conn.execute(sa.text("SELECT status FROM callbacks WHERE id = :id"), {"id": callback}).scalar()
    assert attempt.agent_id == a2 and status == "done"
    for _ in range(5):  # more ticks: never dialled again
        clock.t += 1
        loop.step(block_ms=1)
    assert sum(1 for c in _commands(r) if isinstance(c, ev.OriginateCommand) and c.lead_id == leads[0]) == 1

    clock.t += 2
    _publish(r, loop, ev.Answered, cb_call, channel="PJSIP/trunk-1")
    bridges = [c for c in _commands(r) if isinstance(c, ev.BridgeCommand)]
    assert [(b.call_id, b.agent_endpoint) for b in bridges] == [(cb_call, "PJSIP/agent02")]
    assert live.calls_by_state(campaign)["waiting"] == [], "not queued for the longest-idle agent"
    clock.t += 0.5
    _publish(r, loop, ev.BridgedToAgent, cb_call, agent_endpoint="PJSIP/agent02")
    assert live.agent(a2).state is AgentState.INCALL


def test_agent_only_callback_unanswered_releases_the_agent_and_is_not_redialled(rig) -> None:
    engine, r, loop, clock, campaign, (a1, a2), leads = rig
    live = LiveState(r)
    loop.agents.pause(a1, "BREAK")
    _agent_callback(engine, campaign, leads[1], a2, datetime.fromtimestamp(clock.t - 5, UTC))
    loop.tick(clock())
    [call] = [c.call_id for c in _commands(r) if isinstance(c, ev.OriginateCommand)]
    assert live.agent(a2).state is AgentState.RESERVED
    clock.t += 20
    _publish(r, loop, ev.Hangup, call, cause=19)  # no answer
    assert live.agent(a2).state is AgentState.READY and live.agent(a2).call_id is None
    for _ in range(3):
        clock.t += 2
        loop.step(block_ms=1)
    assert all(c.lead_id != leads[1] for c in _commands(r)[1:] if isinstance(c, ev.OriginateCommand))


def test_agent_only_callback_waits_for_an_absent_agent_and_is_reported(rig) -> None:
    engine, r, loop, clock, campaign, (a1, a2), leads = rig
    live = LiveState(r)
    due = datetime.fromtimestamp(clock.t - 3600, UTC)
    callback = _agent_callback(engine, campaign, leads[2], a2, due)
    loop.agents.pause(a2, "LUNCH")
    loop.agents.logout(a2)
    loop.tick(clock())
    assert all(c.lead_id != leads[2] for c in _commands(r) if isinstance(c, ev.OriginateCommand)), \
        "never dialled for anyone else (a1 is ready)"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT status FROM callbacks WHERE id = :id"), {"id": callback}).scalar() == "pending"
    now = datetime.fromtimestamp(clock.t, UTC)
    report = callback_report(engine, campaign, now, {a.agent_id for a in live.campaign_agents(campaign)})
    assert (report.due_agent, report.overdue_agent_absent, report.agents_absent) == (1, 1, (a2,))
    within_grace = callback_report(engine, campaign, due + timedelta(minutes=5), set())
    assert within_grace.overdue_agent_absent == 0 and within_grace.due_agent == 1
    # The agent comes back: the callback goes out for them on the next tick.
    loop.agents.login(a2, campaign, extension="PJSIP/agent02")
    loop.agents.ready(a2)
    clock.t += 2
    loop.tick(clock())
    assert any(c.lead_id == leads[2] for c in _commands(r) if isinstance(c, ev.OriginateCommand))
    assert live.agent(a2).state is AgentState.RESERVED


def test_a_callback_booked_during_the_call_comes_out_at_its_time(db_committed: sa.Engine) -> None:
    """The hopper's reservation (next_call_at) is consumed by the dial: it must not delay a callback."""
    campaign, lead, callback = _lead_and_callback(db_committed, due=NOW + timedelta(days=30))
    with db_committed.begin() as conn:
        conn.execute(sa.text("UPDATE callbacks SET status = 'cancelled' WHERE id = :id"), {"id": callback})
        conn.execute(sa.text("UPDATE leads SET status = 'NEW', attempts = 0, called_since_reset = false,"
                             " last_called_at = NULL WHERE id = :l"), {"l": lead})
    [claim] = _claim(db_committed, campaign, NOW)[0]
    with db_committed.begin() as conn:
        assert conn.execute(sa.text("SELECT next_call_at FROM leads WHERE id = :l"), {"l": lead}).scalar() is None
        conn.execute(sa.text("UPDATE call_attempts SET ended_at = :t, outcome = 'human' WHERE call_id = :c"),
                     {"t": NOW + timedelta(minutes=1), "c": claim.call_id})
        conn.execute(sa.text("INSERT INTO callbacks (lead_id, campaign_id, due_at) VALUES (:l, :c, :d)"),
                     {"l": lead, "c": campaign, "d": NOW + timedelta(minutes=3)})
    assert _claim(db_committed, campaign, NOW + timedelta(minutes=2))[0] == []
    claims, _ = _claim(db_committed, campaign, NOW + timedelta(minutes=3))
    assert [(c.lead_id, c.callback) for c in claims] == [(lead, True)], "at its time, not after the hold"


def test_the_loop_dials_a_due_anyone_callback_once_over_many_ticks(rig) -> None:
    """The audit's double-dial: the loop re-claimed the callback lead every tick while its call rang."""
    engine, r, loop, clock, campaign, (a1, a2), leads = rig
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE leads SET status = 'CALLBK', called_since_reset = true, attempts = 9,"
                             " last_called_at = :t WHERE id = :l"),
                     {"t": datetime.fromtimestamp(clock.t - 86400, UTC), "l": leads[0]})
        conn.execute(sa.text("INSERT INTO callbacks (lead_id, campaign_id, due_at) VALUES (:l, :c, :d)"),
                     {"l": leads[0], "c": campaign, "d": datetime.fromtimestamp(clock.t - 30, UTC)})
    loop.tick(clock())
    first = [c for c in _commands(r) if isinstance(c, ev.OriginateCommand)]
    assert first[0].lead_id == leads[0], "the due callback goes first"
    ended: set[str] = set()
    for _ in range(30):  # 30 s of ticks: the callback still rings, every other call ends unanswered,
        clock.t += 1     # so the loop keeps wanting a call for its idle agent each tick
        for c in _commands(r):
            if isinstance(c, ev.OriginateCommand) and c.lead_id != leads[0] and c.call_id not in ended:
                ended.add(c.call_id)
                _publish(r, loop, ev.Hangup, c.call_id, cause=19)
        loop.step(block_ms=1)
    assert len(ended) == 3, "the other leads were dialled meanwhile: the loop kept claiming"
    dials = [c.lead_id for c in _commands(r) if isinstance(c, ev.OriginateCommand)]
    assert dials.count(leads[0]) == 1, dials
