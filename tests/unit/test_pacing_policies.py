"""Pacing policies on hand-built observations: progressive, ratio, vicidial-adapt, predictive, the contract."""

from __future__ import annotations

import random

import numpy as np
import pytest

from dialer.pacing import PacingDecision, PacingObservation, PacingPolicy, make_policy
from dialer.pacing.vicidial import hhmm_left, next_level, shape_intensity

SETTINGS = {"target_abandon_rate": 0.03, "dial_timeout_s": 25.0, "drop_after_s": 2.0}


def obs(now=0.0, logged=10, idle=0, busy=(), ringing=(), waiting=0) -> PacingObservation:
    return PacingObservation(now, logged, idle, tuple(busy), tuple(ringing), waiting)


# ---------------------------------------------------------------- contract


@pytest.mark.parametrize("name", ["progressive", "ratio", "vicidial-adapt", "predictive"])
def test_every_policy_honours_the_contract(name: str) -> None:
    policy = make_policy(name, **SETTINGS, max_lines_per_agent=3.0)
    assert isinstance(policy, PacingPolicy)
    n = policy.calls_to_place(obs(logged=4, idle=4))
    assert 0 <= n <= 12  # the lines-per-agent setting caps every policy
    assert isinstance(policy.last_decision, PacingDecision)
    assert policy.last_decision.count == n
    policy.on_call_result(1.0, "human", 1.0)
    policy.on_abandon(2.0)
    policy.on_agent_released(3.0, 100.0, False)
    with pytest.raises(ValueError, match="unknown call outcome"):
        policy.on_call_result(4.0, "busy", 1.0)


def test_make_policy_rejects_unknown_names_and_settings() -> None:
    with pytest.raises(ValueError, match="unknown pacing policy"):
        make_policy("turbo")
    with pytest.raises(ValueError, match="bad settings"):
        make_policy("predictive", warp_factor=9)
    with pytest.raises(ValueError, match="variant"):
        make_policy("vicidial-adapt", variant="bogus")
    for bad in ({"burst_risk": 0.0}, {"window_future_share": 1.5}, {"window_margin": -1.0}, {"window_cap": 0.0}):
        with pytest.raises(ValueError, match="window|burst"):
            make_policy("predictive", **bad)
    with pytest.raises(ValueError):
        PacingObservation(0.0, 5, -1)


# ---------------------------------------------------------------- progressive and ratio


def test_progressive_is_idle_agents_minus_calls_in_flight() -> None:
    p = make_policy("progressive")
    assert p.calls_to_place(obs(idle=6, ringing=(1.0, 2.0))) == 4
    assert p.calls_to_place(obs(idle=2, ringing=(1.0, 2.0, 3.0))) == 0  # never negative
    assert p.calls_to_place(obs(idle=0, busy=(5.0,) * 10, waiting=2)) == 0
    assert p.last_decision is not None and p.last_decision.raw_count == -2


def test_ratio_counts_idle_agents_by_default_and_busy_ones_on_request() -> None:
    assert make_policy("ratio", ratio=2.0).calls_to_place(obs(idle=5, ringing=(1.0,) * 3)) == 7
    vici_style = make_policy("ratio", ratio=2.0, count_busy=True)
    # VICIdial worked example (§1.7): level 2, 10 agents all talking -> 10 new calls
    assert vici_style.calls_to_place(obs(idle=0, busy=(30.0,) * 10)) == 10
    with pytest.raises(ValueError):
        make_policy("ratio", ratio=0.5)


# ---------------------------------------------------------------- vicidial-adapt math (§1.6)


def test_level_update_is_proportional_to_idle_minus_waiting_per_agent() -> None:
    assert next_level(1.0, 5, 0, 50) == pytest.approx(1.1)  # p = +10 %
    assert next_level(2.0, 0, 5, 50) == pytest.approx(1.8)  # p = −10 %
    assert next_level(2.0, 3, 3, 50) == 2.0  # e = 0: no change
    assert next_level(2.9, 50, 0, 50) == 3.0  # clamp to adaptive_maximum_level
    assert next_level(1.05, 0, 10, 50) == 1.0  # floor 1.0
    assert next_level(2.0, 2, 0, 50, dl_diff_target=-2) == 2.0  # satisfied with two idle agents


