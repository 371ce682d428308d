"""Our stand-in for the dialplan in ``telephony/asterisk/extensions.conf`` (the contract the
telephony service relies on), plus the generic behaviour of other contexts and applications.

Each step raises the ``Newexten`` Asterisk would; steps that take time are timers tied to the
channel's dialplan generation, so a Redirect or a bridge cancels whatever the channel was doing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .pbx import RINGING, UP, Channel, Pbx, chan_fields, channel_json

if TYPE_CHECKING:
    from .calls import CallEngine

logger = logging.getLogger(__name__)

_TRUTHY = {"1", "yes", "true", "on"}
_MONITOR = re.compile(r"^87([123])(\d\d)$")  # [pydialer-monitor] _871XX listen, _872XX whisper, _873XX barge
_MONITOR_OPTS = {"1": "q", "2": "qw", "3": "qB"}


class Dialplan:
    def __init__(self, pbx: Pbx, engine: CallEngine) -> None:
        self.pbx = pbx
        self.engine = engine

    # -- plumbing ------------------------------------------------------------------------------
    def _step(self, ch: Channel, scenario_s: float, fn: Callable[..., None], *args: Any) -> None:
        gen = ch.dp_gen

        def run() -> None:
            if ch.alive and ch.dp_gen == gen:
                fn(*args)

        self.pbx.later(ch, scenario_s, run)

    def _exten(self, ch: Channel, context: str, exten: str, priority: int, app: str, data: str) -> None:
        self.pbx.newexten(ch, context, exten, priority, app, data)

    def leave(self, ch: Channel) -> None:
        """The channel stops what its dialplan was doing (Redirect, bridge, Stasis)."""
        ch.dp_gen += 1

    # -- entry points --------------------------------------------------------------------------
    def after_answer(self, ch: Channel, req: Any) -> None:
        if req.stasis_app is not None:
            self.enter_stasis(ch, req.stasis_app, req.app_args)
        elif req.application:
            self.run_application(ch, req.application, req.data)
        elif req.exten or req.context:
            self.run(ch, req.context or "default", req.exten or "s", req.priority)

    def enter_stasis(self, ch: Channel, app: str, args: list[str]) -> None:
        self.leave(ch)
        ch.stasis_app = app
        ch.app, ch.app_data = "Stasis", ",".join([app, *args])
        self.pbx.ari({"type": "StasisStart", "application": app, "args": args, "channel": channel_json(ch)}, ch)

    def run_application(self, ch: Channel, app: str, data: str) -> None:
        ch.app, ch.app_data = app, data
        low = app.lower()
        if low == "chanspy":
            self.chanspy(ch, data)
        elif low == "amd":
            self._amd(ch, lambda status: self._generic_after_amd(ch, status))
        elif low == "stasis":
            name, *args = data.split(",")
            self.enter_stasis(ch, name, args)
        elif low == "hangup":
            self.pbx.hangup(ch, int(data) if data.isdigit() else 16)
        elif low == "playback":
            self._step(ch, 3.0, self.pbx.hangup, ch, 16)  # Playback then the application returns: hangup

    def run(self, ch: Channel, context: str, exten: str, priority: int = 1) -> None:
        """Enter the dialplan at context,exten,priority."""
        self.leave(ch)
        ch.stasis_app = None
        sc = self.pbx.scenario
        monitor = _MONITOR.match(exten)
        if context == sc.outbound_context:
            {"safeharbor": self._safe_harbor, "machine": self._machine}.get(exten, self._outbound)(ch, context, exten)
        elif context in sc.agent_contexts and exten not in ("s", "") or self.pbx.matches_agent(exten):
            self.dial_agent(ch, context, exten, priority)
        elif context == sc.stasis_context:
            self._exten(ch, context, exten, 1, "Stasis", f"{sc.stasis_app},{ch.variables.get('PYDIALER_CALL_ID', '')}")
            self.enter_stasis(ch, sc.stasis_app, [ch.variables.get("PYDIALER_CALL_ID", "")])
        elif context == sc.monitor_context and monitor:
            data = f"PJSIP/agent{monitor.group(2)},{_MONITOR_OPTS[monitor.group(1)]}"
            self._exten(ch, context, exten, 1, "ChanSpy", data)
            ch.app, ch.app_data = "ChanSpy", data
            self.chanspy(ch, data)
        elif context in sc.amd_contexts or ch.variables.get("AMD", "").lower() in _TRUTHY:
            self._exten(ch, context, exten, priority, "AMD", "")
            self._amd(ch, lambda status: self._generic_after_amd(ch, status))
        else:
            self._exten(ch, context, exten, priority, "Wait", "3600")

    # -- [pydialer-outbound] -------------------------------------------------------------------
    def _outbound(self, ch: Channel, context: str, exten: str) -> None:
        self._exten(ch, context, exten, 1, "NoOp", f"PyDialer call {ch.variables.get('PYDIALER_CALL_ID', '')}")
        self._exten(ch, context, exten, 2, "Set", "CHANNEL(hangup_handler_push)=pydialer-hangup,s,1")
        amd = ch.variables.get("PYDIALER_AMD", "") == "1" or ch.variables.get("AMD", "").lower() in _TRUTHY
        self._exten(ch, context, exten, 3, "GotoIf", f"$[\"{'1' if amd else '0'}\" != \"1\"]?hold")
        if not amd or not self.pbx.scenario.amd_enabled:
            self._hold(ch, context, exten)
            return
        self._exten(ch, context, exten, 4, "AMD", "")

        def verdict(status: str) -> None:
            self._exten(ch, context, exten, 5, "GotoIf", f"$[\"{status}\" = \"MACHINE\"]?machine,1")
            if status == "MACHINE":
                self._machine(ch, context, "machine")
                return
            self._exten(ch, context, exten, 6, "GotoIf", f"$[\"{status}\" = \"HANGUP\"]?done")
            if status == "HANGUP":
                self._exten(ch, context, exten, 9, "Hangup", "")
                self.pbx.hangup(ch, 16)
                return
            self._hold(ch, context, exten)

        self._amd(ch, verdict)

    def _hold(self, ch: Channel, context: str, exten: str) -> None:
        """``hold``: wait PYDIALER_DROP_AFTER (default 2 s) for the service, then safe harbor."""
        raw = ch.variables.get("PYDIALER_DROP_AFTER", "")
        try:
            wait = float(raw) if raw else self.pbx.scenario.drop_after_s
        except ValueError:
            wait = self.pbx.scenario.drop_after_s
        self._exten(ch, context, exten, 7, "Wait", f"{wait:g}")
        self._step(ch, wait, self._safe_harbor, ch, context, "safeharbor")

    def _safe_harbor(self, ch: Channel, context: str, exten: str) -> None:
        audio = ch.variables.get("PYDIALER_SAFE_HARBOR_AUDIO") or self.pbx.globals.get(
            "SAFE_HARBOR_AUDIO", "pydialer/safe-harbor")
        self._exten(ch, context, "safeharbor", 1, "Set", f"AUDIO={audio}")
        self.pbx.setvar(ch, "AUDIO", audio)
        self._exten(ch, context, "safeharbor", 2, "Playback", audio)

        def played() -> None:
            self._exten(ch, context, "safeharbor", 3, "Set", f"PYDIALER_SAFE_HARBOR={audio}")
            self.pbx.setvar(ch, "PYDIALER_SAFE_HARBOR", audio)
            self._exten(ch, context, "safeharbor", 4, "Hangup", "16")
            self.pbx.hangup(ch, 16)

        self._step(ch, self.pbx.scenario.safe_harbor_s, played)

    def _machine(self, ch: Channel, context: str, exten: str) -> None:
        vm = ch.variables.get("PYDIALER_VM_AUDIO", "")
        self._exten(ch, context, "machine", 1, "GotoIf", f"$[{len(vm)} = 0]?end")
        if not vm:
            self._exten(ch, context, "machine", 4, "Hangup", "16")
            self.pbx.hangup(ch, 16)
            return
        self._exten(ch, context, "machine", 2, "WaitForSilence", "1000,1,10")
        call = ch.call
        greeting = call.plan.greeting_s if call is not None and call.plan is not None else 3.0

        def leave_message() -> None:
            self._exten(ch, context, "machine", 3, "Playback", vm)
            self._step(ch, self.pbx.scenario.vm_message_s, hang)

        def hang() -> None:
            self._exten(ch, context, "machine", 4, "Hangup", "16")
            self.pbx.hangup(ch, 16)

        self._step(ch, greeting + 1.0, leave_message)

    # -- AMD -----------------------------------------------------------------------------------
    def _amd(self, ch: Channel, then: Callable[[str], None]) -> None:
        call = ch.call
        plan = call.plan if call is not None else None
        status, cause, latency = ("NOTSURE", "TOOLONG-5000", 5.0) if plan is None else (
            plan.amd_status, plan.amd_cause, plan.amd_latency_s)

        def done() -> None:
            # app_amd sets AMDSTATUS then AMDCAUSE (AMD() docs)
            self.pbx.setvar(ch, "AMDSTATUS", status)
            self.pbx.setvar(ch, "AMDCAUSE", cause)
            then(status)

        self._step(ch, latency, done)

    def _generic_after_amd(self, ch: Channel, status: str) -> None:
        if status == "MACHINE" and self.pbx.scenario.hangup_on_machine:
            self._exten(ch, ch.context, ch.exten, ch.priority + 1, "Hangup", "")
            self.pbx.hangup(ch, 16)
        else:
            self._exten(ch, ch.context, ch.exten, ch.priority + 1, "Wait", "3600")

    # -- agents --------------------------------------------------------------------------------
    def dial_agent(self, ch: Channel, context: str, agent: str, priority: int) -> None:
        """``[pydialer-agents] _agentXX``: Dial(PJSIP/${EXTEN},15,b(...)); phones auto-answer."""
        pbx = self.pbx
        dialstring = f"PJSIP/{agent}"
        self._exten(ch, context, agent, priority, "Dial", f"{dialstring},15,b(pydialer-autoanswer^s^1)")
        dest = pbx.new_channel(f"PJSIP/{agent}-{pbx.chan_suffix()}", "agent", linkedid=ch.linkedid,
                               context=context, exten=agent, caller_num=ch.caller_num, caller_name=ch.caller_name,
                               connected_num=ch.caller_num, connected_name=ch.caller_name)
        pbx.inherit(dest, ch)
        dest.call = ch.call
        pbx.dial_begin(ch, dest, agent)
        pbx.later(dest, 0.05, pbx.set_state, dest, RINGING)
        gen = ch.dp_gen
        pbx.later(dest, pbx.scenario.agent_answer_s, self._agent_answered, ch, dest, gen)

    def _agent_answered(self, ch: Channel, dest: Channel, gen: int) -> None:
        pbx = self.pbx
        if not ch.alive or ch.dp_gen != gen:  # the caller left Dial(): cancel the agent leg
            pbx.dial_end(ch, dest, "CANCEL")
            pbx.hangup(dest, 16)
            return
        pbx.set_state(dest, UP)
        pbx.dial_end(ch, dest, "ANSWER")
        bridge = pbx.create_bridge(stasis=False)
        pbx.enter_bridge(bridge, ch)
        pbx.enter_bridge(bridge, dest)

    # -- monitoring ----------------------------------------------------------------------------
    def chanspy(self, spy_ch: Channel, data: str) -> None:
        """ChanSpy(<prefix>,<options>): q quiet, w whisper, B barge, E exit when the spied-on
        channel hangs up (app_chanspy options)."""
        pbx = self.pbx
        prefix, _, options = data.partition(",")
        mode = "barge" if "B" in options else "whisper" if "w" in options else "listen"
        target = next((c for c in pbx.channels.values() if prefix and c.name.startswith(prefix) and c is not spy_ch
                       and c.kind != "spy"), None)
        pbx.spies.append({"spy_channel": spy_ch.name, "spy_uniqueid": spy_ch.id, "target": prefix,
                          "options": options, "mode": mode, "target_channel": target.name if target else None,
                          "via": "ChanSpy", "exit_on_target_hangup": "E" in options})
        spy_ch.kind = "spy"
        if target is not None:
            pbx.ami("ChanSpyStart", "call,all", chan_fields(spy_ch, "Spyer") + chan_fields(target, "Spyee"))
