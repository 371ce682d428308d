"""The ``vicidial-adapt`` baseline: VICIdial's ADAPT_* dial-level controller, re-implemented from
/work/shared/docs/VICIDIAL.md §1.4–1.9 (prose and formulas; no VICIdial code).

Cadence, all driven by the ``now`` values the policy is given:

* every 1 s a sample (R idle, W waiting, T logged in); the controller averages the last 15 (§1.4);
* every 60 s the since-midnight drop % = 100·drops/answers (answers include drops) is refreshed (§1.5);
* every 15 s the level L is updated (§1.6): proportional step on (R̄ − W̄ + target)/T̄, intensity shaping,
  clamp to [1, max], the 1-minute 50 % halving, the daily cap (HARD_LIMIT → 1, AVERAGE → ½,
  TAPERED → × min(1, ΔHHMM/1000) with the HHMM-integer quirk), floor 1;
* every 2.5 s the dialer places round(L·N) − lines, N = idle + in-call agents (default tally N: busy
  agents earn lines, §1.7). Between dialer ticks it places nothing.

The observation cannot tell talk from wrap-up, so every busy agent counts as INCALL (VICIdial would
count a wrap-up agent as DEAD and excluded from both N and E); with 5–30 s wrap this is a small bias.
"""

from __future__ import annotations

import logging
from collections import deque

from dialer.pacing.base import BasePolicy, PacingObservation

logger = logging.getLogger(__name__)

SAMPLE_S = 1.0
LEVEL_UPDATE_S = 15.0
DROP_STATS_S = 60.0
DIALER_TICK_S = 2.5
DAY_S = 86_400.0
VARIANTS = ("hard_limit", "average", "tapered")


def hhmm_left(latest_hhmm: int, now_hhmm: int) -> int:
    """VICIdial subtracts HHMM integers, not minutes: 2100 − 1745 = 355 (not 315)."""
    return latest_hhmm - now_hhmm


def shape_intensity(p: float, intensity: int) -> float:
    """§1.6 step 3: asymmetric intensity shaping of the percentage step p."""
    i = intensity / 100.0
    return p * (1 + i) if p >= 0 else p * abs(i - 1)


def next_level(
    level: float,
    mean_ready: float,
    mean_waiting: float,
    mean_total: float,
    *,
    intensity: int = 0,
    dl_diff_target: int = 0,
    max_level: float = 3.0,
    calls_last_min: int = 0,
    drops_last_min: int = 0,
    calls_today: int = 0,
    drop_pct_today: float = 0.0,
    drop_limit_pct: float = 3.0,
    variant: str = "hard_limit",
    latest_hhmm: int = 2100,
    now_hhmm: int = 1200,
) -> float:
    """One 15-second dial-level update (§1.6 steps 1–9, without the minimum-agents rule)."""
    e = mean_ready - mean_waiting + dl_diff_target
    m = 0.0 if e == 0 or mean_total == 0 else e / mean_total
    p = shape_intensity(100.0 * m, intensity)
    new = level * (1 + p / 100.0)
    new = max(min(new, max_level), 1.0)
    if calls_last_min > 20 and drops_last_min > 0.5 * calls_last_min:
        new /= 2
    if calls_today > 50 and drop_pct_today > drop_limit_pct:
        if variant == "hard_limit":
            new = 1.0
        elif variant == "average":
            new /= 2
        else:
            left = hhmm_left(latest_hhmm, now_hhmm)
            new = 1.0 if left < 0 else new * min(1.0, left / 1000.0)
    return max(new, 1.0)


