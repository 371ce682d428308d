import numpy as np
import pytest

from core.clock import FakeClock
from dialer.abandon import DAY_S, AbandonFigures, AbandonTracker, TickGuard, amd_false_positive_estimate
from dialer.callflow import CallFlow, CallFlowConfig, DropCall
from dialer.pacing import PacingObservation
from dialer.pacing.guard import HandleTime, HumanAnswerRate, expected_frees, guarded_calls


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


def test_the_answers_the_surplus_brings_widen_the_budget() -> None:
    """Drops may grow to target × (answers + new answers): a surplus of 100 calls at a 27 % answer rate
    brings ~27 answers, so 0.8 more abandons than ``target × answers − abandons`` fit."""
    g = _guard(1000, 20, rate_dials=1000, humans=250)  # budget 30 - 20 = 10; rate ≈ 0.266
    rate = g.answer_rate.rate
    placed, clamped = g.decide(100, 0, 0, 0.0)
    assert clamped
    assert placed * rate <= 10 + 0.03 * placed * rate < (placed + 1) * rate  # the widened bound, exactly
    assert placed > int(10 / rate)  # the old bound (budget alone) allowed fewer


def test_over_the_target_only_calls_that_pull_the_rate_back_down_are_let_out() -> None:
    """Budget −10 (40 abandons in 1000 answers at 3 %): a surplus whose worst case the agents about to
    free cover still goes out, since it adds answers and no abandons; one they do not cover is cut to
    progressive, as is everything while the figures say nothing can free up."""
    g = _guard(1000, 40, rate_dials=1000, humans=250)
    assert g.budget() == pytest.approx(-10.0)
    assert g.decide(6, 2, 0, 0.0, frees=(20.0, 4.0)) == (6, False)  # 20 agents freeing vs ~1 person
    assert g.decide(6, 2, 0, 0.0) == (2, True)  # no agent frees: ~1 worst-case abandon > ½ × 3 % × 1 answer
    assert g.decide(6, 2, 1, 0.0, frees=(1.0, 1.0)) == (2, True)  # a caller waiting, one agent freeing
    # at a budget of 0 the full 3 % per new answer may go to the worst case, over the target only half
    # of it: 1000 answers, 30 or 31 abandons, 200 surplus calls (~54 people) against ~66 agents freeing
    surplus, rate = 200, g.answer_rate.rate
    spread = 2.0 * (surplus * rate + 9.0) ** 0.5  # credit_z × sd of (people − frees), people as Poisson
    frees = (surplus * rate + spread - 0.75 * 0.03 * surplus * rate, 9.0)  # worst case: ¾ of the full allowance
    worst = surplus * rate - frees[0] + spread
    assert 0.5 * 0.03 * surplus * rate < worst <= 0.03 * surplus * rate  # between the two allowances
    assert _guard(1000, 30, rate_dials=1000, humans=250).decide(surplus, 0, 0, 0.0, frees=frees) == (surplus, False)
    placed, clamped = _guard(1000, 31, rate_dials=1000, humans=250).decide(surplus, 0, 0, 0.0, frees=frees)
    assert clamped and 0 < placed < surplus


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


# --- crediting what the calls in flight really are, and the agents who free up -------------------


def _learned(mix: list[tuple[float, str]], repeat: int) -> TickGuard:
    g = TickGuard(0.03)
    for _ in range(repeat):
        for ring, outcome in mix:
            g.on_call_result(outcome, ring)
    return g


def test_ring_mix_a_call_that_has_rung_long_is_rarely_a_person() -> None:
    # people answer at 5 s, machines at 15 s, no-answers at the 25 s timeout: 1 : 1 : 2
    g = _learned([(5.0, "human"), (15.0, "machine"), (25.0, "no_answer"), (25.0, "no_answer")], 100)
    rate = g.answer_rate.rate
    assert 0.25 < rate < 0.3  # the prior (20 dials at 100 %) still weighs a little
    p = g.mix.person_given_age(np.array([0.0, 4.9, 5.1, 20.0, 40.0]), rate)
    assert p[0] == pytest.approx(0.25, abs=0.01)  # not yet rung: the overall share
    assert p[1] == pytest.approx(0.25, abs=0.01)
    assert p[2] < 0.01 and p[3] < 0.01  # past the moment people answer: almost surely not a person
    assert p[4] == pytest.approx(rate)  # beyond anything seen: falls back to the overall rate


