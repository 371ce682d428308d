"""The dialing loop against real PostgreSQL + Redis, with telephony played by the test.

The test publishes call events on ``pyd:events:calls`` exactly as the telephony service does and
reads the commands the loop sends on ``pyd:commands:telephony``.
"""

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from core import events as ev
from core.models import CallAttempt, Lead, OutboxMessage
from dialer.live import LiveState
from dialer.loop import CampaignLoop, Lease
from dialer.state import AgentState
from telephony.streams import COMMANDS_STREAM, EVENTS_STREAM, encode
from tests.integration.dialer_fixtures import make_agents, make_campaign, make_leads


class Clock:
    def __init__(self) -> None:
        now = datetime.now(UTC)
        # The tests run a few virtual minutes forward and assert on per-UTC-day counters: start before
        # 23:50 so a run near midnight does not split them (lead zones are mid-day, hours of margin).
        seconds_of_day = now.hour * 3600 + now.minute * 60 + now.second
        self.t = now.timestamp() - max(0, seconds_of_day - (86400 - 600))

    def __call__(self) -> float:
        return self.t


def commands(r) -> list[ev.Message]:
    return [ev.from_dict(json.loads(f["data"])) for _id, f in r.xrange(COMMANDS_STREAM)]


@pytest.fixture()
def rig(db_committed, redis_client):
    engine = db_committed
    campaign_id = make_campaign(engine, dial_method="progressive", drop_after_s=2, wrap_up_s=0,
                                safe_harbor_audio="pydialer/sh-acme")
    make_leads(engine, campaign_id, 5)
    clock = Clock()
    loop = CampaignLoop(campaign_id, engine, redis_client, clock=clock, tick_s=0.01)
    loop.restore()
    agents = make_agents(engine, 2)
    for n, agent in enumerate(agents, start=1):
        loop.agents.login(agent, campaign_id, extension=f"PJSIP/agent{n:02d}")
        clock.t += 1
        loop.agents.ready(agent)
    return engine, redis_client, loop, clock, campaign_id, agents


def publish(r, loop, event_cls, call_id, **kw) -> None:
    event = event_cls(call_id=call_id, at=datetime.fromtimestamp(loop.clock(), UTC), campaign_id=loop.campaign_id,
                      **kw)
    r.xadd(EVENTS_STREAM, encode(event))
    loop.step(block_ms=1)


