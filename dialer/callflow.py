"""What happens to a call after it is answered: the pure core of the call flow.

    answered ──AMD on──► (AMD running: no agent is reserved, AMD time is not agent time)
        │                   ├── machine ──► hang up, or leave the campaign's message (amd_machine_action)
        │                   └── human / not sure ──┐
        └──AMD off─────────────────────────────────┴──► waiting (FIFO) ──► longest-idle READY agent
                                                         │
                                 drop_after_s after the ANSWER with no agent
                                                         ▼
                              dropped: safe-harbor message, then hang up (abandoned, dropped=true)

Rules, with their sources:

* Longest-idle agent first (VICIdial's ``next_agent_call = longest_wait_time``, VICIDIAL.md §3):
  fair to agents and the order the pacing model assumes.
* Waiting calls are served first-come first-served by answer time, so the oldest call (the one
  nearest to its drop deadline) is always the next one put through.
* The drop clock starts at the answer (not at the AMD verdict): US 16 CFR 310.4(b)(4)(i) counts a
  call as abandoned when no sales representative is connected within two seconds of the person's
  completed greeting; ``drop_after_s`` is the campaign's bound on that wait, and an AMD delay eats
  into it. A dropped call gets the safe-harbor recorded message (310.4(b)(4)(iii)) naming the seller
  and a number to opt out, then is hung up.
* A customer hanging up while waiting is also an abandon (counted, not "dropped").

The class holds only the waiting queue; the caller (:mod:`dialer.loop`) performs the returned
:class:`Action` s and does the atomic agent reservation in Redis with the same longest-idle rule
(:meth:`dialer.live.LiveState.reserve_longest_idle`), because several processes may reserve.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

# The campaigns table's vocabulary (core.models_dialing.DROP_ACTIONS): every action but "hangup"
# plays the safe-harbor recording first; "hangup" exists for regimes without that rule.
DROP_ACTIONS = ("hangup", "message", "audio", "voicemail")
MACHINE_ACTIONS = ("hangup", "message")


@dataclass(frozen=True)
class CallFlowConfig:
    drop_after_s: float = 2.0
    drop_action: str = "message"
    safe_harbor_audio: str = "safe-harbor"
    amd_enabled: bool = False
    amd_machine_action: str = "hangup"
    machine_message_audio: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.drop_after_s <= 600:
            raise ValueError(f"drop_after_s must be within [0, 600], got {self.drop_after_s}")
        if self.drop_action not in DROP_ACTIONS:
            raise ValueError(f"drop_action must be one of {DROP_ACTIONS}, got {self.drop_action!r}")
        if self.amd_machine_action not in MACHINE_ACTIONS:
            raise ValueError(f"amd_machine_action must be one of {MACHINE_ACTIONS}, got {self.amd_machine_action!r}")
        if self.amd_machine_action == "message" and not self.machine_message_audio:
            raise ValueError("amd_machine_action 'message' needs machine_message_audio")


# --- actions the I/O layer performs --------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    call_id: str


@dataclass(frozen=True)
class ConnectToAgent(Action):
    """Reserve the longest-idle READY agent and bridge; ``agent_id`` is set when the core chose."""

    agent_id: int | None = None


@dataclass(frozen=True)
class DropCall(Action):
    """No agent within drop_after_s: play ``audio`` (safe harbor) if set, then hang up."""

    audio: str | None = None
    waited_s: float = 0.0


@dataclass(frozen=True)
class HangupMachine(Action):
    pass


@dataclass(frozen=True)
class LeaveMessage(Action):
    audio: str = ""


@dataclass(frozen=True)
class WaitingCall:
    call_id: str
    answered_at: float


def longest_idle(ready: Sequence[tuple[int, float]]) -> int | None:
    """The agent whose READY state began earliest; ties go to the lower agent id (deterministic)."""
    if not ready:
        return None
    return min(ready, key=lambda pair: (pair[1], pair[0]))[0]


@dataclass
class CallFlow:
    config: CallFlowConfig
    _waiting: dict[str, WaitingCall] = field(default_factory=dict)  # insertion order = FIFO
    _amd_pending: dict[str, float] = field(default_factory=dict)

    # --- events ---------------------------------------------------------------------------------

    def answered(self, call_id: str, answered_at: float) -> None:
        """Answer supervision. With AMD on, no agent is involved until the human verdict."""
        if self.config.amd_enabled:
            self._amd_pending[call_id] = answered_at
        else:
            self._enqueue(call_id, answered_at)

    def human(self, call_id: str, answered_at: float | None = None) -> None:
        """AMD said HUMAN (or NOTSURE: treated as human, a person must not be hung up on)."""
        started = self._amd_pending.pop(call_id, answered_at)
        if started is None:
            raise ValueError(f"call {call_id}: human verdict for a call that was never answered")
        self._enqueue(call_id, started)

    def machine(self, call_id: str) -> list[Action]:
        self._amd_pending.pop(call_id, None)
        self._waiting.pop(call_id, None)
        if self.config.amd_machine_action == "message":
            return [LeaveMessage(call_id, self.config.machine_message_audio)]
        return [HangupMachine(call_id)]

    def gone(self, call_id: str) -> WaitingCall | None:
        """The call ended; returns the waiting entry if the customer hung up while waiting (an abandon)."""
        self._amd_pending.pop(call_id, None)
        return self._waiting.pop(call_id, None)

    def restore(self, waiting: Sequence[WaitingCall]) -> None:
        """Rebuild the queue after a restart (from Redis' waiting set), oldest answer first."""
        for call in sorted(waiting, key=lambda c: (c.answered_at, c.call_id)):
            self._waiting.setdefault(call.call_id, call)

    # --- the decision -----------------------------------------------------------------------------

    def step(self, now: float, ready: Sequence[tuple[int, float]]) -> list[Action]:
        """Drop what has waited too long, then pair the oldest waiting calls with the longest-idle agents.

        ``ready`` is (agent_id, ready_since). Drops come first: a call past its deadline must not be
        connected late (the abandon already happened in the regulator's eyes, and the customer
        may be hearing silence).
        """
        actions: list[Action] = []
        for call in list(self._waiting.values()):
            waited = now - call.answered_at
            if waited >= self.config.drop_after_s:
                del self._waiting[call.call_id]
                audio = None if self.config.drop_action == "hangup" else self.config.safe_harbor_audio
                actions.append(DropCall(call.call_id, audio, waited))
        free = sorted(ready, key=lambda pair: (pair[1], pair[0]))
        while self._waiting and free:
            call_id = next(iter(self._waiting))
            del self._waiting[call_id]
            agent_id = longest_idle(free)
            free = [pair for pair in free if pair[0] != agent_id]
            actions.append(ConnectToAgent(call_id, agent_id))
        return actions

    def requeue_front(self, call: WaitingCall) -> None:
        """A connect failed (the agent vanished): the call goes back at the head of the queue."""
        self._waiting = {call.call_id: call, **self._waiting}

    @property
    def waiting(self) -> list[WaitingCall]:
        return list(self._waiting.values())

    @property
    def amd_pending(self) -> dict[str, float]:
        return dict(self._amd_pending)

    def next_deadline(self) -> float | None:
        """When the oldest waiting call must be dropped (the loop wakes up no later than this)."""
        if not self._waiting:
            return None
        return next(iter(self._waiting.values())).answered_at + self.config.drop_after_s

    def _enqueue(self, call_id: str, answered_at: float) -> None:
        if call_id in self._waiting:
            return
        # FIFO by answer time, not by verdict time: with AMD a later answer can be classified first.
        calls = [*self._waiting.values(), WaitingCall(call_id, answered_at)]
        calls.sort(key=lambda c: c.answered_at)  # stable: equal answer times keep arrival order
        self._waiting = {c.call_id: c for c in calls}
