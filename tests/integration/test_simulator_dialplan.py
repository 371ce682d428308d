"""The simulator follows telephony/asterisk/extensions.conf: [pydialer-outbound] (AMD when
PYDIALER_AMD=1, hold, safe harbor, machine), [pydialer-agents], variable inheritance, MixMonitor."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from telephony.simulator.testing import SimulatorThread, running_simulator

from .test_simulator_ami import _manager, _wait_for

SCENARIO = {
    "timing": {"ring_live_s": 1.0, "ring_machine_s": 1.0, "talk_s": 30.0},
    "amd": {"machine_detect": 1.0, "live_false_positive": 0.0, "latency_live_s": 0.5, "latency_machine_s": 0.5},
    "sim": {"time_scale": 10, "patience_s": 60.0, "agent_answer_s": 0.3, "drop_after_s": 2.0,
            "safe_harbor_s": 1.0},
}


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorThread]:
    with running_simulator(SCENARIO, seed=5, data_dir=tmp_path_factory.mktemp("sim")) as s:
        yield s


@pytest.fixture(autouse=True)
def _reset(sim: SimulatorThread) -> None:
    sim.control("POST", "/_reset")


def _originate(call_id: str, number: str, amd: bool) -> dict[str, Any]:
    return {"Action": "Originate", "Channel": f"PJSIP/{number}@trunk", "Context": "pydialer-outbound",
            "Exten": "s", "Priority": "1", "Async": "true", "Timeout": "30000", "ChannelId": call_id,
            "Variable": [f"__PYDIALER_CALL_ID={call_id}", f"PYDIALER_AMD={'1' if amd else '0'}"]}


def test_amd_human_then_redirect_to_agent_inherits_call_id(sim: SimulatorThread) -> None:
    sim.control("POST", "/_force", {"outcome": "human"})
    call_id = str(uuid.uuid4())

    async def run() -> None:
        m, events = await _manager(sim)
        res = await m.send_action(_originate(call_id, "5551001", amd=True))
        assert res[-1].Uniqueid == call_id
        cust = res[-1].Channel
        varset = await _wait_for(events, lambda e: e.get("Event") == "VarSet" and e["Variable"] == "__PYDIALER_CALL_ID")
        assert varset["Value"] == call_id and varset["Uniqueid"] == call_id
        amd = await _wait_for(events, lambda e: e.get("Event") == "VarSet" and e["Variable"] == "AMDSTATUS")
        assert amd["Value"] == "HUMAN"
        apps = [e["Application"] for e in events if e.get("Event") == "Newexten" and e["Channel"] == cust]
        assert apps[:4] == ["NoOp", "Set", "GotoIf", "AMD"]
        r = await m.send_action({"Action": "Redirect", "Channel": call_id, "Context": "pydialer-agents",
                                 "Exten": "agent01", "Priority": "1"})
        assert r.Response == "Success"
        enter = await _wait_for(events, lambda e: e.get("Event") == "BridgeEnter"
                                and e["Channel"].startswith("PJSIP/agent01-"))
        assert enter["Linkedid"] == call_id
        r = await m.send_action({"Action": "Status", "Channel": enter["Channel"], "Variables": "PYDIALER_CALL_ID"})
        assert r[1].Variable == f"PYDIALER_CALL_ID={call_id}"
        r = await m.send_action({"Action": "MixMonitor", "Channel": call_id, "File": f"pydialer/{call_id}.wav"})
        assert r.Response == "Success" and r.MixMonitorID
        await _wait_for(events, lambda e: e.get("Event") == "MixMonitorStart")
        r = await m.send_action({"Action": "StopMixMonitor", "Channel": call_id})
        assert r.Response == "Success"
        assert sim.control("GET", "/_recordings")[1][0]["file"] == f"pydialer/{call_id}.wav"
        # the drop timer (2 s / 10) was cancelled by the Redirect: no safe harbor on a connected call
        await asyncio.sleep(0.4)
        assert not any(e.get("Variable") == "PYDIALER_SAFE_HARBOR" for e in events)
        m.close()

    asyncio.run(run())


def test_unconnected_person_gets_safe_harbor_from_the_dialplan(sim: SimulatorThread) -> None:
    sim.control("POST", "/_force", {"outcome": "human"})
    call_id = str(uuid.uuid4())

    async def run() -> None:
        m, events = await _manager(sim)
        await m.send_action(_originate(call_id, "5551002", amd=False))
        played = await _wait_for(events, lambda e: e.get("Event") == "VarSet"
                                 and e["Variable"] == "PYDIALER_SAFE_HARBOR")
        assert played["Value"] == "pydialer/safe-harbor" and played["Uniqueid"] == call_id
        hang = await _wait_for(events, lambda e: e.get("Event") == "Hangup" and e["Uniqueid"] == call_id)
        assert hang["Cause"] == "16"
        m.close()

    asyncio.run(run())


def test_service_plays_safe_harbor_with_its_own_audio(sim: SimulatorThread) -> None:
    sim.control("POST", "/_force", {"outcome": "human"})
    call_id = str(uuid.uuid4())

    async def run() -> None:
        m, events = await _manager(sim)
        await m.send_action({**_originate(call_id, "5551003", amd=False),
                             "Variable": [f"__PYDIALER_CALL_ID={call_id}", "PYDIALER_DROP_AFTER=60"]})
        await m.send_action({"Action": "Setvar", "Channel": call_id, "Variable": "PYDIALER_SAFE_HARBOR_AUDIO",
                             "Value": "campaign/7-harbor"})
        await m.send_action({"Action": "Redirect", "Channel": call_id, "Context": "pydialer-outbound",
                             "Exten": "safeharbor", "Priority": "1"})
        played = await _wait_for(events, lambda e: e.get("Event") == "VarSet"
                                 and e["Variable"] == "PYDIALER_SAFE_HARBOR")
        assert played["Value"] == "campaign/7-harbor"
        m.close()

    asyncio.run(run())


def test_machine_goes_to_the_machine_extension_and_hangs_up(sim: SimulatorThread) -> None:
    sim.control("POST", "/_force", {"outcome": "machine"})
    call_id = str(uuid.uuid4())

    async def run() -> None:
        m, events = await _manager(sim)
        await m.send_action(_originate(call_id, "5551004", amd=True))
        amd = await _wait_for(events, lambda e: e.get("Event") == "VarSet" and e["Variable"] == "AMDSTATUS")
        assert amd["Value"] == "MACHINE"
        hang = await _wait_for(events, lambda e: e.get("Event") == "Hangup" and e["Uniqueid"] == call_id)
        assert hang["Cause"] == "16"
        assert any(e.get("Event") == "Newexten" and e.get("Extension") == "machine" for e in events)
        m.close()

    asyncio.run(run())


def test_local_monitor_extension_spies_on_the_agent(sim: SimulatorThread) -> None:
    sim.control("POST", "/_force", {"outcome": "human"})
    call_id = str(uuid.uuid4())

    async def run() -> None:
        m, events = await _manager(sim)
        await m.send_action(_originate(call_id, "5551005", amd=False))
        await m.send_action({"Action": "Redirect", "Channel": call_id, "Context": "pydialer-agents",
                             "Exten": "agent04", "Priority": "1"})
        await _wait_for(events, lambda e: e.get("Event") == "BridgeEnter" and e["Channel"].startswith("PJSIP/agent04"))
        # a supervisor phone dialling 87204 (whisper to agent04), as [pydialer-monitor] defines
        res = await m.send_action({"Action": "Originate", "Channel": "Local/87204@pydialer-monitor",
                                   "Application": "Wait", "Data": "60", "Async": "true"})
        assert res[-1].Response == "Success"
        start = await _wait_for(events, lambda e: e.get("Event") == "ChanSpyStart")
        assert start["SpyeeChannel"].startswith("PJSIP/agent04-") and start["SpyerChannel"].endswith(";2")
        spy = sim.control("GET", "/_spies")[1][-1]
        assert spy["mode"] == "whisper" and spy["options"] == "qw"
        m.close()

    asyncio.run(run())
