"""The aggregator against real PostgreSQL + Redis: figures, customers, refusals, publish, the loop."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from core import events as ev
from dialer.aggregator import CALL_EVENTS, CHANNEL, SNAPSHOT_KEY, Aggregator
from dialer.live import LiveState
from telephony.streams import encode
from tests.integration.wallboard_fixtures import live_floor, make_floor


@pytest.fixture()
def floor_env(db_committed: sa.Engine, web_redis):
    floor = make_floor(db_committed)
    live_floor(web_redis, floor)
    return db_committed, web_redis, floor


def test_snapshot_reads_live_state_and_postgres(floor_env) -> None:
    engine, r, floor = floor_env
    agg = Aggregator(engine, r)
    now = time.time()
    agg.refresh_slow(now, force=True)
    snap = agg.snapshot(now)
    c = next(x for x in snap["campaigns"] if x["id"] == floor.campaign_id)
    assert c["name"] == "Solar" and c["dial_method"] == "predictive" and c["dial_level"] == 2.0
    assert c["agents"]["logged_in"] == 3 and c["agents"]["incall"] == 1 and c["agents"]["paused_by_code"] == {"BRK": 1}
    assert c["calls"]["in_progress"] == 1
    assert c["today"]["calls"] == 10 and c["today"]["conversions"] == 2 and c["abandon"]["today"] == 0.25
    # the hopper refusal breakdown comes from leads_repo.refusal_counts (3 NEW leads in the list)
    assert sum(c["hopper"]["reasons"].values()) == 3
    ann = next(a for a in snap["agents"] if a["id"] == floor.agent_ids[0])
    assert ann["customer"] == "Jane0 Doe · +12125550100" and ann["name"] == "Agent Ann" and ann["tone"] == "t-incall-1"
    cy = next(a for a in snap["agents"] if a["id"] == floor.agent_ids[2])
    assert cy["over_limit"] and cy["tone"] == "t-over-limit"
    assert {a["rule"] for a in snap["alerts"]} == {"pause_over_limit"}
    other = next(x for x in snap["campaigns"] if x["id"] == floor.other_campaign_id)
    assert other["agents"]["logged_in"] == 0


def test_garbage_in_live_state_does_not_break_the_snapshot(floor_env) -> None:
    engine, r, floor = floor_env
    r.hset(f"pyd:agent:{floor.agent_ids[1]}", mapping={"since": "not-a-time", "calls_today": "many"})
    r.hset(f"pyd:campaign:{floor.campaign_id}:pacing", "dial_level", "fast")
    r.xadd(CALL_EVENTS, {"data": "{not json"})
    agg = Aggregator(engine, r)
    agg._last_ids = {s: "0" for s in agg._last_ids}
    assert agg.read_events(10) >= 1
    snap = agg.snapshot(time.time())
    bob = next(a for a in snap["agents"] if a["id"] == floor.agent_ids[1])
    assert bob["mmss"] == "-" and bob["calls_today"] == 0
    assert next(x for x in snap["campaigns"] if x["id"] == floor.campaign_id)["dial_level"] is None


def test_publish_stores_and_broadcasts(floor_env) -> None:
    engine, r, floor = floor_env
    sub = r.pubsub(ignore_subscribe_messages=True)
    sub.subscribe(CHANNEL)
    agg = Aggregator(engine, r)
    agg.refresh_slow(time.time(), force=True)
    payload = agg.publish(time.time())
    msg = None
    for _ in range(20):
        msg = sub.get_message(timeout=0.2)
        if msg:
            break
    sub.close()
    assert msg is not None and msg["data"] == payload == r.get(SNAPSHOT_KEY)
    assert 0 < r.ttl(SNAPSHOT_KEY) <= 30


def test_loop_publishes_a_call_event_within_a_second_and_measures_aht(floor_env) -> None:
    engine, r, floor = floor_env
    agg = Aggregator(engine, r)
    stop = threading.Event()
    thread = threading.Thread(target=agg.run, args=(stop,), kwargs={"max_s": 20}, daemon=True)
    thread.start()
    try:
        deadline = time.time() + 5
        while time.time() < deadline and not agg.last_payload:
            time.sleep(0.05)
        assert agg.last_payload, "no heartbeat snapshot"
        sub = r.pubsub(ignore_subscribe_messages=True)
        sub.subscribe(CHANNEL)
        # what the dialing loop does on a new call + what telephony publishes
        now = time.time()
        LiveState(r).track_call("c-new", floor.campaign_id, floor.lead_ids[1], now)
        at = datetime.now(UTC)
        r.xadd(CALL_EVENTS, encode(ev.Dialing(call_id="c-new", at=at, campaign_id=floor.campaign_id)))
        r.xadd(CALL_EVENTS, encode(ev.BridgedToAgent(call_id="c-aht", at=at, campaign_id=floor.campaign_id)))
        r.xadd(CALL_EVENTS, encode(ev.Hangup(call_id="c-aht", at=datetime.fromtimestamp(at.timestamp() + 90, UTC),
                                             campaign_id=floor.campaign_id)))
        seen = None
        while time.time() < now + 1.0:
            msg = sub.get_message(timeout=0.05)
            if msg:
                snap = json.loads(msg["data"])
                c = next(x for x in snap["campaigns"] if x["id"] == floor.campaign_id)
                if c["calls"]["ringing"] == 1 and c["today"]["aht_s"] == 90.0:
                    seen = time.time() - now
                    break
        sub.close()
        assert seen is not None and seen < 1.0
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()


def test_python_m_dialer_aggregator_publishes_and_stops_cleanly(db_committed: sa.Engine, db_url: str,
                                                                web_redis_url: str, web_redis, tmp_path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": web_redis_url, "PYDIALER_DATA_DIR": str(tmp_path),
           "LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "dialer.aggregator", "--seconds", "30"], env=env)
    try:
        deadline = time.time() + 15
        while time.time() < deadline and not web_redis.get(SNAPSHOT_KEY):
            time.sleep(0.1)
        first = json.loads(web_redis.get(SNAPSHOT_KEY) or "{}")
        assert first.get("v") == 1
        time.sleep(1.5)  # heartbeat: at least one more snapshot a second
        assert json.loads(web_redis.get(SNAPSHOT_KEY))["seq"] > first["seq"]
    finally:
        proc.terminate()  # SIGTERM: the loop stops and the process exits 0
        assert proc.wait(timeout=10) == 0
