"""Pacing: how many calls to place now. ``make_policy(name, **settings)`` is the only constructor callers need.

Names: ``progressive``, ``ratio`` (``ratio=2.0``), ``vicidial-adapt`` (``variant=hard_limit|average|tapered``,
our baseline) and ``predictive`` (ours). Common settings: ``target_abandon_rate`` (0.03), ``dial_timeout_s``,
``drop_after_s`` (2), ``max_lines_per_agent``, and ``guard`` (an :class:`AbandonGuard`).
"""

from __future__ import annotations

from typing import Any

from dialer.pacing.base import OUTCOMES, BasePolicy, PacingDecision, PacingObservation, PacingPolicy
from dialer.pacing.guard import AbandonGuard, RollingAbandonWindow
from dialer.pacing.predictive import PredictivePolicy
from dialer.pacing.simple import ProgressivePolicy, RatioPolicy
from dialer.pacing.vicidial import VicidialAdaptPolicy

__all__ = [
    "OUTCOMES",
    "POLICY_NAMES",
    "AbandonGuard",
    "BasePolicy",
    "PacingDecision",
    "PacingObservation",
    "PacingPolicy",
    "RollingAbandonWindow",
    "make_policy",
]

POLICY_NAMES = ("progressive", "ratio", "vicidial-adapt", "predictive")

# settings every policy accepts; model-free ones simply ignore the timing figures
_COMMON = ("max_lines_per_agent", "guard")
_IGNORED_BY_SIMPLE = ("target_abandon_rate", "dial_timeout_s", "drop_after_s")


def make_policy(name: str, **settings: Any) -> BasePolicy:
    """Build a policy; unknown names or settings raise ``ValueError`` naming the culprit."""
    if name == "progressive" or name == "ratio":
        kwargs = {k: v for k, v in settings.items() if k not in _IGNORED_BY_SIMPLE}
        cls: type[BasePolicy] = ProgressivePolicy if name == "progressive" else RatioPolicy
    elif name == "vicidial-adapt":
        kwargs = {k: v for k, v in settings.items() if k not in ("dial_timeout_s", "drop_after_s")}
        cls = VicidialAdaptPolicy
    elif name == "predictive":
        kwargs = dict(settings)
        cls = PredictivePolicy
    else:
        raise ValueError(f"unknown pacing policy {name!r}; choose one of {POLICY_NAMES}")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"bad settings for {name!r}: {exc}") from exc
