"""Pure parts of the live page: Redis hash parsing, state ordering, the TTL cache, rendering,
login throttling arithmetic."""

from __future__ import annotations

import datetime as dt
import json

import plotly
import pytest

from app.components import live_panels
from app.health import Probe
from app.live import AgentLive, DialingCounts, LiveSnapshot, Names, TtlCache, parse_agent, parse_since, state_counts
from app.throttle import AccountState, after_failure, is_locked

NOW = dt.datetime(2026, 1, 5, 15, 0, tzinfo=dt.UTC)


def as_json(component: object) -> str:
    return json.dumps(component, cls=plotly.utils.PlotlyJSONEncoder, ensure_ascii=False)


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("1767625200", dt.datetime(2026, 1, 5, 15, 0, tzinfo=dt.UTC)),
        ("1767625200.5", dt.datetime(2026, 1, 5, 15, 0, 0, 500000, tzinfo=dt.UTC)),
        ("2026-01-05T15:00:00+00:00", dt.datetime(2026, 1, 5, 15, 0, tzinfo=dt.UTC)),
        ("2026-01-05T15:00:00", None),  # naive: ambiguous, refused
        ("yesterday", None),
        ("", None),
        (None, None),
        ("1e400", None),
    ],
)
def test_parse_since(raw, expected):
    assert parse_since(raw) == expected


def test_parse_agent_is_defensive():
    assert parse_agent("7", {}) is None
    agent = parse_agent("7", {"state": " InCall ", "campaign_id": "12", "since": "1767625200"})
    assert agent == AgentLive("7", "incall", 12, NOW)
    odd = parse_agent("8", {"campaign_id": "x12", "since": "?"})
    assert odd == AgentLive("8", "unknown", None, None)
    assert parse_agent("9", {"state": "s" * 100}).state == "s" * 32


def test_state_counts_known_states_first():
    agents = [AgentLive(str(i), s, None, None) for i, s in enumerate(["paused", "zzz", "ready", "ready", "incall", "aaa"])]
    assert state_counts(agents) == [("ready", 2), ("incall", 1), ("paused", 1), ("aaa", 1), ("zzz", 1)]


def test_ttl_cache_recomputes_only_after_ttl_and_not_after_errors():
    now = [0.0]
    calls = []

    def compute() -> int:
        calls.append(now[0])
        if len(calls) == 2:
            raise RuntimeError("db down")
        return len(calls)

    cache = TtlCache(compute, 5.0, clock=lambda: now[0])
    assert cache.get() == 1 and cache.get() == 1
    now[0] = 4.9
    assert cache.get() == 1
    now[0] = 5.0
    with pytest.raises(RuntimeError):
        cache.get()
    assert cache.get() == 3  # the failure was not cached
    assert calls == [0.0, 5.0, 5.0]


def test_ttl_cache_serves_stale_while_one_caller_refreshes():
    import threading

    now = [0.0]
    release = threading.Event()
    entered = threading.Event()
    values = iter([1, 2])

    def compute() -> int:
        value = next(values)
        if value == 2:
            entered.set()
            release.wait(5)
        return value

    cache = TtlCache(compute, 1.0, clock=lambda: now[0])
    assert cache.get() == 1
    now[0] = 2.0
    refresher = threading.Thread(target=cache.get)
    refresher.start()
    assert entered.wait(5)
    assert cache.get() == 1  # does not wait for the slow refresh
    release.set()
    refresher.join(5)
    assert cache.get() == 2


def snapshot(agents, counts=None) -> LiveSnapshot:
    return LiveSnapshot(
        NOW, agents, counts, Names({"7": "Ada Agent"}, {12: "Solar"}),
        [Probe("postgres", True, 1.2), Probe("redis", False, None, "ConnectionError"), Probe("clickhouse", None, None)],
    )


def test_panels_show_missing_data_as_missing_not_zero():
    snap = snapshot(None, None)
    text = as_json(live_panels.agent_kpis(snap)) + as_json(live_panels.db_kpis(snap))
    assert '"0"' not in text and "\u2014" in text and "Redis" in text and "PostgreSQL" in text
    assert "Redis is unavailable" in as_json(live_panels.state_bar(snap))


def test_panels_render_counts_names_and_durations():
    agents = [AgentLive("7", "incall", 12, NOW - dt.timedelta(seconds=3725)), AgentLive("8", "ready", 99, None)]
    snap = snapshot(agents, DialingCounts(3, 2, 12345, 678, 9))
    kpis = as_json(live_panels.agent_kpis(snap))
    assert '"children": "2", "id": "live-kpi-agents-value"' in kpis
    db = as_json(live_panels.db_kpis(snap))
    assert "2 / 3" in db and "12,345" in db and "678" in db
    table = as_json(live_panels.agents_table(snap))
    assert "Ada Agent" in table and "Solar" in table and "1:02:05" in table
    assert "agent #8" in table and "#99" in table  # unknown name / campaign: shown as ids
    badges = as_json(live_panels.health_badges(snap.health))
    assert "pyd-health-ok" in badges and "Redis: down" in badges and "ClickHouse: not configured" in badges


def test_no_agents_is_said_plainly():
    assert "No agents are signed in" in as_json(live_panels.state_bar(snapshot([])))


@pytest.mark.parametrize("seconds,text", [(None, "\u2014"), (0, "0:00"), (59, "0:59"), (61, "1:01"), (3600, "1:00:00")])
def test_fmt_duration(seconds, text):
    assert live_panels.fmt_duration(seconds) == text


def test_account_lockout_arithmetic():
    state = AccountState(0, None)
    state, locked = after_failure(state, NOW, max_failures=3, lockout_s=60)
    assert (state, locked) == (AccountState(1, None), False)
    state, locked = after_failure(state, NOW, 3, 60)
    state, locked = after_failure(state, NOW, 3, 60)
    assert locked and state == AccountState(0, NOW + dt.timedelta(seconds=60))
    assert is_locked(state.locked_until, NOW + dt.timedelta(seconds=59))
    assert not is_locked(state.locked_until, NOW + dt.timedelta(seconds=60))
    assert not is_locked(None, NOW)
