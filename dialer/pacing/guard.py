"""The rolling abandon-rate guard: clamp dialing to progressive before the 30-day rate can cross the cap.

The US Telemarketing Sales Rule (16 CFR 310.4(b)(4)(i)) measures abandons as a share of calls answered by
a live person *per campaign over a 30-day period*; Ofcom's persistent-misuse policy uses a similar
rolling figure. A predictive policy only steers its own near-term rate, so the production loop feeds
the campaign's rolling totals here and the guard forbids any over-dial (anything beyond one line per
idle agent, which cannot abandon) while the remaining head-room is too small to absorb a few more drops.

Everything takes ``now`` (seconds, any monotonic origin): no clock is read.
"""

from __future__ import annotations

import logging
from collections import deque

logger = logging.getLogger(__name__)

DAY_S = 86_400.0


class AbandonGuard:
    """Hysteresis on the abandon head-room ``target × answers − abandons`` (in abandons).

    * clamps when head-room < ``reserve_abandons`` (the next few drops would breach the cap);
    * releases only once head-room ≥ ``release_abandons`` (no flapping at the boundary);
    * clamps when the figures are older than ``stale_after_s`` (fail safe: unknown means unsafe).
    """

    def __init__(
        self,
        target: float = 0.03,
        reserve_abandons: float = 3.0,
        release_abandons: float = 6.0,
        stale_after_s: float | None = 300.0,
    ) -> None:
        if not 0 < target < 1:
            raise ValueError("target must be in (0, 1)")
        if release_abandons < reserve_abandons:
            raise ValueError("release_abandons must be ≥ reserve_abandons")
        self.target = target
        self.reserve = reserve_abandons
        self.release = release_abandons
        self.stale_after_s = stale_after_s
        self.answers = 0
        self.abandons = 0
        self.updated_at: float | None = None
        self._clamped = False

    def update(self, answers: int, abandons: int, now: float | None = None) -> None:
        if answers < 0 or abandons < 0 or abandons > answers:
            raise ValueError(f"bad compliance figures: answers={answers} abandons={abandons}")
        self.answers, self.abandons = int(answers), int(abandons)
        self.updated_at = now
        headroom = self.headroom()
        if self._clamped and headroom >= self.release:
            self._clamped = False
            logger.info("abandon guard released: head-room %.1f abandons", headroom)
        elif not self._clamped and headroom < self.reserve:
            self._clamped = True
            logger.warning("abandon guard clamps to progressive: %d/%d abandons", abandons, answers)

    def headroom(self) -> float:
        return self.target * self.answers - self.abandons

    def rate(self) -> float:
        return self.abandons / self.answers if self.answers else 0.0

    def clamped(self, now: float | None = None) -> bool:
        if (
            self.stale_after_s is not None
            and now is not None
            and self.updated_at is not None
            and now - self.updated_at > self.stale_after_s
        ):
            return True
        return self._clamped


class RollingAbandonWindow:
    """Per-campaign live answers and abandons over the trailing ``days`` (day buckets, O(1) per event)."""

    def __init__(self, days: int = 30) -> None:
        if days < 1:
            raise ValueError("days must be ≥ 1")
        self.days = days
        self._buckets: deque[list[int]] = deque()  # [day_index, answers, abandons]

    def _bucket(self, now: float) -> list[int]:
        day = int(now // DAY_S)
        if self._buckets and day < self._buckets[-1][0]:
            raise ValueError("events must arrive in time order")
        if not self._buckets or self._buckets[-1][0] != day:
            self._buckets.append([day, 0, 0])
        self._expire(now)
        return self._buckets[-1]

    def _expire(self, now: float) -> None:
        oldest = int(now // DAY_S) - self.days + 1
        while self._buckets and self._buckets[0][0] < oldest:
            self._buckets.popleft()

    def record_answer(self, now: float, abandoned: bool = False) -> None:
        b = self._bucket(now)
        b[1] += 1
        if abandoned:
            b[2] += 1

    def totals(self, now: float) -> tuple[int, int]:
        self._expire(now)
        return sum(b[1] for b in self._buckets), sum(b[2] for b in self._buckets)
