"""The wallboard's pure core: time-in-state tones, the snapshot figures, alert rules, trackers."""

from __future__ import annotations

import json

import pytest

from dialer.wallboard.alerts import AlertRules, evaluate, pct
from dialer.wallboard.snapshot import (
    AgentRow,
    CampaignFigures,
    CampaignInfo,
    Ratio,
    abandon_level,
    build,
    merge,
    pause_limit,
)
from dialer.wallboard.tones import OVER_LIMIT, mmss, tone
from dialer.wallboard.trackers import HourWindow

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("state", "seconds", "expected"),
    [
        ("ready", 0, "t-ready-0"), ("ready", 60, "t-ready-0"), ("ready", 61, "t-ready-1"), ("ready", 301, "t-ready-2"),
        ("incall", 10, "t-incall-0"), ("incall", 11, "t-incall-1"), ("incall", 61, "t-incall-2"),
        ("incall", 301, "t-incall-3"), ("paused", 5, "t-paused-0"), ("paused", 11, "t-paused-1"),
        ("paused", 61, "t-paused-2"), ("paused", 301, "t-paused-3"), ("paused", 601, "t-paused-4"),
        ("paused", 901, "t-paused-5"), ("dead", 10, "t-dead-0"), ("dead", 11, "t-dead-1"),
        ("reserved", 999, "t-reserved-0"), ("wrap", 61, "t-wrap-1"), ("bogus", 5, "t-unknown"),
    ],
)
def test_tone_steps_follow_vicidial_thresholds(state: str, seconds: float, expected: str) -> None:
    assert tone(state, seconds) == expected


def test_over_pause_limit_wins() -> None:
    assert tone("paused", 5, over_limit=True) == OVER_LIMIT


@pytest.mark.parametrize(("s", "text"), [(None, "-"), (-1, "-"), (0, "0:00"), (75.9, "1:15"), (3725, "1:02:05")])
def test_mmss(s: float | None, text: str) -> None:
    assert mmss(s) == text


def _fig(cid: int = 1, **kw: object) -> CampaignFigures:
    info = kw.pop("info", CampaignInfo(cid, f"C{cid}"))
    return CampaignFigures(info=info, **kw)  # type: ignore[arg-type]


def test_summary_counts_agents_calls_and_rates() -> None:
    fig = _fig(
        calls={"dialing": [NOW - 1], "ringing": [NOW - 2, NOW - 3], "waiting": [NOW - 4, NOW - 9],
               "connected": [NOW - 30], "answered": [NOW - 1], "ending": [NOW]},
        stats={"dials": 120, "humans": 40, "abandons": 2, "sales": 5, "machines": 30},
        dial_level=2.5, hopper_depth=77, abandon_hour=Ratio(1, 10), abandon_window=Ratio(3, 200),
        handled=Ratio(900, 6),
    )
    agents = [
        AgentRow(1, "Ann", "ready", 1, NOW - 5), AgentRow(2, "Bob", "incall", 1, NOW - 70, call_id="c1"),
        AgentRow(3, "Cy", "paused", 1, NOW - 20, pause_code="LUNCH"),
        AgentRow(4, "Di", "paused", 1, NOW - 20, pause_code="BRK"), AgentRow(5, "Ed", "paused", 1, NOW, pause_code="BRK"),
        AgentRow(6, "Fay", "dead", 1, NOW - 1), AgentRow(7, "Gus", "wrap", 1, NOW - 1),
    ]
    snap = build([fig], agents, NOW)
    c = snap["campaigns"][0]
    assert c["agents"] == {"logged_in": 7, "ready": 1, "reserved": 0, "incall": 1, "wrap": 1, "paused": 3,
                           "dead": 1, "paused_by_code": {"BRK": 2, "LUNCH": 1}}
    assert c["calls"] == {"ringing": 3, "waiting": 2, "longest_wait_s": 9.0, "in_progress": 2}
    assert c["abandon"]["today"] == 0.05 and c["abandon"]["hour"] == 0.1 and c["abandon"]["window"] == 0.015
    assert c["abandon"]["level"] == "ok"
    assert c["today"] == {"calls": 120, "humans": 40, "machines": 30, "contacts_per_hour": 10, "conversions": 5,
                          "aht_s": 150.0}
    assert c["hopper"]["depth"] == 77 and c["dial_level"] == 2.5
    bob = next(a for a in snap["agents"] if a["name"] == "Bob")
    assert bob["mmss"] == "1:10" and bob["tone"] == "t-incall-2" and bob["call_id"] == "c1"
    json.dumps(snap)  # plain JSON, nothing else


def test_no_answers_means_no_rate_not_zero() -> None:
    c = build([_fig()], [], NOW)["campaigns"][0]
    assert c["abandon"]["today"] is None and c["abandon"]["window"] is None and c["today"]["aht_s"] is None


def test_overview_merges_ratios_not_rates() -> None:
    a = _fig(1, abandon_window=Ratio(1, 100), stats={"humans": 100, "abandons": 1}, hopper_depth=5,
             refusals={"dialable": 5, "dnc_global": 2})
    b = _fig(2, abandon_window=Ratio(9, 100), stats={"humans": 10, "abandons": 9}, hopper_depth=0,
             refusals={"dnc_global": 1})
    m = merge([a, b])
    assert m.refusals == {"dialable": 5, "dnc_global": 3}
    assert m.abandon_window.rate == pytest.approx(0.05)
    assert m.stats == {"humans": 110, "abandons": 10} and m.hopper_depth == 5
    assert build([a, b], [], NOW)["overview"]["abandon"]["today"] == pytest.approx(10 / 110, abs=1e-4)


