"""Shared set-up for the wallboard tests: a campaign with leads, agents and live state in Redis."""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa

from dialer.live import ACTIVE_AGENTS, LiveState, agent_key, campaign_agents_key


@dataclass(frozen=True)
class Floor:
    campaign_id: int
    other_campaign_id: int
    agent_ids: list[int]
    lead_ids: list[int]


def make_floor(engine: sa.Engine) -> Floor:
    """Two campaigns (one with 3 NEW leads), 3 agents, a BRK pause code limited to 60 s."""
    with engine.begin() as conn:
        cid = conn.execute(sa.text(
            "INSERT INTO campaigns (name, dial_method, target_abandon_rate) VALUES ('Solar', 'predictive', 0.03)"
            " RETURNING id")).scalar_one()
        other = conn.execute(sa.text("INSERT INTO campaigns (name) VALUES ('Renewals') RETURNING id")).scalar_one()
        list_id = conn.execute(sa.text("INSERT INTO lists (campaign_id, name) VALUES (:c, 'L1') RETURNING id"),
                               {"c": cid}).scalar_one()
        leads = [conn.execute(sa.text(
            "INSERT INTO leads (list_id, phone_e164, first_name, last_name, timezone) VALUES (:l, :p, :f, 'Doe',"
            " 'America/New_York') RETURNING id"), {"l": list_id, "p": f"+1212555010{i}", "f": f"Jane{i}"}).scalar_one()
            for i in range(3)]
        agents = [conn.execute(sa.text(
            "INSERT INTO users (username, full_name, password_hash, role) VALUES (:u, :n, 'x', 'agent') RETURNING id"),
            {"u": f"wbagent{i}", "n": f"Agent {name}"}).scalar_one() for i, name in enumerate(["Ann", "Bob", "Cy"])]
        conn.execute(sa.text("INSERT INTO pause_codes (campaign_id, code, name, max_s) VALUES (NULL, 'BRK', 'Break', 60)"))
    return Floor(cid, other, agents, leads)


def put_agent(r, agent_id: int, campaign_id: int, state: str, since: float, **extra: str) -> None:
    r.sadd(ACTIVE_AGENTS, agent_id)
    r.sadd(campaign_agents_key(campaign_id), agent_id)
    r.hset(agent_key(agent_id), mapping={"state": state, "campaign_id": campaign_id, "since": since, "call_id": "",
                                         "pause_code": "", "calls_today": "3", **extra})


def live_floor(r, floor: Floor, now: float | None = None) -> None:
    """Ann talking to lead 0 (call c-ann), Bob ready, Cy paused on BRK for 2 minutes."""
    now = time.time() if now is None else now
    live = LiveState(r)
    a, b, c = floor.agent_ids
    live.track_call("c-ann", floor.campaign_id, floor.lead_ids[0], now - 40, pbx="sim1")
    live.set_call_state("c-ann", "connected", now - 30, agent_id=str(a))
    put_agent(r, a, floor.campaign_id, "incall", now - 30, call_id="c-ann")
    put_agent(r, b, floor.campaign_id, "ready", now - 5)
    put_agent(r, c, floor.campaign_id, "paused", now - 120, pause_code="BRK")
    live.bump(floor.campaign_id, now, dials=10, humans=4, abandons=1, sales=2)
    live.set_pacing(floor.campaign_id, dial_level=2.0, hopper_depth=3)
