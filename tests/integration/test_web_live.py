"""The live overview's data: real rows in PostgreSQL, real hashes in Redis, through the real
callback (and the counts cache)."""

from __future__ import annotations

import datetime as dt
import json
import time

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.live import ACTIVE_AGENTS_KEY, AGENT_KEY, LiveData, query_counts
from core.models import Campaign, DncEntry, Lead, LeadList
from tests.conftest import web_login
from tests.integration.test_security_guard import LIVE_OUTPUT, callback_body, post_callback


def find_children(tree: object, component_id: str) -> object:
    """``children`` of the component with ``component_id`` anywhere in a Dash JSON tree."""
    if isinstance(tree, dict):
        props = tree.get("props")
        if isinstance(props, dict) and props.get("id") == component_id:
            return props.get("children")
        items = list(tree.values())
    elif isinstance(tree, list):
        items = tree
    else:
        return None
    for item in items:
        found = find_children(item, component_id)
        if found is not None:
            return found
    return None


def seed_dialing(engine: sa.Engine) -> dict[str, int]:
    now = dt.datetime.now(dt.UTC)
    with Session(engine) as s, s.begin():
        active = Campaign(name="Solar", dial_statuses=["NEW", "NA"], max_attempts=3)
        paused = Campaign(name="Legacy", active=False)
        s.add_all([active, paused])
        s.flush()
        good, off = LeadList(campaign_id=active.id, name="L1"), LeadList(campaign_id=active.id, name="L2", active=False)
        old = LeadList(campaign_id=paused.id, name="L3")
        s.add_all([good, off, old])
        s.flush()
        leads = [
            Lead(list_id=good.id, phone_e164="+12025550101", status="NEW"),  # dialable
            Lead(list_id=good.id, phone_e164="+12025550102", status="NA", attempts=2),  # dialable
            Lead(list_id=good.id, phone_e164="+12025550103", status="NA", attempts=3),  # attempt cap
            Lead(list_id=good.id, phone_e164="+12025550104", status="SALE"),  # not a dial status
            Lead(list_id=good.id, phone_e164="+12025550105", status="NEW", called_since_reset=True),
            Lead(list_id=good.id, phone_e164="+12025550106", status="NEW", next_call_at=now + dt.timedelta(hours=1)),
            Lead(list_id=good.id, phone_e164="+12025550107", status="NEW"),  # global DNC
            Lead(list_id=good.id, phone_e164="+12025550108", status="NEW"),  # campaign DNC
            Lead(list_id=off.id, phone_e164="+12025550109", status="NEW"),  # inactive list
            Lead(list_id=old.id, phone_e164="+12025550110", status="NEW"),  # inactive campaign
        ]
        s.add_all(leads)
        s.add_all([
            DncEntry(phone_e164="+12025550107", scope="global"),
            DncEntry(phone_e164="+12025550108", scope="campaign", campaign_id=active.id),
            DncEntry(phone_e164="+12025550199", scope="global", expires_at=now + dt.timedelta(days=1)),
        ])
        return {"campaign": active.id}


def test_counts_are_exact(db_committed):
    seed_dialing(db_committed)
    counts = query_counts(db_committed)
    assert (counts.campaigns, counts.active_campaigns, counts.leads) == (2, 1, 10)
    assert counts.dialable_leads == 2
    assert counts.dnc_numbers == 3


def test_live_callback_shows_database_and_redis_state(web_app, web_users, db_committed, web_redis):
    ids = seed_dialing(db_committed)
    agent = str(web_users["agent"])
    since = time.time() - 75
    web_redis.sadd(ACTIVE_AGENTS_KEY, agent, "999")
    web_redis.hset(AGENT_KEY.format(id=agent), mapping={"state": "incall", "campaign_id": ids["campaign"], "since": since})
    web_redis.hset(AGENT_KEY.format(id="999"), mapping={"state": "ready", "campaign_id": "", "since": "garbage"})
    web_redis.sadd(ACTIVE_AGENTS_KEY, "1000")  # in the set but without a hash: skipped

    client = web_app.test_client()
    web_login(client, "supervisor")
    body = callback_body(LIVE_OUTPUT, [{"id": "live-interval", "property": "n_intervals"}])
    response = post_callback(client, body)
    assert response.status_code == 200
    payload = json.loads(response.get_data(as_text=True))["response"]
    text = json.dumps(payload)

    def value_of(card: str) -> object:
        return find_children(payload, f"{card}-value")

    assert value_of("live-kpi-agents") == "2"
    assert value_of("live-kpi-incall") == "1"
    assert value_of("live-kpi-ready") == "1"
    assert value_of("live-kpi-dialable") == "2"
    assert value_of("live-kpi-leads") == "10"
    assert value_of("live-kpi-campaigns") == "1 / 2"
    assert value_of("live-kpi-dnc") == "3"
    assert "Test Agent" in text and "Solar" in text and "1:1" in text  # name, campaign, ~1:15 in state


def test_counts_are_cached_between_refreshes(web_app, db_committed):
    data: LiveData = web_app.extensions["pydialer_live"]
    first = data.snapshot().counts
    seed_dialing(db_committed)
    assert data.snapshot().counts == first  # within the 5 s TTL: no new query
    fresh = LiveData(data.services, ttl_s=0)
    assert fresh.snapshot().counts.leads == 10


def test_redis_down_is_shown_as_unavailable_not_zero(web_app, web_settings):
    import dataclasses

    import redis

    data: LiveData = web_app.extensions["pydialer_live"]
    broken = dataclasses.replace(data.services, redis=redis.Redis.from_url("redis://127.0.0.1:1/0", socket_timeout=0.2))
    snap = LiveData(broken).snapshot()
    assert snap.agents is None
    assert [p.ok for p in snap.health if p.name == "redis"] == [False]
    assert snap.counts is not None