def test_progressive_call_flow_connect_drop_and_cdrs(rig) -> None:
    engine, r, loop, clock, campaign_id, (a1, a2) = rig
    live = LiveState(r)
    assert loop.tick(clock()) == 2, "progressive: one call per idle agent"
    originates = [c for c in commands(r) if isinstance(c, ev.OriginateCommand)]
    assert len(originates) == 2 and all(c.campaign_id == campaign_id for c in originates)
    assert originates[0].variables["PYDIALER_DROP_AFTER"] == "5"
    call_a, call_b = originates[0].call_id, originates[1].call_id
    assert loop.tick(clock()) == 0, "calls in flight are counted: no over-dial"
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(CallAttempt)).scalar_one() == 2
        assert conn.execute(sa.select(sa.func.sum(Lead.attempts))).scalar_one() == 2

    clock.t += 3
    publish(r, loop, ev.Ringing, call_a)
    clock.t += 4
    publish(r, loop, ev.Answered, call_a, channel="PJSIP/trunk-1")
    [bridge] = [c for c in commands(r) if isinstance(c, ev.BridgeCommand)]
    assert bridge.call_id == call_a and bridge.agent_endpoint == "PJSIP/agent01", "longest-idle agent (a1)"
    assert live.agent(a1).state is AgentState.RESERVED
    clock.t += 0.5
    publish(r, loop, ev.BridgedToAgent, call_a, agent_endpoint="PJSIP/agent01")
    assert live.agent(a1).state is AgentState.INCALL

    # The second agent pauses: the next answered call finds nobody and is dropped at drop_after_s.
    loop.agents.pause(a2, "BREAK")
    publish(r, loop, ev.Answered, call_b)
    assert live.calls_by_state(campaign_id)["waiting"][0][0] == call_b
    clock.t += 1.9
    loop.step(block_ms=1)
    assert not [c for c in commands(r) if isinstance(c, ev.PlayCommand)]
    clock.t += 0.2
    loop.step(block_ms=1)
    [play] = [c for c in commands(r) if isinstance(c, ev.PlayCommand)]
    assert (play.call_id, play.audio, play.safe_harbor) == (call_b, "pydialer/sh-acme", True)
    publish(r, loop, ev.SafeHarborPlayed, call_b, audio="pydialer/sh-acme")

    clock.t += 30
    for _ in range(2):  # the hangup is delivered twice
        publish(r, loop, ev.Hangup, call_a, cause=16)
        publish(r, loop, ev.Hangup, call_b, cause=16)
    assert live.agent(a1).state is AgentState.DEAD
    loop.agents.end_call(a1)
    loop.agents.disposition(a1, call_a, "SALE")
    loop.step(block_ms=1)
    assert live.agent(a1).state is AgentState.READY

    with engine.connect() as conn:
        rows = {str(r_.call_id): r_ for r_ in conn.execute(sa.select(CallAttempt.__table__)).all()}
        outbox = conn.execute(sa.select(OutboxMessage.key, OutboxMessage.payload)).all()
    assert rows[call_a].outcome == "human" and rows[call_a].agent_id == a1 and rows[call_a].disposition_code == "SALE"
    assert rows[call_b].outcome == "abandoned" and rows[call_b].dropped and rows[call_b].safe_harbor_played
    finals = sorted(k for k, payload in outbox if "version" not in payload)
    assert finals == sorted([call_a, call_b]), "one CDR per attempt despite the double hangup"
    # The disposition came after the hangup: a corrected CDR (newer version) follows.
    [(key, corrected)] = [(k, p) for k, p in outbox if "version" in p]
    assert key == call_a and corrected["disposition_code"] == "SALE"
    stats = live.stats(campaign_id)
    assert stats["dials"] >= 2 and stats["humans"] == 2 and stats["abandons"] == 1 and stats["connected"] == 1
    assert stats["sales"] == 1
    loop.decisions.flush()
    assert r.xlen("pyd:events:dial_decisions") > 0
    decision = json.loads(r.xrange("pyd:events:dial_decisions")[0][1]["data"])
    assert decision["policy"] == "progressive" and decision["count"] == 2


def test_waiting_call_goes_to_the_next_agent_that_frees_up(rig) -> None:
    engine, r, loop, clock, campaign_id, (a1, a2) = rig
    loop.tick(clock())
    call_a, call_b = [c.call_id for c in commands(r) if isinstance(c, ev.OriginateCommand)]
    loop.agents.pause(a2, "BREAK")
    loop.agents.pause(a1, "BREAK")
    publish(r, loop, ev.Answered, call_a)
    clock.t += 1
    loop.agents.ready(a2)
    loop.step(block_ms=1)
    [bridge] = [c for c in commands(r) if isinstance(c, ev.BridgeCommand)]
    assert (bridge.call_id, bridge.agent_endpoint) == (call_a, "PJSIP/agent02")
    # The customer hangs up before the bridge: the reservation is released, the agent is ready again.
    publish(r, loop, ev.Hangup, call_a, cause=16)
    assert LiveState(r).agent(a2).state is AgentState.READY
    with engine.connect() as conn:
        assert conn.execute(sa.select(CallAttempt.outcome).where(CallAttempt.call_id == call_a)).scalar() == "abandoned"
    assert LiveState(r).stats(campaign_id)["abandons"] == 1, "left while being put through: an abandon"


