"""Scenario parsing, distributions, schedules, time zones and the common-random-numbers lead list."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dialer.simulate_scenario import Distribution, LeadList, ScenarioError, Schedule, load_scenario, parse_scenario

SCEN = Path(__file__).resolve().parents[2] / "bench" / "scenarios"


def _sc3() -> dict:
    return json.loads((SCEN / "SC3.json").read_text())


def test_lognormal_uses_mean_and_sd_not_log_parameters() -> None:
    d = Distribution.parse({"dist": "lognormal", "mean": 120, "sd": 90}, "talk")
    x = d.sample(np.random.default_rng(1), 400_000)
    assert x.mean() == pytest.approx(120, rel=0.01)
    assert x.std() == pytest.approx(90, rel=0.03)


def test_gamma_mixture_empirical_fixed_and_clip() -> None:
    rng = np.random.default_rng(2)
    g = Distribution.parse({"dist": "gamma", "mean": 10, "sd": 5}, "g").sample(rng, 200_000)
    assert g.mean() == pytest.approx(10, rel=0.02) and g.std() == pytest.approx(5, rel=0.03)
    mix = Distribution.parse(
        {
            "dist": "mixture",
            "components": [{"weight": 3, "dist": "fixed", "value": 1}, {"weight": 1, "value": 5, "dist": "fixed"}],
        },
        "m",
    ).sample(rng, 100_000)
    assert mix.mean() == pytest.approx(2.0, rel=0.02)
    emp = Distribution.parse({"dist": "empirical", "values": [1, 2, 3]}, "e").sample(rng, 1000)
    assert set(emp) == {1.0, 2.0, 3.0}
    clipped = Distribution.parse({"dist": "uniform", "lo": -5, "hi": 30, "clip": [0.5, 24.5]}, "c").sample(rng, 10_000)
    assert clipped.min() == 0.5 and clipped.max() == 24.5
    assert Distribution.parse(7, "f").mean() == 7.0


def test_piecewise_step_and_linear() -> None:
    step = Schedule.parse({"type": "piecewise", "points": [[0, 0.15], [7200, 0.30]], "interp": "step"}, "a")
    assert step.at(7199.9) == 0.15 and step.at(7200) == 0.30 and step.change_times() == [7200]
    lin = Schedule.parse({"type": "piecewise", "points": [[0, 0.1], [100, 0.3]], "interp": "linear"}, "a")
    assert lin.at(50) == pytest.approx(0.2) and lin.at(500) == 0.3
    assert Schedule.parse(0.25, "m").at(1e6) == 0.25


def test_tod_curve_opens_zones_by_local_time() -> None:
    sc = load_scenario(SCEN / "SC10.json")
    assert sc.tod is not None
    # t = 0 is 13:00 UTC: New York 08:00 (open), Chicago 07:00, Denver 06:00, LA 05:00 (closed)
    assert [z for z, _, _ in sc.tod.open_zones(0.0)] == ["America/New_York"]
    assert sc.live_prob(0.0, 0.99) == 0.1  # every lead goes to New York at 8 am
    six_hours = 6 * 3600.0  # 19:00 UTC: NY 14:00, Chicago 13:00, Denver 12:00, LA 11:00
    assert len(sc.tod.open_zones(six_hours)) == 4
    assert sc.live_prob(six_hours, 0.0) == 0.12  # u_tz = 0 -> New York, 14:00
    assert sc.live_prob(six_hours, 0.999) == 0.12  # LA, 11:00


def test_bad_scenarios_get_clear_errors() -> None:
    bad = _sc3()
    bad["outcomes"]["machine_prob"] = 0.9
    with pytest.raises(ScenarioError, match="> 1"):
        parse_scenario(bad)
    bad = _sc3()
    bad["agents"]["schedule"] = [[10, 5]]
    with pytest.raises(ScenarioError, match="t = 0"):
        parse_scenario(bad)
    bad = _sc3()
    bad["timing"]["talk_s"] = {"dist": "weibull"}
    with pytest.raises(ScenarioError, match="unknown dist"):
        parse_scenario(bad)
    bad = _sc3()
    del bad["compliance"]
    with pytest.raises(ScenarioError, match="malformed"):
        parse_scenario(bad)
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario("/nonexistent/SC.json")


def test_lead_list_depends_only_on_seed() -> None:
    sc = load_scenario(SCEN / "SC3.json")
    a, b = LeadList(sc, 7), LeadList(sc, 7)
    late = b[5000]  # touching a later block first must not change earlier leads
    assert [a[i] for i in range(10)] == [b[i] for i in range(10)]
    assert a[5000] == late
    assert LeadList(sc, 8)[0] != a[0]


def test_ceiling_and_policy_settings() -> None:
    sc = load_scenario(SCEN / "SC3.json")
    assert sc.ceiling() == pytest.approx(120 / 130)
    assert sc.policy_settings() == {
        "target_abandon_rate": 0.03, "dial_timeout_s": 25.0, "drop_after_s": 2.0, "max_lines_per_agent": 5.0,
    }  # fmt: skip
    sc9 = load_scenario(SCEN / "SC9.json")
    # unscreened machines per connected live call: 0.40 × 0.15 / (0.15 × 0.99)
    assert sc9.ceiling() == pytest.approx(120 / (130 + 6 * 0.4 * 0.15 / (0.15 * 0.99)), rel=1e-3)
