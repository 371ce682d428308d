"""The narrow port the dialer and the app use to drive a PBX.

:class:`PbxControl` is what :mod:`telephony.ami.control` (Asterisk over AMI, ARI for media)
implements in the telephony process. Callers in other processes (the dialer's Celery tasks, the
app) send the same operations as :mod:`core.events` commands with
:func:`telephony.streams.send_command`; the service executes them through this port. Nobody above
telephony sees AMI headers or ARI JSON.

``originate`` returns as soon as the action is *written*: the dial loop must not wait for
Asterisk's OriginateResponse, which only arrives when the callee answers or the attempt fails
(up to ``timeout_s`` later). The outcome arrives as call events (answered / originate_failed ...)
and, for in-process callers who want it, on :attr:`OriginateHandle.result`.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from core.events import Id

MonitorMode = Literal["listen", "whisper", "barge"]

#: Channel variable carrying our call id. Set with a ``__`` prefix on Originate so Asterisk
#: copies it to every channel the call spawns (Dial()ed agent legs, Local channels): see
#: "Variable Inheritance" in the Asterisk docs (Channel Variables).
CALL_ID_VAR = "PYDIALER_CALL_ID"
CAMPAIGN_ID_VAR = "PYDIALER_CAMPAIGN_ID"
LEAD_ID_VAR = "PYDIALER_LEAD_ID"
AMD_VAR = "PYDIALER_AMD"

#: ChanSpy options per monitor mode (Asterisk ChanSpy docs: ``q`` quiet, ``w`` whisper,
#: ``B`` barge: talk to both parties).
CHANSPY_OPTIONS: dict[str, str] = {"listen": "q", "whisper": "qw", "barge": "qB"}


@dataclass(frozen=True)
class OriginateRequest:
    call_id: str
    number: str
    caller_id: str = ""
    timeout_s: float = 30.0
    campaign_id: Id | None = None
    lead_id: Id | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    context: str | None = None  # default: the PBX's outbound context
    exten: str | None = None  # default: the number itself
    application: str | None = None  # instead of context/exten (e.g. "Stasis")
    data: str | None = None
    amd: bool = False
    pbx: str | None = None  # None: the PbxSelector picks one

    def __post_init__(self) -> None:
        if not self.call_id:
            raise ValueError("call_id is required")
        if not self.number or not self.number.strip():
            raise ValueError("number is required")
        if not 0 < self.timeout_s <= 600:
            raise ValueError("timeout_s must be in (0, 600]")


@dataclass(frozen=True)
class OriginateResult:
    """Asterisk's verdict on an originate (the OriginateResponse event)."""

    call_id: str
    success: bool
    reason: int  # OriginateResponse Reason: 4 answered, 5 busy, 3 no answer, 8 congestion, 0/1 failure
    channel: str = ""
    uniqueid: str = ""


@dataclass
class OriginateHandle:
    call_id: str
    pbx: str
    action_id: str
    #: resolves when Asterisk acknowledges the action ("Originate successfully queued")
    queued: asyncio.Future[None]
    #: resolves with the OriginateResponse (answer, busy, no answer ...): never await it in a dial loop
    result: asyncio.Future[OriginateResult]


class PbxControl(Protocol):
    async def originate(self, request: OriginateRequest) -> OriginateHandle: ...

    async def hangup(self, call_id: str, cause: int = 16) -> None: ...

    async def bridge_to_agent(self, call_id: str, agent_endpoint: str) -> None: ...

    async def play_safe_harbor(self, call_id: str, audio: str) -> None: ...

    async def start_recording(self, call_id: str, filename: str | None = None) -> str: ...

    async def stop_recording(self, call_id: str) -> None: ...

    async def monitor(self, call_id: str, supervisor_endpoint: str, mode: MonitorMode) -> str: ...

    async def start_external_media(self, call_id: str, host_port: str, format: str = "ulaw") -> str: ...

    async def stop_external_media(self, call_id: str) -> None: ...


class PbxSelector:
    """Picks the PBX for a new call: least calls in flight, ties broken round-robin.

    ``load`` returns the current number of calls we track on a PBX; unavailable PBXs are skipped
    (``available`` says which are logged in).
    """

    def __init__(
        self,
        names: Sequence[str],
        load: Callable[[str], int],
        available: Callable[[str], bool] = lambda _name: True,
    ) -> None:
        if not names:
            raise ValueError("PbxSelector needs at least one PBX")
        self._names = list(names)
        self._load = load
        self._available = available
        self._turn = itertools.count()

    def choose(self, preferred: str | None = None) -> str:
        if preferred is not None:
            if preferred not in self._names:
                raise ValueError(f"unknown PBX {preferred!r}; configured: {self._names}")
            return preferred
        candidates = [n for n in self._names if self._available(n)] or self._names
        start = next(self._turn) % len(candidates)
        rotated = candidates[start:] + candidates[:start]
        return min(rotated, key=self._load)  # min() keeps the first of equals: round-robin on ties
