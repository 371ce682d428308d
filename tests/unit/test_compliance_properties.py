"""Hypothesis: over random leads, clocks, zones, DNC lists and callbacks, the hopper never hands out
a lead it must not call. The oracles below re-derive each rule directly (minute stepping, raw DNC
rows), independently of dialer.calling_hours' interval arithmetic."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialer.calling_hours import CallingPolicy, Window
from dialer.compliance import (
    MAX_CALL_S,
    CallbackView,
    CampaignRules,
    DncEntryView,
    DncView,
    LeadView,
    ReasonCode,
    RecycleRule,
    check_lead,
    recheck_at_originate,
)
from dialer.hopper import select
from dialer.state_rules import DEFAULT_STATE_RULES

ZONES = (
    "America/New_York", "America/Chicago", "America/Denver", "America/Phoenix", "America/Los_Angeles",
    "America/Anchorage", "Pacific/Honolulu", "Europe/London", "Asia/Kolkata", "Australia/Lord_Howe",
)
STATES = (None, "FL", "TX", "RI", "AL", "CA", "UT")
STATUSES = ("NEW", "NA", "B", "SALE", "CALLBK")
START = datetime(2025, 1, 1, tzinfo=UTC)

US_ZONES = ZONES[:5]
# Skewed so that most examples hand leads out: US afternoons, mostly wide windows, mostly US zones.
days = st.integers(min_value=0, max_value=3 * 365)
minute_of_day = st.one_of(st.integers(13 * 60, 26 * 60), st.integers(0, 1439))
windows = st.one_of(
    st.just(Window(480, 1260)),
    st.just(Window(480, 1260)),
    st.none(),
    st.tuples(st.integers(0, 1380), st.integers(30, 600)).map(lambda t: Window(t[0], min(1440, t[0] + t[1]))),
)
zone_sets = st.one_of(
    st.sampled_from(US_ZONES).map(lambda z: (z,)),
    st.sets(st.sampled_from(US_ZONES), min_size=1, max_size=2).map(tuple),
    st.sets(st.sampled_from(ZONES), max_size=3).map(tuple),
)


@st.composite
def campaigns(draw: st.DrawFn) -> CampaignRules:
    weekly = tuple(draw(windows) for _ in range(7))
    return CampaignRules(
        id=1,
        dial_statuses=frozenset({"NEW", "NA"} | draw(st.sets(st.sampled_from(STATUSES)))),
        max_attempts=draw(st.integers(2, 6)),
        active_list_ids=frozenset({1}),
        recycle_rules={
            s: RecycleRule(s, delay_s=draw(st.integers(1, 240)) * 60, max_attempts=draw(st.integers(1, 5)))
            for s in draw(st.sets(st.sampled_from(("NA", "B")), min_size=1, max_size=2))
        },
        calling=CallingPolicy(weekly=weekly, state_rules=DEFAULT_STATE_RULES),  # type: ignore[arg-type]
        lead_order=draw(st.sampled_from(("priority", "new_first", "oldest_last_call", "random", "tz_east_to_west"))),
    )


@st.composite
def scenario(draw: st.DrawFn) -> tuple:
    now = START + timedelta(days=draw(days), minutes=draw(minute_of_day))
    n = draw(st.integers(1, 12))
    leads = []
    for i in range(n):
        called = draw(st.booleans())
        leads.append(
            LeadView(
                id=i + 1,
                list_id=draw(st.sampled_from((1,) * 9 + (2,))),
                phone_e164=f"+1212555{i:04d}",
                status=draw(st.sampled_from(STATUSES + ("NEW", "NA", "B"))),
                attempts=draw(st.sampled_from((0, 0, 1, 1, 2, 3, 6))),
                timezones=draw(zone_sets),
                state=draw(st.sampled_from(STATES)),
                last_called_at=now - timedelta(minutes=draw(st.integers(1, 36 * 60))) if called else None,
                called_since_reset=called,
                priority=draw(st.integers(0, 3)),
            )
        )
    dnc = [
        DncEntryView(
            leads[draw(st.integers(0, n - 1))].phone_e164,
            draw(st.sampled_from((None, 1, 2))),
            draw(st.sampled_from((None, now - timedelta(minutes=1), now + timedelta(minutes=1)))),
        )
        for _ in range(draw(st.integers(0, n)))
    ]
    callbacks = {}
    for lead in leads:
        if draw(st.integers(0, 3)) == 0:
            callbacks[lead.id] = CallbackView(
                lead.id, now + timedelta(minutes=draw(st.integers(-600, 600))), draw(st.sampled_from(("anyone", "agent"))), 9
            )
    return draw(campaigns()), leads, dnc, callbacks, now


def window_for(campaign: CampaignRules, state: str | None, local: datetime) -> Window | None:
    """Oracle: federal 08-21, campaign weekday window, state weekday window, state holidays."""
    window: Window | None = Window(480, 1260)
    for layer in (campaign.calling.weekly[local.weekday()],):
        window = window.intersect(layer) if window else None
    rule = DEFAULT_STATE_RULES.get(state or "")
    if rule is not None and window is not None:
        window = window.intersect(rule.weekly[local.weekday()])
        if any(h.month == local.month and h.day == local.day for h in rule.holidays):
            window = None
    return window


def open_at(campaign: CampaignRules, lead: LeadView, instant: datetime) -> bool:
    if not lead.timezones:
        return False
    for name in lead.timezones:
        local = instant.astimezone(ZoneInfo(name))
        window = window_for(campaign, lead.state, local)
        if window is None or not window.start <= local.hour * 60 + local.minute < window.end:
            return False
    return True


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_no_lead_handed_out_that_must_not_be_called(case: tuple) -> None:
    campaign, leads, dnc_rows, callbacks, now = case
    fill = select(leads, campaign, DncView(dnc_rows), now, limit=100, callbacks=callbacks)
    assert sum(fill.summary.values()) == len(leads)
    assert fill.summary["dialable"] == len(fill.leads)
    for lead in fill.leads:
        cb = callbacks.get(lead.id)
        assert lead.list_id == 1
        # DNC: no active global or same-campaign entry, whatever the callback says.
        assert not any(
            d.phone_e164 == lead.phone_e164 and d.campaign_id in (None, 1) and (d.expires_at is None or d.expires_at > now)
            for d in dnc_rows
        )
        # Every candidate zone inside its window (independent oracle).
        assert open_at(campaign, lead, now), (lead, now)
        if cb is not None:
            assert cb.scope == "anyone" and cb.due_at <= now
            continue
        assert lead.attempts < (campaign.max_attempts or 10**9)
        rule = campaign.recycle_rules.get(lead.status)
        if lead.called_since_reset:
            assert rule is not None and lead.attempts < rule.max_attempts
            # The recycle delay counted in calling minutes, by stepping minute by minute.
            assert lead.last_called_at is not None
            open_minutes, t = 0, lead.last_called_at
            while t < now:
                open_minutes += open_at(campaign, lead, t)
                t += timedelta(minutes=1)
            assert open_minutes * 60 >= rule.delay_s, (open_minutes, rule.delay_s)
        else:
            assert lead.status in campaign.dial_statuses


@settings(max_examples=80, deadline=None)
@given(scenario())
def test_due_callbacks_come_out_first_and_on_time(case: tuple) -> None:
    campaign, leads, dnc_rows, callbacks, now = case
    fill = select(leads, campaign, DncView(dnc_rows), now, limit=100, callbacks=callbacks)
    handed = [lead.id for lead in fill.leads]
    flags = [fill.decisions[i].is_callback for i in handed]
    assert flags == sorted(flags, reverse=True), "callbacks precede every other lead"
    dnc = DncView(dnc_rows)
    for lead in leads:
        cb = callbacks.get(lead.id)
        if cb is None:
            continue
        served = lead.last_called_at is not None and lead.last_called_at >= cb.due_at
        if cb.scope == "agent" or cb.due_at > now or served:
            assert lead.id not in handed, "agent-only, not due, or already served by a dial at/after its time"
        elif lead.list_id == 1 and dnc.hit(lead.phone_e164, 1, now) is None and open_at(campaign, lead, now):
            # Past max attempts too: the called party asked for this call (VICIdial hoppers ANYONE callbacks
            # past call_count_limit).
            assert lead.id in handed, "a due, callable 'anyone' callback is handed out"


@settings(max_examples=40, deadline=None)
@given(scenario(), st.integers(1, 5))
def test_limit_and_order_are_stable(case: tuple, limit: int) -> None:
    campaign, leads, dnc_rows, callbacks, now = case
    full = select(leads, campaign, DncView(dnc_rows), now, limit=100, callbacks=callbacks, seed=3)
    part = select(list(reversed(leads)), campaign, DncView(dnc_rows), now, limit=limit, callbacks=callbacks, seed=3)
    assert [lead.id for lead in part.leads] == [lead.id for lead in full.leads][:limit]


def _dialled(lead: LeadView, at: datetime) -> LeadView:
    """The lead as the claim leaves it (dialer.loop_leads._mark_dialled), its call still in flight."""
    return replace(lead, attempts=lead.attempts + 1, last_called_at=at, called_since_reset=True, in_flight_since=at)


@settings(max_examples=80, deadline=None)
@given(scenario(), st.lists(st.one_of(st.integers(1, 120), st.integers(0, MAX_CALL_S + 3600)), min_size=1, max_size=6),
       st.booleans())
def test_a_handed_out_lead_is_never_handed_out_again_for_the_same_callback_or_while_in_flight(
    case: tuple, later_s: list[int], call_ended: bool,
) -> None:
    """The double-dial bug: after the claim, the lead is refused while its call is in flight, and a
    callback it was dialled for is never dialled again -- even if its row were still pending."""
    campaign, leads, dnc_rows, callbacks, now = case
    dnc = DncView(dnc_rows)
    fill = select(leads, campaign, dnc, now, limit=100, callbacks=callbacks)
    for lead in fill.leads:
        after = _dialled(lead, now)
        cb = callbacks.get(lead.id)
        for offset in sorted(later_s):
            t = now + timedelta(seconds=offset)
            ended = call_ended and offset > 0
            view = replace(after, in_flight_since=None) if ended else after
            decision = check_lead(view, campaign, dnc, t, callback=cb)
            if not ended and offset < MAX_CALL_S:
                assert decision.reason is ReasonCode.CALL_IN_FLIGHT, (offset, decision)
            elif cb is not None and cb.active:
                # The callback row left pending (a claimer that read it before our commit): still refused.
                assert not decision.ok and decision.reason in (
                    ReasonCode.CALLBACK_ALREADY_DIALED, ReasonCode.CALLBACK_OTHER_AGENT), decision


@settings(max_examples=60, deadline=None)
@given(scenario(), st.lists(st.tuples(st.integers(0, 11), st.sampled_from((None, 1, 2)), st.booleans(),
                                      st.integers(1, 240)), max_size=12))
def test_dnc_changes_over_time_are_honoured_at_every_instant_and_at_originate(case: tuple, changes: list) -> None:
    """DNC entries are added (and expire) while the day goes on: at every instant nothing handed out
    is on an active entry, and a lead handed out a moment before an entry was added is refused at
    originate (the second check)."""
    campaign, leads, dnc_rows, callbacks, now = case
    rows = list(dnc_rows)
    t = now
    for index, scope, expires, minutes in changes:
        t = t + timedelta(minutes=minutes)
        before = select(leads, campaign, DncView(rows), t, limit=100, callbacks=callbacks)
        phone = leads[index % len(leads)].phone_e164
        added = DncEntryView(phone, scope, t + timedelta(minutes=minutes) if expires else None)
        rows.append(added)
        view = DncView(rows)
        moment = t + timedelta(seconds=1)
        for lead in before.leads:
            decision = recheck_at_originate(lead, campaign, view, moment, callback=callbacks.get(lead.id))
            if lead.phone_e164 == phone and scope in (None, 1):
                assert decision.reason in (ReasonCode.DNC_GLOBAL, ReasonCode.DNC_CAMPAIGN), decision
        for lead in select(leads, campaign, view, moment, limit=100, callbacks=callbacks).leads:
            assert not any(d.phone_e164 == lead.phone_e164 and d.campaign_id in (None, 1) and d.active(moment)
                           for d in rows), lead