def test_intensity_shaping_is_asymmetric() -> None:
    assert shape_intensity(10.0, 20) == pytest.approx(12.0)
    assert shape_intensity(-10.0, 20) == pytest.approx(-8.0)
    assert shape_intensity(-10.0, -20) == pytest.approx(-12.0)
    assert next_level(1.0, 5, 0, 50, intensity=20) == pytest.approx(1.12)
    assert next_level(2.0, 0, 5, 50, intensity=20) == pytest.approx(1.84)


def test_short_term_and_daily_drop_caps() -> None:
    assert next_level(2.0, 0, 0, 50, calls_last_min=30, drops_last_min=16) == pytest.approx(1.0)
    assert next_level(2.8, 0, 0, 50, calls_last_min=30, drops_last_min=15) == pytest.approx(2.8)  # not > 50 %
    over = {"calls_today": 51, "drop_pct_today": 3.5, "drop_limit_pct": 3.0}
    assert next_level(2.5, 0, 0, 50, variant="hard_limit", **over) == 1.0
    assert next_level(2.5, 0, 0, 50, variant="average", **over) == pytest.approx(1.25)
    assert next_level(2.5, 0, 0, 50, variant="hard_limit", calls_today=50, drop_pct_today=9.0) == 2.5  # ≤ 50 calls
    # TAPERED: HHMM integers, not minutes: 2100 − 1745 = 355 -> × 0.355 (floored at 1.0)
    assert hhmm_left(2100, 1745) == 355
    assert next_level(2.5, 0, 0, 50, variant="tapered", now_hhmm=1745, **over) == pytest.approx(1.0)
    assert next_level(2.9, 0, 0, 50, variant="tapered", latest_hhmm=2100, now_hhmm=1500, **over) == pytest.approx(
        2.9 * 0.6
    )
    assert next_level(2.5, 0, 0, 50, variant="tapered", now_hhmm=900, **over) == 2.5  # ≥ 10 "hours" left
    assert next_level(2.5, 0, 0, 50, variant="tapered", now_hhmm=2130, **over) == 1.0  # past the end time


def test_vicidial_policy_dials_every_2_5_s_and_busy_agents_earn_lines() -> None:
    p = make_policy("vicidial-adapt", initial_level=2.0)
    # all 10 agents talking, nothing ringing: goal = round(2 × 10) − 10 calls in progress = 10
    assert p.calls_to_place(obs(now=0.0, idle=0, busy=(30.0,) * 10)) == 10
    assert p.calls_to_place(obs(now=1.0, idle=0, busy=(30.0,) * 10)) == 0  # between dialer ticks
    assert p.last_decision is not None and p.last_decision.capped_by == "tick"
    ringing = (1.0,) * 10
    assert p.calls_to_place(obs(now=2.5, idle=0, busy=(30.0,) * 10, ringing=ringing)) == 0
    assert p.calls_to_place(obs(now=5.0, idle=2, busy=(30.0,) * 8, ringing=(1.0,) * 5)) == 7


def test_vicidial_policy_averages_15_samples_and_updates_every_15_s() -> None:
    p = make_policy("vicidial-adapt")
    for t in range(15):  # 15 one-second samples of 5 idle out of 50: +10 % per update
        p.calls_to_place(obs(now=float(t), logged=50, idle=5, busy=(10.0,) * 45))
    assert p.level == pytest.approx(1.1)  # first update at t=0 (one sample), next at t=15
    p.calls_to_place(obs(now=15.0, logged=50, idle=5, busy=(10.0,) * 45))
    assert p.level == pytest.approx(1.21)
    for t in range(16, 30):  # samples now 0 idle, 5 waiting: the 15-sample mean moves gradually
        p.calls_to_place(obs(now=float(t), logged=50, idle=0, busy=(10.0,) * 50, waiting=5))
    p.calls_to_place(obs(now=30.0, logged=50, idle=0, busy=(10.0,) * 50, waiting=5))
    assert list(p.samples) == [(0, 5, 50)] * 15  # the window holds exactly the last 15 one-second samples
    # mean idle 0, mean waiting 5 of 50 agents: −10 % (VICIDIAL.md §1.6), from 1.21, not clamped at 1.0
    assert p.level == pytest.approx(1.21 * (1 - 0.1), rel=1e-9)
    assert p.level > 1.0


