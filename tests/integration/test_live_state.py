"""Live state in Redis: key conventions, atomic reservation of the longest-idle agent."""

import threading

import pytest

from dialer import state as st
from dialer.live import LiveState, agent_key, calls_key, ready_key
from dialer.state import AgentSnapshot, AgentState


def _ready(live: LiveState, agent_id: int, campaign_id: int, at: float) -> None:
    live.update_agent(agent_id, lambda s: st.login(s, at - 1, campaign_id=campaign_id, session_id="s"))
    live.update_agent(agent_id, lambda s: st.go_ready(s, at))


def test_agent_hash_uses_the_documented_fields(redis_client) -> None:
    live = LiveState(redis_client)
    live.update_agent(7, lambda s: st.login(s, 100.0, campaign_id=3, session_id="s1"), extra={"name": "Ann"},
                      event={"reason": "login"})
    raw = redis_client.hgetall(agent_key(7))
    assert raw["state"] == "paused" and raw["pause_code"] == "LOGIN"
    assert raw["campaign_id"] == "3" and float(raw["since"]) == 100.0 and raw["name"] == "Ann"
    assert raw["call_id"] == "" and raw["session_id"] == "s1" and raw["calls_today"] == "0"
    assert redis_client.smembers("pyd:agents:active") == {"7"}
    assert live.agent(7) == AgentSnapshot(7, AgentState.PAUSED, 100.0, 3, "s1", pause_code="LOGIN")
    [entry] = redis_client.xrange("pyd:events:agents")
    assert '"to": "paused"' in entry[1]["data"]
    live.update_agent(7, lambda s: st.go_ready(s, 105.0))
    assert live.ready_agents(3) == [(7, 105.0)]
    live.update_agent(7, lambda s: st.logout(s, 110.0))
    assert not redis_client.exists(agent_key(7))
    assert redis_client.smembers("pyd:agents:active") == set()
    assert live.ready_agents(3) == []


def test_invalid_transition_writes_nothing(redis_client) -> None:
    live = LiveState(redis_client)
    with pytest.raises(st.InvalidTransition):
        live.update_agent(1, lambda s: st.go_ready(s, 1.0))
    assert not redis_client.exists(agent_key(1))


def test_reserve_takes_the_longest_idle_and_ready_again_keeps_ready_since(redis_client) -> None:
    live = LiveState(redis_client)
    _ready(live, 1, 9, 50.0)
    _ready(live, 2, 9, 40.0)
    _ready(live, 3, 9, 60.0)
    live.update_agent(2, lambda s: st.go_ready(s, 70.0))  # idempotent "ready" must not lose its place
    assert live.ready_agents(9)[0] == (2, 40.0)
    change = live.reserve_longest_idle(9, "call-a", 80.0)
    assert change is not None and change.after.agent_id == 2 and change.after.state is AgentState.RESERVED
    assert [a for a, _ in live.ready_agents(9)] == [1, 3]
    assert live.agent(2).call_id == "call-a"


def test_stale_ready_member_is_skipped(redis_client) -> None:
    live = LiveState(redis_client)
    _ready(live, 1, 9, 50.0)
    redis_client.zadd(ready_key(9), {"99": 1.0})  # no hash behind it
    change = live.reserve_longest_idle(9, "c", 60.0)
    assert change is not None and change.after.agent_id == 1
    assert live.reserve_longest_idle(9, "d", 61.0) is None


def test_two_concurrent_reservers_never_get_the_same_agent(redis_url) -> None:
    import redis

    setup = redis.Redis.from_url(redis_url, decode_responses=True)
    setup.flushdb()
    live = LiveState(setup)
    agents = 20
    for i in range(agents):
        _ready(live, i + 1, 5, 100.0 + i)
    results: dict[str, list[int]] = {"a": [], "b": [], "c": []}
    barrier = threading.Barrier(len(results))

    def reserver(name: str) -> None:
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        mine = LiveState(client)
        barrier.wait()
        for n in range(agents):
            change = mine.reserve_longest_idle(5, f"{name}-{n}", 200.0)
            if change is not None:
                results[name].append(change.after.agent_id)
        client.close()

    threads = [threading.Thread(target=reserver, args=(n,)) for n in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    taken = [a for got in results.values() for a in got]
    assert sorted(taken) == list(range(1, agents + 1)), "every agent reserved exactly once"
    for agent_id in range(1, agents + 1):
        snap = live.agent(agent_id)
        assert snap.state is AgentState.RESERVED
        owner = snap.call_id.split("-")[0]
        assert agent_id in results[owner]
    setup.flushdb()
    setup.close()


def test_calls_in_flight_move_between_state_sets(redis_client) -> None:
    live = LiveState(redis_client)
    live.track_call("c1", 4, 77, 10.0)
    assert live.calls_by_state(4)["dialing"] == [("c1", 10.0)]
    assert live.set_call_state("c1", "ringing", 11.0) == "dialing"
    assert live.set_call_state("c1", "waiting", 12.5, score=12.0, answered_at="12.0") == "ringing"
    by = live.calls_by_state(4)
    assert by["dialing"] == [] and by["ringing"] == [] and by["waiting"] == [("c1", 12.0)]
    assert live.call("c1")["answered_at"] == "12.0" and live.call("c1")["lead_id"] == "77"
    assert live.set_call_state("unknown", "ringing", 1.0) is None
    live.forget_call("c1")
    assert not redis_client.exists("pyd:call:c1") and redis_client.zcard(calls_key(4, "waiting")) == 0
    with pytest.raises(ValueError):
        calls_key(4, "flying")


def test_daily_counters_reset_at_utc_midnight(redis_client) -> None:
    live = LiveState(redis_client)
    import time

    day1 = (time.time() // 86400 + 1) * 86400 - 600  # 23:50 UTC today (EXPIREAT must be in the future)
    live.bump(2, day1, dials=3, humans=1)
    live.bump(2, day1 + 1, dials=1)
    assert live.stats(2) == {"dials": 4, "humans": 1}
    assert redis_client.ttl("pyd:campaign:2:stats") > 0
    live.bump(2, day1 + 700, dials=1)  # 00:01 tomorrow
    assert live.stats(2) == {"dials": 1}