def test_originate_failure_and_lease(rig) -> None:
    engine, r, loop, clock, campaign_id, agents = rig
    loop.tick(clock())
    call_a = next(c.call_id for c in commands(r) if isinstance(c, ev.OriginateCommand))
    publish(r, loop, ev.OriginateFailed, call_a, reason=5, reason_txt="Busy")
    with engine.connect() as conn:
        assert conn.execute(sa.select(CallAttempt.outcome).where(CallAttempt.call_id == call_a)).scalar() == "busy"
    assert LiveState(r).call(call_a) == {}
    first, second = Lease(r, campaign_id), Lease(r, campaign_id)
    assert first.acquire() and not second.acquire()
    assert first.renew() and not second.renew()
    first.release()
    assert second.acquire()


def test_garbage_events_are_skipped_not_fatal(rig) -> None:
    engine, r, loop, clock, campaign_id, agents = rig
    r.xadd(EVENTS_STREAM, {"data": "not json"})
    r.xadd(EVENTS_STREAM, {"data": json.dumps({"type": "call.ringing", "v": 1})})
    r.xadd(EVENTS_STREAM, {"nodata": "x"})
    loop.step(block_ms=1)
    assert r.xpending(EVENTS_STREAM, loop.group)["pending"] == 0


def test_amd_campaign_reserves_no_agent_until_the_human_verdict(db_committed, redis_client) -> None:
    engine, r = db_committed, redis_client
    campaign_id = make_campaign(engine, dial_method="progressive", drop_after_s=5, amd_enabled=True,
                                abandon_window="ofcom_24h")
    make_leads(engine, campaign_id, 3)
    clock = Clock()
    loop = CampaignLoop(campaign_id, engine, r, clock=clock, tick_s=0.01)
    loop.restore()
    [a1, a2] = make_agents(engine, 2)
    for n, agent in enumerate((a1, a2), start=1):
        loop.agents.login(agent, campaign_id, extension=f"PJSIP/agent{n:02d}")
        loop.agents.ready(agent)
    loop.tick(clock())
    originates = [c for c in commands(r) if isinstance(c, ev.OriginateCommand)]
    assert all(c.amd for c in originates)
    human, machine = originates[0].call_id, originates[1].call_id
    publish(r, loop, ev.Answered, human)
    publish(r, loop, ev.Answered, machine)
    assert not [c for c in commands(r) if isinstance(c, ev.BridgeCommand)], "AMD time is not agent time"
    assert {LiveState(r).agent(a).state for a in (a1, a2)} == {AgentState.READY}
    clock.t += 2
    publish(r, loop, ev.AmdMachine, machine)
    publish(r, loop, ev.AmdHuman, human)
    [bridge] = [c for c in commands(r) if isinstance(c, ev.BridgeCommand)]
    assert bridge.call_id == human
    stats = LiveState(r).stats(campaign_id)
    assert stats["machines"] == 1 and stats["humans"] == 1
    # Ofcom: the human AMD passed carries the estimated AMD false positives (1 % engine rate: 1/99),
    # which the loop's guard counts as abandoned live calls in the rolling 24 h.
    fig = loop.counts.figures(campaign_id, clock(), 1)
    assert (fig.answers, fig.abandons) == (1, 0)
    assert fig.amd_false_positives == pytest.approx(1 / 99)
    assert loop.guard is not None and loop.guard.count_amd_fp
    publish(r, loop, ev.Hangup, machine)
    with engine.connect() as conn:
        row = conn.execute(sa.select(CallAttempt.outcome, CallAttempt.amd_verdict)
                           .where(CallAttempt.call_id == machine)).one()
    assert tuple(row) == ("machine", "machine")


def _one_agent_one_call(engine, r, **campaign):  # type: ignore[no-untyped-def]
    """A predictive campaign (no wrap-up) with one ready agent and the one call its first tick placed."""
    campaign_id = make_campaign(engine, dial_method="predictive", wrap_up_s=0, **campaign)
    make_leads(engine, campaign_id, 3)
    clock = Clock()
    loop = CampaignLoop(campaign_id, engine, r, clock=clock, tick_s=0.01)
    loop.restore()
    [agent] = make_agents(engine, 1)
    loop.agents.login(agent, campaign_id, extension="PJSIP/agent01")
    loop.agents.ready(agent)
    loop.tick(clock())
    call = next(c.call_id for c in commands(r) if isinstance(c, ev.OriginateCommand))
    return loop, clock, campaign_id, agent, call


