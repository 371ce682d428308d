"""Virtual agents' behaviour through the real agent service (Redis + PostgreSQL), and their CLI."""

import random

import pytest

from dialer.live import LiveState
from dialer.state import AgentState
from dialer.virtual_agents import Behaviour, VirtualAgents, main, weighted_codes
from tests.integration.dialer_fixtures import make_attempt, make_campaign


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


def test_weighted_codes_give_plausible_odds() -> None:
    rows = [("SALE", True, False, False), ("NI", False, False, False), ("DNC", False, True, False),
            ("CB", False, False, True), ("NP", False, False, False)]
    weights = dict(weighted_codes(rows))
    assert weights["SALE"] == pytest.approx(0.12) and weights["DNC"] == pytest.approx(0.03)
    assert weights["NI"] == weights["NP"] == pytest.approx((1 - 0.12 - 0.03 - 0.08) / 2)
    assert sum(weights.values()) == pytest.approx(1.0)
    assert dict(weighted_codes([]))["SALE"] > 0


def test_talk_time_distribution_and_time_scale() -> None:
    rng = random.Random(1)
    draws = [Behaviour(talk_mean_s=90, talk_sd_s=60).talk(rng) for _ in range(4000)]
    assert 80 < sum(draws) / len(draws) < 100
    assert Behaviour(time_scale=10).draw(random.Random(2), (10, 10)) == 1.0
    with pytest.raises(ValueError):
        Behaviour(time_scale=0)


def test_a_virtual_agent_takes_a_call_wraps_and_dispositions(db_committed, redis_client) -> None:
    engine = db_committed
    campaign_id = make_campaign(engine, wrap_up_s=0)
    clock = Clock()
    va = VirtualAgents(campaign_id, 1, engine, redis_client, seed=1, clock=clock,
                       behaviour=Behaviour(break_prob_per_call=0.0))
    live = LiveState(redis_client)
    va.login()
    [agent] = va.agents
    assert redis_client.hget(f"pyd:agent:{agent.agent_id}", "extension") == "PJSIP/agent01"
    va.step()
    assert live.agent(agent.agent_id).state is AgentState.READY
    # The dialer reserves and connects a call to it.
    call_id = make_attempt(engine, campaign_id)
    change = live.reserve_longest_idle(campaign_id, call_id, clock.t)
    va.service.record_reservation(change)
    va.service.connect(agent.agent_id, call_id)
    va.step()
    assert agent.phase == "talk" and agent.calls == 1
    # The customer hangs up; the agent notices, ends the call, wraps and dispositions.
    va.service.customer_hung_up(agent.agent_id, call_id)
    for _ in range(4):
        clock.t += 20
        va.step()
    assert agent.log and live.agent(agent.agent_id).state is AgentState.READY
    va.logout(timeout_s=2)
    assert live.agent(agent.agent_id).state is AgentState.LOGGED_OUT


def test_agent_ends_a_long_call_by_hanging_up(db_committed, redis_client) -> None:
    engine = db_committed
    campaign_id = make_campaign(engine, wrap_up_s=0)
    clock = Clock()
    va = VirtualAgents(campaign_id, 1, engine, redis_client, seed=2, clock=clock)
    va.login()
    va.step()
    [agent] = va.agents
    call_id = make_attempt(engine, campaign_id)
    LiveState(redis_client).track_call(call_id, campaign_id, None, clock.t)  # the call is in flight
    va.service.record_reservation(LiveState(redis_client).reserve_longest_idle(campaign_id, call_id, clock.t))
    va.service.connect(agent.agent_id, call_id)
    va.step()
    clock.t += 10_000
    va.step()
    hangups = [e for e in redis_client.xrange("pyd:commands:telephony") if e[1]["type"] == "cmd.hangup"]
    assert [h[1]["call_id"] for h in hangups] == [call_id]
    assert LiveState(redis_client).agent(agent.agent_id).state is AgentState.WRAP


def test_cli_refuses_bad_input(db_committed, redis_client, capsys) -> None:
    with pytest.raises(ValueError, match="no campaign"):
        VirtualAgents(999_999, 2, db_committed, redis_client)
    campaign_id = make_campaign(db_committed)
    with pytest.raises(ValueError, match="1..99"):
        VirtualAgents(campaign_id, 0, db_committed, redis_client)
    with pytest.raises(SystemExit):
        main(["--count", "2"])  # --campaign is required
    assert "--campaign" in capsys.readouterr().err
