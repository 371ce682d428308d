"""Abandon-rate tracking per campaign, and the per-tick guard the dialing loop applies.

Two regulators, two figures:

* US FTC Telemarketing Sales Rule, 16 CFR 310.4(b)(4)(i): abandoned calls must not exceed 3 % of
  calls *answered by a live person*, measured per campaign over a 30-day period. Machine answers
  are not in the denominator.
* UK Ofcom persistent-misuse statement (2016, §A1.72-A1.77): abandoned calls ≤ 3 % of live calls
  per campaign *per 24 hours*, and calls an AMD classed as machine that were really people (AMD
  false positives) count as abandoned: where we know of one (an agent's disposition, a callback
  complaint) it is recorded with :meth:`AbandonTracker.record_amd_false_positive`.

The hysteresis guard on the 30-day head-room lives in :mod:`dialer.pacing.guard` (the pacing
helper's :class:`~dialer.pacing.guard.AbandonGuard`, fed through ``policy.set_compliance_state``).
This module adds the figures it is fed with (pure tracker + Redis day buckets + the exact
PostgreSQL query) and a *cost-aware* check for one tick: clamp to progressive when the remaining
budget ``target × answers − abandons`` is smaller than what this tick's over-dial could cost if
every surplus call were answered by a person and found no agent.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
import sqlalchemy as sa

logger = logging.getLogger(__name__)

DAY_S = 86_400.0
FTC_WINDOW_S = 30 * DAY_S
OFCOM_WINDOW_S = DAY_S
BUCKET_TTL_S = 32 * 86_400


@dataclass(frozen=True)
class AbandonFigures:
    answers: int  # live (human) answers
    abandons: int
    amd_false_positives: int = 0

    @property
    def rate(self) -> float:
        return self.abandons / self.answers if self.answers else 0.0

    @property
    def ofcom_rate(self) -> float:
        """Ofcom counts an AMD false positive as a live call that was abandoned."""
        live = self.answers + self.amd_false_positives
        return (self.abandons + self.amd_false_positives) / live if live else 0.0

    def budget(self, target: float) -> float:
        """Abandons still allowed before the rate crosses ``target`` (negative: already over)."""
        return target * self.answers - self.abandons


class AbandonTracker:
    """Exact rolling windows over event timestamps (pure: every method takes ``now``)."""

    def __init__(self, window_s: float = FTC_WINDOW_S) -> None:
        if window_s <= 0:
            raise ValueError("window_s must be > 0")
        self.window_s = window_s
        self._events: deque[tuple[float, str]] = deque()  # (t, "answer" | "abandon" | "amd_fp")

    def _add(self, now: float, kind: str) -> None:
        if self._events and now < self._events[-1][0]:
            raise ValueError("events must be recorded in time order")
        self._events.append((now, kind))

    def record_answer(self, now: float) -> None:
        self._add(now, "answer")

    def record_abandon(self, now: float) -> None:
        """An abandon is also a live answer: call :meth:`record_answer` for it as well."""
        self._add(now, "abandon")

    def record_amd_false_positive(self, now: float) -> None:
        self._add(now, "amd_fp")

    def figures(self, now: float, window_s: float | None = None) -> AbandonFigures:
        window = self.window_s if window_s is None else window_s
        while self._events and self._events[0][0] <= now - self.window_s:
            self._events.popleft()
        counts = {"answer": 0, "abandon": 0, "amd_fp": 0}
        for t, kind in self._events:
            if now - window < t <= now:
                counts[kind] += 1
        return AbandonFigures(counts["answer"], counts["abandon"], counts["amd_fp"])

    def ftc(self, now: float) -> AbandonFigures:
        return self.figures(now, FTC_WINDOW_S)

    def ofcom(self, now: float) -> AbandonFigures:
        return self.figures(now, OFCOM_WINDOW_S)


def tick_cost(proposed: int, progressive: int, human_answer_rate: float = 1.0) -> float:
    """Abandons one tick could add in the worst case: every call beyond one per idle agent, answered."""
    if not 0 <= human_answer_rate <= 1:
        raise ValueError("human_answer_rate must be within [0, 1]")
    return max(0, proposed - max(progressive, 0)) * human_answer_rate


def clamp_for_tick(
    proposed: int, progressive: int, figures: AbandonFigures, target: float, human_answer_rate: float = 1.0
) -> tuple[int, bool]:
    """(calls to place, clamped?): progressive when this tick's over-dial could overspend the budget.

    ``progressive`` (idle agents minus calls already ringing/waiting) cannot abandon a call, so it
    is always allowed; only the surplus is at risk.
    """
    if not 0 < target < 1:
        raise ValueError("target must be in (0, 1)")
    if proposed <= progressive:
        return proposed, False
    if figures.budget(target) < tick_cost(proposed, progressive, human_answer_rate):
        return max(progressive, 0), True
    return proposed, False


# --- Redis day buckets (fast, shared by every process) -------------------------------------------


def _bucket_key(campaign_id: int, day: str) -> str:
    return f"pyd:campaign:{campaign_id}:abandon:{day}"


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y%m%d")


class RedisAbandonCounts:
    """Per-campaign, per-UTC-day counters ``answers`` / ``abandons`` / ``amd_fp`` (32-day TTL).

    Day granularity: the 30-day figure covers today plus the 29 previous UTC days, the same
    approximation as :class:`dialer.pacing.guard.RollingAbandonWindow`; the exact figure comes
    from :func:`pg_figures`.
    """

    def __init__(self, client: redis.Redis) -> None:
        self.r: Any = client

    def record(self, campaign_id: int, now: float, *, answers: int = 0, abandons: int = 0, amd_fp: int = 0) -> None:
        key = _bucket_key(campaign_id, _day(now))
        with self.r.pipeline() as pipe:
            for name, n in (("answers", answers), ("abandons", abandons), ("amd_fp", amd_fp)):
                if n:
                    pipe.hincrby(key, name, n)
            pipe.expire(key, BUCKET_TTL_S)
            pipe.execute()

    def figures(self, campaign_id: int, now: float, days: int = 30) -> AbandonFigures:
        with self.r.pipeline(transaction=False) as pipe:
            for back in range(days):
                pipe.hmget(_bucket_key(campaign_id, _day(now - back * DAY_S)), "answers", "abandons", "amd_fp")
            rows = pipe.execute()
        totals = [sum(int(row[i] or 0) for row in rows) for i in range(3)]
        return AbandonFigures(*totals)


# --- PostgreSQL (the system of record) -----------------------------------------------------------

# call_attempts.outcome (core.models_dialing.CALL_OUTCOMES): "human" = put through to an agent.
LIVE_ANSWER_OUTCOMES = ("human", "abandoned")

_PG_SQL = sa.text(
    """
    SELECT count(*) FILTER (WHERE outcome IN ('human', 'abandoned')) AS answers,
           count(*) FILTER (WHERE outcome = 'abandoned') AS abandons
      FROM call_attempts
     WHERE campaign_id = :campaign_id AND answered_at > :since AND answered_at <= :now
    """
)


def pg_figures(conn: sa.Connection, campaign_id: int, now: datetime, window: timedelta) -> AbandonFigures:
    """Exact figures from finalised call attempts (outcomes written by :mod:`dialer.cdr`)."""
    row = conn.execute(_PG_SQL, {"campaign_id": campaign_id, "since": now - window, "now": now}).one()
    return AbandonFigures(int(row.answers), int(row.abandons))
