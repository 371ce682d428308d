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


def _campaign(snap: dict, cid: int) -> dict:
    return next(x for x in snap["campaigns"] if x["id"] == cid)


def test_loop_publishes_on_a_call_event_not_on_the_heartbeat(floor_env) -> None:
    """With a 30 s heartbeat only the event can cause a publish within the second; the snapshot
    says so itself (cause, events_seen, last_event_id)."""
    engine, r, floor = floor_env
    agg = Aggregator(engine, r, heartbeat_s=30.0)
    stop = threading.Event()
    thread = threading.Thread(target=agg.run, args=(stop,), kwargs={"max_s": 20}, daemon=True)
    sub = r.pubsub(ignore_subscribe_messages=True)
    sub.subscribe(CHANNEL)
    thread.start()
    try:
        first = None
        deadline = time.time() + 5
        while time.time() < deadline and first is None:
            msg = sub.get_message(timeout=0.1)
            first = json.loads(msg["data"]) if msg else None
        assert first is not None and first["cause"] == "start"
        # no event: nothing is published (the heartbeat is 30 s away)
        quiet_until = time.time() + 1.5
        while time.time() < quiet_until:
            assert sub.get_message(timeout=0.1) is None, "published without an event"
        # what the dialing loop does on a new call + what telephony publishes
        now = time.time()
        LiveState(r).track_call("c-new", floor.campaign_id, floor.lead_ids[1], now)
        entry_id = r.xadd(CALL_EVENTS, encode(ev.Dialing(call_id="c-new", at=datetime.now(UTC),
                                                         campaign_id=floor.campaign_id)))
        seen = None
        while time.time() < now + 1.0 and seen is None:
            msg = sub.get_message(timeout=0.05)
            if msg:
                snap = json.loads(msg["data"])
                if _campaign(snap, floor.campaign_id)["calls"]["ringing"] == 1:
                    seen = snap
        assert seen is not None, "no publish within a second of the event"
        assert seen["cause"] in ("event", "follow_up")
        assert seen["last_event_id"] == f"{CALL_EVENTS}/{entry_id}"
        assert seen["events_seen"] == first["events_seen"] + 1
        assert _campaign(first, floor.campaign_id)["calls"]["ringing"] == 0
    finally:
        stop.set()
        thread.join(timeout=5)
        sub.close()
    assert not thread.is_alive()


def _attempt(conn, cid: int, day: datetime, *, connect_s: float | None, talk_s: float, wrap_s: float | None) -> None:
    """A finished call attempt dialed at ``day`` + 60 s (connected -> ended -> wrap ended)."""
    from datetime import timedelta

    dialed = day + timedelta(seconds=60)
    connected = None if connect_s is None else dialed + timedelta(seconds=connect_s)
    ended = (connected or dialed) + timedelta(seconds=talk_s)
    wrapped = None if wrap_s is None else ended + timedelta(seconds=wrap_s)
    conn.execute(sa.text(
        "INSERT INTO call_attempts (campaign_id, pbx, phone_e164, dial_method, dialed_at, connected_at, ended_at,"
        " wrap_ended_at, outcome) VALUES (:c, 'sim1', '+12125550100', 'predictive', :d, :k, :e, :w, :o)"),
        {"c": cid, "d": dialed, "k": connected, "e": ended, "w": wrapped,
         "o": "human" if connected else "no_answer"})


def test_aht_is_talk_plus_wrap_from_postgres_and_survives_a_restart(floor_env) -> None:
    """The analytics definition, (talk + wrap) / connected calls, over today's ended calls."""
    from datetime import timedelta

    engine, r, floor = floor_env
    now = time.time()
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with engine.begin() as conn:
        _attempt(conn, floor.campaign_id, day, connect_s=5, talk_s=100, wrap_s=20)  # handle 120
        _attempt(conn, floor.campaign_id, day, connect_s=5, talk_s=50, wrap_s=10)  # handle 60
        _attempt(conn, floor.campaign_id, day, connect_s=5, talk_s=30, wrap_s=None)  # still in wrap: 30
        _attempt(conn, floor.campaign_id, day, connect_s=None, talk_s=30, wrap_s=None)  # never connected
        _attempt(conn, floor.campaign_id, day - timedelta(days=1), connect_s=5, talk_s=999, wrap_s=9)  # yesterday
    agg = Aggregator(engine, r)
    agg.refresh_slow(now, force=True)
    c = _campaign(agg.snapshot(now), floor.campaign_id)
    assert c["today"]["aht_s"] == 70.0  # (120 + 60 + 30) / 3
    # a restarted aggregator (nothing in memory, no events replayed) shows the same figure
    again = Aggregator(engine, r)
    again.refresh_slow(now, force=True)
    assert _campaign(again.snapshot(now), floor.campaign_id)["today"]["aht_s"] == 70.0
    assert _campaign(again.snapshot(now), floor.other_campaign_id)["today"]["aht_s"] is None


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
