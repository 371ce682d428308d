"""The simulator's AMI against unmodified panoramisk and raw sockets."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from panoramisk import Manager

from telephony.simulator.testing import SimulatorThread, running_simulator

FAST = {
    "timing": {"ring_live_s": 1.0, "ring_machine_s": 1.0, "fail_detect_s": 0.5, "talk_s": 3.0},
    "amd": {"machine_detect": 1.0, "live_false_positive": 0.0, "latency_live_s": 0.5, "latency_machine_s": 0.5},
    "sim": {"time_scale": 10, "patience_s": 5.0, "agent_answer_s": 0.3, "machine_hangup_s": 5.0},
}


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorThread]:
    with running_simulator(FAST, seed=1, data_dir=tmp_path_factory.mktemp("sim")) as s:
        yield s


@pytest.fixture(autouse=True)
def _reset(sim: SimulatorThread) -> None:
    sim.control("POST", "/_reset")


async def _manager(sim: SimulatorThread) -> tuple[Manager, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    booted = asyncio.Event()

    def on_event(_: Manager, msg: Any) -> None:
        events.append(dict(msg))
        if msg.get("Event") == "FullyBooted":
            booted.set()

    m = Manager(host="127.0.0.1", port=sim.ami_port, username="pydialer", secret="pydialer", ping_delay=0,
                reconnect_timeout=0.2)
    m.register_event("*", on_event)
    await m.connect()  # returns before the login completes (panoramisk): wait for FullyBooted
    await asyncio.wait_for(booted.wait(), 5)
    return m, events


async def _wait_for(events: list[dict[str, Any]], pred: Any, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for e in events:
            if pred(e):
                return e
        await asyncio.sleep(0.02)
    raise AssertionError(f"no matching event; got {[e.get('Event') for e in events]}")


def _names(events: list[dict[str, Any]], channel_prefix: str) -> list[str]:
    return [e["Event"] for e in events if e.get("Channel", e.get("DestChannel", "")).startswith(channel_prefix)
            or e.get("DestChannel", "").startswith(channel_prefix)]


def _raw(sim: SimulatorThread) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", sim.ami_port), timeout=5)
    return s


def _read_until(s: socket.socket, marker: bytes, limit: float = 5.0) -> bytes:
    data = b""
    deadline = time.monotonic() + limit
    while marker not in data and time.monotonic() < deadline:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_banner_login_ping_and_fully_booted(sim: SimulatorThread) -> None:
    s = _raw(sim)
    assert _read_until(s, b"\r\n") == b"Asterisk Call Manager/9.0.0\r\n"
    s.sendall(b"Action: Login\r\nUsername: pydialer\r\nSecret: pydialer\r\nActionID: a1\r\n\r\n")
    data = _read_until(s, b"Status: Fully Booted\r\n\r\n").decode()
    assert data.startswith("Response: Success\r\nActionID: a1\r\nMessage: Authentication accepted\r\n\r\n")
    assert "Event: FullyBooted\r\nPrivilege: system,all\r\n" in data
    s.sendall(b"Action: Ping\r\nActionID: p\r\n\r\n")
    pong = _read_until(s, b"\r\n\r\n").decode()
    assert pong.startswith("Response: Success\r\nActionID: p\r\nPing: Pong\r\nTimestamp: ")
    s.sendall(b"Action: Logoff\r\n\r\n")
    assert _read_until(s, b"\r\n\r\n").startswith(b"Response: Goodbye\r\n")
    assert s.recv(10) == b""  # the server closes after Goodbye
    s.close()


def test_wrong_secret_and_permission_denied(sim: SimulatorThread) -> None:
    s = _raw(sim)
    _read_until(s, b"\r\n")
    s.sendall(b"Action: Ping\r\nActionID: x\r\n\r\n")
    assert _read_until(s, b"\r\n\r\n") == b"Response: Error\r\nActionID: x\r\nMessage: Permission denied\r\n\r\n"
    s.sendall(b"Action: Login\r\nUsername: pydialer\r\nSecret: nope\r\n\r\n")
    assert _read_until(s, b"\r\n\r\n") == b"Response: Error\r\nMessage: Authentication failed\r\n\r\n"
    assert s.recv(10) == b""  # manager.c ends the session after a failed login
    s.close()


def test_unknown_action_and_missing_action(sim: SimulatorThread) -> None:
    async def run() -> None:
        m, _ = await _manager(sim)
        r = await m.send_action({"Action": "FlyToTheMoon"})
        assert r.Response == "Error" and r.Message == "Invalid/unknown command"
        m.close()

    asyncio.run(run())


def test_answered_call_redirected_to_agent_bridges_and_ends_normally(sim: SimulatorThread) -> None:
    sim.control("POST", "/_force", {"outcomes": ["human"]})

    async def run() -> None:
        m, events = await _manager(sim)
        res = await m.send_action({"Action": "Originate", "Channel": "Local/5551000@from-dialer", "Context": "hold",
                                   "Exten": "s", "Priority": "1", "Async": "true", "CallerID": '"Camp" <2000>',
                                   "Timeout": "30000", "Variable": ["LEAD_ID=42", "CAMPAIGN=7,LIST=3"],
                                   "Account": "camp7"})
        assert res[0].Response == "Success" and res[0].Message == "Originate successfully queued"
        resp = res[-1]
        assert resp.Event == "OriginateResponse" and resp.Response == "Success" and resp.Reason == "4"
        one = resp.Channel
        assert one.startswith("Local/5551000@from-dialer-") and one.endswith(";1")
        assert resp.CallerIDNum == "2000" and resp.CallerIDName == "Camp"
        trunk = await _wait_for(events, lambda e: e.get("Event") == "DialEnd" and e.get("DialStatus") == "ANSWER")
        assert trunk["AccountCode"] == "camp7" and trunk["DestAccountCode"] == "camp7"
        assert trunk["DestChannel"].startswith("PJSIP/trunk-") and trunk["Channel"].endswith(";2")
        seq = _names(events, trunk["DestChannel"])
        assert seq[:5] == ["Newchannel", "DialBegin", "Newstate", "Newstate", "DialEnd"]
        states = [e["ChannelStateDesc"] for e in events if e["Event"] == "Newstate"
                  and e["Channel"] == trunk["DestChannel"]]
        assert states == ["Ringing", "Up"]
        varsets = {e["Variable"]: e["Value"] for e in events if e["Event"] == "VarSet" and e["Channel"] == one}
        assert varsets == {"LEAD_ID": "42", "CAMPAIGN": "7", "LIST": "3"}
        r = await m.send_action({"Action": "Redirect", "Channel": one, "Context": "agents", "Exten": "agent7",
                                 "Priority": "1"})
        assert r.Response == "Success" and r.Message == "Redirect successful"
        enter = await _wait_for(events, lambda e: e.get("Event") == "BridgeEnter"
                                and e.get("Channel", "").startswith("PJSIP/agent7-"))
        bridge = enter["BridgeUniqueid"]
        inside = {e["Channel"] for e in events if e["Event"] == "BridgeEnter" and e["BridgeUniqueid"] == bridge}
        assert one in inside and len(inside) == 2
        # talk_s 3 s / time_scale 10: the customer hangs up, and everyone follows with Normal Clearing
        hang = await _wait_for(events, lambda e: e.get("Event") == "Hangup" and e["Channel"] == trunk["DestChannel"])
        assert (hang["Cause"], hang["Cause-txt"]) == ("16", "Normal Clearing")
        agent_hang = await _wait_for(events, lambda e: e.get("Event") == "Hangup"
                                     and e["Channel"].startswith("PJSIP/agent7-"))
        assert agent_hang["Cause"] == "16"
        await _wait_for(events, lambda e: e.get("Event") == "BridgeDestroy" and e["BridgeUniqueid"] == bridge)
        for e in events:
            if e.get("Event") == "Newchannel":
                assert list(e)[:16] == ["Event", "Privilege", "Channel", "ChannelState", "ChannelStateDesc",
                                        "CallerIDNum", "CallerIDName", "ConnectedLineNum", "ConnectedLineName",
                                        "Language", "AccountCode", "Context", "Exten", "Priority", "Uniqueid",
                                        "Linkedid"]
        m.close()

    asyncio.run(run())


@pytest.mark.parametrize("outcome,dialstatus,cause,cause_txt,reason", [
    ("busy", "BUSY", "17", "User busy", "5"),
    ("congestion", "CONGESTION", "34", "Circuit/channel congestion", "8"),
    ("noanswer", "NOANSWER", "19", "User alerting, no answer", "3"),
])
def test_failed_calls(sim: SimulatorThread, outcome: str, dialstatus: str, cause: str, cause_txt: str,
                      reason: str) -> None:
    sim.control("POST", "/_force", {"outcome": outcome})

    async def run() -> None:
        m, events = await _manager(sim)
        res = await m.send_action({"Action": "Originate", "Channel": "PJSIP/5552000@trunk", "Exten": "s",
                                   "Context": "hold", "Priority": "1", "Async": "true", "Timeout": "400"})
        resp = res[-1]
        assert (resp.Response, resp.Reason, resp.Channel, resp.Uniqueid) == ("Failure", reason, "PJSIP/5552000@trunk",
                                                                           "<null>")
        end = await _wait_for(events, lambda e: e.get("Event") == "DialEnd")
        assert end["DialStatus"] == dialstatus and "Channel" not in end  # Originate dials with no caller
        hang = await _wait_for(events, lambda e: e.get("Event") == "Hangup")
        assert (hang["Cause"], hang["Cause-txt"]) == (cause, cause_txt)
        m.close()

    asyncio.run(run())


def test_machine_with_amd_sets_variables_and_hangs_up(sim: SimulatorThread) -> None:
    sim.control("POST", "/_force", {"outcome": "machine"})

    async def run() -> None:
        m, events = await _manager(sim)
        res = await m.send_action({"Action": "Originate", "Channel": "PJSIP/5553000@trunk", "Context": "amd",
                                   "Exten": "s", "Priority": "1", "Async": "true"})
        ch = res[-1].Channel
        status = await _wait_for(events, lambda e: e.get("Event") == "VarSet" and e.get("Variable") == "AMDSTATUS")
        cause = await _wait_for(events, lambda e: e.get("Event") == "VarSet" and e.get("Variable") == "AMDCAUSE")
        assert status["Channel"] == ch and status["Value"] == "MACHINE"
        assert cause["Value"].split("-")[0] in ("LONGGREETING", "MAXWORDS")
        assert any(e.get("Event") == "Newexten" and e.get("Application") == "AMD" for e in events)
        await _wait_for(events, lambda e: e.get("Event") == "Hangup" and e["Channel"] == ch)
        m.close()

    asyncio.run(run())


def test_human_with_amd_variable_then_customer_gives_up_waiting(sim: SimulatorThread) -> None:
    sim.control("POST", "/_force", {"outcome": "human"})

    async def run() -> None:
        m, events = await _manager(sim)
        res = await m.send_action({"Action": "Originate", "Channel": "PJSIP/5554000@trunk", "Context": "hold",
                                   "Exten": "s", "Priority": "1", "Async": "yes", "Variable": "AMD=1"})
        ch = res[-1].Channel
        status = await _wait_for(events, lambda e: e.get("Event") == "VarSet" and e.get("Variable") == "AMDSTATUS")
        assert status["Value"] == "HUMAN"
        # patience 5 s / 10: nobody bridged the call, so the person hangs up (Normal Clearing)
        hang = await _wait_for(events, lambda e: e.get("Event") == "Hangup" and e["Channel"] == ch)
        assert hang["Cause"] == "16"
        m.close()

    asyncio.run(run())


def test_sync_originate_answers_after_the_call_is_up(sim: SimulatorThread) -> None:
    sim.control("POST", "/_force", {"outcomes": ["human", "busy"]})

    async def run() -> None:
        m, _ = await _manager(sim)
        t0 = time.monotonic()
        r = await m.send_action({"Action": "Originate", "Channel": "PJSIP/5555000@trunk", "Application": "Wait",
                                 "Data": "10", "Async": "false"})
        assert r.Response == "Success" and time.monotonic() - t0 >= 0.08  # ring 1 s / 10
        r = await m.send_action({"Action": "Originate", "Channel": "PJSIP/5555001@trunk", "Application": "Wait",
                                 "Data": "10", "Async": "false"})
        assert r.Response == "Error" and r.Message == "Originate failed"
        m.close()

    asyncio.run(run())


def test_chanspy_originate_is_recorded_with_mode(sim: SimulatorThread) -> None:
    sim.control("POST", "/_force", {"outcome": "human"})

    async def run() -> None:
        m, events = await _manager(sim)
        res = await m.send_action({"Action": "Originate", "Channel": "PJSIP/5556000@trunk", "Context": "hold",
                                   "Exten": "s", "Async": "true"})
        target = res[-1].Channel
        for data, mode in ((f"{target},q", "listen"), (f"{target},qw", "whisper"), (f"{target},qB", "barge")):
            r = await m.send_action({"Action": "Originate", "Channel": "PJSIP/agent9", "Application": "ChanSpy",
                                     "Data": data, "Async": "true", "CallerID": "Supervisor <900>"})
            assert r[-1].Response == "Success"
            spies = sim.control("GET", "/_spies")[1]
            assert spies[-1]["mode"] == mode and spies[-1]["target_channel"] == target
            assert spies[-1]["spy_channel"].startswith("PJSIP/agent9-")
        start = await _wait_for(events, lambda e: e.get("Event") == "ChanSpyStart")
        assert start["SpyeeChannel"] == target and start["SpyerChannel"].startswith("PJSIP/agent9-")
        chans = sim.control("GET", "/_channels")[1]
        spy_rows = [c for c in chans if c["app"] == "ChanSpy"]
        assert len(spy_rows) == 3 and {c["app_data"].split(",")[1] for c in spy_rows} == {"q", "qw", "qB"}
        reqs = [r for r in sim.control("GET", "/_requests")[1] if r.get("action") == "Originate"]
        assert ["Data", f"{target},qw"] in reqs[2]["headers"]
        m.close()

    asyncio.run(run())


def test_core_show_channels_status_and_hangup(sim: SimulatorThread) -> None:
    sim.control("POST", "/_force", {"outcomes": ["human", "human"]})

    async def run() -> None:
        m, events = await _manager(sim)
        chans = []
        for n in ("5557000", "5557001"):
            res = await m.send_action({"Action": "Originate", "Channel": f"PJSIP/{n}@trunk", "Context": "hold",
                                       "Exten": "s", "Async": "true"})
            chans.append(res[-1].Channel)
        r = await m.send_action({"Action": "CoreShowChannels"})
        assert r[0].EventList == "start" and r[-1].Event == "CoreShowChannelsComplete"
        assert r[-1].EventList == "Complete" and r[-1].ListItems == "2"
        assert {x.Channel for x in r[1:-1]} == set(chans) and all(x.Event == "CoreShowChannel" for x in r[1:-1])
        r = await m.send_action({"Action": "Status"})
        assert r[-1].Event == "StatusComplete" and r[-1].Items == "2"
        r = await m.send_action({"Action": "Setvar", "Channel": chans[0], "Variable": "DISPO", "Value": "SALE"})
        assert r.Response == "Success"
        r = await m.send_action({"Action": "Getvar", "Channel": chans[0], "Variable": "DISPO"})
        assert r.Value == "SALE"
        r = await m.send_action({"Action": "Hangup", "Channel": chans[0], "Cause": "16"})
        assert r.Response == "Success" and r.Message == "Channel Hungup"
        req = await _wait_for(events, lambda e: e.get("Event") == "HangupRequest" and e["Channel"] == chans[0])
        assert req["Cause"] == "16"
        r = await m.send_action({"Action": "Hangup", "Channel": "PJSIP/nope-00000000"})
        assert r.Response == "Error" and r.Message == "No such channel"
        r = await m.send_action({"Action": "Bridge", "Channel1": chans[1], "Channel2": "PJSIP/missing"})
        assert r.Response == "Error"
        r = await m.send_action({"Action": "Command", "Command": "core show version"})
        assert r.Response == "Success" and "Asterisk 20" in str(r.get("Output"))
        m.close()

    asyncio.run(run())


def test_garbage_never_kills_the_server(sim: SimulatorThread) -> None:
    s = _raw(sim)
    _read_until(s, b"\r\n")
    s.sendall(bytes(range(256)) * 4 + b"\r\n\r\n")
    s.sendall(b"no colon here\r\nAction: Ping\r\n\r\n")  # a bad header drops that message only
    s.sendall(b"X: " + b"z" * 70000 + b"\r\n\r\n")
    s.sendall(b"Action: Login\r\nUsername: pydialer\r\nSecret: pydialer\r\n\r\n")
    data = _read_until(s, b"Authentication accepted")
    assert b"Authentication accepted" in data
    s.sendall(b"Action: Ping\r\nActionID: after\r\n\r\n")
    assert b"ActionID: after\r\nPing: Pong" in _read_until(s, b"Ping: Pong")
    s.close()
    s2 = _raw(sim)  # and the listener still accepts
    assert _read_until(s2, b"\r\n").startswith(b"Asterisk Call Manager/")
    s2.close()


def test_every_client_gets_the_events(sim: SimulatorThread) -> None:
    sim.control("POST", "/_force", {"outcome": "busy"})

    async def run() -> None:
        (m1, e1), (m2, e2) = await _manager(sim), await _manager(sim)
        await m1.send_action({"Action": "Originate", "Channel": "PJSIP/5558000@trunk", "Application": "Wait",
                              "Data": "1", "Async": "true"})
        for events in (e1, e2):
            await _wait_for(events, lambda e: e.get("Event") == "Hangup" and e.get("Cause") == "17")
        m1.close()
        m2.close()

    asyncio.run(run())


def test_restart_on_the_same_ports(tmp_path: Any) -> None:
    first = SimulatorThread(FAST, data_dir=tmp_path).start()
    ami, ari = first.ami_port, first.ari_port
    c = socket.create_connection(("127.0.0.1", ami), timeout=5)  # leave a connection behind
    _read_until(c, b"\r\n")
    first.stop()
    c.close()
    second = SimulatorThread(FAST, data_dir=tmp_path, ami_port=ami, ari_port=ari).start()
    try:
        s = socket.create_connection(("127.0.0.1", ami), timeout=5)
        assert _read_until(s, b"\r\n").startswith(b"Asterisk Call Manager/")
        s.close()
        assert second.control("GET", "/_channels") == (200, [])
    finally:
        second.stop()


def test_client_hangup_while_ringing_cancels_the_dial(sim: SimulatorThread) -> None:
    sim.control("POST", "/_force", {"outcome": "noanswer"})

    async def run() -> None:
        m, events = await _manager(sim)
        fut = m.send_action({"Action": "Originate", "Channel": "Local/5559900@from-dialer", "Context": "hold",
                             "Exten": "s", "Async": "true", "Timeout": "20000"})
        ring = await _wait_for(events, lambda e: e.get("Event") == "Newstate" and e.get("ChannelStateDesc") == "Ringing"
                               and e["Channel"].startswith("PJSIP/trunk-"))
        one = ring["Channel"]
        r = await m.send_action({"Action": "Hangup", "Channel": "/^Local\\/5559900@from-dialer-.*;1$/"})
        assert r.Response == "Success" and r.Message == "1 channels hung up"
        res = await asyncio.wait_for(fut, 5)
        assert res[-1].Response == "Failure" and res[-1].Reason == "1"
        end = await _wait_for(events, lambda e: e.get("Event") == "DialEnd" and e.get("DestChannel") == one)
        assert end["DialStatus"] == "CANCEL"
        await _wait_for(events, lambda e: e.get("Event") == "Hangup" and e["Channel"] == one)
        await asyncio.sleep(0.1)
        assert sim.control("GET", "/_channels")[1] == []
        m.close()

    asyncio.run(run())


def test_bridge_action_and_dual_redirect(sim: SimulatorThread) -> None:
    sim.control("POST", "/_force", {"outcome": "human"})

    async def run() -> None:
        m, events = await _manager(sim)
        cust = (await m.send_action({"Action": "Originate", "Channel": "PJSIP/5550100@trunk", "Context": "hold",
                                     "Exten": "s", "Async": "true"}))[-1].Channel
        agent = (await m.send_action({"Action": "Originate", "Channel": "PJSIP/agent3", "Context": "hold",
                                      "Exten": "s", "Async": "true"}))[-1].Channel
        assert agent.startswith("PJSIP/agent3-")
        r = await m.send_action({"Action": "Bridge", "Channel1": cust, "Channel2": agent})
        assert r.Response == "Success" and r.Message == "Channels have been bridged"
        enter = await _wait_for(events, lambda e: e.get("Event") == "BridgeEnter" and e["Channel"] == agent)
        assert enter["BridgeNumChannels"] == "2"
        r = await m.send_action({"Action": "Redirect", "Channel": cust, "ExtraChannel": agent, "Context": "hold",
                                 "Exten": "s", "Priority": "1"})
        assert r.Message == "Dual Redirect successful"
        await _wait_for(events, lambda e: e.get("Event") == "BridgeDestroy")
        chans = {c["name"]: c for c in sim.control("GET", "/_channels")[1]}
        assert set(chans) == {cust, agent} and all(c["bridge"] is None for c in chans.values())
        r = await m.send_action({"Action": "Originate", "Channel": "nonsense", "Async": "true", "Exten": "s"})
        assert r.Response == "Error" and r.Message == "Invalid channel"
        r = await m.send_action({"Action": "Originate", "Channel": "DAHDI/g1/555", "Async": "true", "Exten": "s",
                                 "Context": "hold"})
        assert r[-1].Response == "Failure" and r[-1].Reason == "0"
        m.close()

    asyncio.run(run())


def test_same_seed_same_outcomes_after_reset(sim: SimulatorThread) -> None:
    async def batch() -> dict[str, str]:
        m, _ = await _manager(sim)
        futures = {n: m.send_action({"Action": "Originate", "Channel": f"PJSIP/55590{n:02d}@trunk",
                                     "Application": "Wait", "Data": "1", "Async": "true", "Timeout": "500",
                                     "ActionID": f"det-{n}"}) for n in range(20)}
        out = {}
        for n, fut in futures.items():
            res = await asyncio.wait_for(fut, 5)
            out[str(n)] = res[-1].Reason
        m.close()
        return out

    first = asyncio.run(batch())
    sim.control("POST", "/_reset")
    second = asyncio.run(batch())
    assert first == second
    assert len(set(first.values())) >= 3  # a real mix: answered, failed, no answer


def test_session_that_never_logs_in_is_closed(sim: SimulatorThread) -> None:
    assert sim.sim is not None
    sim.call(setattr, sim.sim.ami, "auth_timeout", 0.3)
    try:
        s = _raw(sim)
        _read_until(s, b"\r\n")
        t0 = time.monotonic()
        assert s.recv(10) == b""  # closed by the server, like manager.conf authtimeout
        assert time.monotonic() - t0 < 3
        s.close()
    finally:
        sim.call(setattr, sim.sim.ami, "auth_timeout", 30.0)


def test_simulator_events_have_the_documented_fields_in_order(sim: SimulatorThread) -> None:
    """The same documented shapes the recorded fixtures are checked against (tests/unit/ami_schema.py),
    on everything the simulator sends for answered (AMD, agent bridge), busy and no-answer calls and a
    CoreShowChannels, read through our client (which keeps header order as sent)."""
    from core.config import PbxServer
    from telephony.ami.client import AmiClient
    from tests.unit.ami_schema import EVENTS, check

    sim.control("POST", "/_force", {"outcomes": ["human", "busy", "noanswer"]})

    async def run() -> None:
        seen: list[Any] = []
        client = AmiClient(PbxServer(name="sim", ami_host="127.0.0.1", ami_port=sim.ami_port), on_event=seen.append)
        await client.start()
        await client.wait_ready(5)
        replies = [await client.action({"Action": "Originate", "Channel": f"PJSIP/555800{n}@trunk",
                                        "Context": "hold", "Exten": "s", "Priority": "1", "Timeout": "400",
                                        "CallerID": '"Camp" <2000>', "Variable": "AMD=1"}) for n in range(3)]
        for _ in range(200):
            if sum(1 for m in seen if m.event == "OriginateResponse") == 3:
                break
            await asyncio.sleep(0.02)
        answered = next(m for m in seen if m.event == "OriginateResponse" and m["Response"] == "Success")
        replies.append(await client.action({"Action": "Redirect", "Channel": answered["Channel"],
                                            "Context": "agents", "Exten": "agent9", "Priority": "1"}))
        listed = await client.action_list({"Action": "CoreShowChannels"})
        for _ in range(300):
            if any(m.event == "BridgeDestroy" for m in seen):
                break
            await asyncio.sleep(0.02)
        await client.close()
        checked = [m for m in seen + replies + listed if m.kind == "response" or m.event in EVENTS]
        problems = [f"{m.name}: {p}" for m in checked for p in check(m)]
        assert problems == []
        names = {m.event for m in checked}
        assert {"Newchannel", "Newstate", "VarSet", "DialBegin", "DialEnd", "OriginateResponse", "BridgeEnter",
                "BridgeLeave", "Hangup", "CoreShowChannel"} <= names
        reasons = sorted(m["Reason"] for m in seen if m.event == "OriginateResponse")
        assert reasons == ["3", "4", "5"]

    asyncio.run(run())