def test_vicidial_daily_drop_percentage_resets_at_local_midnight() -> None:
    p = make_policy("vicidial-adapt", variant="hard_limit", initial_level=3.0, start_hhmm=2330)
    for i in range(60):
        p.on_call_result(float(i), "human", 5.0)
        p.on_abandon(float(i))
    p.calls_today = 60
    p.calls_to_place(obs(now=61.0, logged=50, idle=25, busy=(10.0,) * 25))
    assert p.level == 1.0  # 100 % drops today: hard limit
    assert p.drops_today == 60
    p.calls_to_place(obs(now=1900.0, logged=50, idle=25, busy=(10.0,) * 25))  # 00:01:40 local
    assert p.drops_today == 0 and p.answers_today == 0


# ---------------------------------------------------------------- predictive


def _trained(answer_p: float, seed: int = 1) -> PacingPolicy:
    """A predictive policy fed 20 minutes of synthetic results: 8 s rings, 120 s handle times."""
    rng = random.Random(seed)
    p = make_policy("predictive", **SETTINGS)
    t = 0.0
    for _ in range(4000):
        t += 0.3
        u = rng.random()
        if u < answer_p:
            p.on_call_result(t, "human", rng.uniform(4.0, 12.0))
        elif u < answer_p + 0.25:
            p.on_call_result(t, "machine", rng.uniform(12.0, 22.0))
        elif u < answer_p + 0.35:
            p.on_call_result(t, "failed", rng.uniform(1.0, 4.0))
        else:
            p.on_call_result(t, "no_answer", 25.0)
        if rng.random() < 0.1:
            p.on_agent_released(t, rng.uniform(60.0, 180.0), False)
    p._now0 = t + 30.0  # type: ignore[attr-defined]
    return p


def test_predictive_learns_the_answer_rate_from_matured_dials() -> None:
    p = _trained(0.2)
    p.calls_to_place(obs(now=p._now0, logged=10, idle=10))  # type: ignore[attr-defined]
    assert p.last_decision is not None
    assert p.last_decision.estimates["answer_rate"] == pytest.approx(0.2, abs=0.03)


def test_predictive_places_nothing_when_calls_wait_and_no_agent_will_free() -> None:
    p = _trained(0.2)
    now = p._now0  # type: ignore[attr-defined]
    n = p.calls_to_place(obs(now=now, logged=10, idle=0, busy=(1.0,) * 10, ringing=(3.0,) * 5, waiting=2))
    assert n == 0
    assert p.last_decision is not None and p.last_decision.estimates["est_abandon"] > p.threshold


def test_predictive_dials_more_when_answer_rate_is_low() -> None:
    low, high = _trained(0.08), _trained(0.35)
    view = {"logged": 10, "idle": 4, "busy": (200.0,) * 6}
    n_low = low.calls_to_place(obs(now=low._now0, **view))  # type: ignore[attr-defined]
    n_high = high.calls_to_place(obs(now=high._now0, **view))  # type: ignore[attr-defined]
    assert n_low > n_high >= 4  # at least one call per idle agent when nothing is in flight


def test_predictive_never_returns_a_negative_count() -> None:
    p = _trained(0.2)
    rng = random.Random(7)
    now = p._now0  # type: ignore[attr-defined]
    for _ in range(300):
        now += rng.uniform(0.0, 2.0)
        logged = rng.randint(0, 60)
        idle = rng.randint(0, logged)
        waiting = 0 if idle else rng.randint(0, 5)
        view = obs(
            now=now,
            logged=logged,
            idle=idle,
            busy=[rng.uniform(0, 600) for _ in range(logged - idle)],
            ringing=[rng.uniform(0, 25) for _ in range(rng.randint(0, 3 * logged + 1))],
            waiting=waiting,
        )
        assert p.calls_to_place(view) >= 0


def test_predictive_threshold_follows_abandons() -> None:
    p = make_policy("predictive", **SETTINGS)
    start = p.threshold
    for i in range(5):
        p.on_abandon(float(i))
    assert p.threshold < start
    for i in range(2000):
        p.on_call_result(10.0 + i, "human", 8.0)
    assert p.threshold > start * 0.5


def test_predictive_starting_threshold_scales_with_the_abandon_target() -> None:
    """θ is a per-call loss probability: a campaign held to 1 % starts at a third of the 3 % campaign's θ,
    and its ceiling while the models learn is a third too, so a young campaign places fewer calls."""
    view = obs(logged=10, idle=8, busy=(30.0,) * 2, ringing=(2.0,) * 6)
    placed, used = {}, {}
    for target in (0.03, 0.01, 0.003):
        p = make_policy("predictive", **{**SETTINGS, "target_abandon_rate": target})
        assert p.threshold == pytest.approx(0.01 * target / 0.03)
        placed[target] = p.calls_to_place(view)
        assert p.last_decision is not None
        used[target] = p.last_decision.estimates["threshold"]
    assert used == pytest.approx({0.03: 0.005, 0.01: 0.005 / 3, 0.003: 0.0005})
    assert placed[0.03] > placed[0.01] > placed[0.003] >= 0
    explicit = make_policy("predictive", **SETTINGS, initial_threshold=0.02)
    assert explicit.threshold == pytest.approx(0.02)
    with pytest.raises(ValueError, match="initial_threshold"):
        make_policy("predictive", **SETTINGS, initial_threshold=0.0)


