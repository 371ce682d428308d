"""The agent state machine: the one place that says what an agent may do next.

Pure: every transition takes the current :class:`AgentSnapshot` and ``now`` and returns the next
snapshot (or raises :class:`InvalidTransition`). The agent page, the virtual agents and the
dialer all drive agents through these functions (via ``dialer.agents``), so a supervisor sees the
same states whoever the agent is.

    logged_out ──login──► paused(LOGIN) ──ready──► ready ──reserve──► reserved ──connect──► incall
        ▲                    ▲   │                  ▲  ▲                  │ release           │
        └──────logout────────┘   └──────pause───────┘  └────────(call lost before connect)──┘ │
                                                                                              ▼
    ready / paused ◄── wrap ends (dispositioned, wrap-up seconds over) ◄── wrap ◄── hangup ── incall
                                                                         ▲
                                                   dead (customer gone, agent still on the call)

``dead`` is VICIdial's DEAD: the customer hung up but the agent has not ended the call yet.
Wrap-up (after-call work) ends when the agent has dispositioned *and* the campaign's wrap-up
seconds are over; an agent who asked to pause after the call goes to ``paused`` instead of ``ready``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    PAUSED = "paused"
    READY = "ready"
    RESERVED = "reserved"  # a call is being put through to this agent
    INCALL = "incall"
    DEAD = "dead"
    WRAP = "wrap"


# The states that count as "logged in" for pacing (paused agents are logged in but take no call).
LOGGED_IN_STATES = frozenset(
    {AgentState.PAUSED, AgentState.READY, AgentState.RESERVED, AgentState.INCALL, AgentState.DEAD, AgentState.WRAP}
)
# States in which an agent is busy with a call (pacing's busy_elapsed_s counts these).
BUSY_STATES = frozenset({AgentState.RESERVED, AgentState.INCALL, AgentState.DEAD, AgentState.WRAP})


class InvalidTransition(ValueError):
    """The requested action is not allowed in the agent's current state."""

    def __init__(self, action: str, snapshot: AgentSnapshot) -> None:
        super().__init__(f"cannot {action} while {snapshot.state.value}")
        self.action = action
        self.state = snapshot.state


@dataclass(frozen=True)
class AgentSnapshot:
    agent_id: int
    state: AgentState = AgentState.LOGGED_OUT
    since: float = 0.0  # epoch seconds when the current state began
    campaign_id: int | None = None
    session_id: str | None = None
    call_id: str | None = None
    pause_code: str | None = None
    connected_at: float | None = None  # when the current/last call was put through
    wrap_deadline: float | None = None  # earliest end of wrap-up (campaign wrap-up seconds)
    dispositioned: bool = False
    # the code the agent gave the current/last call: the dialer reads it when the agent is released
    # (an "A" means AMD let a machine through to an agent, see dialer.loop)
    disposition_code: str | None = None
    pause_after_call: bool = False
    calls_today: int = 0

    @property
    def logged_in(self) -> bool:
        return self.state in LOGGED_IN_STATES

    def seconds_in_state(self, now: float) -> float:
        return max(0.0, now - self.since)

    def _to(self, state: AgentState, now: float, **changes: object) -> AgentSnapshot:
        return replace(self, state=state, since=now, **changes)  # type: ignore[arg-type]


def login(s: AgentSnapshot, now: float, *, campaign_id: int, session_id: str) -> AgentSnapshot:
    """Logging in lands in ``paused`` with code LOGIN, as in VICIdial: the agent chooses to go ready."""
    if s.state is not AgentState.LOGGED_OUT:
        raise InvalidTransition("log in", s)
    return s._to(
        AgentState.PAUSED, now, campaign_id=campaign_id, session_id=session_id, pause_code="LOGIN",
        call_id=None, connected_at=None, wrap_deadline=None, dispositioned=False, disposition_code=None,
        pause_after_call=False,
    )


def go_ready(s: AgentSnapshot, now: float) -> AgentSnapshot:
    if s.state is AgentState.READY:
        return s
    if s.state is not AgentState.PAUSED:
        raise InvalidTransition("go ready", s)
    return s._to(AgentState.READY, now, pause_code=None)