@pytest.mark.parametrize("code", ["A", "NI"])
def test_a_machine_amd_passed_that_the_agent_dispositions_a_leaves_the_false_positive_base(
        db_committed, redis_client, code) -> None:
    """AMD said human, the agent heard a machine and set "A": the policy is told ``machine=True`` and the
    Ofcom counters take back that answer's false-positive estimate (it was no live answer AMD heard).
    "NI" (a person, not interested) keeps it."""
    from dialer.abandon import pg_figures

    engine, r = db_committed, redis_client
    loop, clock, campaign_id, agent, call = _one_agent_one_call(
        engine, r, drop_after_s=5, amd_enabled=True, abandon_window="ofcom_24h")
    assert "A" in loop.settings.not_live_codes and "NI" not in loop.settings.not_live_codes
    clock.t += 8
    publish(r, loop, ev.Answered, call)
    clock.t += 1
    publish(r, loop, ev.AmdHuman, call)
    publish(r, loop, ev.BridgedToAgent, call, agent_endpoint="PJSIP/agent01")
    assert LiveState(r).agent(agent).state is AgentState.INCALL
    assert loop.counts.figures(campaign_id, clock(), 1).amd_false_positives == pytest.approx(1 / 99)
    clock.t += 6
    publish(r, loop, ev.Hangup, call)
    loop.agents.end_call(agent)
    clock.t += 1
    assert loop.agents.disposition(agent, call, code).state is AgentState.READY
    loop.tick(clock())
    machine = code == "A"
    assert loop.policy.machine_releases == int(machine)
    fig = loop.counts.figures(campaign_id, clock(), 1)
    assert fig.answers == 1, "the answer stays in the denominator either way"
    assert fig.amd_false_positives == pytest.approx(0.0 if machine else 1 / 99, abs=1e-12)
    with engine.connect() as conn:  # the exact figure from PostgreSQL agrees
        exact = pg_figures(conn, campaign_id, datetime.fromtimestamp(clock() + 60, UTC), timedelta(days=1))
    assert (exact.answers, exact.amd_false_positives) == (1, pytest.approx(0.0 if machine else 1 / 99))
    loop.tick(clock())
    assert loop.policy.machine_releases == int(machine), "one release, told once"


def test_an_event_that_keeps_failing_is_dead_lettered(rig, monkeypatch) -> None:
    engine, r, loop, clock, campaign_id, agents = rig
    loop.claim_idle_ms = 0
    real = loop.handle

    def handle(event):
        if event.call_id == "poison":
            raise RuntimeError("database went away")
        real(event)

    monkeypatch.setattr(loop, "handle", handle)
    r.xadd(EVENTS_STREAM, encode(ev.Ringing(call_id="poison", at=datetime.now(UTC), campaign_id=campaign_id)))
    failures = 0
    for _ in range(10):
        try:
            loop.consume(1)
        except RuntimeError:
            failures += 1
    assert failures == 5, "retried (re-delivered) while it might be transient, then given up"
    [dead] = r.xrange("pyd:events:calls:dead")
    assert dead[1]["call_id"] == "poison" and dead[1]["group"] == loop.group
    assert r.xpending(EVENTS_STREAM, loop.group)["pending"] == 0