def test_predictive_threshold_does_not_wind_up_while_a_guard_holds_dialing_back() -> None:
    """Answers that arrive while the outer guard clamps were not paced by θ: they must not raise it
    (``on_guard_clamp`` holds the upward steering for HOLD_S), abandons still lower it, and once
    the hold lapses answers credit the allowance again."""
    from dialer.pacing.predictive import HOLD_S

    held, free = make_policy("predictive", **SETTINGS), make_policy("predictive", **SETTINGS)
    start = held.threshold
    held.on_guard_clamp(100.0)
    for t in np.arange(100.0, 100.0 + HOLD_S, 0.5):
        held.on_call_result(float(t), "human", 8.0)
        free.on_call_result(float(t), "human", 8.0)
    assert held.threshold == start
    assert free.threshold > start
    held.on_abandon(100.0 + HOLD_S - 1)
    assert held.threshold < start
    low = held.threshold
    held.on_call_result(100.0 + HOLD_S + 1, "human", 8.0)
    assert held.threshold > low


def test_amd_evidence_reserves_a_false_positive_allowance() -> None:
    p = make_policy("predictive", **SETTINGS)
    before = p.internal_target()
    p.on_agent_released(5.0, 6.0, True)  # an unscreened machine reached an agent: AMD is in use
    assert p.internal_target() == pytest.approx(before - 0.01)
    assert 0.015 < before < 0.03
    explicit = make_policy("predictive", **SETTINGS, amd_false_positive_rate=0.0)
    explicit.on_agent_released(5.0, 6.0, True)
    assert explicit.internal_target() == pytest.approx(before)


def test_a_machine_an_agent_heard_gives_back_its_false_positive_allowance() -> None:
    """The allowance is reserved on the live answers AMD passed: a "human" verdict an agent found to be
    a machine (a ``machine`` release) was none, so its share comes back and θ steps up by it."""
    p = make_policy("predictive", **SETTINGS)
    no_amd = make_policy("predictive", **SETTINGS)
    p.on_agent_released(1.0, 6.0, True)  # AMD becomes evident: the allowance starts, nothing comes back
    for t in range(1000):
        p.on_call_result(10.0 + t, "human", 8.0)
        no_amd.on_call_result(10.0 + t, "human", 8.0)
    full = no_amd.internal_target() - p.internal_target()
    assert full == pytest.approx(0.01 * 999 / 1000)
    target, theta = p.internal_target(), p.threshold
    p.on_agent_released(2000.0, 6.0, True)
    assert p.internal_target() == pytest.approx(target + 0.01 / 1000)
    assert p.threshold > theta, "the allowance given back is credited to the controller"
    for k in range(498):
        p.on_agent_released(2001.0 + k, 6.0, True)
    assert no_amd.internal_target() - p.internal_target() == pytest.approx(0.01 * 500 / 1000)
    held = p.threshold
    p.on_guard_clamp(3000.0)
    p.on_agent_released(3001.0, 6.0, True)
    assert p.threshold == held, "not while an outer guard holds dialing back"
    p.on_agent_released(3002.0, 6.0, False)
    assert p.machine_releases == 501


def test_predictive_learns_the_offer_window_left_after_amd_latency() -> None:
    p = make_policy("predictive", **SETTINGS)
    assert p.offer_window_s == 2.0
    for i in range(6):
        t = 100.0 * (i + 1)
        p.on_call_result(t, "human", 9.0)  # AMD said "human" 1 s after the answer ...
        p.calls_to_place(obs(now=t, logged=5, idle=0, busy=(50.0,) * 5, waiting=1))
        p.on_abandon(t + 1.0)  # ... so the 2 s drop clock (from the answer) expires 1 s later
    assert p.offer_window_s == pytest.approx(1.0)


