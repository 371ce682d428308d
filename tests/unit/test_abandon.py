import pytest

from core.clock import FakeClock
from dialer.abandon import DAY_S, AbandonFigures, AbandonTracker, TickGuard, amd_false_positive_estimate
from dialer.callflow import CallFlow, CallFlowConfig, DropCall
from dialer.pacing.guard import HumanAnswerRate


def test_ftc_rolling_30_days_excludes_older_events() -> None:
    clock = FakeClock()
    t = AbandonTracker()
    start = clock.monotonic()
    for _ in range(100):
        t.record_answer(clock.monotonic())
    t.record_abandon(clock.monotonic())
    t.record_abandon(clock.monotonic())
    assert t.ftc(clock.monotonic()) == AbandonFigures(100, 2)
    clock.advance(29 * DAY_S)
    t.record_answer(clock.monotonic())
    assert t.ftc(clock.monotonic()).answers == 101
    clock.advance(DAY_S)  # the first batch is now exactly 30 days old: out of the window
    fig = t.ftc(clock.monotonic())
    assert fig == AbandonFigures(1, 0)
    assert clock.monotonic() - start == 30 * DAY_S


def test_ofcom_24h_counts_amd_false_positives_as_abandoned_live_calls() -> None:
    t = AbandonTracker()
    for i in range(97):
        t.record_answer(float(i))
    t.record_abandon(100.0)
    t.record_amd_false_positive(101.0)
    t.record_amd_false_positive(102.0)
    fig = t.ofcom(200.0)
    assert fig.rate == pytest.approx(1 / 97)
    assert fig.ofcom_rate == pytest.approx(3 / 99)
    # 25 hours later the 24 h figure is empty but the 30-day one is not.
    assert t.ofcom(200.0 + 25 * 3600).answers == 0
    assert t.ftc(200.0 + 25 * 3600).answers == 97


def test_events_out_of_order_are_refused() -> None:
    t = AbandonTracker()
    t.record_answer(10.0)
    with pytest.raises(ValueError):
        t.record_answer(9.0)


