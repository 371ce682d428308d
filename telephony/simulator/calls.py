"""What happens on simulated calls: originate, ringing, outcomes, the tiny dialplan, AMD, agents,
ChanSpy. Conventions (endpoint names, AMD trigger) are documented in README.md.

Originate semantics follow manager.c / pbx.c: the Channel is dialed; once it answers it runs the
Application or enters the dialplan at Context/Exten/Priority. Async originates report with an
``OriginateResponse`` event whose Reason is the last control frame seen (AST_CONTROL_*: 4 answer,
5 busy, 8 congestion, 3 ringing i.e. no answer, 1 hangup/failure, 0 no channel).
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from .dialplan import Dialplan
from .pbx import RING, RINGING, UP, Channel, Pbx
from .scenario import CallPlan, draw_plan

logger = logging.getLogger(__name__)

REASON = {"answer": 4, "busy": 5, "congestion": 8, "noanswer": 3, "failure": 1, "nochannel": 0}
DIALSTATUS = {"busy": "BUSY", "congestion": "CONGESTION", "noanswer": "NOANSWER", "unallocated": "CHANUNAVAIL"}
CAUSE = {"busy": 17, "congestion": 34, "noanswer": 19, "unallocated": 1}


class OriginateError(ValueError):
    """The channel string cannot be dialed (OriginateResponse Reason 0)."""


@dataclass
class Target:
    tech: str  # PJSIP | SIP | Local
    kind: str  # trunk | agent | local
    endpoint: str  # agent name or trunk name
    number: str
    context: str = ""


def parse_channel(spec: str, pbx: Pbx) -> Target:
    """``PJSIP/<number>@<trunk>``, ``SIP/<trunk>/<number>``, ``PJSIP/agent<N>``, ``Local/<exten>@<context>``."""
    tech, sep, rest = spec.partition("/")
    if not sep or not rest:
        raise OriginateError(f"invalid channel {spec!r}")
    tech_u = tech.upper()
    if tech_u == "LOCAL":
        exten, at, context = rest.partition("@")
        context = context.split("/", 1)[0]  # drop Local channel options like /n
        if not at or not exten or not context:
            raise OriginateError(f"Local channel needs exten@context: {spec!r}")
        return Target("Local", "local", "", exten, context)
    if tech_u == "PJSIP":
        number, at, trunk = rest.partition("@")
        if not at:
            if pbx.matches_agent(number):
                return Target("PJSIP", "agent", number, number)
            trunk, number = number, ""
        if not number:
            raise OriginateError(f"no number to dial in {spec!r}")
        return Target("PJSIP", "trunk", trunk, number)
    if tech_u == "SIP":
        peer, slash, number = rest.partition("/")
        if not slash:
            if pbx.matches_agent(peer):
                return Target("SIP", "agent", peer, peer)
            raise OriginateError(f"no number to dial in {spec!r}")
        return Target("SIP", "trunk", peer, number)
    raise OriginateError(f"unsupported channel technology {tech!r}")


@dataclass
class OriginateRequest:
    channel: str
    context: str = ""
    exten: str = ""
    priority: int = 1
    application: str = ""
    data: str = ""
    caller_num: str = ""
    caller_name: str = ""
    timeout_s: float = 30.0  # wall seconds (AMI Timeout is ms, ARI timeout is s)
    variables: dict[str, str] = field(default_factory=dict)
    action_id: str | None = None
    async_: bool = True
    channel_id: str | None = None
    other_channel_id: str | None = None
    stasis_app: str | None = None
    app_args: list[str] = field(default_factory=list)
    account: str = ""


@dataclass(eq=False)
class Call:
    """One dialed call: the channel the client asked for plus the far end (the customer)."""

    req: OriginateRequest
    plan: CallPlan | None
    origin: Channel  # what Originate returns as Channel (;1 for Local)
    customer: Channel | None = None  # the trunk channel, i.e. the person / machine
    answered: bool = False
    connected: bool = False  # bridged with an agent
    reported: bool = False  # the originate's outcome has been told to the client
    result_future: asyncio.Future[tuple[bool, int]] | None = None


class CallEngine:
    def __init__(self, pbx: Pbx) -> None:
        self.pbx = pbx
        self.dp = Dialplan(pbx, self)
        pbx.on_bridge_change.append(self._bridge_changed)
        pbx.on_hangup.append(self._channel_gone)

    # -- originate -----------------------------------------------------------------------------
    def originate(self, req: OriginateRequest) -> Call:
        """Start a call; raises OriginateError when nothing could be dialed (Reason 0)."""
        pbx = self.pbx
        target = parse_channel(req.channel, pbx)
        needs_plan = target.kind == "trunk" or (target.kind == "local" and self._local_dials_trunk(target))
        plan = None
        if needs_plan:
            forced = pbx.forced.pop(0) if pbx.forced else None
            plan = draw_plan(pbx.scenario, pbx.rng, forced, pbx.scenario_time())
        cid: dict[str, Any] = {"caller_num": req.caller_num, "caller_name": req.caller_name,
                               "accountcode": req.account}
        if target.kind == "local":
            suffix = pbx.chan_suffix()
            base = f"Local/{target.number}@{target.context}-{suffix}"
            one = pbx.new_channel(base + ";1", "local", uniqueid=req.channel_id, context=target.context,
                                  exten=target.number, **cid)
            two = pbx.new_channel(base + ";2", "local", uniqueid=req.other_channel_id, linkedid=one.linkedid,
                                  state=RING, context=target.context, exten=target.number, **cid)
            one.peer, two.peer = two, one
            call = Call(req, plan, one)
            one.call = two.call = call
            self._apply_vars(one, req.variables)
            pbx.later(one, 0.01, self._local_dialplan, call, two, target)
        else:
            name = f"{target.tech}/{target.endpoint}-{pbx.chan_suffix()}"
            ch = pbx.new_channel(name, "agent" if target.kind == "agent" else "trunk", uniqueid=req.channel_id,
                                 context=req.context or "default", exten=req.exten or target.number, **cid)
            call = Call(req, plan, ch, customer=ch if target.kind == "trunk" else None)
            ch.call = call
            self._apply_vars(ch, req.variables)
            pbx.dial_begin(None, ch, req.channel.split("/", 1)[1])  # DialString: what follows Tech/
            self._ring(call, ch, None, target.kind)
        if not req.async_:
            call.result_future = asyncio.get_running_loop().create_future()
        return call

    def _apply_vars(self, ch: Channel, variables: dict[str, str]) -> None:
        for name, value in variables.items():
            self.pbx.setvar(ch, name, value)

    def _local_dials_trunk(self, target: Target) -> bool:
        sc = self.pbx.scenario
        return not self.pbx.matches_agent(target.number) and target.context not in (sc.monitor_context,
                                                                                    sc.stasis_context)

    def _local_dialplan(self, call: Call, two: Channel, target: Target) -> None:
        """;2 runs exten@context, which (in the dialplan we mimic) Dial()s the agent or the trunk."""
        pbx = self.pbx
        one = call.origin
        for name, value in one.variables.items():  # core_local copies ;1's variables to ;2 on call
            two.variables[name] = value
        two.inheritable.update(one.inheritable)
        sc = pbx.scenario
        if target.context in (sc.monitor_context, sc.stasis_context):
            # Extensions that do not Dial(): ;2 answers and runs them itself (ChanSpy, Stasis).
            pbx.set_state(two, UP)
            pbx.set_state(one, UP)
            self._report(call, True, REASON["answer"])
            self.dp.run(two, target.context, target.number)
            if one.alive:
                self.dp.after_answer(one, call.req)
            return
        if pbx.matches_agent(target.number):
            dialstring = f"PJSIP/{target.number}"
            dest = pbx.new_channel(f"PJSIP/{target.number}-{pbx.chan_suffix()}", "agent", linkedid=two.linkedid,
                                   context=pbx.scenario.agent_contexts[0], exten=target.number)
            kind = "agent"
        else:
            dialstring = f"PJSIP/{target.number}@{pbx.scenario.trunk}"
            dest = pbx.new_channel(f"PJSIP/{pbx.scenario.trunk}-{pbx.chan_suffix()}", "trunk", linkedid=two.linkedid,
                                   context=target.context, exten=target.number, accountcode=call.req.account,
                                   caller_num=call.req.caller_num, caller_name=call.req.caller_name)
            call.customer = dest
            kind = "trunk"
        dest.call = call
        pbx.inherit(dest, two)
        pbx.newexten(two, target.context, target.number, 1, "Dial", dialstring + ",,")
        pbx.dial_begin(two, dest, dialstring)
        self._ring(call, dest, two, kind)

    def _ring(self, call: Call, dest: Channel, caller: Channel | None, kind: str) -> None:
        pbx = self.pbx
        pbx.later(dest, 0.05, pbx.set_state, dest, RINGING)
        if caller is not None:
            pbx.later(dest, 0.06, pbx.set_state, caller, RINGING)
        timeout = call.req.timeout_s
        if kind == "agent":
            pbx.later(dest, pbx.scenario.agent_answer_s, self._answered, call, dest, caller)
            return
        plan = call.plan
        assert plan is not None
        if plan.outcome in ("human", "machine"):
            if plan.ring_s / pbx.scenario.time_scale < timeout:
                pbx.later(dest, plan.ring_s, self._answered, call, dest, caller)
                return
        elif plan.outcome != "noanswer" and plan.ring_s / pbx.scenario.time_scale < timeout:
            pbx.later(dest, plan.ring_s, self._failed, call, dest, caller, plan.outcome)
            return
        # Nobody answers: the Originate/Dial timeout is wall time set by the client.
        pbx.later_wall(dest, timeout, self._failed, call, dest, caller, "noanswer")

    def _failed(self, call: Call, dest: Channel, caller: Channel | None, outcome: str) -> None:
        pbx = self.pbx
        pbx.dial_end(caller, dest, DIALSTATUS[outcome])
        self._report(call, False, REASON.get(outcome, 1))
        pbx.hangup(dest, CAUSE[outcome])
        if caller is not None:  # the Local ;2 dialplan ends after a failed Dial(); ;1 follows
            pbx.hangup(caller, CAUSE[outcome])

    def _answered(self, call: Call, dest: Channel, caller: Channel | None) -> None:
        pbx = self.pbx
        pbx.set_state(dest, UP)
        pbx.dial_end(caller, dest, "ANSWER")
        if caller is not None:  # Local ;2 answered: ;1 goes Up and ;2 bridges with the far end
            pbx.set_state(caller, UP)
            if caller.peer is not None:
                pbx.set_state(caller.peer, UP)
            bridge = pbx.create_bridge(stasis=False)
            pbx.enter_bridge(bridge, caller)
            pbx.enter_bridge(bridge, dest)
        if dest is call.customer and call.plan is not None:
            call.answered = True
            self._customer_answered(call, dest, call.plan)
        self._report(call, True, REASON["answer"])
        origin = call.origin
        if origin.alive:
            self.dp.after_answer(origin, call.req)

    def _report(self, call: Call, success: bool, reason: int) -> None:
        req, ch = call.req, call.origin
        if call.reported:
            return
        call.reported = True
        if call.result_future is not None:
            if not call.result_future.done():
                call.result_future.set_result((success, reason))
            return
        if req.stasis_app is not None:
            return  # ARI originate: the app learns through StasisStart / ChannelDestroyed
        fields = [] if req.action_id is None else [("ActionID", req.action_id)]
        fields += [("Response", "Success" if success else "Failure"), ("Channel", req.channel),
                   ("Context", req.context), ("Exten", req.exten), ("Application", req.application),
                   ("Data", req.data), ("Reason", str(reason)), ("Uniqueid", ch.id if success else "<null>"),
                   ("CallerIDNum", req.caller_num or "<unknown>"), ("CallerIDName", req.caller_name or "<unknown>")]
        if success:
            fields[2] = ("Channel", ch.name)
        self.pbx.ami("OriginateResponse", "call,all", fields)

    # -- the far end ---------------------------------------------------------------------------
    def _customer_answered(self, call: Call, cust: Channel, plan: CallPlan) -> None:
        pbx = self.pbx
        if plan.outcome == "machine":
            pbx.later(cust, pbx.scenario.machine_hangup_s, self._customer_hangs_up, cust)
        else:
            pbx.later(cust, plan.patience_s, self._patience_over, call, cust)

    def _patience_over(self, call: Call, cust: Channel) -> None:
        if not call.connected:
            logger.debug("customer %s gave up waiting for an agent", cust.name)
            self._customer_hangs_up(cust)

    def _customer_hangs_up(self, cust: Channel) -> None:
        self.pbx.hangup(cust, 16)

    def _bridge_changed(self, bridge: Any) -> None:
        chans = bridge.channels
        if not any(c.kind == "agent" for c in chans):
            return
        for c in chans:
            call = c.call
            if c.kind != "agent" and call is not None and not call.connected and call.customer is not None:
                call.connected = True
                plan = call.plan
                if plan is not None and plan.outcome == "human" and plan.talk_s != float("inf"):
                    self.pbx.later(call.customer, plan.talk_s, self._customer_hangs_up, call.customer)

    def _channel_gone(self, ch: Channel) -> None:
        call = ch.call
        if call is not None and ch is call.origin and not call.reported:
            self._report(call, False, REASON["failure"])  # hung up (e.g. by the client) before an outcome
        for spy in self.pbx.spies:
            # A snoop channel dies with the channel it snoops on; ChanSpy only with option E.
            if spy.get("target_channel") == ch.name and (spy["via"] == "snoop" or spy.get("exit_on_target_hangup")):
                spy_ch = self.pbx.channels.get(spy["spy_uniqueid"])
                if spy_ch is not None:
                    self.pbx.hangup(spy_ch, 16)

    # -- what the answered channel does: see dialplan.py ----------------------------------------
    def enter_stasis(self, ch: Channel, app: str, args: list[str]) -> None:
        self.dp.enter_stasis(ch, app, args)

    # -- AMI actions on live channels ----------------------------------------------------------
    def redirect(self, ch: Channel, context: str, exten: str, priority: int) -> None:
        pbx = self.pbx
        bridge = ch.bridge
        if bridge is not None:
            pbx.leave_bridge(ch)
            if not bridge.stasis:
                for other in list(bridge.channels):  # the abandoned party of a Dial() bridge hangs up
                    pbx.hangup(other, 16)
                pbx.destroy_bridge(bridge)
        self.dp.run(ch, context, exten, priority)

    def bridge(self, a: Channel, b: Channel) -> None:
        pbx = self.pbx
        for ch in (a, b):
            self.dp.leave(ch)
            if ch.bridge is not None:
                old = ch.bridge
                pbx.leave_bridge(ch)
                if not old.stasis and not old.channels:
                    pbx.destroy_bridge(old)
            if ch.state != UP:
                pbx.set_state(ch, UP)
        bridge = pbx.create_bridge(stasis=False)
        pbx.enter_bridge(bridge, a)
        pbx.enter_bridge(bridge, b)


def parse_variables(values: list[str]) -> dict[str, str]:
    """AMI ``Variable:`` headers: repeated, and/or comma-separated ``name=value`` pairs."""
    out: dict[str, str] = {}
    for value in values:
        for pair in re.split(r",(?=[^,=]+=)", value):
            name, eq, val = pair.partition("=")
            if eq and name.strip():
                out[name.strip()] = val
    return out