def test_ring_mix_waits_for_enough_results() -> None:
    g = _learned([(5.0, "human"), (25.0, "no_answer")], 50)  # 100 results < 200
    assert not g.mix.ready
    assert list(g.mix.person_given_age(np.array([1.0, 20.0]), 0.4)) == [0.4, 0.4]


def test_handle_time_prior_is_slow_and_fades() -> None:
    h = HandleTime(prior_releases=10, prior_s=600, half_life=200)
    assert h.mean_s == 600
    for _ in range(2000):
        h.record(60.0)
    assert h.mean_s == pytest.approx(60.0, rel=0.01)
    with pytest.raises(ValueError):
        h.record(-1.0)


def test_expected_frees_is_memoryless_at_the_larger_of_learned_and_twice_the_elapsed_mean() -> None:
    mean, var = expected_frees([10.0] * 40, 20.0, 60.0)
    p = 1 - np.exp(-20 / 60)
    assert mean == pytest.approx(40 * p) and var == pytest.approx(40 * p * (1 - p))
    # agents stuck for 10 minutes while the learned mean says a minute: credit shrinks on its own
    stuck, _ = expected_frees([600.0] * 40, 20.0, 60.0)
    assert stuck == pytest.approx(40 * (1 - np.exp(-20 / 1200)))
    assert expected_frees([], 20.0, 60.0) == (0.0, 0.0)
    assert expected_frees([10.0], float("inf"), 60.0) == (0.0, 0.0)


def test_credited_exposure_is_never_above_the_no_free_up_figure() -> None:
    g = _guard(2000, 50)  # budget 10
    no_credit = g.exposure(0, -30, 0, 30)
    assert no_credit == pytest.approx(30.0)  # prior: every call beyond the idle agents is a person
    people = (6.0, 5.0, 0)  # 6 expected people among the calls in flight
    assert g.exposure(0, -30, 0, None, (0.0, 0.0), people) == pytest.approx(6.0)
    credited = g.exposure(0, -30, 0, None, (12.0, 8.0), people)  # 12 agents expected to free
    assert credited == pytest.approx(max(0.0, 6.0 - 12.0 + 2.0 * np.sqrt(5.0 + 8.0)))
    assert g.exposure(0, -30, 0, None, (1.0, 0.9), people) == pytest.approx(6.0)  # capped at no-credit


def test_guarded_calls_credits_frees_and_tells_the_policy_it_clamped() -> None:
    """End to end through guarded_calls: with the mix learned, a policy asking for many calls is cut
    to what the budget covers and hears ``on_guard_clamp``; with a fat budget it is not cut."""

    class Asker:
        name = "asker"
        last_decision = None

        def __init__(self, n: int) -> None:
            self.n = n
            self.clamped_at: list[float] = []

        def calls_to_place(self, obs: PacingObservation) -> int:
            return self.n

        def on_guard_clamp(self, now: float) -> None:
            self.clamped_at.append(now)

    mix = [(6.0, "human"), (16.0, "machine"), (25.0, "no_answer"), (25.0, "no_answer"), (2.0, "failed")]
    obs = PacingObservation(now=100.0, agents_logged_in=40, agents_idle=0, busy_elapsed_s=[30.0] * 40,
                            ringing_elapsed_s=[1.0] * 10 + [18.0] * 30, calls_waiting=0)
    for answers, abandons, expect_cut in ((1000, 24, True), (100_000, 0, False)):
        g = _learned(mix, 60)
        for _ in range(300):
            g.on_agent_released(60.0)
        g.update(AbandonFigures(answers, abandons), 100.0)
        policy = Asker(30)
        placed, clamped = guarded_calls(policy, obs, g)
        assert clamped is expect_cut
        assert policy.clamped_at == ([100.0] if expect_cut else [])
        if expect_cut:
            assert 0 < placed < 30
            # only the 10 young calls can still be people (18 s is past when people answer here)
            frees = expected_frees(obs.busy_elapsed_s, g.ring.horizon_s + g.drop_after_s, g.handle.mean_s)
            p = g.mix.person_given_age(np.array([1.0] * 10), g.answer_rate.rate)
            people = (float(p.sum()), float((p * (1 - p)).sum()), 0)
            # the budget grows by target × the answers these calls are expected to bring
            allowed = [g.budget() + 0.03 * (people[0] + n * g.answer_rate.rate) for n in (placed, placed + 1)]
            assert g.exposure(placed, -40, 0, None, frees, people) <= allowed[0]
            assert g.exposure(placed + 1, -40, 0, None, frees, people) > allowed[1]
            assert g.exposure(placed, -40, 0, None, frees, people) > g.budget()  # the old bound would cut more
        else:
            assert placed == 30
