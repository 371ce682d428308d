"""Abandon-rate tracking per campaign, and the per-tick guard the dialing loop applies.

Two regulators, two figures:

* US FTC Telemarketing Sales Rule, 16 CFR 310.4(b)(4)(i): abandoned calls must not exceed 3 % of
  calls *answered by a live person*, measured per campaign over a 30-day period. Machine answers
  are not in the denominator.
* UK Ofcom persistent-misuse statement (2016, §A1.72-A1.77): abandoned calls ≤ 3 % of live calls
  per campaign *per 24 hours*, and calls an AMD classed as machine that were really people (AMD
  false positives) count as abandoned. Where one is *known* (an agent's disposition, a callback
  complaint) :meth:`AbandonTracker.record_amd_false_positive` records it; the production counters use
  the estimate described below, because per call the truth is unknowable.

The per-tick guard (:class:`~dialer.pacing.guard.TickGuard`, applied through
:func:`~dialer.pacing.guard.guarded_calls` by the loop *and* by ``dialer.simulate``) clamps a tick to
progressive when the window's remaining budget ``target × answers − abandons`` cannot cover what the
tick could cost: the people already waiting plus the surplus calls times the observed human answer
rate (pessimistic prior for a young campaign). This module holds the figures it is fed with: the
pure tracker, the Redis counters every process shares, and the exact PostgreSQL query.

AMD false positives (Ofcom): the dialer cannot know which machine verdict was a person, so each live
answer AMD passed as human adds the *estimate* ``r / (1 − r)`` false positives (``r`` = the engine's
false-positive rate on live speech, :data:`DEFAULT_AMD_FALSE_POSITIVE_RATE` = 1 % unless the loop is told
otherwise; see :func:`~dialer.pacing.guard.amd_false_positive_estimate`). Ofcom's guidance accepts a
reasoned estimate where the exact count is unknowable. A "human" verdict the agent then dispositions
as not live (``human_answered`` false: "A" answering machine) was a machine AMD missed, not a person
it heard, so it takes its estimate back (the loop records ``−r / (1 − r)``; :func:`pg_figures` leaves it
out of the base). A dropped call's identity stays unknown: it stays in the base and in the abandons.

Windows: the FTC figure sums UTC-day buckets (today plus the 29 previous days; the exact figure is
:func:`pg_figures`); the Ofcom figure is a *rolling* 24 h, summed from 10-minute buckets (the 145
buckets that cover at least the last 24 h, at most 24 h 10 min), not the calendar day.
"""

from __future__ import annotations

import logging
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
import sqlalchemy as sa

from dialer.pacing.guard import (  # noqa: F401 - re-exported: the figures and the guard the loop applies
    DEFAULT_AMD_FALSE_POSITIVE_RATE,
    AbandonFigures,
    TickGuard,
    amd_false_positive_estimate,
)

logger = logging.getLogger(__name__)

DAY_S = 86_400.0
FTC_WINDOW_S = 30 * DAY_S
OFCOM_WINDOW_S = DAY_S
BUCKET_TTL_S = 32 * 86_400


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


# --- Redis buckets (fast, shared by every process) ----------------------------------------------

SLOT_S = 600  # Ofcom rolling-24 h granularity
SLOT_TTL_S = int(DAY_S) + 2 * SLOT_S
FIELDS = ("answers", "abandons", "amd_fp")


def _bucket_key(campaign_id: int, day: str) -> str:
    return f"pyd:campaign:{campaign_id}:abandon:{day}"


def _slot_key(campaign_id: int, slot: int) -> str:
    return f"pyd:campaign:{campaign_id}:abandon:s{slot}"


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y%m%d")


