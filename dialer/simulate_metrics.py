"""Benchmark metrics (``bench/scenarios/README.md`` §4), pooled over seeds, plus trace I/O and recomputation."""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dialer.simulate_engine import TRACE_COLUMNS, RunResult
from dialer.simulate_scenario import Scenario

logger = logging.getLogger(__name__)

WORST_WINDOW_S = 900.0
WORST_STEP_S = 60.0
WORST_MIN_ANSWERS = 30
POST_SHIFT_S = 1800.0


def wilson(abandons: int, answers: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of abandons/answers (§4)."""
    if answers == 0:
        return 0.0, 1.0
    p, n = abandons / answers, answers
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    den = 1 + z * z / n
    return max(0.0, (centre - half) / den), min(1.0, (centre + half) / den)


def worst_window(res: RunResult, duration: float) -> float | None:
    """Highest abandon rate over [s, s + 900) windows stepped by 60 s with ≥ 30 live answers."""
    order = np.argsort(res.answers_t, kind="stable")
    t, ab = res.answers_t[order], res.answers_abandoned[order]
    cum = np.concatenate(([0], np.cumsum(ab)))
    worst = None
    s = res.window[0]
    while s + WORST_WINDOW_S <= duration + 1e-9:
        lo, hi = np.searchsorted(t, s, "left"), np.searchsorted(t, s + WORST_WINDOW_S, "left")
        n = hi - lo
        if n >= WORST_MIN_ANSWERS:
            rate = (cum[hi] - cum[lo]) / n
            worst = rate if worst is None else max(worst, rate)
        s += WORST_STEP_S
    return worst


def aggregate(sc: Scenario, runs: Sequence[RunResult]) -> dict[str, Any]:
    """Pool one algorithm's runs over seeds into the §4 metrics."""
    talk = sum(r.talk_s for r in runs)
    logged = sum(r.logged_s for r in runs)
    occ = sum(r.occupied_s for r in runs)
    answers = abandons = 0
    for r in runs:
        lo, hi = r.window
        m = (r.answers_t >= lo) & (r.answers_t < hi)
        answers += int(m.sum())
        abandons += int(r.answers_abandoned[m].sum())
    rate = abandons / answers if answers else 0.0
    w_lo, w_hi = wilson(abandons, answers)
    obs_h = sum(r.observed_humans for r in runs)
    obs_a = sum(r.observed_abandons for r in runs)
    worst = [w for w in (worst_window(r, r.window[1]) for r in runs) if w is not None]
    post: dict[str, Any] = {}
    for c in sc.shift_times:
        n = a = 0
        for r in runs:
            m = (r.answers_t >= c) & (r.answers_t < c + POST_SHIFT_S)
            n += int(m.sum())
            a += int(r.answers_abandoned[m].sum())
        post[f"{c:g}"] = {"abandon_rate": a / n if n else None, "answers": n, "abandons": a}
    decisions = np.concatenate([r.decision_s for r in runs]) if runs else np.zeros(0)
    cpu = np.concatenate([r.decision_cpu_s for r in runs]) if runs else np.zeros(0)
    wait_n = sum(r.wait_n for r in runs)
    util = talk / logged if logged else 0.0
    return {
        "scenario": sc.id,
        "algorithm": runs[0].algorithm if runs else "",
        "seeds": [r.seed for r in runs],
        "talk_utilization": util,
        "talk_min_per_agent_hour": 60.0 * util,
        "occupancy": occ / logged if logged else 0.0,
        "abandon_rate": rate,
        "abandon_wilson95": [w_lo, w_hi],
        "live_answers": answers,
        "abandons": abandons,
        "observed_abandon_rate": obs_a / obs_h if obs_h else 0.0,
        "worst_15min_abandon": max(worst) if worst else None,
        "post_shift_abandon": post,
        "mean_agent_wait_s": sum(r.wait_sum for r in runs) / wait_n if wait_n else None,
        "dials_per_agent_hour": sum(r.dials for r in runs) / (logged / 3600.0) if logged else 0.0,
        "max_lines": max((r.max_lines for r in runs), default=0),
        "decision_ms": {
            "p50": float(np.percentile(decisions, 50) * 1e3) if len(decisions) else None,
            "p99": float(np.percentile(decisions, 99) * 1e3) if len(decisions) else None,
            "max": float(decisions.max() * 1e3) if len(decisions) else None,
            "count": len(decisions),
        },
        "decision_cpu_ms": {
            "p50": float(np.percentile(cpu, 50) * 1e3) if len(cpu) else None,
            "p99": float(np.percentile(cpu, 99) * 1e3) if len(cpu) else None,
            "max": float(cpu.max() * 1e3) if len(cpu) else None,
        },
        "ceiling": sc.ceiling(),
        "sim_wall_s": sum(r.wall_s for r in runs),
    }


def write_trace(path: str | Path, runs: Iterable[RunResult]) -> int:
    """Write every call and agent log-in interval of ``runs`` to a CSV; returns the row count."""
    n = 0
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(TRACE_COLUMNS)
        for r in runs:
            writer.writerows(r.trace)
            n += len(r.trace)
    return n


def recompute_from_trace(path: str | Path, window: tuple[float, float]) -> dict[tuple[str, int], dict[str, float]]:
    """Talk utilization and abandon rate per (algorithm, seed), recomputed from a trace file alone."""
    lo, hi = window
    acc: dict[tuple[str, int], dict[str, float]] = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            key = (row["algorithm"], int(row["seed"]))
            a = acc.setdefault(key, {"talk": 0.0, "logged": 0.0, "answers": 0, "abandons": 0})
            if row["kind"] == "agent":
                a["logged"] += max(0.0, min(float(row["t_logoff"]), hi) - max(float(row["t_login"]), lo))
                continue
            if row["t_connect"]:
                start = float(row["t_connect"])
                a["talk"] += max(0.0, min(start + float(row["talk_s"]), hi) - max(start, lo))
            if row["outcome"] == "live" and row["t_answer"] and lo <= float(row["t_answer"]) < hi:
                resolved = row["t_connect"] or row["abandoned"] == "1" or row["reported"] == "machine"
                if resolved:
                    a["answers"] += 1
                    a["abandons"] += int(row["true_abandon"])
    return {
        k: {"talk_utilization": v["talk"] / v["logged"] if v["logged"] else 0.0,
            "abandon_rate": v["abandons"] / v["answers"] if v["answers"] else 0.0,
            "answers": v["answers"], "abandons": v["abandons"]}
        for k, v in acc.items()
    }  # fmt: skip
