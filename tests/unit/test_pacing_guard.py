"""The rolling abandon guard and the 30-day window, driven by a fake clock."""

from __future__ import annotations

import pytest

from core.clock import FakeClock
from dialer.pacing import AbandonGuard, PacingObservation, RollingAbandonWindow, make_policy


def test_guard_clamps_before_the_rate_can_cross_and_releases_with_hysteresis() -> None:
    clock = FakeClock()
    g = AbandonGuard(target=0.03, reserve_abandons=3, release_abandons=6)
    g.update(1000, 20, clock.monotonic())  # head-room 10 abandons
    assert not g.clamped(clock.monotonic())
    g.update(1000, 28, clock.monotonic())  # head-room 2 < 3: clamp while still under 3 %
    assert g.rate() < 0.03 and g.clamped(clock.monotonic())
    g.update(1100, 28, clock.monotonic())  # head-room 5: still clamped (release needs 6)
    assert g.clamped(clock.monotonic())
    g.update(1200, 28, clock.monotonic())  # head-room 8
    assert not g.clamped(clock.monotonic())


def test_guard_fails_safe_when_figures_go_stale() -> None:
    clock = FakeClock()
    g = AbandonGuard(stale_after_s=300)
    g.update(5000, 10, clock.monotonic())
    clock.advance(299)
    assert not g.clamped(clock.monotonic())
    clock.advance(2)
    assert g.clamped(clock.monotonic())


def test_guard_rejects_impossible_figures() -> None:
    g = AbandonGuard()
    with pytest.raises(ValueError):
        g.update(10, 11)
    with pytest.raises(ValueError):
        AbandonGuard(target=0.0)


def test_policy_guard_clamps_predictive_to_progressive() -> None:
    p = make_policy("predictive", target_abandon_rate=0.03, dial_timeout_s=25.0, drop_after_s=2.0)
    for i in range(3000):  # a cold list: 10 % answers, so over-dialing pays
        t = -1000.0 + i * 0.3
        p.on_call_result(t, "human" if i % 10 == 0 else "no_answer", 8.0 if i % 10 == 0 else 25.0)
        if i % 20 == 0:
            p.on_agent_released(t, 120.0 + i % 60, False)
    view = PacingObservation(10.0, 10, 5, (100.0,) * 5, (), 0)
    free = p.calls_to_place(view)
    assert free > 5
    p.set_compliance_state(answers=1000, abandons=29, now=10.0)
    assert p.calls_to_place(view) == 5  # one line per idle agent: cannot abandon
    assert p.last_decision is not None and p.last_decision.capped_by == "guard"
    p.set_compliance_state(answers=2000, abandons=29, now=11.0)
    assert p.calls_to_place(PacingObservation(11.0, 10, 5, (100.0,) * 5, (), 0)) > 5


def test_rolling_window_forgets_days_older_than_30() -> None:
    clock = FakeClock()
    w = RollingAbandonWindow(days=30)
    w.record_answer(clock.monotonic(), abandoned=True)
    w.record_answer(clock.monotonic())
    assert w.totals(clock.monotonic()) == (2, 1)
    clock.advance(29 * 86_400)
    w.record_answer(clock.monotonic())
    assert w.totals(clock.monotonic()) == (3, 1)
    clock.advance(86_400)
    assert w.totals(clock.monotonic()) == (1, 0)
    with pytest.raises(ValueError):
        w.record_answer(0.0)
