"""The pacing contract shared by every policy: what a policy sees, what it returns, and why.

A policy is a pure object: it is told the time in every call (``now``, seconds on any monotonic
origin) and never reads a clock. The production loop and ``dialer.simulate`` both drive it through
exactly this surface (see ``bench/scenarios/README.md`` §2.4).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np

logger = logging.getLogger(__name__)

Outcome = Literal["human", "machine", "failed", "no_answer"]
OUTCOMES: tuple[str, ...] = ("human", "machine", "failed", "no_answer")


@dataclass(frozen=True)
class PacingObservation:
    """The campaign's state at ``now``, after every callback for events at that instant has run.

    ``busy_elapsed_s`` and ``ringing_elapsed_s`` may be any float sequence (the simulator passes numpy
    arrays to stay fast at 1500 lines); policies must only read them.
    """

    now: float
    agents_logged_in: int
    agents_idle: int
    busy_elapsed_s: Sequence[float] | np.ndarray = ()
    ringing_elapsed_s: Sequence[float] | np.ndarray = ()
    calls_waiting: int = 0

    def __post_init__(self) -> None:
        if self.agents_idle < 0 or self.agents_logged_in < 0 or self.calls_waiting < 0:
            raise ValueError(f"negative count in observation: {self!r}")


@dataclass(frozen=True)
class PacingDecision:
    """Why a policy placed what it placed ("why did it dial 7?"), kept as ``policy.last_decision``.

    ``estimates`` holds the policy's model figures, e.g. ``answer_rate``, ``expected_answers_in_flight``,
    ``expected_agent_frees``, ``est_abandon`` (the marginal call's abandon probability), ``threshold``.
    ``capped_by`` names the rule that bound the count: ``"model"`` (the policy's own rule), ``"idle"``,
    ``"lines_per_agent"``, ``"guard"`` (the rolling abandon guard clamped to progressive),
    ``"waiting"`` or ``"tick"`` (not a dialing instant for a timer-driven policy).
    """

    now: float
    policy: str
    agents_logged_in: int
    agents_idle: int
    busy: int
    ringing: int
    calls_waiting: int
    raw_count: float
    count: int
    capped_by: str
    estimates: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class PacingPolicy(Protocol):
    name: str
    last_decision: PacingDecision | None

    def calls_to_place(self, obs: PacingObservation) -> int: ...

    def on_call_result(self, now: float, outcome: str, ring_s: float) -> None: ...

    def on_abandon(self, now: float) -> None: ...

    def on_agent_released(self, now: float, handle_s: float, machine: bool) -> None: ...

    def set_compliance_state(self, answers: int, abandons: int, now: float | None = None) -> None: ...


class BasePolicy(ABC):
    """Default no-op callbacks and the rolling-abandon guard wiring shared by all policies."""

    name = "base"

    def __init__(self, max_lines_per_agent: float | None = None, guard: object | None = None) -> None:
        from dialer.pacing.guard import AbandonGuard  # local: guard imports nothing from here

        if max_lines_per_agent is not None and max_lines_per_agent <= 0:
            raise ValueError("max_lines_per_agent must be > 0")
        self.max_lines_per_agent = max_lines_per_agent
        self.guard: AbandonGuard | None = guard if isinstance(guard, AbandonGuard) else None
        self.last_decision: PacingDecision | None = None

    @abstractmethod
    def calls_to_place(self, obs: PacingObservation) -> int:
        """How many calls to place now (each policy's own rule)."""

    def on_call_result(self, now: float, outcome: str, ring_s: float) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown call outcome {outcome!r}; expected one of {OUTCOMES}")

    def on_abandon(self, now: float) -> None:
        return None

    def on_agent_released(self, now: float, handle_s: float, machine: bool) -> None:
        return None

    def set_compliance_state(self, answers: int, abandons: int, now: float | None = None) -> None:
        """Feed the campaign's rolling 30-day figures (16 CFR 310.4(b)(4)(i)) to the guard."""
        from dialer.pacing.guard import AbandonGuard

        if self.guard is None:
            self.guard = AbandonGuard()
        self.guard.update(answers, abandons, now)

    # ---- helpers
    def _progressive_count(self, obs: PacingObservation) -> int:
        return obs.agents_idle - len(obs.ringing_elapsed_s) - obs.calls_waiting

    def _line_room(self, obs: PacingObservation) -> int | None:
        if self.max_lines_per_agent is None:
            return None
        lines = len(obs.ringing_elapsed_s) + obs.calls_waiting
        return int(self.max_lines_per_agent * obs.agents_logged_in) - lines

    def _finish(
        self,
        obs: PacingObservation,
        raw: float,
        count: int,
        capped_by: str,
        estimates: dict[str, float] | None = None,
    ) -> int:
        """Apply the guard and the line cap, record the decision and return a non-negative count."""
        if self.guard is not None and self.guard.clamped(obs.now):
            prog = self._progressive_count(obs)
            if count > prog:
                count, capped_by = prog, "guard"
        room = self._line_room(obs)
        if room is not None and count > room:
            count, capped_by = room, "lines_per_agent"
        count = max(0, int(count))
        self.last_decision = PacingDecision(
            now=obs.now,
            policy=self.name,
            agents_logged_in=obs.agents_logged_in,
            agents_idle=obs.agents_idle,
            busy=len(obs.busy_elapsed_s),
            ringing=len(obs.ringing_elapsed_s),
            calls_waiting=obs.calls_waiting,
            raw_count=float(raw),
            count=count,
            capped_by=capped_by,
            estimates=estimates or {},
        )
        return count
