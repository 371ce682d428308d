"""Figures the live state does not keep, derived by the aggregator as time passes. Pure: ``now`` in.

* :class:`HourWindow`: the last hour's human answers and abandons per campaign, from samples of
  today's counters (``pyd:campaign:<cid>:stats``): the difference between now and the sample an
  hour ago. Same source as the "today" figures, so the two can never disagree; a counter that
  went *down* means the UTC day rolled over (the hash was reset), and the history restarts.
* :class:`HandleTimes`: average handle time (bridged to agent -> hangup) of today's calls, from
  the call event stream. It starts from zero when the aggregator starts (documented limitation:
  the exact figure is the analytics store's).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

HOUR_S = 3600.0


@dataclass
class HourWindow:
    sample_every_s: float = 10.0
    span_s: float = HOUR_S
    _samples: dict[int, deque[tuple[float, int, int]]] = field(default_factory=dict)

    def observe(self, campaign_id: int, now: float, humans: int, abandons: int) -> tuple[int, int]:
        """Record today's counters; returns (answers, abandons) over the last ``span_s``."""
        samples = self._samples.setdefault(campaign_id, deque())
        if samples and (humans < samples[-1][1] or abandons < samples[-1][2]):
            samples.clear()  # UTC midnight: the counters restarted
            samples.append((now, 0, 0))
        if not samples or now - samples[-1][0] >= self.sample_every_s:
            samples.append((now, humans, abandons))
        while len(samples) > 1 and samples[1][0] <= now - self.span_s:
            samples.popleft()
        base = samples[0]
        return max(0, humans - base[1]), max(0, abandons - base[2])

    def forget_except(self, campaign_ids: set[int]) -> None:
        for cid in set(self._samples) - campaign_ids:
            del self._samples[cid]


def utc_day(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")


@dataclass
class HandleTimes:
    max_open: int = 50_000  # bound memory if hangups are lost
    _open: dict[str, tuple[int, float]] = field(default_factory=dict)
    _day: str = ""
    _totals: dict[int, tuple[float, int]] = field(default_factory=dict)

    def bridged(self, call_id: str, campaign_id: int, at: float) -> None:
        if len(self._open) >= self.max_open:
            self._open.pop(next(iter(self._open)))  # oldest first (dicts keep insertion order)
        self._open[call_id] = (campaign_id, at)

    def ended(self, call_id: str, at: float) -> None:
        started = self._open.pop(call_id, None)
        if started is None:
            return
        campaign_id, t0 = started
        day = utc_day(at)
        if day != self._day:
            self._day, self._totals = day, {}
        total, count = self._totals.get(campaign_id, (0.0, 0))
        self._totals[campaign_id] = (total + max(0.0, at - t0), count + 1)

    def totals(self, campaign_id: int, now: float) -> tuple[float, int]:
        """(handle seconds, calls) ended today (UTC)."""
        if utc_day(now) != self._day:
            return (0.0, 0)
        return self._totals.get(campaign_id, (0.0, 0))
