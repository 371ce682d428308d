"""Poisson-binomial tails: the exact convolution against brute force, the RNA and the saddlepoint tail against
the exact one."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from dialer.pacing.probability import (
    add_bernoulli,
    erf,
    exact_pmf,
    pmf_upper_tail,
    rna_upper_tail,
    saddlepoint_upper_tail,
)


def test_erf_matches_math_erf() -> None:
    xs = np.linspace(-4, 4, 81)
    assert np.max(np.abs(erf(xs) - np.array([math.erf(x) for x in xs]))) < 2e-7


def test_exact_pmf_matches_enumeration() -> None:
    up = np.array([[0.2], [0.7], [0.5]])
    down = np.array([[0.4], [0.9]])
    pmf, offset = exact_pmf(up, down)
    brute: dict[int, float] = {}
    for bits in itertools.product((0, 1), repeat=5):
        p = 1.0
        for b, q in zip(bits, [0.2, 0.7, 0.5, 0.4, 0.9], strict=True):
            p *= q if b else 1 - q
        x = sum(bits[:3]) - sum(bits[3:])
        brute[x] = brute.get(x, 0.0) + p
    for x, p in brute.items():
        assert pmf[0, offset + x] == pytest.approx(p)
    assert pmf_upper_tail(pmf, offset, 1)[0] == pytest.approx(sum(p for x, p in brute.items() if x >= 1))
    assert pmf_upper_tail(pmf, offset, -5)[0] == 1.0 and pmf_upper_tail(pmf, offset, 9)[0] == 0.0
    grown = add_bernoulli(pmf, np.array([0.3]))
    assert grown.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("n_up,n_down", [(40, 20), (300, 100), (1500, 500)])
def test_rna_tail_is_close_to_the_exact_tail(n_up: int, n_down: int) -> None:
    rng = np.random.default_rng(n_up)
    up = rng.uniform(0.0, 0.3, (n_up, 1))
    down = rng.uniform(0.0, 0.2, (n_down, 1))
    pmf, offset = exact_pmf(up, down)
    mean = up.sum() - down.sum()
    var = (up * (1 - up)).sum() + (down * (1 - down)).sum()
    m3 = (up * (1 - up) * (1 - 2 * up)).sum() - (down * (1 - down) * (1 - 2 * down)).sum()
    for c in range(int(mean), int(mean + 4 * math.sqrt(var)) + 1):
        exact = pmf_upper_tail(pmf, offset, c)[0]
        approx = rna_upper_tail(c, np.array([mean]), np.array([var]), np.array([m3]))[0]
        assert abs(approx - exact) < 0.01 + 0.1 * exact, (c, exact, approx)


def test_rna_handles_a_degenerate_distribution() -> None:
    assert rna_upper_tail(2, np.array([3.0]), np.array([0.0]), np.array([0.0]))[0] == 1.0
    assert rna_upper_tail(4, np.array([3.0]), np.array([0.0]), np.array([0.0]))[0] == 0.0


def _moments(up: np.ndarray, down: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean = up.sum(0) - down.sum(0)
    var = (up * (1 - up)).sum(0) + (down * (1 - down)).sum(0)
    m3 = (up * (1 - up) * (1 - 2 * up)).sum(0) - (down * (1 - down) * (1 - 2 * down)).sum(0)
    return mean, var, m3


@pytest.mark.parametrize("seed", range(6))
def test_saddlepoint_tail_keeps_its_relative_error_under_one_percent_far_into_the_tail(seed: int) -> None:
    """Calls answering minus agents freeing, as the pacing sees them, to tails of 1e-12."""
    rng = np.random.default_rng(seed)
    n_up, n_down, j = int(rng.integers(5, 200)), int(rng.integers(0, 80)), 4
    up = rng.uniform(0.0, 0.3, (n_up, j)) * rng.uniform(0.2, 1.0)
    down = rng.uniform(0.0, 0.6, (n_down, j))
    pmf, offset = exact_pmf(up, down)
    checked = 0
    for c in range(int(up.sum(0).min() - down.sum(0).max()) - 3, n_up + 1):
        exact = pmf_upper_tail(pmf, offset, c)
        approx = saddlepoint_upper_tail(c, up, np.ones(n_up), down, np.ones(n_down))
        for e, a in zip(exact, approx, strict=True):
            if e > 1e-12:
                assert abs(a - e) <= 0.01 * e, (c, e, a)
                checked += 1
    assert checked > 20


def test_the_rna_understates_the_far_tail_the_saddlepoint_does_not() -> None:
    """Why the tight-target path exists: 140 calls in flight, 50 busy agents (skewed rates)."""
    rng = np.random.default_rng(2)
    up = rng.exponential(0.04, (140, 1)).clip(0, 1)
    down = rng.exponential(0.1, (50, 1)).clip(0, 1)
    pmf, offset = exact_pmf(up, down)
    mean, var, m3 = _moments(up, down)
    c = 13  # the exact tail is ~7.7e-5 here
    exact = pmf_upper_tail(pmf, offset, c)[0]
    assert 5e-5 < exact < 1e-4
    assert rna_upper_tail(c, mean, var, m3)[0] < 0.8 * exact  # more than 20 % short
    assert saddlepoint_upper_tail(c, up, np.ones(140), down, np.ones(50))[0] == pytest.approx(exact, rel=0.01)


def test_saddlepoint_grouped_rows_and_the_extra_binomial_are_the_rows_they_stand_for() -> None:
    rng = np.random.default_rng(7)
    rows, counts = rng.uniform(0, 0.4, (5, 3)), np.array([3, 1, 4, 2, 6])
    down, dcounts = rng.uniform(0, 0.5, (2, 3)), np.array([5, 2])
    extra = np.array([0.1, 0.2, 0.3])
    expanded = np.vstack([np.repeat(rows, counts, axis=0), np.tile(extra, (4, 1))])
    pmf, offset = exact_pmf(expanded, np.repeat(down, dcounts, axis=0))
    for c in range(-3, 12):
        grouped = saddlepoint_upper_tail(c, rows, counts, down, dcounts, extra, 4)
        assert np.allclose(grouped, pmf_upper_tail(pmf, offset, c), rtol=0.01, atol=1e-12), c


def test_saddlepoint_tail_at_the_edges_of_the_support() -> None:
    up = np.array([[1.0], [0.5], [0.0]])  # one certain call, one coin, one that cannot answer
    down = np.array([[1.0]])  # one agent certain to free
    tail = lambda c: saddlepoint_upper_tail(c, up, np.ones(3), down, np.ones(1))[0]  # noqa: E731
    assert tail(0) == 1.0 and tail(-4) == 1.0  # X ∈ {0, 1}
    assert tail(1) == pytest.approx(0.5, abs=0.02)
    assert tail(2) == 0.0 and tail(9) == 0.0
    nothing = saddlepoint_upper_tail(1, np.zeros((0, 2)), np.zeros(0), np.zeros((0, 2)), np.zeros(0))
    assert list(nothing) == [0.0, 0.0]