def pause(s: AgentSnapshot, now: float, code: str) -> AgentSnapshot:
    """Pause now when idle; when busy with a call, remember to pause once the call is wrapped up."""
    if not code:
        raise ValueError("a pause code is required")
    if s.state in (AgentState.READY, AgentState.PAUSED):
        return s._to(AgentState.PAUSED, now, pause_code=code)
    if s.state in BUSY_STATES:
        return replace(s, pause_after_call=True, pause_code=code)
    raise InvalidTransition("pause", s)


def reserve(s: AgentSnapshot, now: float, call_id: str) -> AgentSnapshot:
    """The dialer picked this agent for an answered call; nobody else may take the agent now."""
    if s.state is not AgentState.READY:
        raise InvalidTransition("reserve for a call", s)
    return s._to(AgentState.RESERVED, now, call_id=call_id)


def release_reservation(s: AgentSnapshot, now: float, call_id: str) -> AgentSnapshot:
    """The reserved call was lost before it reached the agent (customer hung up, bridge failed)."""
    if s.state is not AgentState.RESERVED or s.call_id != call_id:
        raise InvalidTransition("release a reservation", s)
    return s._to(AgentState.READY, now, call_id=None)


def connect(s: AgentSnapshot, now: float, call_id: str) -> AgentSnapshot:
    """The customer is bridged to the agent. Manual/preview dials connect from ``paused``/``ready``."""
    if s.state is AgentState.RESERVED and s.call_id != call_id:
        raise InvalidTransition(f"connect call {call_id} (reserved for {s.call_id})", s)
    if s.state not in (AgentState.RESERVED, AgentState.READY, AgentState.PAUSED):
        raise InvalidTransition("connect a call", s)
    return s._to(
        AgentState.INCALL, now, call_id=call_id, connected_at=now, dispositioned=False, disposition_code=None,
        wrap_deadline=None, calls_today=s.calls_today + 1,
        pause_code=s.pause_code if s.pause_after_call else None,
    )


def customer_hung_up(s: AgentSnapshot, now: float, call_id: str) -> AgentSnapshot:
    if s.call_id != call_id:
        return s  # a stale event for an earlier call: nothing to do
    if s.state is AgentState.INCALL:
        return s._to(AgentState.DEAD, now)
    return s


def end_call(s: AgentSnapshot, now: float, *, wrap_up_s: float) -> AgentSnapshot:
    """The agent's side of the call ends (agent hung up, or leaves a dead call): wrap-up starts."""
    if s.state not in (AgentState.INCALL, AgentState.DEAD):
        raise InvalidTransition("end the call", s)
    return s._to(AgentState.WRAP, now, wrap_deadline=now + max(0.0, wrap_up_s))


def disposition(s: AgentSnapshot, now: float, code: str | None = None) -> AgentSnapshot:
    """Record that the call was dispositioned (with ``code``); wrap-up may end now or at its deadline."""
    if s.state in (AgentState.INCALL, AgentState.DEAD):
        raise InvalidTransition("disposition before the call ends", s)
    if s.state is not AgentState.WRAP:
        raise InvalidTransition("disposition", s)
    return finish_wrap_if_due(replace(s, dispositioned=True, disposition_code=code), now)


def finish_wrap_if_due(s: AgentSnapshot, now: float) -> AgentSnapshot:
    """Leave wrap-up when dispositioned and the wrap-up seconds are over (call on every tick)."""
    if s.state is not AgentState.WRAP or not s.dispositioned:
        return s
    if s.wrap_deadline is not None and now < s.wrap_deadline:
        return s
    if s.pause_after_call:
        return s._to(AgentState.PAUSED, now, call_id=None, pause_after_call=False, wrap_deadline=None)
    return s._to(AgentState.READY, now, call_id=None, wrap_deadline=None, pause_code=None)


def logout(s: AgentSnapshot, now: float) -> AgentSnapshot:
    """Only from ``ready`` or ``paused``: a call in progress must be finished first."""
    if s.state is AgentState.LOGGED_OUT:
        return s
    if s.state not in (AgentState.READY, AgentState.PAUSED):
        raise InvalidTransition("log out", s)
    return s._to(
        AgentState.LOGGED_OUT, now, campaign_id=None, session_id=None, call_id=None, pause_code=None,
        pause_after_call=False,
    )
