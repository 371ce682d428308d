"""Figures the live state does not keep, derived by the aggregator as time passes. Pure: ``now`` in.

* :class:`HourWindow`: the last hour's human answers and abandons per campaign, from samples of
  today's counters (``pyd:campaign:<cid>:stats``): the difference between now and the sample an
  hour ago. Same source as the "today" figures, so the two can never disagree; a counter that
  went *down* means the UTC day rolled over (the hash was reset), and the history restarts.

(The average handle time is not tracked here: the aggregator reads it from ``call_attempts``,
:func:`dialer.wallboard.sources.load_handle_times`, so it is talk + wrap and survives restarts.)
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

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