@pytest.mark.parametrize(("rate", "level"), [(None, "ok"), (0.0, "ok"), (0.0239, "ok"), (0.024, "warn"),
                                             (0.0299, "warn"), (0.03, "crit"), (0.2, "crit")])
def test_abandon_gauge_levels(rate: float | None, level: str) -> None:
    assert abandon_level(rate, 0.03) == level


def test_every_gauge_carries_its_level_with_the_rules_warn_fraction() -> None:
    """The board colours gauges from abandon.levels only; the thresholds are the alert rules'."""
    fig = _fig(info=CampaignInfo(1, "C1", target_abandon_rate=0.03), stats={"humans": 100, "abandons": 3},
               abandon_hour=Ratio(25, 1000), abandon_window=Ratio(1, 100))
    c = build([fig], [], NOW)["campaigns"][0]
    assert c["abandon"]["levels"] == {"today": "crit", "hour": "warn", "window": "ok"}
    strict = build([fig], [], NOW, rules=AlertRules(warn_fraction=0.9))
    assert strict["campaigns"][0]["abandon"]["levels"]["hour"] == "ok"  # 0.025 < 0.9 x 0.03
    assert strict["overview"]["abandon"]["levels"] == {"today": "crit", "hour": "ok", "window": "ok"}
    assert build([_fig()], [], NOW)["campaigns"][0]["abandon"]["levels"]["today"] == "ok"  # no answers


def test_campaign_pause_code_overrides_global() -> None:
    limits = {(None, "BRK"): 900, (2, "BRK"): 60}
    assert pause_limit(limits, 2, "BRK") == 60
    assert pause_limit(limits, 1, "BRK") == 900
    assert pause_limit(limits, 1, "LUNCH") is None and pause_limit(limits, 1, None) is None


def test_alert_rules() -> None:
    figs = [
        _fig(1, hopper_depth=0, refusals={"dialable": 0, "dnc_global": 40, "outside_calling_hours": 900, "max_attempts": 3}),
        _fig(2, hopper_depth=50, abandon_window=Ratio(5, 200)),  # 2.5 %: 83 % of target
        _fig(3, hopper_depth=50, abandon_window=Ratio(7, 200), calls={"waiting": [NOW - 12]}),  # 3.5 %
        _fig(4, hopper_depth=50, abandon_window=Ratio(2, 10)),  # 20 % of 10 answers: too few to judge
        _fig(5, info=CampaignInfo(5, "off", active=False), hopper_depth=0),
    ]
    agents = [AgentRow(9, "Zed", "paused", 2, NOW - 120, pause_code="BRK"),
              AgentRow(8, "Yan", "paused", 2, NOW - 30, pause_code="BRK")]
    snap = build(figs, agents, NOW, pause_limits={(None, "BRK"): 60})
    got = {(a["rule"], a["campaign_id"]) for a in snap["alerts"]}
    assert got == {("hopper_empty", 1), ("abandon_near_target", 2), ("abandon_over_target", 3),
                   ("calls_waiting", 3), ("pause_over_limit", 2)}
    hopper = next(a for a in snap["alerts"] if a["rule"] == "hopper_empty")
    assert "outside_calling_hours 900" in hopper["message"] and "dnc_global 40" in hopper["message"]
    assert [a["severity"] for a in snap["alerts"]][-1] == "warning"  # critical first
    zed = next(a for a in snap["agents"] if a["name"] == "Zed")
    assert zed["over_limit"] and zed["tone"] == OVER_LIMIT
    paused = next(a for a in snap["alerts"] if a["rule"] == "pause_over_limit")
    assert paused["agent_id"] == 9


def test_calls_waiting_threshold_is_strict() -> None:
    c = build([_fig(calls={"waiting": [NOW - 5]}, hopper_depth=1)], [], NOW)["campaigns"]
    assert evaluate(c, [], AlertRules(max_wait_s=5)) == []
    assert evaluate(c, [], AlertRules(max_wait_s=4.9))[0]["rule"] == "calls_waiting"


@pytest.mark.parametrize("kwargs", [{"warn_fraction": 0}, {"warn_fraction": 1.5}, {"max_wait_s": -1}])
def test_bad_rules_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        AlertRules(**kwargs)


def test_hour_window_differences_and_day_rollover() -> None:
    w = HourWindow(sample_every_s=10)
    assert w.observe(1, NOW, 100, 3) == (0, 0)
    assert w.observe(1, NOW + 600, 130, 4) == (30, 1)
    # base = the newest sample at or before an hour ago (resolution: sample_every_s)
    assert w.observe(1, NOW + 3700, 200, 6) == (100, 3)
    assert w.observe(1, NOW + 4300, 210, 6) == (80, 2)  # the NOW sample left the hour
    assert w.observe(1, NOW + 4400, 5, 0) == (5, 0)  # counters restarted: new UTC day
    w.forget_except(set())
    assert w.observe(1, NOW + 4500, 6, 0) == (0, 0)


@pytest.mark.parametrize(("rate", "text"), [(0.0, "0.0%"), (0.0225, "2.3%"), (0.025, "2.5%"), (0.01449, "1.4%"),
                                             (0.1, "10.0%"), (0.00049, "0.0%"), (0.00051, "0.1%")])
def test_alert_percentages_round_halves_up_like_the_board(rate: float, text: str) -> None:
    assert pct(rate) == text
