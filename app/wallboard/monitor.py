"""Listen / whisper / barge from the wallboard: a ``MonitorCommand`` to telephony + an audit row.

The supervisor's phone is *originated* into Asterisk ``ChanSpy`` on the agent's call with the
options of :data:`telephony.ports.CHANSPY_OPTIONS` (``q`` listen, ``qw`` whisper, ``qB`` barge;
Asterisk docs, Application_ChanSpy), the same semantics as ``PbxControl.monitor``.

The supervisor's endpoint: the schema has no per-user phone, so the convention is
``PJSIP/sup<user id>`` (:func:`default_endpoint`), overridable per board in the page's
"my phone" field (remembered in the browser). Only channel-technology endpoints are accepted
(:data:`ENDPOINT_RE`), never dialplan text, because the value ends up in an AMI Originate.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from core import events as ev
from core.exceptions import Conflict, NotFound, ValidationError
from dialer.live import LiveState
from telephony.streams import send_command

logger = logging.getLogger(__name__)

ENDPOINT_RE = re.compile(r"^(PJSIP|SIP|IAX2|Local)/[A-Za-z0-9_.@+\-]{1,80}$")


def default_endpoint(user_id: int | str) -> str:
    return f"PJSIP/sup{user_id}"


@dataclass(frozen=True)
class MonitorRequest:
    agent_id: int
    mode: str
    endpoint: str

    @classmethod
    def parse(cls, data: Any, user_id: int | str) -> MonitorRequest:
        """From the page's JSON ``{"agent_id", "mode", "endpoint"}``; ``ValidationError`` on garbage."""
        if not isinstance(data, dict):
            raise ValidationError("monitor request must be an object")
        try:
            agent_id = int(data.get("agent_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise ValidationError("agent_id must be an integer") from exc
        mode = data.get("mode")
        if mode not in ev.MONITOR_MODES:
            raise ValidationError(f"mode must be one of {ev.MONITOR_MODES}", {"mode": mode})
        endpoint = str(data.get("endpoint") or "").strip() or default_endpoint(user_id)
        if not ENDPOINT_RE.match(endpoint):
            raise ValidationError("endpoint must look like PJSIP/sup12", {"endpoint": endpoint})
        return cls(agent_id, mode, endpoint)


def send_monitor(live: LiveState, req: MonitorRequest) -> ev.MonitorCommand:
    """Resolve the agent's current call and queue the command on ``pyd:commands:telephony``."""
    agent = live.agent(req.agent_id)
    if not agent.logged_in:
        raise NotFound(f"agent {req.agent_id} is not logged in")
    if not agent.call_id:
        raise Conflict(f"agent {req.agent_id} is not on a call", {"state": agent.state.value})
    pbx = live.call(agent.call_id).get("pbx") or None
    command = ev.MonitorCommand(call_id=agent.call_id, supervisor_endpoint=req.endpoint, mode=req.mode, pbx=pbx)
    send_command(live.r, command)
    logger.info("monitor %s of agent %s (call %s) to %s", req.mode, req.agent_id, agent.call_id, req.endpoint)
    return command
