"""The wallboard snapshot: one JSON document for every board, computed once by the aggregator.

:func:`build` is pure: the aggregator reads Redis / PostgreSQL into the input dataclasses below and
calls it with ``now``. The output is plain JSON (ints, floats, strings) so the web process only
forwards bytes, and ``assets/wallboard.js`` renders it without another round trip.

Figures and where they come from (see :mod:`dialer.live` for the keys):

* agent counters: the agent hashes (state, pause code); "paused by code" counts per pause code;
* calls: ``ringing`` = dialing + ringing, ``waiting`` = answered humans not yet with an agent
  (the drop clock, scored by the answer time), ``in progress`` = answered + connected;
* abandon rate: abandons / live answers (16 CFR 310.4(b)(4)(i): machine answers are not in the
  denominator) today, over the last hour and over the rolling 30 days (or 24 h for Ofcom);
* contacts per hour: human answers over the last hour; AHT: mean talk + wrap of calls that ended
  today, as measured by the aggregator from the event streams.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dialer.wallboard.alerts import AlertRules, evaluate
from dialer.wallboard.tones import mmss, tone

SCHEMA = 1
IN_PROGRESS_STATES = ("answered", "connected")
RINGING_STATES = ("dialing", "ringing")


@dataclass(frozen=True)
class CampaignInfo:
    id: int
    name: str
    dial_method: str = "progressive"
    target_abandon_rate: float = 0.03
    abandon_window: str = "ftc_30d"
    active: bool = True


@dataclass(frozen=True)
class Ratio:
    """``num / den`` that stays summable across campaigns (rates are not)."""

    num: int = 0
    den: int = 0

    @property
    def rate(self) -> float | None:
        return self.num / self.den if self.den else None

    def __add__(self, other: Ratio) -> Ratio:
        return Ratio(self.num + other.num, self.den + other.den)


@dataclass(frozen=True)
class CampaignFigures:
    """Everything about one campaign that is not per agent."""

    info: CampaignInfo
    calls: Mapping[str, Sequence[float]] = field(default_factory=dict)  # state -> entry scores (epoch s)
    stats: Mapping[str, int] = field(default_factory=dict)  # today's counters (dialer.live STAT_FIELDS)
    dial_level: float | None = None
    hopper_depth: int | None = None
    dialable: int | None = None
    refusals: Mapping[str, int] | None = None  # leads_repo.refusal_counts, refreshed slowly
    abandon_hour: Ratio = Ratio()
    abandon_window: Ratio = Ratio()  # rolling 30 d (FTC) or 24 h (Ofcom), per the campaign
    handled: Ratio = Ratio()  # num = handle seconds of calls ended today, den = how many


@dataclass(frozen=True)
class AgentRow:
    agent_id: int
    name: str
    state: str
    campaign_id: int | None
    since: float | None
    calls_today: int = 0
    pause_code: str | None = None
    call_id: str | None = None
    customer: str | None = None


def _rate(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def agent_counts(agents: Iterable[AgentRow]) -> dict[str, Any]:
    states = Counter(a.state for a in agents)
    paused = Counter((a.pause_code or "-") for a in agents if a.state == "paused")
    return {
        "logged_in": sum(states.values()),
        "ready": states["ready"],
        "reserved": states["reserved"],
        "incall": states["incall"],
        "wrap": states["wrap"],
        "paused": states["paused"],
        "dead": states["dead"],
        "paused_by_code": dict(sorted(paused.items())),
    }


def call_counts(calls: Mapping[str, Sequence[float]], now: float) -> dict[str, Any]:
    waiting = list(calls.get("waiting", ()))
    return {
        "ringing": sum(len(calls.get(s, ())) for s in RINGING_STATES),
        "waiting": len(waiting),
        "longest_wait_s": round(max(0.0, now - min(waiting)), 1) if waiting else 0.0,
        "in_progress": sum(len(calls.get(s, ())) for s in IN_PROGRESS_STATES),
    }


def summary(fig: CampaignFigures, agents: Sequence[AgentRow], now: float, warn_fraction: float = 0.8) -> dict[str, Any]:
    """One board's figures. ``abandon.levels`` is each gauge's colour step (:func:`abandon_level`
    with the alert rules' ``warn_fraction``), computed here so the board and the alerts can never
    disagree; ``assets/wallboard.js`` only maps a level to a colour."""
    stats = fig.stats
    humans, abandons = int(stats.get("humans", 0)), int(stats.get("abandons", 0))
    today = Ratio(abandons, humans)
    target = fig.info.target_abandon_rate
    return {
        "id": fig.info.id,
        "name": fig.info.name,
        "active": fig.info.active,
        "dial_method": fig.info.dial_method,
        "dial_level": fig.dial_level,
        "agents": agent_counts(agents),
        "calls": call_counts(fig.calls, now),
        "abandon": {
            "today": _rate(today.rate),
            "hour": _rate(fig.abandon_hour.rate),
            "window": _rate(fig.abandon_window.rate),
            "window_name": "24 h" if fig.info.abandon_window == "ofcom_24h" else "30 days",
            "window_answers": fig.abandon_window.den,
            "window_abandons": fig.abandon_window.num,
            "target": target,
            "level": abandon_level(fig.abandon_window.rate, target, warn_fraction),
            "levels": {name: abandon_level(ratio.rate, target, warn_fraction)
                       for name, ratio in (("today", today), ("hour", fig.abandon_hour),
                                           ("window", fig.abandon_window))},
        },
        "today": {
            "calls": int(stats.get("dials", 0)),
            "humans": humans,
            "machines": int(stats.get("machines", 0)),
            "contacts_per_hour": fig.abandon_hour.den,  # live answers over the last 60 minutes
            "conversions": int(stats.get("sales", 0)),
            "aht_s": round(fig.handled.rate, 1) if fig.handled.rate is not None else None,
        },
        "hopper": {"depth": fig.hopper_depth, "dialable": fig.dialable,
                   "reasons": dict(fig.refusals) if fig.refusals else None},
    }


def abandon_level(rate: float | None, target: float, warn_fraction: float = 0.8) -> str:
    """Gauge colour: ``ok`` below ``warn_fraction`` x target, ``warn`` up to it, ``crit`` at/over."""
    if rate is None or target <= 0:
        return "ok"
    if rate >= target:
        return "crit"
    return "warn" if rate >= warn_fraction * target else "ok"


def merge(figures: Sequence[CampaignFigures]) -> CampaignFigures:
    """All campaigns as one (the overview board). Rates are re-derived from summed ratios."""
    calls: dict[str, list[float]] = {}
    stats: Counter[str] = Counter()
    for f in figures:
        for state, scores in f.calls.items():
            calls.setdefault(state, []).extend(scores)
        stats.update({k: int(v) for k, v in f.stats.items()})
    targets = [f.info.target_abandon_rate for f in figures if f.info.target_abandon_rate > 0]
    dial_levels = [f.dial_level for f in figures if f.dial_level is not None]
    depths = [f.hopper_depth for f in figures if f.hopper_depth is not None]
    dialable = [f.dialable for f in figures if f.dialable is not None]
    zero = Ratio()
    refusals: Counter[str] = Counter()
    for f in figures:
        refusals.update(f.refusals or {})
    return CampaignFigures(
        info=CampaignInfo(0, "All campaigns", dial_method="mixed" if len({f.info.dial_method for f in figures}) > 1
                          else (figures[0].info.dial_method if figures else "-"),
                          target_abandon_rate=min(targets) if targets else 0.03),
        calls=calls, stats=dict(stats),
        dial_level=round(sum(dial_levels) / len(dial_levels), 3) if dial_levels else None,
        hopper_depth=sum(depths) if depths else None, dialable=sum(dialable) if dialable else None,
        refusals=dict(refusals) if refusals else None,
        abandon_hour=sum((f.abandon_hour for f in figures), zero),
        abandon_window=sum((f.abandon_window for f in figures), zero),
        handled=sum((f.handled for f in figures), zero),
    )


def agent_json(a: AgentRow, now: float, names: Mapping[int, str], pause_limits: Mapping[Any, int]) -> dict[str, Any]:
    seconds = max(0.0, now - a.since) if a.since else None
    limit = pause_limit(pause_limits, a.campaign_id, a.pause_code) if a.state == "paused" else None
    over = limit is not None and seconds is not None and seconds > limit
    return {
        "id": a.agent_id, "name": a.name, "state": a.state, "seconds": None if seconds is None else int(seconds),
        "mmss": mmss(seconds), "tone": tone(a.state, seconds or 0.0, over_limit=over), "over_limit": over,
        "campaign_id": a.campaign_id, "campaign": names.get(a.campaign_id or -1, ""),
        "calls_today": a.calls_today, "pause_code": a.pause_code or "", "call_id": a.call_id or "",
        "customer": a.customer or "", "pause_limit_s": limit,
    }


def pause_limit(limits: Mapping[Any, int], campaign_id: int | None, code: str | None) -> int | None:
    """A campaign's own pause code wins over the global one (``pause_codes.campaign_id`` NULL)."""
    if not code:
        return None
    return limits.get((campaign_id, code), limits.get((None, code)))


def build(
    figures: Sequence[CampaignFigures],
    agents: Sequence[AgentRow],
    now: float,
    *,
    pause_limits: Mapping[Any, int] | None = None,
    rules: AlertRules | None = None,
    seq: int = 0,
) -> dict[str, Any]:
    """The published document. ``pause_limits``: ``{(campaign_id | None, code): max_s}``."""
    limits = pause_limits or {}
    rules = rules or AlertRules()
    names = {f.info.id: f.info.name for f in figures}
    by_campaign: dict[int | None, list[AgentRow]] = {}
    for a in agents:
        by_campaign.setdefault(a.campaign_id, []).append(a)
    campaigns = [summary(f, by_campaign.get(f.info.id, []), now, rules.warn_fraction) for f in figures]
    rows = [agent_json(a, now, names, limits) for a in sorted(agents, key=lambda x: (x.campaign_id or 0, x.name))]
    alerts = evaluate(campaigns, rows, rules)
    return {
        "v": SCHEMA,
        "seq": seq,
        "generated_at": round(now, 3),
        "campaigns": campaigns,
        "overview": summary(merge(figures), list(agents), now, rules.warn_fraction),
        "agents": rows,
        "alerts": alerts,
    }
