"""What-if pacing: run :mod:`dialer.simulate` on a campaign's observed statistics.

The manager sees predicted talk utilisation and abandonment per dial method before changing the
live setting. Statistics come from the last ``days`` of ``call_attempts``; with too little history
(fewer than :data:`MIN_ANSWERED` answered calls) the campaign's settings and industry-typical
defaults are used instead, and the result says so (``CampaignStats.source``).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from dialer.simulate_engine import simulate
from dialer.simulate_metrics import aggregate
from dialer.simulate_scenario import parse_scenario

logger = logging.getLogger(__name__)

MIN_ANSWERED = 30
DEFAULT_ANSWER_RATE = 0.25
DEFAULT_TALK_S = 90.0
DEFAULT_AGENTS = 10
VIRTUAL_S = 3600.0  # one virtual hour, one seed: answers in a few seconds
METHODS = ("progressive", "ratio", "vicidial-adapt", "predictive")


@dataclass(frozen=True)
class CampaignStats:
    answer_rate: float
    machine_rate: float
    talk_s: float
    wrap_s: float
    agents: int
    attempts: int
    source: str  # "history" | "defaults"

    def describe(self) -> str:
        base = (f"answer rate {self.answer_rate:.0%}, machines {self.machine_rate:.0%}, talk {self.talk_s:.0f} s, "
                f"wrap {self.wrap_s:.0f} s, {self.agents} agents")
        if self.source == "history":
            return f"Observed over {self.attempts:,} calls: {base}."
        return f"Not enough call history ({self.attempts:,} calls): using the campaign's settings and defaults ({base})."


def observed_stats(conn: sa.Connection, campaign_id: int, *, now: dt.datetime, days: int = 7,
                   wrap_s: float = 10.0) -> CampaignStats:
    row = conn.execute(sa.text("""
        SELECT count(*) AS attempts,
               count(*) FILTER (WHERE outcome = 'human') AS humans,
               count(*) FILTER (WHERE outcome = 'machine') AS machines,
               avg(EXTRACT(EPOCH FROM (ended_at - connected_at)))
                   FILTER (WHERE connected_at IS NOT NULL AND ended_at > connected_at) AS talk_s,
               count(DISTINCT agent_id) AS agents
          FROM call_attempts
         WHERE campaign_id = :c AND dialed_at >= :since AND outcome IS NOT NULL"""),
        {"c": campaign_id, "since": now - dt.timedelta(days=days)}).one()
    attempts = int(row.attempts or 0)
    if int(row.humans or 0) < MIN_ANSWERED:
        return CampaignStats(DEFAULT_ANSWER_RATE, 0.2, DEFAULT_TALK_S, wrap_s, DEFAULT_AGENTS, attempts, "defaults")
    answer = row.humans / attempts
    machine = row.machines / attempts
    talk = float(row.talk_s) if row.talk_s else DEFAULT_TALK_S
    return CampaignStats(answer, machine, talk, wrap_s, max(int(row.agents or 0), 1), attempts, "history")


def scenario_for(stats: CampaignStats, *, target_abandon_rate: float, drop_after_s: float,
                 dial_timeout_s: float, duration_s: float = VIRTUAL_S, seed: int = 1) -> dict[str, Any]:
    """A ``bench/scenarios`` scenario dict (README §1) describing this campaign."""
    answer = min(max(stats.answer_rate, 0.01), 0.95)
    machine = min(max(stats.machine_rate, 0.0), 0.98 - answer)
    return {
        "id": "what-if",
        "description": "campaign what-if",
        "seeds": [seed],
        "duration_s": duration_s,
        "report_warmup_excluded_s": min(300.0, duration_s / 4),
        "agents": {"schedule": [[0, max(stats.agents, 1)]]},
        "pacing_tick_s": 1.0,
        "limits": {"max_lines": None, "max_lines_per_agent": 5.0, "max_dials_per_s": None},
        "outcomes": {"answer_prob": {"type": "constant", "value": answer}, "machine_prob": machine,
                     "fail_prob": min(0.05, max(0.0, 1.0 - answer - machine))},
        "timing": {
            "ring_live_s": {"dist": "lognormal", "mean": 8.0, "sd": 4.0, "clip": [0.5, max(dial_timeout_s - 0.5, 1.0)]},
            "ring_machine_s": {"dist": "uniform", "lo": 12.0, "hi": 22.0},
            "fail_detect_s": {"dist": "uniform", "lo": 1.0, "hi": 4.0},
            "no_answer_timeout_s": max(dial_timeout_s, 15.0),
            "talk_s": {"dist": "lognormal", "mean": max(stats.talk_s, 5.0), "sd": max(stats.talk_s, 5.0) * 0.6},
            "wrap_s": {"dist": "fixed", "value": max(stats.wrap_s, 0.0)},
            "machine_handle_s": 6.0,
        },
        "amd": {"enabled": False},
        "compliance": {"drop_after_s": drop_after_s, "drop_clock_from": "answer",
                       "target_abandon_rate": target_abandon_rate, "window": "campaign",
                       "count_amd_false_positives": True, "min_ring_s": 15.0},
    }


def run_whatif(scenario: dict[str, Any], methods: tuple[str, ...] = METHODS) -> list[dict[str, Any]]:
    """One seed per method (common random numbers: every method sees the same leads)."""
    sc = parse_scenario(scenario)
    rows = []
    for method in methods:
        started = time.perf_counter()
        result = aggregate(sc, [simulate(sc, method, sc.seeds[0])])
        rows.append({
            "method": method,
            "utilization": result["talk_utilization"],
            "abandon_rate": result["abandon_rate"],
            "dials_per_agent_hour": result["dials_per_agent_hour"],
            "wall_s": time.perf_counter() - started,
        })
    return rows


def whatif_figure(rows: list[dict[str, Any]], target_abandon_rate: float) -> Any:
    """Two panels per dial method: predicted talk utilisation, and abandon rate against the target."""
    from plotly.subplots import make_subplots

    methods = [r["method"] for r in rows]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Talk utilisation (higher is better)",
                                                        "Abandon rate (must stay under the target)"))
    fig.add_bar(x=methods, y=[r["utilization"] for r in rows], marker_color="#2563eb", name="utilisation",
                text=[f"{r['utilization']:.0%}" for r in rows], textposition="outside", row=1, col=1)
    over = ["#dc2626" if r["abandon_rate"] > target_abandon_rate else "#16a34a" for r in rows]
    fig.add_bar(x=methods, y=[r["abandon_rate"] for r in rows], marker_color=over, name="abandon rate",
                text=[f"{r['abandon_rate']:.1%}" for r in rows], textposition="outside", row=1, col=2)
    fig.add_hline(y=target_abandon_rate, line_dash="dash", line_color="#dc2626", row=1, col=2,
                  annotation_text=f"target {target_abandon_rate:.1%}", annotation_position="top left")
    top = max([r["abandon_rate"] for r in rows] + [target_abandon_rate]) * 1.35 or 0.05
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05], row=1, col=1)
    fig.update_yaxes(tickformat=".1%", range=[0, top], row=1, col=2)
    fig.update_layout(height=360, margin={"l": 40, "r": 10, "t": 40, "b": 40}, showlegend=False,
                      template="plotly_white")
    return fig