class VicidialAdaptPolicy(BasePolicy):
    name = "vicidial-adapt"

    def __init__(
        self,
        variant: str = "hard_limit",
        target_abandon_rate: float = 0.03,
        initial_level: float = 1.0,
        max_level: float = 3.0,
        intensity: int = 0,
        dl_diff_target: int = 0,
        latest_hhmm: int = 2100,
        start_hhmm: int = 900,
        available_only_tally: bool = False,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        if not -40 <= intensity <= 40 or not -40 <= dl_diff_target <= 40:
            raise ValueError("intensity and dl_diff_target must be in −40…40")
        self.variant = variant
        self.drop_limit_pct = 100.0 * target_abandon_rate
        self.level = max(1.0, float(initial_level))
        self.max_level = max_level
        self.intensity = intensity
        self.dl_diff_target = dl_diff_target
        self.latest_hhmm = latest_hhmm
        self.start_min = (start_hhmm // 100) * 60 + start_hhmm % 100  # virtual t=0 is this local time
        self.available_only = available_only_tally
        self.samples: deque[tuple[int, int, int]] = deque(maxlen=15)
        self._started = False
        self._next_sample = self._next_update = self._next_stats = self._next_tick = 0.0
        self._day = 0
        self.answers_today = self.drops_today = self.calls_today = 0
        self.drop_pct_today = 0.0
        self._dials: deque[float] = deque()
        self._drops: deque[float] = deque()

    # ---- clock helpers
    def _hhmm(self, now: float) -> int:
        minutes = int(self.start_min + now // 60) % (24 * 60)
        return (minutes // 60) * 100 + minutes % 60

    def _roll_day(self, now: float) -> None:
        day = int((self.start_min * 60 + now) // DAY_S)  # since local midnight
        if day != self._day:
            self._day = day
            self.answers_today = self.drops_today = self.calls_today = 0

    # ---- callbacks
    def on_call_result(self, now: float, outcome: str, ring_s: float) -> None:
        super().on_call_result(now, outcome, ring_s)
        self._roll_day(now)
        if outcome == "human":
            self.answers_today += 1

    def on_abandon(self, now: float) -> None:
        self._roll_day(now)
        self.drops_today += 1
        self._drops.append(now)

    # ---- the loop
    def calls_to_place(self, obs: PacingObservation) -> int:
        now = obs.now
        self._roll_day(now)
        if not self._started:
            self._started = True
            self._next_sample = self._next_update = self._next_stats = self._next_tick = now
        while now >= self._next_sample:
            self.samples.append((obs.agents_idle, obs.calls_waiting, obs.agents_logged_in))
            self._next_sample += SAMPLE_S
        if now >= self._next_stats:
            # answers include drops: a DROP status is human_answered (§1.5)
            self.drop_pct_today = 100.0 * self.drops_today / max(self.answers_today, 1)
            while now >= self._next_stats:
                self._next_stats += DROP_STATS_S
        if now >= self._next_update:
            self._update_level(now)
            while now >= self._next_update:
                self._next_update += LEVEL_UPDATE_S
        if now < self._next_tick:
            return self._finish(obs, 0, 0, "tick", {"level": self.level})
        while now >= self._next_tick:
            self._next_tick += DIALER_TICK_S
        busy = 0 if self.available_only else len(obs.busy_elapsed_s)
        n_agents = obs.agents_idle + busy
        goal = round(self.level * n_agents)
        raw = goal - (len(obs.ringing_elapsed_s) + obs.calls_waiting + busy)
        count = self._finish(obs, raw, raw, "model", {"level": self.level, "drop_pct_today": self.drop_pct_today})
        self._dials.extend([now] * count)
        self.calls_today += count
        return count

    def _update_level(self, now: float) -> None:
        while self._dials and self._dials[0] <= now - 60:
            self._dials.popleft()
        while self._drops and self._drops[0] <= now - 60:
            self._drops.popleft()
        n = len(self.samples)
        if n == 0:
            return
        mean_r = sum(s[0] for s in self.samples) / n
        mean_w = sum(s[1] for s in self.samples) / n
        mean_t = sum(s[2] for s in self.samples) / n
        self.level = next_level(
            self.level,
            mean_r,
            mean_w,
            mean_t,
            intensity=self.intensity,
            dl_diff_target=self.dl_diff_target,
            max_level=self.max_level,
            calls_last_min=len(self._dials),
            drops_last_min=len(self._drops),
            calls_today=self.calls_today,
            drop_pct_today=self.drop_pct_today,
            drop_limit_pct=self.drop_limit_pct,
            variant=self.variant,
            latest_hhmm=self.latest_hhmm,
            now_hhmm=self._hhmm(now),
        )
