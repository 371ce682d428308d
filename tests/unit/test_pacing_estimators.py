"""The predictive policy's outcome model: matured answer rates and the fast jump detector."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from dialer.pacing.estimators import DROP_BOUND_Z, HUMAN, MACHINE, NO_ANSWER, OutcomeModel


class Feed:
    """Dials at ``rate_per_s`` into an :class:`OutcomeModel`; each answers as a person with ``p`` at 8 s,
    is a machine with 0.3 at 15 s, else rings out at the 25 s timeout. Results arrive in time order."""

    def __init__(self, seed: int = 1) -> None:
        self.model = OutcomeModel(25.0)
        self.rng = random.Random(seed)
        self.now = 0.0
        self.pending: list[tuple[float, int, float, float]] = []  # (result time, outcome, ring, dial time)
        self.ringing: list[float] = []  # dial times of unresolved calls
        self.dials = 0

    def run(self, seconds: float, p: float, rate_per_s: float = 3.0, checks: list[bool] | None = None) -> None:
        end = self.now + seconds
        step = 1.0 / rate_per_s
        while self.now < end:
            self.now += step
            u = self.rng.random()
            outcome, ring = (HUMAN, 8.0) if u < p else (MACHINE, 15.0) if u < p + 0.3 else (NO_ANSWER, 25.0)
            self.pending.append((self.now + ring, outcome, ring, self.now))
            self.ringing.append(self.now)
            due = [x for x in self.pending if x[0] <= self.now]
            self.pending = [x for x in self.pending if x[0] > self.now]
            for t, o, ring_s, dialed in sorted(due):
                self.model.record(t, o, ring_s)
                self.ringing.remove(dialed)
            self.model.mature(self.now)
            self.dials += 1
            if checks is not None and self.dials % int(2 * rate_per_s) == 0:  # every 2 s, as the policy
                ages = self.now - np.asarray(self.ringing)
                checks.append(self.model.check_jump(self.now, ages))

    @property
    def p_human(self) -> float:
        return float(self.model.probs[HUMAN])


def test_matured_cohorts_learn_the_answer_rate() -> None:
    feed = Feed()
    feed.run(1800, 0.2)
    assert feed.p_human == pytest.approx(0.2, abs=0.03)


def test_a_rise_in_the_answer_rate_is_taken_at_the_window_estimate() -> None:
    feed = Feed()
    feed.run(1800, 0.2)
    before = feed.p_human
    checks: list[bool] = []
    feed.run(60, 0.5, checks=checks)
    assert any(checks) and feed.model.jumps >= 1
    assert feed.p_human > before + 0.1, "a rise is believed at once: under-dialing is the safe side"


def _first_fall(monkeypatch: pytest.MonkeyPatch, z: float) -> tuple[float, float]:
    monkeypatch.setattr("dialer.pacing.estimators.DROP_BOUND_Z", z)
    feed = Feed(seed=3)
    feed.run(1800, 0.2)
    before = feed.p_human
    for _ in range(30):  # nobody answers: a fall, or bad luck; stop at the first detection
        feed.run(2, 0.0, checks=[])
        if feed.model.jumps:
            return before, feed.p_human
    raise AssertionError("the fall was never detected")


def test_a_fall_is_believed_only_as_far_as_the_window_proves_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A chance low in a window of a few dozen answers must not collapse the answer rate: that over-dials
    (SC9 seed 6 placed 184 calls for 14 idle agents after 0.40 -> 0.077). The first detection moves the
    estimate to the upper bound of the window's rate, not to its point estimate."""
    before, bounded = _first_fall(monkeypatch, DROP_BOUND_Z)
    _, point = _first_fall(monkeypatch, 0.0)  # z = 0: the bound is the point estimate
    assert point < bounded < before
    assert bounded > 1.5 * point


def test_a_real_fall_is_followed_down_by_the_next_checks() -> None:
    feed = Feed()
    feed.run(1800, 0.25)
    feed.run(600, 0.05, checks=[])
    assert feed.p_human == pytest.approx(0.05, abs=0.03), "the fall is confirmed check after check"
    assert math.isfinite(feed.p_human)


def test_poisson_tail_is_exact_in_both_directions() -> None:
    from dialer.pacing.estimators import poisson_tail

    assert poisson_tail(0, 5.0, upper=False) == pytest.approx(math.exp(-5.0))
    assert poisson_tail(5, 1.0, upper=True) == pytest.approx(1.0 - math.exp(-1.0) * (1 + 1 + 1 / 2 + 1 / 6 + 1 / 24))
    assert poisson_tail(0, 3.0, upper=True) == 1.0
    far = poisson_tail(250, 180.0, upper=True)  # the far tail is summed, not 1 − (almost 1)
    assert 1e-7 < far < 1e-6


def _normal_tail(k: int, mean: float, *, upper: bool) -> float:
    """The rule the detector used before: the normal tail at sqrt(max(mean, 1))."""
    return 0.5 * math.erfc(abs(k - mean) / math.sqrt(max(mean, 1.0)) / math.sqrt(2.0))


def _false_jumps_in_three_shifts() -> int:
    jumps = 0
    for seed in (1, 2, 3):
        feed = Feed(seed)
        feed.run(8 * 3600, 0.1, rate_per_s=0.6, checks=[])
        assert feed.p_human == pytest.approx(0.1, abs=0.04)
        jumps += feed.model.jumps
    return jumps


def test_a_small_team_sees_almost_no_chance_jumps_in_a_steady_shift(monkeypatch: pytest.MonkeyPatch) -> None:
    """10 agents on a 10 % list dial ~0.6 a second, so a minute holds a handful of answers: the normal
    test took 5 answers where 1 was expected for a jump (a 0.4 % tail, tested every 2 s) and saw false
    "rises" to 0.3-0.5 several times a shift, each leaving the team under-dialed for minutes (SC2 seed 1).
    The exact Poisson tail at the same level: at most one in three shifts."""
    exact = _false_jumps_in_three_shifts()
    monkeypatch.setattr("dialer.pacing.estimators.poisson_tail", _normal_tail)
    normal = _false_jumps_in_three_shifts()
    assert exact <= 1 < 4 <= normal


def test_a_real_doubling_is_seen_within_two_minutes() -> None:
    """SC7's evening jump (15 % -> 30 %) on a team dialing 3 a second. (A 10-agent team's minute holds
    too few answers to prove a doubling: its slow estimate follows within the half-life instead.)"""
    feed = Feed(5)
    feed.run(3600, 0.15)
    waited = 0
    while not feed.model.jumps and waited < 240:
        feed.run(2, 0.30, checks=[])
        waited += 2
    assert feed.model.jumps == 1 and waited <= 120
    assert feed.p_human > 0.25
