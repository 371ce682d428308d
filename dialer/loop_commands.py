"""The loop's two outputs besides PostgreSQL: commands to telephony and the dial-decision log.

:class:`StreamCommands` is the subset of :class:`telephony.ports.PbxControl` the loop uses, sent as
commands on ``pyd:commands:telephony`` (the telephony service executes them; its consumer runs an
originate at most once per call id). It is synchronous because the loop is; it returns as soon
as the command is written, never waiting for Asterisk (the outcome arrives as call events).

:class:`DecisionLog` batches every pacing decision with its inputs to the Redis stream
``pyd:events:dial_decisions``, which the analytics ingest copies to ClickHouse ``dial_decisions``.
Zero-call decisions that repeat the previous one are sampled (one per ``idle_every_s``) so an idle
campaign does not write five rows a second.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import redis

from core import events as ev
from dialer.pacing import PacingDecision, PacingObservation
from telephony.ports import CAMPAIGN_ID_VAR, LEAD_ID_VAR
from telephony.streams import send_command

logger = logging.getLogger(__name__)

DECISIONS_STREAM = "pyd:events:dial_decisions"


class StreamCommands:
    def __init__(self, r: redis.Redis) -> None:
        self.r: Any = r

    def originate(self, claim: Any, settings: Any, campaign_id: int) -> None:
        variables = {
            CAMPAIGN_ID_VAR: str(campaign_id), LEAD_ID_VAR: str(claim.lead_id),
            # Dialplan backstop (extensions.conf [pydialer-outbound] hold): if this loop dies, the
            # person still gets the safe-harbor message a little after our own drop deadline.
            "PYDIALER_DROP_AFTER": str(int(settings.drop_after_s) + 3),
            "PYDIALER_SAFE_HARBOR_AUDIO": settings.safe_harbor_audio,
        }
        if settings.amd_machine_action == "message":
            variables["PYDIALER_VM_AUDIO"] = f"pydialer/am-message-{campaign_id}"
        send_command(self.r, ev.OriginateCommand(
            call_id=claim.call_id, number=claim.phone_e164, caller_id=settings.caller_id,
            timeout_s=float(settings.dial_timeout_s), campaign_id=campaign_id, lead_id=claim.lead_id,
            amd=bool(settings.amd_enabled), variables=variables,
        ))

    def hangup(self, call_id: str, cause: int = 16) -> None:
        send_command(self.r, ev.HangupCommand(call_id=call_id, cause=cause))

    def bridge(self, call_id: str, agent_endpoint: str) -> None:
        send_command(self.r, ev.BridgeCommand(call_id=call_id, agent_endpoint=agent_endpoint))

    def play(self, call_id: str, audio: str, *, safe_harbor: bool) -> None:
        send_command(self.r, ev.PlayCommand(call_id=call_id, audio=audio, safe_harbor=safe_harbor))


class DecisionLog:
    def __init__(self, r: redis.Redis, *, flush_every_s: float = 1.0, idle_every_s: float = 5.0,
                 maxlen: int = 1_000_000) -> None:
        self.r: Any = r
        self.flush_every_s = flush_every_s
        self.idle_every_s = idle_every_s
        self.maxlen = maxlen
        self._pending: list[dict[str, str]] = []
        self._last_flush = time.monotonic()
        self._last_idle: dict[int, tuple[float, tuple]] = {}
        self.recorded = 0

    def record(self, campaign_id: int, obs: PacingObservation, decision: PacingDecision | None, count: int,
               placed: int, clamped: bool) -> None:
        signature = (obs.agents_logged_in, obs.agents_idle, len(obs.ringing_elapsed_s), obs.calls_waiting, count)
        if count == 0 and placed == 0:
            last = self._last_idle.get(campaign_id)
            if last is not None and last[1] == signature and obs.now - last[0] < self.idle_every_s:
                return
            self._last_idle[campaign_id] = (obs.now, signature)
        row = {
            "campaign_id": campaign_id, "at": obs.now, "agents_logged_in": obs.agents_logged_in,
            "agents_idle": obs.agents_idle, "busy": len(obs.busy_elapsed_s), "ringing": len(obs.ringing_elapsed_s),
            "calls_waiting": obs.calls_waiting, "count": count, "placed": placed, "guard_clamped": clamped,
            "policy": decision.policy if decision else "", "raw_count": decision.raw_count if decision else 0.0,
            "capped_by": "abandon_budget" if clamped else (decision.capped_by if decision else ""),
            "estimates": decision.estimates if decision else {},
        }
        self._pending.append({"data": json.dumps(row, default=float)})
        self.recorded += 1
        if time.monotonic() - self._last_flush >= self.flush_every_s or len(self._pending) >= 500:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        with self.r.pipeline(transaction=False) as pipe:
            for fields in self._pending:
                pipe.xadd(DECISIONS_STREAM, fields, maxlen=self.maxlen, approximate=True)
            pipe.execute()
        self._pending.clear()
        self._last_flush = time.monotonic()
