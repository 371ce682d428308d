"""dialer.hopper.order / select: every lead_order, callbacks first, seeded randomness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.calling_hours import CallingPolicy, Holiday, is_open
from dialer.compliance import CallbackView, CampaignRules, DncEntryView, DncView, LeadView
from dialer.hopper import LEAD_ORDERS, order, select
from dialer.leads_repo import ALL_ZONES, open_zones
from dialer.state_rules import DEFAULT_STATE_RULES

NOW = datetime(2026, 1, 5, 17, 0, tzinfo=UTC)  # 12:00 EST, 09:00 PST
NY, LA, HON = ("America/New_York",), ("America/Los_Angeles",), ("Pacific/Honolulu",)


def lead(i: int, **kw: object) -> LeadView:
    base: dict[str, object] = {"id": i, "list_id": 1, "phone_e164": f"+1212555{i:04d}", "timezones": NY}
    base.update(kw)
    return LeadView(**base)  # type: ignore[arg-type]


def ids(leads: list[LeadView]) -> list[int]:
    return [lead.id for lead in leads]


def test_priority_then_id() -> None:
    leads = [lead(3), lead(1, priority=5), lead(2)]
    assert ids(order(leads, "priority", NOW)) == [1, 2, 3]


def test_new_first() -> None:
    leads = [lead(1, attempts=2), lead(2, attempts=0), lead(3, attempts=1), lead(4, attempts=0)]
    assert ids(order(leads, "new_first", NOW)) == [2, 4, 3, 1]


def test_oldest_last_call_never_called_first() -> None:
    leads = [
        lead(1, last_called_at=NOW - timedelta(hours=1)),
        lead(2, last_called_at=NOW - timedelta(days=3)),
        lead(3),
    ]
    assert ids(order(leads, "oldest_last_call", NOW)) == [3, 2, 1]


def test_random_is_seeded_and_input_order_independent() -> None:
    leads = [lead(i) for i in range(1, 50)]
    first = ids(order(leads, "random", NOW, seed=11))
    assert first == ids(order(list(reversed(leads)), "random", NOW, seed=11))
    assert first != ids(order(leads, "random", NOW, seed=12))
    assert sorted(first) == list(range(1, 50)) and first != sorted(first)


def test_tz_east_to_west_unknown_last() -> None:
    leads = [lead(1, timezones=HON), lead(2, timezones=LA), lead(3, timezones=()), lead(4, timezones=NY)]
    assert ids(order(leads, "tz_east_to_west", NOW)) == [4, 2, 1, 3]


@pytest.mark.parametrize("lead_order", LEAD_ORDERS)
def test_callbacks_first_whatever_the_order(lead_order: str) -> None:
    leads = [lead(1, priority=9), lead(2), lead(3)]
    due = {3: NOW - timedelta(minutes=1), 2: NOW - timedelta(minutes=5)}
    assert ids(order(leads, lead_order, NOW, callback_due=due))[:2] == [2, 3]


def test_unknown_lead_order_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown lead_order"):
        order([lead(1)], "alphabetical", NOW)


def test_select_limits_explains_and_puts_callbacks_first() -> None:
    campaign = CampaignRules(id=1, dial_statuses=frozenset({"NEW"}), active_list_ids=frozenset({1}), lead_order="new_first")
    leads = [
        lead(1),
        lead(2, timezones=HON),  # 07:00 in Honolulu: closed
        lead(3, status="CALLBK", called_since_reset=True),
        lead(4),
        lead(5, list_id=9),
    ]
    dnc = DncView([DncEntryView("+12125550004")])
    callbacks = {3: CallbackView(3, NOW - timedelta(minutes=2))}
    fill = select(leads, campaign, dnc, NOW, limit=5, callbacks=callbacks)
    assert ids(fill.leads) == [3, 1]
    assert fill.summary == {"dialable": 2, "outside_calling_hours": 1, "dnc_global": 1, "list_inactive": 1}
    assert ids(select(leads, campaign, dnc, NOW, limit=1, callbacks=callbacks).leads) == [3]
    assert select(leads, campaign, dnc, NOW, limit=0).leads == []


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 3 * 365 * 24 * 60))
def test_open_zone_sets_used_by_the_sql_agree_with_is_open(minutes: int) -> None:
    """leads_repo turns the window into zone-set membership; it must say what is_open says."""
    now = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    policy = CallingPolicy(state_rules=DEFAULT_STATE_RULES, holidays=(Holiday(7, 4),))
    zones = open_zones(policy, now)
    assert zones.generic == [z for z in ALL_ZONES if is_open(policy, (z,), None, now)]
    for state in ("FL", "TX", "RI"):
        assert zones.by_state[state] == [z for z in ALL_ZONES if is_open(policy, (z,), state, now)]
