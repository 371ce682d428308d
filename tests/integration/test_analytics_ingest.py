"""Stream → ClickHouse ingest: decisions and agent intervals land once, garbage is dead-lettered."""

from __future__ import annotations

import json
import time

from analytics.ingest import AGENTS_STREAM, DEAD_STREAM, DECISIONS_STREAM, StreamIngest


def _inserter(ch_client):  # type: ignore[no-untyped-def]
    def insert(table, rows, columns):  # type: ignore[no-untyped-def]
        ch_client.insert(table, rows, column_names=list(columns))

    return insert


def _decision(at: float, placed: int) -> dict[str, str]:
    return {"data": json.dumps({
        "campaign_id": 3, "at": at, "agents_logged_in": 10, "agents_idle": 2, "busy": 8, "ringing": 5,
        "calls_waiting": 0, "count": placed, "placed": placed, "guard_clamped": False, "policy": "predictive",
        "raw_count": placed + 0.4, "capped_by": "model", "estimates": {"answer_rate": 0.21, "est_abandon": 0.02},
    })}


def _agent(agent_id: int, to: str, at: float, **extra: object) -> dict[str, str]:
    return {"data": json.dumps({"type": "agent_state_changed", "agent_id": agent_id, "campaign_id": 3,
                                "from": "x", "to": to, "at": at, **extra})}


def test_decisions_land_once_even_when_redelivered(redis_client, ch_client) -> None:  # type: ignore[no-untyped-def]
    now = time.time()
    for i in range(5):
        redis_client.xadd(DECISIONS_STREAM, _decision(now + i, placed=i))
    ingest = StreamIngest(redis_client, _inserter(ch_client), consumer="c1")
    assert ingest.run_once(block_ms=None) == 5
    # Simulate a crash between insert and XACK: the same entries delivered again.
    redis_client.xgroup_setid(DECISIONS_STREAM, "analytics-ingest", id="0")
    assert StreamIngest(redis_client, _inserter(ch_client), consumer="c2").run_once(block_ms=None) == 5
    rows = ch_client.query(
        "SELECT calls_placed, dial_level, est_answer_rate, algorithm FROM dial_decisions FINAL ORDER BY at"
    ).result_rows
    assert [r[0] for r in rows] == [0, 1, 2, 3, 4]
    assert abs(rows[2][1] - (5 + 2 + 8) / 10) < 1e-6  # lines in use per logged-in agent
    assert abs(rows[0][2] - 0.21) < 1e-6 and rows[0][3] == "predictive"


def test_agent_changes_become_closed_intervals(redis_client, ch_client) -> None:  # type: ignore[no-untyped-def]
    t0 = time.time() - 100
    call = "7d2f3c1e-0000-4000-8000-000000000001"
    events = [_agent(5, "paused", t0, pause_code="LOGIN"), _agent(5, "ready", t0 + 10),
              _agent(5, "reserved", t0 + 30, call_id=call), _agent(5, "incall", t0 + 31, call_id=call)]
    for fields in events[:2]:
        redis_client.xadd(AGENTS_STREAM, fields)
    StreamIngest(redis_client, _inserter(ch_client), consumer="a").run_once(block_ms=None)
    # A new ingest process picks up where the first left off (open interval kept in Redis).
    for fields in events[2:]:
        redis_client.xadd(AGENTS_STREAM, fields)
    StreamIngest(redis_client, _inserter(ch_client), consumer="b").run_once(block_ms=None)
    rows = ch_client.query(
        "SELECT state, pause_code, round(duration_s, 3), ended_at IS NULL, toString(call_id) "
        "FROM agent_states FINAL WHERE agent_id = 5 ORDER BY started_at"
    ).result_rows
    assert rows == [
        ("paused", "LOGIN", 10.0, False, None),
        ("ready", "", 20.0, False, None),
        ("reserved", "", 1.0, False, call),
        ("incall", "", 0.0, True, call),
    ]


def test_garbage_entries_are_dead_lettered_and_do_not_block(redis_client, ch_client) -> None:  # type: ignore[no-untyped-def]
    now = time.time()
    redis_client.xadd(DECISIONS_STREAM, {"data": "{not json"})
    redis_client.xadd(DECISIONS_STREAM, {"nodata": "1"})
    redis_client.xadd(DECISIONS_STREAM, {"data": json.dumps({"campaign_id": -1, "at": now, "agents_logged_in": 1})})
    redis_client.xadd(DECISIONS_STREAM, {"data": json.dumps({"campaign_id": 1, "at": "yesterday", "agents_logged_in": 1})})
    redis_client.xadd(AGENTS_STREAM, {"data": json.dumps({"type": "other"})})
    redis_client.xadd(DECISIONS_STREAM, _decision(now, placed=7))
    ingest = StreamIngest(redis_client, _inserter(ch_client), consumer="c")
    assert ingest.run_once(block_ms=None) == 6
    assert ingest.dead == 5
    reasons = [fields["reason"] for _, fields in redis_client.xrange(DEAD_STREAM)]
    assert any("not JSON" in r for r in reasons) and any("no 'data'" in r for r in reasons)
    assert any("campaign_id: must not be negative" in r for r in reasons)
    assert any("plausible" in r or "epoch seconds" in r for r in reasons)
    assert ch_client.query("SELECT calls_placed FROM dial_decisions").result_rows == [(7,)]
    assert redis_client.xpending(DECISIONS_STREAM, "analytics-ingest")["pending"] == 0
