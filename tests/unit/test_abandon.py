import pytest

from core.clock import FakeClock
from dialer.abandon import DAY_S, AbandonFigures, AbandonTracker, clamp_for_tick, tick_cost
from dialer.callflow import CallFlow, CallFlowConfig, DropCall


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


def test_guard_clamps_when_one_tick_could_overspend_the_budget() -> None:
    # 200 answers, 3 abandons, 3 % target: budget = 6 - 3 = 3 abandons.
    fig = AbandonFigures(200, 3)
    assert fig.budget(0.03) == pytest.approx(3.0)
    # 2 idle agents, the policy wants 5 calls: surplus 3, worst case 3 abandons: allowed (3 >= 3).
    assert clamp_for_tick(5, 2, fig, 0.03) == (5, False)
    # Wants 6: surplus 4 could cost 4 > 3: clamped to progressive.
    assert clamp_for_tick(6, 2, fig, 0.03) == (2, True)
    # With a 50 % human-answer rate, the same tick costs 2: allowed.
    assert clamp_for_tick(6, 2, fig, 0.03, human_answer_rate=0.5) == (6, False)
    # Progressive is never clamped, even over budget.
    assert clamp_for_tick(2, 2, AbandonFigures(10, 5), 0.03) == (2, False)
    assert clamp_for_tick(4, -1, AbandonFigures(10, 5), 0.03) == (0, True)


def test_guard_with_fake_clock_over_a_day_of_drops_including_the_safe_harbor_path() -> None:
    """Drops produced by the call flow (safe-harbor path) feed the tracker; the guard trips in time."""
    clock = FakeClock()
    tracker = AbandonTracker()
    flow = CallFlow(CallFlowConfig(drop_after_s=2, safe_harbor_audio="sh"))
    clamped_at = None
    for i in range(400):
        now = clock.monotonic()
        tracker.record_answer(now)
        flow.answered(f"c{i}", now)
        # Every 20th call finds no agent: it is dropped with the safe-harbor message.
        ready = [] if i % 20 == 0 else [(1, now - 5)]
        actions = flow.step(now, ready)
        if not ready:
            clock.advance(2)
            actions = flow.step(clock.monotonic(), [])
            assert actions == [DropCall(f"c{i}", "sh", 2.0)]
            tracker.record_abandon(clock.monotonic())
        fig = tracker.ftc(clock.monotonic())
        _, clamped = clamp_for_tick(4, 1, fig, 0.03)
        if clamped and clamped_at is None:
            clamped_at = i
        clock.advance(60)
    # A 5 % drop rate must trip a 3 % guard; and right at the start (budget ~0) it is clamped.
    assert clamped_at == 0
    final = tracker.ftc(clock.monotonic())
    assert final.rate == pytest.approx(20 / 400)
    assert clamp_for_tick(4, 1, final, 0.03) == (1, True)


def test_tick_cost_validates() -> None:
    assert tick_cost(5, 2) == 3
    assert tick_cost(1, 2) == 0
    with pytest.raises(ValueError):
        tick_cost(5, 2, 1.5)
