"""Tail probabilities of sums of independent Bernoulli variables (Poisson-binomial differences).

The pacing question "will this call's person find an agent?" is P(X ≥ c) where X = (answers landing
first) − (agents freeing in time): a difference of Poisson-binomial counts. Small teams use the exact
convolution; large ones the refined normal approximation (RNA, Volkova 1996; Hong 2013, "On computing
the distribution function for the Poisson binomial distribution"), a skew-corrected normal that stays
accurate in the tail where the plain normal approximation fails.
"""

from __future__ import annotations

import numpy as np

_SQRT1_2 = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327


def erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), vectorised; numpy has no erf and scipy is absent."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def normal_cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + erf(x * _SQRT1_2))


def rna_upper_tail(c: np.ndarray | float, mean: np.ndarray, var: np.ndarray, m3: np.ndarray) -> np.ndarray:
    """P(X ≥ c) for an integer-valued X with the given mean, variance and third central moment.

    ``mean``, ``var`` and ``m3`` are arrays of one shape; ``c`` broadcasts against them.
    """
    sd = np.sqrt(np.maximum(var, 1e-12))
    x = (c - 0.5 - mean) / sd
    gamma = m3 / (sd * sd * sd)
    below = normal_cdf(x) + gamma * (1.0 - x * x) * _INV_SQRT_2PI * np.exp(-0.5 * x * x) / 6.0
    tail = 1.0 - np.clip(below, 0.0, 1.0)
    degenerate = var < 1e-9
    if degenerate.any():
        tail = np.where(degenerate, (mean >= c - 0.5).astype(float), tail)
    return tail


def exact_pmf(up: np.ndarray, down: np.ndarray) -> tuple[np.ndarray, int]:
    """PMF of Σ Bern(up_i) − Σ Bern(down_k), one row per column of the (N, J) inputs.

    Returns (pmf of shape (J, K), offset) with pmf[:, offset + x] = P(X = x).
    """
    n_up, n_down = up.shape[0], down.shape[0]
    j = up.shape[1] if n_up else down.shape[1]
    pmf = np.zeros((j, n_up + n_down + 1))
    pmf[:, n_down] = 1.0
    for i in range(n_up):
        q = up[i][:, None]
        nxt = pmf * (1.0 - q)
        nxt[:, 1:] += pmf[:, :-1] * q
        pmf = nxt
    for k in range(n_down):
        f = down[k][:, None]
        nxt = pmf * (1.0 - f)
        nxt[:, :-1] += pmf[:, 1:] * f
        pmf = nxt
    return pmf, n_down


def add_bernoulli(pmf: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Convolve every row with one more Bern(s_j) (the support grows by one)."""
    out = np.zeros((pmf.shape[0], pmf.shape[1] + 1))
    out[:, :-1] = pmf * (1.0 - s[:, None])
    out[:, 1:] += pmf * s[:, None]
    return out


def pmf_upper_tail(pmf: np.ndarray, offset: int, c: int) -> np.ndarray:
    """P(X ≥ c) per row."""
    start = offset + c
    if start <= 0:
        return np.ones(pmf.shape[0])
    if start >= pmf.shape[1]:
        return np.zeros(pmf.shape[0])
    return pmf[:, start:].sum(axis=1)
