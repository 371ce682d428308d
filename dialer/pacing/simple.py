"""The two model-free policies: progressive (one line per idle agent) and fixed ratio."""

from __future__ import annotations

import logging

from dialer.pacing.base import BasePolicy, PacingObservation

logger = logging.getLogger(__name__)


class ProgressivePolicy(BasePolicy):
    """One call per idle agent, minus calls already ringing or waiting: it can never abandon."""

    name = "progressive"

    def calls_to_place(self, obs: PacingObservation) -> int:
        raw = self._progressive_count(obs)
        return self._finish(obs, raw, raw, "idle")


class RatioPolicy(BasePolicy):
    """``ratio`` lines per counted agent, like VICIdial's RATIO method (§1.2).

    ``count_busy=False`` (default) counts idle agents only, VICIdial's ``available_only_ratio_tally=Y``:
    target lines = round(ratio × idle); calls to place = target − ringing − waiting. With
    ``count_busy=True`` busy agents earn lines too (VICIdial's default tally, §1.7) and their calls count
    as lines in use.
    """

    name = "ratio"

    def __init__(self, ratio: float = 2.0, count_busy: bool = False, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        if ratio < 1.0:
            raise ValueError("ratio must be ≥ 1.0")
        self.ratio = float(ratio)
        self.count_busy = count_busy

    def calls_to_place(self, obs: PacingObservation) -> int:
        busy = len(obs.busy_elapsed_s) if self.count_busy else 0
        goal = round(self.ratio * (obs.agents_idle + busy))
        raw = goal - len(obs.ringing_elapsed_s) - obs.calls_waiting - busy
        return self._finish(obs, raw, raw, "model", {"ratio": self.ratio})
