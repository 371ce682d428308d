"""Scenario validation (JSON paths in errors) and seeded, deterministic call plans."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from telephony.simulator.scenario import Scenario, ScenarioError, draw_plan

#: The pacing-benchmark scenarios, shipped in the repository (copies of the shared set).
SCENARIOS = Path(__file__).resolve().parents[2] / "bench" / "scenarios"
SCENARIO_FILES = sorted(SCENARIOS.glob("SC*.json"), key=lambda p: int(p.stem[2:]))


@pytest.mark.parametrize("data,path,fragment", [
    ({"timing": {"talk_s": {"dist": "foo"}}}, "timing.talk_s.dist", "unknown distribution 'foo'"),
    ({"timing": {"ring_live_s": {"dist": "uniform", "lo": 3}}}, "timing.ring_live_s.hi", "missing"),
    ({"timing": {"ring_live_s": {"dist": "uniform", "lo": 5, "hi": 1}}}, "timing.ring_live_s.hi", ">= lo"),
    ({"outcomes": {"answer_prob": 1.5}}, "outcomes.answer_prob", "<= 1"),
    ({"outcomes": {"answer_prob": 0.6, "machine_prob": 0.3, "fail_prob": 0.2}}, "outcomes", "> 1"),
    ({"outcomes": {"answer_prob": {"type": "tod_curve"}}}, "outcomes.answer_prob.type", "unsupported"),
    ({"outcomes": {"answer_prob": {"type": "piecewise", "points": [[0, 0.1], [0, 0.2]]}}},
     "outcomes.answer_prob.points", "increase"),
    ({"outcomes": {"answer_prob": {"type": "piecewise", "points": [[0, 0.1], [10, 0.9]]}, "machine_prob": 0.2}},
     "outcomes", "at t=10"),
    ({"amd": {"enabled": "yes"}}, "amd.enabled", "true or false"),
    ({"sim": {"time_scale": 0}}, "sim.time_scale", "> 0"),
    ({"sim": {"dialogue": {"turns": [{"speaker": "bot", "text": "hi"}]}}}, "sim.dialogue.turns[0].speaker", "customer"),
    ({"sim": {"patience_s": {"dist": "mixture", "components": [{"weight": "x", "dist": "fixed", "value": 1}]}}},
     "sim.patience_s.components[0].weight", "number"),
    ({"sim": {"agent_pattern": "("}}, "sim.agent_pattern", "regular expression"),
    ({"timing": "fast"}, "timing", "object"),
    ({"sim": {"time_scael": 2}}, "sim.time_scael", "unknown key"),
    ([1, 2], "$", "object"),
])
def test_malformed_scenarios_name_the_bad_field(data, path, fragment) -> None:
    with pytest.raises(ScenarioError) as info:
        Scenario.parse(data)
    assert info.value.path == path
    assert str(info.value).startswith(f"{path}: ")
    assert fragment in str(info.value)


def test_the_benchmark_scenarios_are_in_the_repository() -> None:
    assert [p.name for p in SCENARIO_FILES] == [f"SC{i}.json" for i in range(1, 11)]


#: Time-of-day answer curves need lead time zones and a campaign clock: only the pacing benchmark
#: (dialer.simulate) models them; the PBX simulator refuses them by name (scenario.py).
TOD_CURVE_SCENARIOS = {"SC10"}


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: p.stem)
def test_pacing_benchmark_scenarios_are_accepted(path: Path) -> None:
    data = json.loads(path.read_text())
    if path.stem in TOD_CURVE_SCENARIOS:
        assert data["outcomes"]["answer_prob"]["type"] == "tod_curve"
        with pytest.raises(ScenarioError) as info:
            Scenario.parse(data)
        assert info.value.path == "outcomes.answer_prob.type" and "tod_curve" in str(info.value)
        return
    sc = Scenario.parse(data)
    assert 0 < sc.p_human.at(0) < 1 and sc.no_answer_timeout_s == 25.0


def test_plans_are_deterministic_per_seed_and_follow_the_mix() -> None:
    sc = Scenario.parse({"outcomes": {"answer_prob": 0.3, "machine_prob": 0.2, "fail_prob": 0.3},
                         "sim": {"busy_share": 0.5}})
    a = [draw_plan(sc, random.Random(7)) for _ in range(1)]
    b = [draw_plan(sc, random.Random(7)) for _ in range(1)]
    assert a == b
    rng = random.Random(42)
    counts = Counter(draw_plan(sc, rng).outcome for _ in range(20000))
    assert abs(counts["human"] / 20000 - 0.3) < 0.02
    assert abs(counts["machine"] / 20000 - 0.2) < 0.02
    assert abs((counts["busy"] + counts["congestion"]) / 20000 - 0.3) < 0.02
    assert abs(counts["busy"] / (counts["busy"] + counts["congestion"]) - 0.5) < 0.03
    assert abs(counts["noanswer"] / 20000 - 0.2) < 0.02


def test_forcing_does_not_shift_later_calls() -> None:
    sc = Scenario.default()
    r1, r2 = random.Random(3), random.Random(3)
    draw_plan(sc, r1)
    forced = draw_plan(sc, r2, forced="busy")
    assert forced.outcome == "busy"
    assert [draw_plan(sc, r1) for _ in range(5)] == [draw_plan(sc, r2) for _ in range(5)]


def test_amd_verdicts_follow_accuracy_and_use_app_amd_causes() -> None:
    sc = Scenario.parse({"outcomes": {"answer_prob": 0.0, "machine_prob": 1.0, "fail_prob": 0.0},
                         "amd": {"machine_detect": 0.8}, "timing": {"ring_machine_s": 1}})
    rng = random.Random(1)
    plans = [draw_plan(sc, rng) for _ in range(5000)]
    detected = sum(p.amd_status == "MACHINE" for p in plans) / len(plans)
    assert abs(detected - 0.8) < 0.03
    assert {p.amd_cause.split("-")[0] for p in plans} <= {"LONGGREETING", "MAXWORDS", "HUMAN"}
    assert all(p.amd_latency_s == 2.5 for p in plans if p.amd_status == "MACHINE")


def test_ring_beyond_timeout_becomes_no_answer() -> None:
    sc = Scenario.parse({"outcomes": {"answer_prob": 1.0, "machine_prob": 0, "fail_prob": 0},
                         "timing": {"ring_live_s": 40, "no_answer_timeout_s": 25}})
    plan = draw_plan(sc, random.Random(0))
    assert plan.outcome == "noanswer" and plan.ring_s == 25


def test_piecewise_answer_rate_follows_scenario_time() -> None:
    sc = Scenario.parse({"outcomes": {"answer_prob": {"type": "piecewise", "points": [[0, 0.1], [100, 0.5]]},
                                      "machine_prob": 0.0, "fail_prob": 0.0}})
    assert (sc.p_human.at(50), sc.p_human.at(100), sc.p_human.at(1e6)) == (0.1, 0.5, 0.5)
    linear = Scenario.parse({"outcomes": {"answer_prob": {"type": "piecewise", "points": [[0, 0.1], [100, 0.5]],
                                                          "interp": "linear"}}})
    assert abs(linear.p_human.at(50) - 0.3) < 1e-12
    early, late = random.Random(9), random.Random(9)
    before = Counter(draw_plan(sc, early, t=10).outcome for _ in range(4000))
    after = Counter(draw_plan(sc, late, t=200).outcome for _ in range(4000))
    assert abs(before["human"] / 4000 - 0.1) < 0.02 and abs(after["human"] / 4000 - 0.5) < 0.03
