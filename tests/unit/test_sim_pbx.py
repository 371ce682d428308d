"""The simulator's channel/bridge model and call engine, driven directly (no sockets)."""

from __future__ import annotations

import asyncio
from typing import Any

from telephony.simulator.calls import CallEngine, OriginateRequest
from telephony.simulator.pbx import UP, Pbx
from telephony.simulator.scenario import Scenario

FAST = {"timing": {"ring_live_s": 1.0, "talk_s": 50.0},
        "sim": {"time_scale": 50, "patience_s": 500.0, "agent_answer_s": 0.5, "drop_after_s": 500.0}}


def _run(body: Any) -> list[tuple[str, dict[str, str]]]:
    events: list[tuple[str, dict[str, str]]] = []

    async def main() -> None:
        pbx = Pbx(Scenario.parse(FAST), seed=1)
        pbx.ami_sinks.append(lambda name, _priv, fields: events.append((name, dict(fields))))
        await body(pbx, CallEngine(pbx))

    asyncio.run(main())
    return events


async def _until(pred: Any, timeout: float = 2.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.002)


def test_double_underscore_variables_reach_the_agent_leg_single_underscore_one_level() -> None:
    async def body(pbx: Pbx, eng: CallEngine) -> None:
        pbx.forced.append("human")
        call = eng.originate(OriginateRequest("PJSIP/555@trunk", context="hold", exten="s",
                                              variables={"__CALL": "c1", "_ONCE": "x", "PLAIN": "p"}))
        await _until(lambda: call.origin.state == UP)
        eng.redirect(call.origin, "pydialer-agents", "agent01", 1)
        await _until(lambda: call.origin.bridge is not None)
        agent = next(c for c in pbx.channels.values() if c.kind == "agent")
        assert agent.variables == {"CALL": "c1", "ONCE": "x"}
        assert agent.inheritable == {"__CALL": "c1"}  # _ONCE stops here, PLAIN never travels
        assert agent.linkedid == call.origin.id and agent.bridge is call.origin.bridge

    events = _run(body)
    # VarSet carries the name as set, underscores included (pbx_builtin_setvar_helper)
    assert [f["Variable"] for name, f in events if name == "VarSet"][:3] == ["__CALL", "_ONCE", "PLAIN"]


def test_basic_bridge_hangs_up_the_other_party_stasis_bridge_does_not() -> None:
    async def body(pbx: Pbx, eng: CallEngine) -> None:
        a = pbx.new_channel("PJSIP/a-1", "trunk", state=UP)
        b = pbx.new_channel("PJSIP/agent01-2", "agent", state=UP)
        eng.bridge(a, b)
        pbx.hangup(a, 16)
        assert not b.alive and not pbx.bridges
        c = pbx.new_channel("PJSIP/c-3", "trunk", state=UP)
        d = pbx.new_channel("PJSIP/d-4", "trunk", state=UP)
        bridge = pbx.create_bridge(stasis=True)
        pbx.enter_bridge(bridge, c)
        pbx.enter_bridge(bridge, d)
        pbx.hangup(c, 16)
        assert d.alive and bridge.channels == [d] and bridge.id in pbx.bridges

    names = [name for name, _ in _run(body)]
    assert names.count("BridgeDestroy") == 1 and names.count("Hangup") == 3


def test_redirect_cancels_the_pending_dialplan_step() -> None:
    async def body(pbx: Pbx, eng: CallEngine) -> None:
        pbx.forced.append("human")
        call = eng.originate(OriginateRequest("PJSIP/556@trunk", context="pydialer-outbound", exten="s",
                                              variables={"PYDIALER_DROP_AFTER": "20"}))  # 20 s / 50 = 0.4 s
        await _until(lambda: call.origin.app == "Wait")  # answered after 20 ms, holding in Wait(20)
        eng.redirect(call.origin, "hold", "s", 1)
        await asyncio.sleep(0.6)
        assert call.origin.alive and "PYDIALER_SAFE_HARBOR" not in call.origin.variables

    _run(body)


def test_unanswered_ring_is_cancelled_when_the_caller_hangs_up() -> None:
    async def body(pbx: Pbx, eng: CallEngine) -> None:
        pbx.forced.append("noanswer")
        call = eng.originate(OriginateRequest("Local/557@from-dialer", application="Wait", data="5", timeout_s=5))
        await asyncio.sleep(0.05)
        pbx.hangup(call.origin, 16, requested=True)
        assert not pbx.channels

    events = _run(body)
    ends = [f for name, f in events if name == "DialEnd"]
    assert [e["DialStatus"] for e in ends] == ["CANCEL"]
    resp = next(f for name, f in events if name == "OriginateResponse")
    assert (resp["Response"], resp["Reason"]) == ("Failure", "1")
