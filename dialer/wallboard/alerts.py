"""Wallboard alert rules: pure functions of the snapshot's campaign summaries and agent rows.

The aggregator evaluates them once per snapshot (never per viewer) and publishes the result, so
every board and the alerts panel show the same list. Rules:

* ``hopper_empty``: an active campaign has nothing to dial (hopper depth 0) -- VICIDIAL.md §8 #8,
  "0 dialable leads" is the top operational crisis, so the refusal breakdown goes with it;
* ``abandon_near_target`` / ``abandon_over_target``: the rolling abandon rate (30 days, FTC
  16 CFR 310.4(b)(4)(i); 24 h for Ofcom) has reached ``warn_fraction`` of the target / the target;
* ``pause_over_limit``: an agent has been paused longer than the pause code's ``max_s``;
* ``calls_waiting``: an answered person has waited longer than ``max_wait_s`` for an agent
  (each second here is a potential abandon: the drop timer is running).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class AlertRules:
    warn_fraction: float = 0.8  # of the abandon target
    max_wait_s: float = 5.0
    min_window_answers: int = 20  # no abandon alert on a rate computed from a handful of answers

    def __post_init__(self) -> None:
        if not 0 < self.warn_fraction <= 1:
            raise ValueError("warn_fraction must be in (0, 1]")
        if self.max_wait_s < 0 or self.min_window_answers < 0:
            raise ValueError("max_wait_s and min_window_answers must be >= 0")


def pct(rate: float) -> str:
    """``0.0225`` -> ``2.3%``: one decimal, halves rounded up, as ``assets/wallboard.js``
    formats the gauges (so an alert never says 2.2 % beside a gauge showing 2.3 %)."""
    return f"{math.floor(rate * 1000 + 0.5 + 1e-9) / 10:.1f}%"


def _alert(rule: str, severity: str, campaign_id: int | None, message: str, **extra: Any) -> dict[str, Any]:
    return {"rule": rule, "severity": severity, "campaign_id": campaign_id, "message": message, **extra}


def campaign_alerts(c: Mapping[str, Any], rules: AlertRules) -> list[dict[str, Any]]:
    out = []
    cid, name = c["id"], c["name"]
    hopper = c["hopper"]
    if c.get("active", True) and hopper.get("depth") == 0:
        reasons = hopper.get("reasons") or {}
        top = sorted(((n, r) for r, n in reasons.items() if r != "dialable" and n), reverse=True)[:3]
        why = ", ".join(f"{r} {n}" for n, r in top)
        out.append(_alert("hopper_empty", "critical", cid, f"{name}: hopper empty" + (f" ({why})" if why else "")))
    ab = c["abandon"]
    rate, target = ab.get("window"), ab.get("target") or 0.0
    if rate is not None and target > 0 and ab.get("window_answers", 0) >= rules.min_window_answers:
        text = f"{pct(rate)} ({ab.get('window_name', '')}) vs target {pct(target)}"
        if rate >= target:
            out.append(_alert("abandon_over_target", "critical", cid, f"{name}: abandon rate {text}"))
        elif rate >= rules.warn_fraction * target:
            out.append(_alert("abandon_near_target", "warning", cid, f"{name}: abandon rate {text}"))
    calls = c["calls"]
    if calls.get("waiting", 0) and calls.get("longest_wait_s", 0.0) > rules.max_wait_s:
        out.append(_alert("calls_waiting", "critical", cid,
                          f"{name}: {calls['waiting']} waiting, longest {calls['longest_wait_s']:.0f}s"))
    return out


def agent_alerts(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for a in rows:
        if a.get("over_limit"):
            out.append(_alert("pause_over_limit", "warning", a.get("campaign_id"),
                              f"{a['name']} paused {a['mmss']} ({a['pause_code']}, limit {a['pause_limit_s']}s)",
                              agent_id=a["id"]))
    return out


def evaluate(campaigns: Sequence[Mapping[str, Any]], agents: Sequence[Mapping[str, Any]],
             rules: AlertRules) -> list[dict[str, Any]]:
    """Every firing alert, most severe first (stable within a severity)."""
    alerts: list[dict[str, Any]] = []
    for c in campaigns:
        alerts += campaign_alerts(c, rules)
    alerts += agent_alerts(agents)
    return sorted(alerts, key=lambda a: SEVERITY_ORDER.get(a["severity"], 9))
