"""Hypothesis: over random leads, clocks, zones, DNC lists and callbacks, the hopper never hands out
a lead it must not call. The oracles below re-derive each rule directly (minute stepping, raw DNC
rows), independently of dialer.calling_hours' interval arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialer.calling_hours import CallingPolicy, Window
from dialer.compliance import CallbackView, CampaignRules, DncEntryView, DncView, LeadView, RecycleRule
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
        if cb.scope == "agent" or cb.due_at > now:
            assert lead.id not in handed
        elif lead.list_id == 1 and dnc.hit(lead.phone_e164, 1, now) is None and open_at(campaign, lead, now):
            assert lead.id in handed, "a due, callable 'anyone' callback is handed out"


@settings(max_examples=40, deadline=None)
@given(scenario(), st.integers(1, 5))
def test_limit_and_order_are_stable(case: tuple, limit: int) -> None:
    campaign, leads, dnc_rows, callbacks, now = case
    full = select(leads, campaign, DncView(dnc_rows), now, limit=100, callbacks=callbacks, seed=3)
    part = select(list(reversed(leads)), campaign, DncView(dnc_rows), now, limit=limit, callbacks=callbacks, seed=3)
    assert [lead.id for lead in part.leads] == [lead.id for lead in full.leads][:limit]