def _guard(answers: int, abandons: int, rate_dials: int = 0, humans: int = 0, **kw: object) -> TickGuard:
    g = TickGuard(0.03, **kw)  # type: ignore[arg-type]
    for i in range(rate_dials):
        g.on_call_result("human" if (i * humans) // rate_dials != ((i + 1) * humans) // rate_dials else "no_answer")
    g.update(AbandonFigures(answers, abandons), 0.0)
    return g


def test_guard_cuts_the_surplus_to_what_the_budget_covers_at_the_observed_answer_rate() -> None:
    # 200 answers, 3 abandons, 3 % target: budget = 6 - 3 = 3 abandons. No dials seen yet: the prior
    # says every surplus call reaches a person, so 3 surplus calls are the most the budget covers.
    g = _guard(200, 3)
    assert g.budget() == pytest.approx(3.0)
    assert g.answer_rate.rate == 1.0
    assert g.decide(5, 2, 0, 0.0) == (5, False)  # surplus 3 ≤ 3
    assert g.decide(6, 2, 0, 0.0) == (5, True)  # surplus 4: cut to 3
    # After 1000 dials at a 25 % human rate the estimate is close to the observed rate (prior: 20 at 100 %)
    g = _guard(200, 3, rate_dials=1000, humans=250)
    assert 0.25 < g.answer_rate.rate < 0.28
    assert g.decide(12, 2, 0, 0.0) == (12, False)  # surplus 10 ≈ 2.6 expected people ≤ 3
    assert g.decide(20, 2, 0, 0.0) == (13, True)  # 3 / 0.27 = 11 surplus calls
    # People already waiting and calls in flight beyond the idle agents spend the budget first.
    assert g.decide(12, 2, 2, 0.0) == (5, True)  # (3 - 2) / 0.27 = 3
    assert g.decide(4, -8, 0, 0.0) == (3, True)  # 8 beyond the idle agents × 0.27 = 2.2: 0.8 left
    assert g.decide(4, -12, 0, 0.0) == (0, True)  # 12 × 0.27 > 3: nothing left
    # Progressive (one line per idle agent) is never cut, even over budget.
    assert _guard(10, 5).decide(2, 2, 0, 0.0) == (2, False)
    assert _guard(10, 5).decide(4, -1, 0, 0.0) == (0, True)


def test_young_campaign_over_dials_after_tens_of_answers_not_hundreds() -> None:
    """With a 20 % answer rate observed, 40 clean answers already allow a few surplus calls."""
    g = _guard(40, 0, rate_dials=200, humans=40)  # budget 1.2, rate (40 + 20) / 220 = 0.27
    assert g.decide(10, 6, 0, 0.0) == (10, False)  # 1.2 / 0.27 = 4 surplus calls allowed
    assert g.decide(12, 6, 0, 0.0) == (10, True)


def test_guard_fails_safe_on_stale_figures_and_validates() -> None:
    g = _guard(10_000, 0, stale_after_s=60.0)
    assert g.decide(8, 2, 0, 60.0) == (8, False)
    assert g.decide(8, 2, 0, 61.0) == (2, True)
    assert TickGuard(0.03).decide(8, 2, 0, 0.0) == (2, True)  # never fed figures
    with pytest.raises(ValueError):
        TickGuard(0.0)
    with pytest.raises(ValueError):
        g.update(AbandonFigures(-1, 0), 0.0)
    with pytest.raises(ValueError):
        g.on_call_result("busy")


def test_guard_with_fake_clock_trips_before_the_rolling_rate_crosses_the_target() -> None:
    """A closed loop over a day: a policy that over-dials too hard, surplus people who find no agent are
    dropped through the call flow's safe-harbor path, and the 30-day tracker feeds the guard.

    The first morning is progressive (clean answers), then the policy asks for 3 surplus calls a tick,
    every 4th of which reaches a person who is dropped. Unguarded that is a 25 % drop rate on the
    surplus: the rolling rate would pass 3 % within the hour. Guarded it must trip while the rate is
    still under 3 %, never let it cross, and let over-dialing resume as clean answers rebuild the budget.
    """
    clock = FakeClock()
    tracker = AbandonTracker()
    guard = TickGuard(0.03, stale_after_s=60.0)
    flow = CallFlow(CallFlowConfig(drop_after_s=2, safe_harbor_audio="sh"))
    clamped_at: float | None = None
    rate_at_trip = None
    allowed_after_trip = 0
    max_rate = 0.0
    surplus_people = 0
    for tick in range(24 * 60):  # one tick a minute
        now = clock.monotonic()
        guard.update(tracker.ftc(now), now)
        proposed = 4 if tick < 120 else 7  # 4 idle agents; from 02:00 three surplus calls a tick
        count, clamped = guard.decide(proposed, 4, 0, now)
        if clamped and clamped_at is None:
            clamped_at, rate_at_trip = now, tracker.ftc(now).rate
        if clamped_at is not None and count > 4:
            allowed_after_trip += 1
        for i in range(count):
            outcome = "human" if i < 4 or (surplus_people := surplus_people + 1) % 4 == 0 else "no_answer"
            guard.on_call_result(outcome)
            if outcome != "human":
                continue
            cid = f"c{tick}-{i}"
            tracker.record_answer(now)
            flow.answered(cid, now)
            if i < 4:
                assert flow.step(now, [(i, now - 5)])  # an idle agent takes it
            else:  # a surplus person: no agent free, dropped with the safe-harbor message after 2 s
                assert flow.step(now + 2, []) == [DropCall(cid, "sh", 2.0)]
                tracker.record_abandon(now)
        max_rate = max(max_rate, tracker.ftc(now).rate)
        clock.advance(60)
    assert clamped_at is not None and clamped_at > 120 * 60  # not clamped from the first call
    assert rate_at_trip is not None and rate_at_trip < 0.03  # it tripped before the rate crossed
    assert max_rate <= 0.03  # and the rate never crossed all day
    assert allowed_after_trip > 0  # clean answers rebuilt the budget: over-dialing resumed
    assert tracker.ftc(clock.monotonic()).abandons > 10  # the surplus really did drop people


def test_amd_false_positive_estimate_and_ofcom_budget() -> None:
    assert amd_false_positive_estimate(99.0, 0.01) == pytest.approx(1.0)
    assert amd_false_positive_estimate(0.0) == 0.0
    with pytest.raises(ValueError):
        amd_false_positive_estimate(10.0, 1.0)
    fig = AbandonFigures(1000, 20, amd_false_positives=5.0)
    assert fig.budget(0.03) == pytest.approx(10.0)
    assert fig.ofcom_budget(0.03) == pytest.approx(0.03 * 1005 - 25)
    g = TickGuard(0.03, count_amd_false_positives=True)
    g.update(fig, 0.0)
    assert g.budget() == pytest.approx(fig.ofcom_budget(0.03))


def test_human_answer_rate_forgets_old_dials() -> None:
    r = HumanAnswerRate(prior_dials=20, prior_rate=1.0, half_life=100)
    for _ in range(2000):
        r.record("no_answer")
    assert r.rate < 0.2  # the prior has been outweighed
    for _ in range(2000):
        r.record("human")
    assert r.rate > 0.95  # a list change is followed within a few half-lives