class RedisAbandonCounts:
    """Per-campaign counters ``answers`` / ``abandons`` / ``amd_fp`` (a float: estimated) in two layouts.

    * UTC-day hashes (32-day TTL) for the 30-day FTC figure: today plus the 29 previous UTC days, the
      same approximation as :class:`dialer.pacing.guard.RollingAbandonWindow`;
    * 10-minute hashes (≈ 24 h TTL) for the rolling 24 h Ofcom figure.
    """

    def __init__(self, client: redis.Redis) -> None:
        self.r: Any = client

    def record(self, campaign_id: int, now: float, *, answers: int = 0, abandons: int = 0,
               amd_fp: float = 0.0) -> None:
        day_key = _bucket_key(campaign_id, _day(now))
        slot_key = _slot_key(campaign_id, int(now // SLOT_S))
        with self.r.pipeline() as pipe:
            for key, ttl in ((day_key, BUCKET_TTL_S), (slot_key, SLOT_TTL_S)):
                for name, n in (("answers", answers), ("abandons", abandons)):
                    if n:
                        pipe.hincrby(key, name, n)
                if amd_fp:
                    pipe.hincrbyfloat(key, "amd_fp", amd_fp)
                pipe.expire(key, ttl)
            pipe.execute()

    def figures(self, campaign_id: int, now: float, days: int = 30) -> AbandonFigures:
        """``days=1`` is the rolling 24 h (Ofcom); otherwise the last ``days`` UTC days."""
        if days == 1:
            return self.rolling_24h(campaign_id, now)
        return self._sum([_bucket_key(campaign_id, _day(now - back * DAY_S)) for back in range(days)])

    def rolling_24h(self, campaign_id: int, now: float) -> AbandonFigures:
        last = int(now // SLOT_S)
        first = int((now - DAY_S) // SLOT_S)  # the slot holding now − 24 h: included (at least 24 h)
        return self._sum([_slot_key(campaign_id, s) for s in range(first, last + 1)])

    def _sum(self, keys: list[str]) -> AbandonFigures:
        with self.r.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hmget(key, *FIELDS)
            rows = pipe.execute()
        answers = sum(int(row[0] or 0) for row in rows)
        abandons = sum(int(row[1] or 0) for row in rows)
        # ≥ 0: a machine an agent heard takes its estimate back in a later bucket than the one that
        # added it, which may have left the window already
        fp = max(0.0, sum(float(row[2] or 0.0) for row in rows))
        return AbandonFigures(answers, abandons, fp)


# --- PostgreSQL (the system of record) -----------------------------------------------------------

# call_attempts.outcome (core.models_dialing.CALL_OUTCOMES): "human" = put through to an agent.
LIVE_ANSWER_OUTCOMES = ("human", "abandoned")

_PG_SQL = sa.text(
    """
    SELECT count(*) FILTER (WHERE outcome IN ('human', 'abandoned')) AS answers,
           count(*) FILTER (WHERE outcome = 'abandoned') AS abandons,
           count(*) FILTER (WHERE outcome IN ('human', 'abandoned') AND amd_verdict IN ('human', 'notsure')
                              AND COALESCE((SELECT d.human_answered FROM dispositions d
                                             WHERE d.code = ca.disposition_code
                                               AND (d.campaign_id = ca.campaign_id OR d.campaign_id IS NULL)
                                             ORDER BY d.campaign_id IS NULL LIMIT 1),
                                           ca.disposition_code IS DISTINCT FROM 'A'))
               AS screened
      FROM call_attempts ca
     WHERE ca.campaign_id = :campaign_id AND ca.answered_at > :since AND ca.answered_at <= :now
    """
)


def pg_figures(conn: sa.Connection, campaign_id: int, now: datetime, window: timedelta,
               amd_fp_rate: float = DEFAULT_AMD_FALSE_POSITIVE_RATE) -> AbandonFigures:
    """Exact figures from finalised call attempts (outcomes written by :mod:`dialer.cdr`), with the AMD
    false-positive estimate over the live answers AMD passed as human (the same rule as the Redis counters):
    an answer the agent dispositioned with a not-live code (``human_answered`` false, e.g. "A") was a
    machine AMD missed, not a person it heard, so it is not in the estimate's base ("A" is not live unless
    a disposition row says otherwise, as in :class:`dialer.loop.CampaignSettings`)."""
    row = conn.execute(_PG_SQL, {"campaign_id": campaign_id, "since": now - window, "now": now}).one()
    fp = amd_false_positive_estimate(float(row.screened), amd_fp_rate) if row.screened else 0.0
    return AbandonFigures(int(row.answers), int(row.abandons), fp)