def test_predictive_window_guard_stops_over_dialing_after_a_burst() -> None:
    p = _trained(0.2)
    now = p._now0 + 1000.0  # type: ignore[attr-defined]  # the training answers have left the 15 minutes
    view = {"logged": 10, "idle": 4, "busy": (200.0,) * 6}
    assert p.calls_to_place(obs(now=now, **view)) > 4
    for i in range(40):  # 40 answers and 3 abandons in the last 15 minutes: one more would near 10 %
        p.on_call_result(now + i, "human", 8.0)
    for i in range(3):
        p.on_abandon(now + 40 + i)
    assert p.calls_to_place(obs(now=now + 50, **view)) == 4  # one line per idle agent only
    assert p.last_decision is not None and p.last_decision.capped_by == "window_guard"
    assert p.calls_to_place(obs(now=now + 50 + 901, **view)) > 4  # the burst has left the window


def test_predictive_window_guard_sees_the_window_that_starts_at_a_burst() -> None:
    """80 answers and then 6 abandons at once: the trailing 15 minutes sit at 7.5 % (room for 2 more;
    the old trailing-only rule held off until 8), but the window starting at the burst holds the
    burst and only the answers still to come (~56 at ``window_future_share`` of the trailing rate):
    over 10 %."""
    p = _trained(0.2)
    now = p._now0 + 1000.0  # type: ignore[attr-defined]
    view = {"logged": 10, "idle": 4, "busy": (200.0,) * 6}
    for i in range(80):
        p.on_call_result(now - 840.0 + 10.5 * i, "human", 8.0)
    for i in range(6):
        p.on_abandon(now - 6.0 + i)
    share = p.window_future_share  # type: ignore[attr-defined]
    assert share == 0.7
    # min(trailing 0.1 × 80 − 6, burst window 0.1 × (1 + share × 80 / 900 × 894) − 6)
    assert p._window_room(now) == pytest.approx(0.1 * (1 + share * 80 / 900 * 894) - 6)  # type: ignore[attr-defined]
    assert p.calls_to_place(obs(now=now, **view)) == 4  # one line per idle agent only
    assert p.last_decision is not None and p.last_decision.capped_by == "window_guard"
    assert p.last_decision.estimates["window_room"] <= 0.0


def test_predictive_bounds_the_chance_of_a_burst_the_window_cannot_take() -> None:
    """Two abandons of room left: the count stops where 3 drops at once would be likelier than
    ``burst_risk``, below what the per-call threshold alone would place."""
    counts = {}
    for risk in (1.0, 1e-6):
        p = _trained(0.2)
        now = p._now0 + 1000.0  # type: ignore[attr-defined]
        for i in range(2):
            p.on_abandon(now - 890.0 + i)
        for i in range(40):
            p.on_call_result(now - 880.0 + 20.0 * i, "human", 8.0)
        p.burst_risk = risk  # type: ignore[attr-defined]
        assert 1.0 < p._window_room(now) < 3.0  # type: ignore[attr-defined]
        counts[risk] = p.calls_to_place(obs(now=now, logged=10, idle=4, busy=(200.0,) * 6))
        decision = p.last_decision
        assert decision is not None
        assert decision.capped_by == ("window_burst" if risk < 1.0 else "model"), decision
    assert 4 <= counts[1e-6] < counts[1.0], counts


def _tight(seed: int) -> PacingPolicy:
    """:func:`_trained`'s synthetic history, for a campaign held to 0.03 %."""
    trained = _trained(0.08, seed)
    p = make_policy("predictive", **{**SETTINGS, "target_abandon_rate": 0.0003})
    p.__dict__.update({k: v for k, v in trained.__dict__.items() if k in ("outcomes", "handle", "humans", "_now0")})
    return p


def _exact_loss(p: PacingPolicy, view: PacingObservation, n: int) -> float:
    """The n-th call's loss probability on the exact convolution of the policy's own rows."""
    from dialer.pacing.probability import add_bernoulli, exact_pmf, pmf_upper_tail

    om = p.outcomes  # type: ignore[attr-defined]
    ages = np.asarray(view.ringing_elapsed_s)
    age_idx = np.minimum((ages / om.BIN_S).astype(int), p._q.shape[0] - 1)  # type: ignore[attr-defined]
    busy_idx = p.handle.busy_bins(np.asarray(view.busy_elapsed_s))  # type: ignore[attr-defined]
    pmf, offset = exact_pmf(p._q[age_idx], p._g[busy_idx])  # type: ignore[attr-defined]
    for _ in range(n - 1):
        pmf = add_bernoulli(pmf, p._s)  # type: ignore[attr-defined]
    return float(pmf_upper_tail(pmf, offset, view.agents_idle - view.calls_waiting).mean())


