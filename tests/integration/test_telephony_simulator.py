"""Our AMI/ARI clients, normaliser and PbxControl against the Asterisk simulator.

The simulator is driven like a real Asterisk (AMI on TCP, ARI over HTTP/WS); its control API
(/_force, /_requests, /_channels, /_reset) scripts outcomes and shows what we sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from core import events as ev
from core.config import PbxServer
from telephony.ami.control import AsteriskControl, PbxConnection
from telephony.exceptions import ActionFailed, PbxUnavailable, UnknownCall
from telephony.ports import OriginateRequest
from telephony.service import TelephonyService
from telephony.simulator.testing import SimulatorThread, running_simulator
from telephony.streams import EVENTS_STREAM, decode, send_command

ROOT = Path(__file__).resolve().parents[2]

# Fast, deterministic calls (the simulator runs our extensions.conf: AMD when PYDIALER_AMD=1, hold,
# safe harbor, agents). An answered person waits (patience, drop_after) long enough for us to act.
SCENARIO: dict[str, Any] = {
    "timing": {"ring_live_s": 1.0, "ring_machine_s": 1.0, "fail_detect_s": 0.5, "talk_s": 60.0},
    "amd": {"enabled": True, "machine_detect": 1.0, "live_false_positive": 0.0, "latency_live_s": 0.5,
            "latency_machine_s": 0.5, "hangup_on_machine": True},
    "sim": {"time_scale": 10, "patience_s": 300, "agent_answer_s": 0.2, "drop_after_s": 300, "safe_harbor_s": 1.0},
}


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorThread]:
    with running_simulator(SCENARIO, seed=1, data_dir=tmp_path_factory.mktemp("sim")) as running:
        yield running


@pytest.fixture()
def fresh(sim: SimulatorThread) -> SimulatorThread:
    status, _ = sim.control("POST", "/_reset")
    assert status == 200
    return sim


def server_for(ami_port: int, ari_port: int) -> PbxServer:
    return PbxServer(name="sim1", ami_port=ami_port, ari_url=f"http://127.0.0.1:{ari_port}")


class Harness:
    def __init__(self, ami_port: int, ari_port: int, **ami_options: Any) -> None:
        self.events: list[ev.CallEvent] = []
        self.conn = PbxConnection(server_for(ami_port, ari_port), self.events.append, **ami_options)
        self.control = AsteriskControl([self.conn])

    async def __aenter__(self) -> Harness:
        await self.conn.start()
        await self.conn.ami.wait_ready(5)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.conn.close()

    def of(self, call_id: str) -> list[ev.CallEvent]:
        return [e for e in self.events if e.call_id == call_id]

    def kinds(self, call_id: str) -> list[str]:
        return [e.type.removeprefix("call.") for e in self.of(call_id)]

    async def wait_for(self, call_id: str, kind: str, timeout: float = 5.0) -> ev.CallEvent:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.of(call_id):
                if e.type == "call." + kind:
                    return e
            await asyncio.sleep(0.02)
        raise AssertionError(f"no {kind} for {call_id}; got {self.kinds(call_id)}")

    async def dial(self, sim: SimulatorThread, outcome: str, **kwargs: Any) -> str:
        assert sim.control("POST", "/_force", {"outcomes": [outcome]})[0] == 200
        call_id = str(uuid.uuid4())
        kwargs.setdefault("number", "15551230001")
        handle = await self.control.originate(OriginateRequest(call_id=call_id, **kwargs))
        await asyncio.wait_for(handle.queued, 5)
        return call_id


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


def ami_requests(sim: SimulatorThread, action: str) -> list[dict[str, list[str]]]:
    out = []
    for req in sim.control("GET", "/_requests")[1]:
        if req.get("proto") == "ami" and req.get("action", "").lower() == action.lower():
            headers: dict[str, list[str]] = {}
            for key, value in req["headers"]:
                headers.setdefault(key, []).append(value)
            out.append(headers)
    return out


def test_login_then_resync_with_core_show_channels_and_status(fresh: SimulatorThread) -> None:
    async def body() -> None:
        async with Harness(fresh.ami_port, fresh.ari_port) as h:
            for _ in range(50):
                if h.conn.resyncs:
                    break
                await asyncio.sleep(0.02)
            assert h.conn.resyncs == 1 and h.conn.ami.banner
        login = ami_requests(fresh, "Login")[0]
        assert login["Username"] == ["pydialer"]
        assert ami_requests(fresh, "CoreShowChannels") and ami_requests(fresh, "Status")

    run(body())


def test_answered_person_redirected_to_agent_then_hung_up(fresh: SimulatorThread) -> None:
    async def body() -> None:
        async with Harness(fresh.ami_port, fresh.ari_port) as h:
            call_id = await h.dial(fresh, "human", amd=True, campaign_id=7, lead_id=42, caller_id='"ACME" <15550001000>')
            await h.wait_for(call_id, "amd_human")
            await h.control.bridge_to_agent(call_id, "PJSIP/agent03")
            bridged = await h.wait_for(call_id, "bridged_to_agent")
            assert bridged.agent_endpoint == "PJSIP/agent03"
            await h.control.hangup(call_id, cause=16)
            hangup = await h.wait_for(call_id, "hangup")
            assert (hangup.cause, hangup.source) == (16, "pbx")
            assert h.kinds(call_id) == ["dialing", "ringing", "answered", "amd_human", "bridged_to_agent", "hangup"]
            assert all(e.campaign_id == 7 and e.lead_id == 42 and e.pbx == "sim1" for e in h.of(call_id))
            with pytest.raises(UnknownCall):
                await h.control.hangup(call_id)
        originate = ami_requests(fresh, "Originate")[-1]
        assert originate["ChannelId"] == [call_id] and originate["Async"] == ["true"]
        assert f"__PYDIALER_CALL_ID={call_id}" in originate["Variable"] and "PYDIALER_AMD=1" in originate["Variable"]
        redirect = ami_requests(fresh, "Redirect")[-1]
        assert (redirect["Context"], redirect["Exten"]) == (["pydialer-agents"], ["agent03"])

    run(body())


@pytest.mark.parametrize(
    "outcome, cause, reason",
    [("busy", 17, 5), ("noanswer", 19, 3), ("congestion", 34, 8), ("unallocated", 1, 1)],
)
def test_failed_attempts_end_with_cause_and_originate_failed(fresh: SimulatorThread, outcome: str, cause: int,
                                                            reason: int) -> None:
    async def body() -> None:
        async with Harness(fresh.ami_port, fresh.ari_port) as h:
            call_id = await h.dial(fresh, outcome, timeout_s=2)
            failed = await h.wait_for(call_id, "originate_failed")
            hangup = await h.wait_for(call_id, "hangup")
            assert (hangup.cause, failed.reason) == (cause, reason)
            assert "answered" not in h.kinds(call_id) and "abandoned" not in h.kinds(call_id)
            assert h.conn.normalizer.active_call_ids() == []

    run(body())


def test_machine_detected_by_amd_is_hung_up_and_not_abandoned(fresh: SimulatorThread) -> None:
    async def body() -> None:
        async with Harness(fresh.ami_port, fresh.ari_port) as h:
            call_id = await h.dial(fresh, "machine", amd=True)
            await h.wait_for(call_id, "hangup")
            assert h.kinds(call_id) == ["dialing", "ringing", "answered", "amd_machine", "hangup"]

    run(body())


def test_hangup_cause_we_send_comes_back_and_unanswered_person_is_an_abandon(fresh: SimulatorThread) -> None:
    async def body() -> None:
        async with Harness(fresh.ami_port, fresh.ari_port) as h:
            call_id = await h.dial(fresh, "human")
            await h.wait_for(call_id, "answered")
            await h.control.hangup(call_id, cause=21)
            hangup = await h.wait_for(call_id, "hangup")
            assert hangup.cause == 21
            assert h.kinds(call_id)[-2:] == ["abandoned", "hangup"]
        assert ami_requests(fresh, "Hangup")[-1]["Cause"] == ["21"]

    run(body())


@pytest.mark.parametrize("mode, options", [("listen", "q"), ("whisper", "qw"), ("barge", "qB")])
def test_monitor_originates_the_supervisor_into_chanspy(fresh: SimulatorThread, mode: str, options: str) -> None:
    async def body() -> None:
        async with Harness(fresh.ami_port, fresh.ari_port) as h:
            call_id = await h.dial(fresh, "human")
            await h.wait_for(call_id, "answered")
            await h.control.bridge_to_agent(call_id, "PJSIP/agent05")
            await h.wait_for(call_id, "bridged_to_agent")
            await asyncio.sleep(0.2)
            before = h.kinds(call_id)
            await h.control.monitor(call_id, "PJSIP/sup01", mode)  # type: ignore[arg-type]
            spy = [o for o in ami_requests(fresh, "Originate") if o.get("Application") == ["ChanSpy"]]
            assert len(spy) == 1
            assert spy[0]["Channel"] == ["PJSIP/sup01"] and spy[0]["Async"] == ["true"]
            target, _, opts = spy[0]["Data"][0].partition(",")
            assert target.startswith("PJSIP/agent05-") and opts == options  # spy on the agent leg
            # the supervisor's ChanSpy channel is not mistaken for part of the call
            await asyncio.sleep(0.3)
            assert h.kinds(call_id) == before
            with pytest.raises(ValueError):
                await h.control.monitor(call_id, "PJSIP/sup01", "shout")  # type: ignore[arg-type]
            await h.control.hangup(call_id)
            await h.wait_for(call_id, "hangup")

    run(body())


def test_core_show_channels_lists_live_calls_with_our_call_id(fresh: SimulatorThread) -> None:
    async def body() -> None:
        async with Harness(fresh.ami_port, fresh.ari_port) as h:
            call_id = await h.dial(fresh, "human")
            await h.wait_for(call_id, "answered")
            live = await h.conn.ami.live_channels()
            mine = [c for c in live if c.uniqueid == call_id]
            assert len(mine) == 1 and mine[0].state == 6 and mine[0].call_id == call_id
            assert mine[0].channel.startswith("PJSIP/trunk-")
            await h.control.hangup(call_id)

    run(body())


def test_external_media_recording_and_safe_harbor(fresh: SimulatorThread) -> None:
    async def body() -> None:
        async with Harness(fresh.ami_port, fresh.ari_port) as h:
            call_id = await h.dial(fresh, "human")
            await h.wait_for(call_id, "answered")
            media_id = await h.control.start_external_media(call_id, "127.0.0.1:40000", "ulaw")
            started = await h.wait_for(call_id, "media_started")
            assert started.media_channel == media_id and started.external_host == "127.0.0.1:40000"
            ari = [r for r in fresh.control("GET", "/_requests")[1] if r.get("proto") == "ari"]
            paths = [(r["method"], r["path"]) for r in ari]
            assert ("POST", f"/ari/channels/{call_id}/snoop") in paths
            assert ("POST", "/ari/channels/externalMedia") in paths
            em = next(r for r in ari if r["path"] == "/ari/channels/externalMedia")
            assert em["query"]["external_host"] == "127.0.0.1:40000" and em["query"]["format"] == "ulaw"
            await h.control.stop_external_media(call_id)
            await h.wait_for(call_id, "media_stopped")
            name = await h.control.start_recording(call_id)
            assert (await h.wait_for(call_id, "recording_started")).recording == name == f"pydialer/{call_id}.wav"
            assert ami_requests(fresh, "MixMonitor")[-1]["File"] == [name]
            await h.control.stop_recording(call_id)
            assert (await h.wait_for(call_id, "recording_stopped")).recording == name
            await h.control.play_safe_harbor(call_id, "campaign7/safe-harbor")
            setvar = ami_requests(fresh, "Setvar")[-1]
            assert setvar["Variable"] == ["PYDIALER_SAFE_HARBOR_AUDIO"] and setvar["Value"] == ["campaign7/safe-harbor"]
            redirect = ami_requests(fresh, "Redirect")[-1]
            assert (redirect["Context"], redirect["Exten"]) == (["pydialer-outbound"], ["safeharbor"])
            played = await h.wait_for(call_id, "safe_harbor_played")
            assert played.audio == "campaign7/safe-harbor"
            hangup = await h.wait_for(call_id, "hangup")  # the safeharbor extension hangs up (16)
            assert hangup.cause == 16 and h.kinds(call_id)[-3:] == ["safe_harbor_played", "abandoned", "hangup"]
            # A PBX error reply is translated into ActionFailed carrying Asterisk's message.
            with pytest.raises(UnknownCall):
                await h.control.start_recording(call_id)
            with pytest.raises(ActionFailed, match="No such channel"):
                await h.conn.ami.action({"Action": "Hangup", "Channel": "PJSIP/nobody-00000000"})

    run(body())


def test_originate_while_pbx_is_down_fails_fast_and_ends_the_call() -> None:
    async def body() -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        events: list[ev.CallEvent] = []
        conn = PbxConnection(server_for(port, port), events.append, use_ari=False, backoff_base=0.05, backoff_cap=0.1)
        control = AsteriskControl([conn])
        await conn.start()
        with pytest.raises(PbxUnavailable):
            await control.originate(OriginateRequest(call_id="c-down", number="100"))
        assert [e.type for e in events] == ["call.originate_failed", "call.hangup"]
        await conn.close()

    run(body())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawn_sim(ami: int, ari: int, scenario: Path, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "telephony.simulator", "--ami-port", str(ami), "--ari-port", str(ari),
         "--scenario", str(scenario), "--data-dir", str(data_dir), "--log-level", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # {"ami_port": ..., "ari_port": ...} once listening
    assert json.loads(line)["ami_port"] == ami, line
    return proc


def _control(ari: int, method: str, path: str, body: Any = None) -> Any:
    import urllib.request

    req = urllib.request.Request(f"http://127.0.0.1:{ari}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read() or b"null")


@pytest.mark.slow  # two simulator process starts: ~2-5 s
def test_reconnect_after_simulator_killed_mid_call_resyncs_without_dangling_calls(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps(SCENARIO))
    ami, ari = _free_port(), _free_port()
    proc = _spawn_sim(ami, ari, scenario, tmp_path)

    async def body() -> None:
        nonlocal proc
        h = Harness(ami, ari, backoff_base=0.05, backoff_cap=0.3, ping_interval=1.0)
        async with h:
            lost = await h.dial(_SubprocessSim(ari), "human")
            await h.wait_for(lost, "answered")
            proc.send_signal(signal.SIGKILL)  # the PBX dies mid-call: no Hangup event will ever come
            proc.wait(5)
            await asyncio.sleep(0.3)
            assert not h.conn.ami.ready
            with pytest.raises(PbxUnavailable):
                await h.control.hangup(lost)
            proc = _spawn_sim(ami, ari, scenario, tmp_path)
            await h.conn.ami.wait_ready(10)
            hangup = await h.wait_for(lost, "hangup", timeout=10)
            assert hangup.source == "resync" and hangup.cause == 0
            assert h.kinds(lost)[-2:] == ["abandoned", "hangup"]
            assert h.conn.normalizer.active_call_ids() == []
            assert h.conn.ami.connects == 2 and h.conn.resyncs == 2
            # and the new session works: a call placed after the restart completes normally
            fresh_call = await h.dial(_SubprocessSim(ari), "busy")
            await h.wait_for(fresh_call, "hangup")

    try:
        run(body())
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


class _SubprocessSim:
    """Just enough of SimulatorThread for Harness.dial."""

    def __init__(self, ari: int) -> None:
        self.ari = ari

    def control(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return 200, _control(self.ari, method, path, body)


def test_service_turns_commands_into_calls_and_publishes_events(fresh: SimulatorThread, redis_url: str,
                                                                redis_client: Any) -> None:
    async def body() -> None:
        client = aioredis.from_url(redis_url)
        # Own stream names: other packages' tests may use the default streams on the shared test server.
        tag = uuid.uuid4().hex[:6]
        events_stream, commands, dead = f"t:{tag}:events", f"t:{tag}:commands", f"t:{tag}:dead"
        service = TelephonyService([server_for(fresh.ami_port, fresh.ari_port)], client, consumer_name="t-1",
                                   events_stream=events_stream,
                                   consumer_options={"block_ms": 50, "stream": commands, "dead_letter": dead})
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        await service.connections[0].ami.wait_ready(5)
        fresh.control("POST", "/_force", {"outcomes": ["human", "busy"]})
        answered, busy = str(uuid.uuid4()), str(uuid.uuid4())
        send_command(redis_client, ev.OriginateCommand(call_id=answered, number="15551230001", campaign_id=3),
                     stream=commands)
        send_command(redis_client, ev.OriginateCommand(call_id=busy, number="15551230002", campaign_id=3),
                     stream=commands)
        redis_client.xadd(commands, {"data": "garbage"})
        send_command(redis_client, ev.PlayCommand(call_id=busy, audio="x"), stream=commands)  # not safe harbor

        async def stream_kinds(call_id: str) -> list[str]:
            entries = await client.xrange(events_stream)
            # (entries without our layout may exist: other tests share the stream on the test server)
            return [decode(f).type for _, f in entries if f.get(b"call_id", b"").decode() == call_id]

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "call.answered" not in await stream_kinds(answered):
            await asyncio.sleep(0.05)
        send_command(redis_client, ev.BridgeCommand(call_id=answered, agent_endpoint="PJSIP/agent02"), stream=commands)
        while time.monotonic() < deadline and "call.bridged_to_agent" not in await stream_kinds(answered):
            await asyncio.sleep(0.05)
        send_command(redis_client, ev.HangupCommand(call_id=answered), stream=commands)
        while time.monotonic() < deadline and "call.hangup" not in await stream_kinds(answered):
            await asyncio.sleep(0.05)
        kinds = await stream_kinds(answered)
        assert kinds == ["call.dialing", "call.ringing", "call.answered", "call.bridged_to_agent", "call.hangup"]
        # Hangup and OriginateResponse may come in either order from Asterisk
        assert sorted((await stream_kinds(busy))[-2:]) == ["call.hangup", "call.originate_failed"]
        dead_reasons = [f[b"error"].decode() for _, f in await client.xrange(dead)]
        assert len(dead_reasons) == 2 and any("only safe-harbor playback" in r for r in dead_reasons)
        pending = await client.xpending(commands, "telephony")
        assert pending["pending"] == 0
        stop.set()
        await asyncio.wait_for(task, 10)
        await client.aclose()

    run(body())


def telephony_env(sim: SimulatorThread, redis_url: str, data_dir: Path) -> dict[str, str]:
    """The environment ``python -m telephony`` needs to serve ``sim``."""
    pbx = json.dumps([{"name": "sim1", "ami": f"tcp://pydialer:pydialer@127.0.0.1:{sim.ami_port}",
                       "ari": f"http://pydialer:pydialer@127.0.0.1:{sim.ari_port}"}])
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYDIALER_DATA_DIR": str(data_dir), "REDIS_URL": redis_url,
            "PBX_SERVERS": pbx, "LOG_LEVEL": "WARNING"}


def test_python_m_telephony_runs_the_service_and_stops_cleanly(fresh: SimulatorThread, redis_url: str,
                                                               redis_client: Any, tmp_path: Path) -> None:
    env = telephony_env(fresh, redis_url, tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "telephony"], cwd=ROOT, env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not ami_requests(fresh, "Login"):
            time.sleep(0.05)
        # every next call is busy: the default streams may carry other tests' originates too
        fresh.control("POST", "/_force", {"outcome": "busy", "count": 200})
        call_id = str(uuid.uuid4())
        send_command(redis_client, ev.OriginateCommand(call_id=call_id, number="15551230009"))
        kinds: list[str] = []
        while time.monotonic() < deadline and "call.hangup" not in kinds:
            kinds = [decode(f).type for _, f in redis_client.xrange(EVENTS_STREAM) if f.get("call_id") == call_id]
            time.sleep(0.05)
        assert "call.hangup" in kinds and "call.originate_failed" in kinds
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0, proc.stderr.read().decode() if proc.stderr else ""


def test_restarted_service_adopts_live_calls_and_can_control_them(fresh: SimulatorThread) -> None:
    async def body() -> None:
        async with Harness(fresh.ami_port, fresh.ari_port) as first:
            call_id = await first.dial(fresh, "human", campaign_id=9)
            await first.wait_for(call_id, "answered")
        # a new process: empty normaliser; the resync after login finds the call by its variable
        async with Harness(fresh.ami_port, fresh.ari_port) as second:
            await second.wait_for(call_id, "answered")
            assert second.kinds(call_id) == ["dialing", "answered"]
            assert all(e.campaign_id == "9" for e in second.of(call_id))
            await second.control.hangup(call_id, cause=16)
            await second.wait_for(call_id, "hangup")
            assert second.conn.normalizer.active_call_ids() == []

    run(body())


def test_calls_are_spread_over_several_pbxs_and_routed_back(fresh: SimulatorThread, tmp_path: Path) -> None:
    with running_simulator(SCENARIO, seed=5, data_dir=tmp_path) as other:
        async def body() -> None:
            events: list[ev.CallEvent] = []
            conns = [PbxConnection(PbxServer(name=name, ami_port=s.ami_port, ari_url=f"http://127.0.0.1:{s.ari_port}"),
                                   events.append) for name, s in (("pbx-a", fresh), ("pbx-b", other))]
            control = AsteriskControl(conns)
            for c in conns:
                await c.start()
                await c.ami.wait_ready(5)
            for s in (fresh, other):
                s.control("POST", "/_force", {"outcome": "human", "count": 10})
            handles = [await control.originate(OriginateRequest(call_id=str(uuid.uuid4()), number="15551230001"))
                       for _ in range(4)]
            assert sorted(h.pbx for h in handles) == ["pbx-a", "pbx-a", "pbx-b", "pbx-b"]  # least loaded, rotating
            pinned = await control.originate(OriginateRequest(call_id=str(uuid.uuid4()), number="1", pbx="pbx-b"))
            assert pinned.pbx == "pbx-b"
            for h in [*handles, pinned]:
                assert (await asyncio.wait_for(h.result, 5)).success
            for h in handles:
                await control.hangup(h.call_id)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and sum(e.type == "call.hangup" for e in events) < 4:
                await asyncio.sleep(0.02)
            ended = {e.call_id: e.pbx for e in events if e.type == "call.hangup"}
            assert ended == {h.call_id: h.pbx for h in handles}
            a_hangups = [r for r in ami_requests(fresh, "Hangup")]
            assert len(a_hangups) == 2  # each PBX only got its own calls' hangups
            await control.hangup(pinned.call_id)
            for c in conns:
                await c.close()

        run(body())


def test_restarted_service_ends_an_adopted_call_bridged_to_an_agent(fresh: SimulatorThread) -> None:
    """Across a restart the customer and the agent leg both carry our call id (inherited by Dial()).

    The adopted call must be keyed on the customer channel, whatever order CoreShowChannels lists
    them in, so the customer's own Hangup ends the attempt (a bridged call across a kill -9 was
    otherwise left open for ever).
    """
    async def body() -> None:
        async with Harness(fresh.ami_port, fresh.ari_port) as first:
            call_id = await first.dial(fresh, "human", campaign_id=9)
            await first.wait_for(call_id, "answered")
            await first.control.bridge_to_agent(call_id, "PJSIP/agent07")
            await first.wait_for(call_id, "bridged_to_agent")
        async with Harness(fresh.ami_port, fresh.ari_port) as second:
            await second.wait_for(call_id, "answered")
            call = second.conn.normalizer.calls[call_id]
            assert call.uniqueid == call_id  # the customer leg (Originate ChannelId), not the agent's
            assert [name.startswith("PJSIP/agent07") for name in call.legs.values()] == [True]
            assert call.bridged_legs == set(call.legs)  # talking to the agent: no abandon at its hangup
            hangup = await second.wait_for(call_id, "hangup", timeout=20)  # the customer ends the talk
            assert hangup.source == "pbx" and "abandoned" not in second.kinds(call_id)
            assert second.conn.normalizer.active_call_ids() == []

    run(body())


def test_call_that_ends_while_the_service_is_killed_is_reported_by_the_next_one(
        fresh: SimulatorThread, redis_url: str, redis_client: Any, tmp_path: Path) -> None:
    """kill -9 of ``python -m telephony`` mid-call; the customer hangs up while no process listens.

    The calls-in-progress hash (written with the events) seeds the next process, whose resync
    reports the hangup: the attempt is finalised instead of staying open with its agent "in call".
    """
    env = telephony_env(fresh, redis_url, tmp_path)
    calls_key = "pyd:telephony:calls:sim1"

    def events_of(call_id: str) -> list[ev.CallEvent]:
        return [decode(f) for _, f in redis_client.xrange(EVENTS_STREAM) if f.get("call_id") == call_id]

    def wait_event(call_id: str, kind: str, timeout: float = 15) -> ev.CallEvent:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [e for e in events_of(call_id) if e.type == kind]
            if found:
                return found[-1]
            time.sleep(0.05)
        raise AssertionError(f"no {kind} for {call_id}: {[e.type for e in events_of(call_id)]}")

    first = subprocess.Popen([sys.executable, "-m", "telephony"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    second = None
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not ami_requests(fresh, "Login"):
            time.sleep(0.05)
        fresh.control("POST", "/_force", {"outcome": "human", "count": 1})
        call_id = str(uuid.uuid4())
        send_command(redis_client, ev.OriginateCommand(call_id=call_id, number="15551230007", campaign_id=77))
        wait_event(call_id, "call.answered")
        send_command(redis_client, ev.BridgeCommand(call_id=call_id, agent_endpoint="PJSIP/agent04"))
        wait_event(call_id, "call.bridged_to_agent")
        assert redis_client.hexists(calls_key, call_id)
        first.kill()  # SIGKILL: no shutdown path runs
        first.wait(10)
        deadline = time.monotonic() + 20  # the talk (60 s at time scale 10) ends with nobody listening
        while time.monotonic() < deadline and any(c["linkedid"] == call_id for c in fresh.control("GET", "/_channels")[1]):
            time.sleep(0.1)
        assert not any(c["linkedid"] == call_id for c in fresh.control("GET", "/_channels")[1])
        assert [e.type for e in events_of(call_id)][-1] == "call.bridged_to_agent"  # nobody saw it end
        second = subprocess.Popen([sys.executable, "-m", "telephony"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
        hangup = wait_event(call_id, "call.hangup")
        assert isinstance(hangup, ev.Hangup) and hangup.source == "resync" and str(hangup.campaign_id) == "77"
        assert [e.type for e in events_of(call_id)].count("call.hangup") == 1
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and redis_client.hexists(calls_key, call_id):
            time.sleep(0.05)
        assert not redis_client.hexists(calls_key, call_id)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
