"""bench/pacing.py's target checks and the metrics they rest on (Wilson interval, worst 15-min window)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from dialer.simulate_engine import RunResult
from dialer.simulate_metrics import wilson, worst_window

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.pacing import check_targets  # noqa: E402


def _metrics(**kw: object) -> dict[str, object]:
    m: dict[str, object] = {"scenario": "SC3", "talk_utilization": 0.87, "abandon_rate": 0.028,
                            "abandon_wilson95": (0.025, 0.031), "worst_15min_abandon": 0.06,
                            "post_shift_abandon": {}}
    m.update(kw)
    return m


def test_wilson_matches_the_closed_form_and_edge_cases() -> None:
    lo, hi = wilson(30, 1000)
    # closed form for p = 0.03, n = 1000, z = 1.96
    p, n, z = 0.03, 1000, 1.96
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert (lo, hi) == pytest.approx(((centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)))
    assert lo < 0.03 < hi and hi == pytest.approx(0.04258, abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)  # nothing observed: anything is possible
    assert wilson(0, 100)[0] == 0.0 and 0 < wilson(0, 100)[1] < 0.04
    assert wilson(100, 100)[1] == pytest.approx(1.0)


def test_check_targets_uses_the_wilson_upper_bound_not_only_the_point_rate() -> None:
    ok = check_targets(_metrics(), None)
    assert ok["abandon_le_3pct"] and ok["wilson_upper_le_3_3pct"] and ok["utilization_met"] and ok["all_met"]
    # same point rate, but too few answers: the interval's upper end is over 3.3 %
    noisy = check_targets(_metrics(abandon_wilson95=(0.02, 0.0331)), None)
    assert noisy["abandon_le_3pct"] and not noisy["wilson_upper_le_3_3pct"] and not noisy["all_met"]
    assert not check_targets(_metrics(abandon_rate=0.0301), None)["abandon_le_3pct"]
    assert not check_targets(_metrics(worst_15min_abandon=0.1001), None)["worst_15min_le_10pct"]
    assert check_targets(_metrics(worst_15min_abandon=None), None)["worst_15min_le_10pct"]  # too few answers
    low = check_targets(_metrics(talk_utilization=0.8599), None)
    assert low["utilization_target"] == 0.86 and not low["utilization_met"]


def test_check_targets_beating_vicidial_needs_more_utilization_at_equal_or_lower_abandon() -> None:
    base = {"talk_utilization": 0.55, "abandon_rate": 0.028}
    assert check_targets(_metrics(abandon_rate=0.028), base)["beats_vicidial_adapt"]  # equal abandon: wins
    assert not check_targets(_metrics(abandon_rate=0.0281), base)["beats_vicidial_adapt"]
    assert not check_targets(_metrics(talk_utilization=0.55, abandon_rate=0.02), base)["beats_vicidial_adapt"]


def test_check_targets_takes_the_equal_abandon_run_where_vicidial_ends_lower() -> None:
    """vicidial-adapt at 0.03 %: the default run (2.8 %) cannot compare; the run held to 0.03 % can."""
    base = {"talk_utilization": 0.61, "abandon_rate": 0.0003}
    assert not check_targets(_metrics(), base)["beats_vicidial_adapt"]
    held = {"talk_utilization": 0.76, "abandon_rate": 0.0001}
    t = check_targets(_metrics(), base, held)
    assert t["beats_vicidial_adapt"] and t["beats_vicidial_adapt_at_equal_abandon"] and t["all_met"]
    for worse in ({"talk_utilization": 0.60, "abandon_rate": 0.0001}, {"talk_utilization": 0.76, "abandon_rate": 0.0004}):
        t = check_targets(_metrics(), base, worse)
        assert not t["beats_vicidial_adapt"] and not t["all_met"]


def test_check_targets_sc7_post_shift_window() -> None:
    m = _metrics(scenario="SC7", post_shift_abandon={"3600": {"abandon_rate": 0.039}, "7200": {"abandon_rate": None}})
    assert check_targets(m, None)["post_shift_le_4pct"]
    m["post_shift_abandon"] = {"3600": {"abandon_rate": 0.041}}
    assert not check_targets(m, None)["post_shift_le_4pct"]


def _run(answer_times: list[float], abandoned: list[bool], start: float = 0.0) -> RunResult:
    return RunResult("SCX", "a", 1, (start, 3600.0), answers_t=np.asarray(answer_times, float),
                     answers_abandoned=np.asarray(abandoned, bool))


def test_worst_window_finds_the_burst_and_ignores_thin_windows() -> None:
    # one answer a minute... too thin (< 30 answers in any 15 minutes): no figure at all
    assert worst_window(_run([60.0 * i for i in range(60)], [False] * 60), 3600.0) is None
    # 10 answers a minute for an hour; 12 abandons packed into minutes 30-31, none elsewhere
    t = [60.0 * m + 6.0 * k for m in range(60) for k in range(10)]
    ab = [30 <= tt // 60 < 32 and int(tt) % 60 < 36 for tt in t]
    assert sum(ab) == 12
    worst = worst_window(_run(t, ab), 3600.0)
    assert worst == pytest.approx(12 / 150)  # every 15-min window holds 150 answers; the burst fits in one
    # answers before the measuring window's start do not count
    assert worst_window(_run(t, ab, start=2400.0), 3600.0) == 0.0