def test_a_tight_target_counts_large_teams_on_the_saddlepoint_tail(monkeypatch: pytest.MonkeyPatch) -> None:
    """Held to 0.03 % (θ ≈ 1e-4, far in the tail) a 50-agent decision places exactly the calls whose loss
    probability, on the exact convolution of the same model rows, stays under θ; the skew-corrected
    normal alone would place more, whose last call is over θ."""
    import dialer.pacing.predictive as predictive

    rng = random.Random(3)
    over_by_rna = 0
    for trial in range(6):
        p = _tight(trial + 1)
        idle = rng.randint(4, 10)
        view = obs(now=p._now0, logged=50, idle=idle, busy=[rng.uniform(0, 180) for _ in range(50 - idle)],  # type: ignore[attr-defined]
                   ringing=[rng.uniform(0, 24) for _ in range(rng.randint(20, 60))])
        n = p.calls_to_place(view)
        theta = p.last_decision.estimates["threshold"]  # type: ignore[union-attr]
        assert theta < predictive.SADDLEPOINT_BELOW
        if n:
            assert _exact_loss(p, view, n) <= theta * 1.02
        assert _exact_loss(p, view, n + 1) > theta * 0.98
        with monkeypatch.context() as m:
            m.setattr(predictive, "SADDLEPOINT_BELOW", 0.0)
            rna = _tight(trial + 1)
            n_rna = rna.calls_to_place(view)
        assert n_rna >= n
        if n_rna > n:
            over_by_rna += 1
            assert _exact_loss(rna, view, n_rna) > theta
    assert over_by_rna >= 4, over_by_rna  # 1-3 calls too many in each of these six


def test_a_large_teams_burst_bound_holds_on_the_exact_tail() -> None:
    """Two abandons of room in a 10-agent window, 30 calls in flight (past the exact-count size): the
    count stops where the chance of 3 drops at once, on the exact convolution of the model's own rows at
    the latest answer quantile, would pass ``burst_risk``; the skew-corrected normal under-states that
    tail (SC2's worst window was 12.5 % with it alone)."""
    from dialer.pacing.probability import add_bernoulli, exact_pmf, pmf_upper_tail

    rng = random.Random(5)
    checked = 0
    for trial in range(6):
        p = _trained(0.1, trial + 1)
        now = p._now0 + 1000.0  # type: ignore[attr-defined]
        for i in range(2):
            p.on_abandon(now - 890.0 + i)
        for i in range(40):
            p.on_call_result(now - 880.0 + 20.0 * i, "human", 8.0)
        room = p._window_room(now)  # type: ignore[attr-defined]
        assert 1.0 < room < 3.0
        idle = rng.randint(2, 4)
        view = obs(now=now, logged=10, idle=idle, busy=[rng.uniform(0, 200) for _ in range(10 - idle)],
                   ringing=[rng.uniform(0, 24) for _ in range(30)])
        n = p.calls_to_place(view)
        decision = p.last_decision
        assert decision is not None
        if decision.capped_by != "window_burst":
            continue
        checked += 1
        om = p.outcomes  # type: ignore[attr-defined]
        age_idx = np.minimum((np.asarray(view.ringing_elapsed_s) / om.BIN_S).astype(int), p._q.shape[0] - 1)  # type: ignore[attr-defined]
        busy_idx = p.handle.busy_bins(np.asarray(view.busy_elapsed_s))  # type: ignore[attr-defined]
        pmf, offset = exact_pmf(p._q[age_idx], p._g[busy_idx])  # type: ignore[attr-defined]
        burst_at = view.agents_idle - view.calls_waiting + int(room)  # c + burst − 1, burst = floor(room) + 1
        tails = []
        for _ in range(n + 1):
            tails.append(float(pmf_upper_tail(pmf, offset, burst_at)[-1]))
            pmf = add_bernoulli(pmf, p._s)  # type: ignore[attr-defined]
        # the n-th call (n − 1 others ahead) within the bound, the (n + 1)-th over it
        if n:
            assert tails[n - 1] <= p.burst_risk * 1.02, (n, tails)  # type: ignore[attr-defined]
        assert tails[n] > p.burst_risk * 0.98, (n, tails)  # type: ignore[attr-defined]
    assert checked >= 3, checked