def test_engine_cli_runs_a_campaign_and_exits(db_committed, redis_url, redis_client, tmp_path) -> None:
    import os
    import subprocess
    import sys

    campaign_id = make_campaign(db_committed, dial_method="progressive")
    make_leads(db_committed, campaign_id, 2)
    [agent] = make_agents(db_committed, 1)
    live = LiveState(redis_client)
    from dialer.agents import AgentService

    service = AgentService(live)
    service.login(agent, campaign_id)
    service.ready(agent)
    env = {**os.environ, "DATABASE_URL": db_committed.url.render_as_string(hide_password=False),
           "REDIS_URL": redis_url, "PYDIALER_DATA_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "dialer.loop", "--campaign", str(campaign_id), "--seconds", "3"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [c.type for c in commands(redis_client)] == ["cmd.originate"], "one idle agent: one call"
    assert not redis_client.exists(f"pyd:campaign:{campaign_id}:lease"), "lease released on exit"


def test_a_new_owner_takes_over_waiting_calls_and_unacked_events(rig) -> None:
    """kill -9 of the loop: the next owner rebuilds the waiting queue and replays un-ACKed events."""
    engine, r, old, clock, campaign_id, (a1, a2) = rig
    old.tick(clock())
    call_a, call_b = [c.call_id for c in commands(r) if isinstance(c, ev.OriginateCommand)]
    old.agents.pause(a1, "BREAK")
    old.agents.pause(a2, "BREAK")
    publish(r, old, ev.Answered, call_a)  # waiting for an agent when the owner dies
    # The hangup of B is read by the old owner, which dies before applying and ACKing it.
    r.xadd(EVENTS_STREAM, encode(ev.Hangup(call_id=call_b, at=datetime.fromtimestamp(clock(), UTC),
                                           campaign_id=campaign_id, cause=19)))
    r.xreadgroup(old.group, old.consumer, {EVENTS_STREAM: ">"}, count=10)
    del old

    new = CampaignLoop(campaign_id, engine, r, clock=clock, tick_s=0.01, consumer="successor")
    new.claim_idle_ms = 0
    new.restore()
    assert [c.call_id for c in new.flow.waiting] == [call_a]
    new.agents.ready(a2)
    new.step(block_ms=1)
    bridges = [c for c in commands(r) if isinstance(c, ev.BridgeCommand)]
    assert [(b.call_id, b.agent_endpoint) for b in bridges] == [(call_a, "PJSIP/agent02")]
    with engine.connect() as conn:
        outcome = conn.execute(sa.select(CallAttempt.outcome).where(CallAttempt.call_id == call_b)).scalar()
        finals = conn.execute(sa.select(OutboxMessage.key)).scalars().all()
    assert outcome == "no_answer" and finals == [call_b], "the replayed hangup produced exactly one CDR"
    assert r.xpending(EVENTS_STREAM, new.group)["pending"] == 0


def test_an_agent_who_dispositions_after_the_wrap_deadline_is_a_release_the_policy_learns(db_committed,
                                                                                         redis_client) -> None:
    """``st.disposition`` past the wrap deadline goes straight to READY: the wrap timer never sees it, and
    the predictive policy must still learn that handle time (it used to learn none: near-progressive)."""
    engine, r = db_committed, redis_client
    loop, clock, campaign_id, agent, call = _one_agent_one_call(engine, r, drop_after_s=2)
    clock.t += 5
    publish(r, loop, ev.Answered, call)
    publish(r, loop, ev.BridgedToAgent, call, agent_endpoint="PJSIP/agent01")
    assert LiveState(r).agent(agent).state is AgentState.INCALL
    assert loop.policy.handle.samples == 0
    clock.t += 40
    publish(r, loop, ev.Hangup, call)  # the customer hangs up; the agent ends the call: wrap-up (0 s)
    loop.agents.end_call(agent)
    clock.t += 3
    after = loop.agents.disposition(agent, call, "NI")
    assert after.state is AgentState.READY, "past the wrap deadline the disposition frees the agent at once"
    loop.tick(clock())
    assert loop.policy.handle.samples == 1
    assert loop.policy.handle.mean() == pytest.approx(43.0, abs=1.0)  # connect -> ready: talk + wrap
    loop.tick(clock())
    assert loop.policy.handle.samples == 1, "one release, told once"
