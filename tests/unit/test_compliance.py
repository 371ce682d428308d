"""Hand-built cases for dialer.compliance / dialer.calling_hours: one rule at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.calling_hours import (
    CallingPolicy,
    Holiday,
    Window,
    add_calling_seconds,
    calling_time_between,
    is_open,
    next_open,
    open_intervals,
    weekly_from_json,
)
from dialer.compliance import (
    CallbackView,
    CampaignRules,
    Decision,
    DncEntryView,
    DncView,
    LeadView,
    ReasonCode,
    RecycleRule,
    check_lead,
    explain,
    explain_text,
    recheck_at_originate,
)
from dialer.state_rules import DEFAULT_STATE_RULES, rules_from_json

NY = ("America/New_York",)
# Monday 2026-01-05 15:00 UTC = 10:00 EST = 07:00 PST.
MON_10_EST = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
POLICY = CallingPolicy(state_rules=DEFAULT_STATE_RULES)
CAMPAIGN = CampaignRules(
    id=7,
    dial_statuses=frozenset({"NEW", "NA"}),
    max_attempts=5,
    active_list_ids=frozenset({1}),
    recycle_rules={"B": RecycleRule("B", delay_s=3600, max_attempts=3)},
    calling=POLICY,
)


def lead(**kw: object) -> LeadView:
    base: dict[str, object] = {"id": 1, "list_id": 1, "phone_e164": "+12125551234", "timezones": NY}
    base.update(kw)
    return LeadView(**base)  # type: ignore[arg-type]


def test_a_plain_new_lead_inside_hours_is_dialable() -> None:
    assert check_lead(lead(), CAMPAIGN, DncView(), MON_10_EST) == Decision(True)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"list_id": 2}, ReasonCode.LIST_INACTIVE),
        ({"status": "SALE"}, ReasonCode.STATUS_NOT_DIALABLE),
        ({"attempts": 5}, ReasonCode.MAX_ATTEMPTS),
        ({"status": "NA", "called_since_reset": True, "attempts": 1}, ReasonCode.ALREADY_CALLED),
        ({"timezones": ()}, ReasonCode.TIMEZONE_UNKNOWN),
        ({"next_call_at": MON_10_EST + timedelta(minutes=5)}, ReasonCode.RETRY_NOT_DUE),
    ],
)
def test_each_refusal_has_its_reason(changes: dict[str, object], reason: ReasonCode) -> None:
    assert check_lead(lead(**changes), CAMPAIGN, DncView(), MON_10_EST).reason is reason


def test_inactive_campaign_refuses_everything() -> None:
    campaign = CampaignRules(id=7, active=False, active_list_ids=frozenset({1}))
    assert check_lead(lead(), campaign, DncView(), MON_10_EST).reason is ReasonCode.CAMPAIGN_INACTIVE


def test_consent_required_only_when_campaign_says_so() -> None:
    strict = CampaignRules(id=7, active_list_ids=frozenset({1}), require_consent=True)
    assert check_lead(lead(), strict, DncView(), MON_10_EST).reason is ReasonCode.NO_CONSENT
    assert check_lead(lead(consent_call=True), strict, DncView(), MON_10_EST).ok


def test_dnc_global_campaign_other_campaign_and_expiry() -> None:
    phone = "+12125551234"
    assert check_lead(lead(), CAMPAIGN, DncView([DncEntryView(phone)]), MON_10_EST).reason is ReasonCode.DNC_GLOBAL
    assert check_lead(lead(), CAMPAIGN, DncView([DncEntryView(phone, 7)]), MON_10_EST).reason is ReasonCode.DNC_CAMPAIGN
    assert check_lead(lead(), CAMPAIGN, DncView([DncEntryView(phone, 8)]), MON_10_EST).ok
    expired = DncEntryView(phone, None, MON_10_EST - timedelta(seconds=1))
    assert check_lead(lead(), CAMPAIGN, DncView([expired]), MON_10_EST).ok
    expiring_later = DncEntryView(phone, None, MON_10_EST + timedelta(days=1))
    assert not check_lead(lead(), CAMPAIGN, DncView([expiring_later]), MON_10_EST).ok


def test_recheck_at_originate_sees_a_dnc_entry_added_a_second_ago() -> None:
    assert check_lead(lead(), CAMPAIGN, DncView(), MON_10_EST).ok
    fresh = DncView([DncEntryView("+12125551234")])
    later = MON_10_EST + timedelta(seconds=1)
    assert recheck_at_originate(lead(), CAMPAIGN, fresh, later).reason is ReasonCode.DNC_GLOBAL


@pytest.mark.parametrize(
    ("utc", "ok"),
    [
        (datetime(2026, 1, 5, 12, 59, tzinfo=UTC), False),  # 07:59 EST
        (datetime(2026, 1, 5, 13, 0, tzinfo=UTC), True),  # 08:00 EST
        (datetime(2026, 1, 6, 1, 59, tzinfo=UTC), True),  # 20:59 EST
        (datetime(2026, 1, 6, 2, 0, tzinfo=UTC), False),  # 21:00 EST: end is exclusive
        (datetime(2026, 7, 6, 12, 0, tzinfo=UTC), True),  # 08:00 EDT (DST)
        (datetime(2026, 7, 6, 11, 59, tzinfo=UTC), False),
    ],
)
def test_federal_window_edges_in_local_time(utc: datetime, ok: bool) -> None:
    assert check_lead(lead(), CAMPAIGN, DncView(), utc).ok is ok


def test_outside_hours_says_when_it_opens() -> None:
    decision = check_lead(lead(), CAMPAIGN, DncView(), datetime(2026, 1, 5, 3, 0, tzinfo=UTC))
    assert decision.reason is ReasonCode.OUTSIDE_CALLING_HOURS
    assert decision.next_eligible_at == datetime(2026, 1, 5, 13, 0, tzinfo=UTC)


def test_ambiguous_zones_need_every_zone_open() -> None:
    both = lead(timezones=("America/New_York", "America/Los_Angeles"))
    # 10:00 EST is 07:00 PST: New York open, Los Angeles closed.
    decision = check_lead(both, CAMPAIGN, DncView(), MON_10_EST)
    assert decision.reason is ReasonCode.TIMEZONE_AMBIGUOUS_CLOSED
    assert decision.next_eligible_at == datetime(2026, 1, 5, 16, 0, tzinfo=UTC)  # 08:00 PST
    assert check_lead(both, CAMPAIGN, DncView(), datetime(2026, 1, 5, 16, 0, tzinfo=UTC)).ok


def test_state_rules_florida_closes_at_20_and_texas_sunday_noon() -> None:
    at_2030_est = datetime(2026, 1, 6, 1, 30, tzinfo=UTC)
    assert check_lead(lead(), CAMPAIGN, DncView(), at_2030_est).ok
    florida = lead(state="FL")
    assert check_lead(florida, CAMPAIGN, DncView(), at_2030_est).reason is ReasonCode.STATE_RESTRICTION
    texas = lead(state="TX", timezones=("America/Chicago",))
    sunday_11_cst = datetime(2026, 1, 4, 17, 0, tzinfo=UTC)
    assert check_lead(texas, CAMPAIGN, DncView(), sunday_11_cst).reason is ReasonCode.STATE_RESTRICTION
    assert check_lead(texas, CAMPAIGN, DncView(), sunday_11_cst + timedelta(hours=1)).ok


def test_state_holiday_and_campaign_holiday() -> None:
    christmas_noon_cst = datetime(2026, 12, 25, 18, 0, tzinfo=UTC)
    alabama = lead(state="AL", timezones=("America/Chicago",))
    assert check_lead(alabama, CAMPAIGN, DncView(), christmas_noon_cst).reason is ReasonCode.HOLIDAY
    assert check_lead(lead(timezones=("America/Chicago",)), CAMPAIGN, DncView(), christmas_noon_cst).ok
    narrowed = CallingPolicy(holidays=(Holiday(12, 25, window=Window.parse("10:00", "11:00")),))
    campaign = CampaignRules(id=7, active_list_ids=frozenset({1}), calling=narrowed)
    assert check_lead(lead(timezones=("America/Chicago",)), campaign, DncView(), christmas_noon_cst).reason is ReasonCode.HOLIDAY


def test_campaign_weekday_windows_cannot_widen_the_federal_window() -> None:
    weekly = weekly_from_json({"mon": ["06:00", "23:00"], "tue": ["10:00", "12:00"]})
    policy = CallingPolicy(weekly=weekly)
    assert not is_open(policy, NY, None, datetime(2026, 1, 5, 12, 0, tzinfo=UTC))  # Mon 07:00
    assert is_open(policy, NY, None, datetime(2026, 1, 5, 13, 0, tzinfo=UTC))
    assert not is_open(policy, NY, None, datetime(2026, 1, 6, 14, 0, tzinfo=UTC))  # Tue 09:00
    assert not is_open(policy, NY, None, datetime(2026, 1, 7, 16, 0, tzinfo=UTC))  # Wednesday: closed


def test_recycle_delay_counts_calling_hours_only() -> None:
    # Busy at 20:30 EST Monday with a 1 h delay: 30 min tonight + 30 min from Tuesday 08:00.
    last = datetime(2026, 1, 6, 1, 30, tzinfo=UTC)
    busy = lead(status="B", attempts=1, called_since_reset=True, last_called_at=last)
    tuesday_0829 = datetime(2026, 1, 6, 13, 29, tzinfo=UTC)
    decision = check_lead(busy, CAMPAIGN, DncView(), tuesday_0829)
    assert decision.reason is ReasonCode.RECYCLE_DELAY
    assert decision.next_eligible_at == datetime(2026, 1, 6, 13, 30, tzinfo=UTC)
    assert check_lead(busy, CAMPAIGN, DncView(), datetime(2026, 1, 6, 13, 30, tzinfo=UTC)).ok


def test_recycle_maximum() -> None:
    busy = lead(status="B", attempts=3, called_since_reset=True, last_called_at=MON_10_EST - timedelta(days=2))
    assert check_lead(busy, CAMPAIGN, DncView(), MON_10_EST).reason is ReasonCode.RECYCLE_MAX


def test_add_calling_seconds_across_a_weekend_and_dst() -> None:
    policy = CallingPolicy(weekly=weekly_from_json({d: ["09:00", "17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}))
    friday_1630_edt = datetime(2026, 3, 6, 21, 30, tzinfo=UTC)  # EST still (DST starts 2026-03-08)
    # 30 min Friday, weekend closed, DST starts Sunday; Monday 09:00 EDT = 13:00 UTC, +30 min.
    assert add_calling_seconds(policy, NY, None, friday_1630_edt, 3600) == datetime(2026, 3, 9, 13, 30, tzinfo=UTC)


ZONE_CHOICES = [NY, ("America/Los_Angeles",), ("America/New_York", "America/Chicago"), ("Pacific/Honolulu",),
                ("Europe/London",), ("Australia/Lord_Howe",), ("Nowhere/Atlantis",), ()]


@settings(max_examples=300, deadline=None)
@given(
    zones=st.sampled_from(ZONE_CHOICES),
    state=st.sampled_from([None, "TX", "RI", "UT"]),
    now=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)),
    back_s=st.integers(min_value=0, max_value=20 * 86400),
    delay_s=st.integers(min_value=1, max_value=5 * 86400),
)
def test_calling_time_between_agrees_with_add_calling_seconds(
    zones: tuple[str, ...], state: str | None, now: datetime, back_s: int, delay_s: int
) -> None:
    """The hopper's shortcut (open time since the last call >= delay) gives the same verdict as the
    exact eligibility instant, on either side of the 14-day timeline, across DST and state rules."""
    start = now - timedelta(seconds=back_s)
    eligible = add_calling_seconds(POLICY, zones, state, start, delay_s)
    ran = calling_time_between(POLICY, zones, state, start, now) >= timedelta(seconds=delay_s)
    assert ran == (eligible is not None and eligible <= now)
    if eligible is not None and start < eligible < now:  # the instant itself is exactly where the delay completes
        assert calling_time_between(POLICY, zones, state, start, eligible) == timedelta(seconds=delay_s)


def test_open_intervals_intersect_zones() -> None:
    start = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
    intervals = open_intervals(POLICY, ("America/New_York", "America/Los_Angeles"), None, start, start + timedelta(days=1))
    # NY 08-21 EST = 13-02 UTC; LA 08-21 PST = 16-05 UTC -> 16:00-02:00 UTC (Sunday's tail first).
    assert intervals == [
        (datetime(2026, 1, 5, 0, 0, tzinfo=UTC), datetime(2026, 1, 5, 2, 0, tzinfo=UTC)),
        (datetime(2026, 1, 5, 16, 0, tzinfo=UTC), datetime(2026, 1, 6, 0, 0, tzinfo=UTC)),
    ]


def test_next_open_none_when_never_open() -> None:
    closed = CallingPolicy(weekly=(None,) * 7)  # type: ignore[arg-type]
    assert next_open(closed, NY, None, MON_10_EST) is None
    assert next_open(POLICY, (), None, MON_10_EST) is None


def test_callbacks_anyone_agent_and_not_due() -> None:
    done = lead(status="CALLBK", called_since_reset=True, attempts=5)
    due = CallbackView(1, MON_10_EST - timedelta(minutes=1))
    decision = check_lead(done, CAMPAIGN, DncView(), MON_10_EST, callback=due)
    assert decision.ok and decision.is_callback
    later = CallbackView(1, MON_10_EST + timedelta(hours=2))
    assert check_lead(done, CAMPAIGN, DncView(), MON_10_EST, callback=later) == Decision(
        False, ReasonCode.CALLBACK_NOT_DUE, later.due_at
    )
    mine = CallbackView(1, MON_10_EST, scope="agent", agent_id=42)
    assert check_lead(done, CAMPAIGN, DncView(), MON_10_EST, callback=mine).reason is ReasonCode.CALLBACK_OTHER_AGENT
    assert check_lead(done, CAMPAIGN, DncView(), MON_10_EST, callback=mine, agent_id=41).reason is ReasonCode.CALLBACK_OTHER_AGENT
    assert check_lead(done, CAMPAIGN, DncView(), MON_10_EST, callback=mine, agent_id=42).ok
    # A callback never overrides DNC or calling hours.
    dnc = DncView([DncEntryView("+12125551234")])
    assert check_lead(done, CAMPAIGN, dnc, MON_10_EST, callback=due).reason is ReasonCode.DNC_GLOBAL
    night = datetime(2026, 1, 5, 4, 0, tzinfo=UTC)
    assert check_lead(done, CAMPAIGN, DncView(), night, callback=CallbackView(1, night)).reason is ReasonCode.OUTSIDE_CALLING_HOURS


def test_explain_counts_and_text() -> None:
    decisions = [Decision(True)] * 2 + [Decision(False, ReasonCode.OUTSIDE_CALLING_HOURS)] * 31204 + [
        Decision(False, ReasonCode.DNC_GLOBAL)
    ] * 812
    summary = explain(decisions)
    assert summary == {"dialable": 2, "outside_calling_hours": 31204, "dnc_global": 812}
    assert explain_text(summary) == "2 dialable: 31,204 outside calling hours, 812 DNC (global)"
    assert explain_text(explain([])) == "0 dialable"
    assert explain([None, ReasonCode.HOLIDAY]) == {"dialable": 1, "holiday": 1}


def test_bad_configuration_is_a_clear_value_error() -> None:
    with pytest.raises(ValueError, match="invalid window"):
        Window.parse("21:00", "08:00")
    with pytest.raises(ValueError, match="HH:MM"):
        Window.parse("eight", "21:00")
    with pytest.raises(ValueError, match="holiday"):
        rules_from_json([{"state": "ZZ", "holidays": ["xmas"]}])
    rules = rules_from_json([{"state": "zz", "windows": {"mon": ["09:00", "10:00"]}, "holidays": ["12-24", "2026-11-26"]}])
    assert rules["ZZ"].weekly[1] is None and rules["ZZ"].holidays[1].year == 2026


def test_unknown_zone_name_is_treated_as_closed_not_a_crash() -> None:
    weird = lead(timezones=("Mars/Olympus_Mons",))
    assert check_lead(weird, CAMPAIGN, DncView(), MON_10_EST).reason is ReasonCode.OUTSIDE_CALLING_HOURS
