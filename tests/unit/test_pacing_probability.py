"""Poisson-binomial tails: the exact convolution against brute force, the RNA against the exact tail."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from dialer.pacing.probability import add_bernoulli, erf, exact_pmf, pmf_upper_tail, rna_upper_tail


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
