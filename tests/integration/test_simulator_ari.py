"""The simulator's ARI (REST + events WebSocket), ExternalMedia RTP and the control API."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import numpy as np
import pytest

from telephony.simulator.audio import TtsCache, Turn, alaw_decode, render_dialogue, ulaw_decode
from telephony.simulator.rtp import RtpPacket
from telephony.simulator.testing import SimulatorThread, running_simulator

DIALOGUE = [{"speaker": "agent", "text": "Hello, this is a test call."},
            {"speaker": "customer", "text": "Hi, yes, I can hear you."}]
SCENARIO = {
    "timing": {"ring_live_s": 1.0, "talk_s": 60.0},
    "sim": {"time_scale": 10, "patience_s": 600.0, "agent_answer_s": 0.3,
            "dialogue": {"turns": DIALOGUE, "gap_s": 0.4}},
}
AUTH_HEADER = {"Authorization": "Basic " + base64.b64encode(b"pydialer:pydialer").decode()}


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorThread]:
    with running_simulator(SCENARIO, seed=2, data_dir=tmp_path_factory.mktemp("sim")) as s:
        yield s


@pytest.fixture(autouse=True)
def _reset(sim: SimulatorThread) -> None:
    sim.control("POST", "/_reset")


def _url(sim: SimulatorThread, path: str) -> str:
    return f"http://127.0.0.1:{sim.ari_port}{path}"


async def _next_event(ws: aiohttp.ClientWebSocketResponse, type_: str, timeout: float = 5) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        msg = await asyncio.wait_for(ws.receive(), max(0.01, deadline - time.monotonic()))
        event = json.loads(msg.data)
        if event["type"] == type_:
            return event


def test_auth_info_and_error_bodies(sim: SimulatorThread) -> None:
    async def run() -> None:
        async with aiohttp.ClientSession() as http:
            async with http.get(_url(sim, "/ari/asterisk/info")) as r:
                assert r.status == 401 and "Basic" in r.headers["WWW-Authenticate"]
            async with http.get(_url(sim, "/ari/asterisk/info"), headers={"Authorization": "Basic " + base64.b64encode(b"pydialer:x").decode()}) as r:
                assert r.status == 401
            async with http.get(_url(sim, "/ari/asterisk/info?api_key=pydialer:pydialer")) as r:
                info = await r.json()
                assert r.status == 200 and info["system"]["version"].startswith("20.")
            async with http.get(_url(sim, "/ari/channels/nope"), headers=AUTH_HEADER) as r:
                assert r.status == 404 and await r.json() == {"message": "Channel not found"}
            async with http.post(_url(sim, "/ari/channels"), headers=AUTH_HEADER, json={"app": "x"}) as r:
                assert r.status == 400 and await r.json() == {"message": "Endpoint must be specified"}
            async with http.post(_url(sim, "/ari/channels/externalMedia?app=x&format=ulaw"), headers=AUTH_HEADER) as r:
                assert r.status == 400 and await r.json() == {"message": "external_host cannot be empty"}
            async with http.post(_url(sim, "/ari/bridges/nope/addChannel?channel=a"), headers=AUTH_HEADER) as r:
                assert r.status == 404 and await r.json() == {"message": "Bridge not found"}
            async with http.delete(_url(sim, "/ari/channels/nope"), headers=AUTH_HEADER) as r:
                assert r.status == 404
            async with http.get(_url(sim, "/ari/no/such/thing"), headers=AUTH_HEADER) as r:
                assert r.status == 404 and await r.json() == {"message": "Resource not found"}
            async with http.post(_url(sim, "/ari/channels"), headers=AUTH_HEADER, data=b"{not json",
                                 params={"endpoint": "PJSIP/1@trunk", "app": "x"}) as r:
                assert r.status == 400 and (await r.json())["message"] == "Invalid JSON body"

    asyncio.run(run())


def test_originate_into_stasis_bridge_and_hangup(sim: SimulatorThread) -> None:
    sim.control("POST", "/_force", {"outcome": "human"})

    async def run() -> None:
        async with aiohttp.ClientSession(headers=AUTH_HEADER) as http, http.ws_connect(_url(sim, "/ari/events?app=dialer")) as ws:
            async with http.post(_url(sim, "/ari/channels"), json={
                    "endpoint": "PJSIP/5559000@trunk", "app": "dialer", "appArgs": "lead,42",
                    "callerId": "Campaign <2000>", "timeout": 30, "variables": {"LEAD_ID": "42"}}) as r:
                assert r.status == 200
                chan = await r.json()
            assert chan["state"] == "Down" and chan["caller"] == {"name": "Campaign", "number": "2000"}
            assert set(chan) >= {"id", "name", "state", "caller", "connected", "accountcode", "dialplan",
                                 "creationtime", "language"}
            ringing = await _next_event(ws, "ChannelStateChange")
            assert ringing["channel"]["state"] == "Ringing" and ringing["application"] == "dialer"
            assert "asterisk_id" in ringing and ringing["timestamp"].endswith("+0000")
            start = await _next_event(ws, "StasisStart")
            assert start["args"] == ["lead", "42"] and start["channel"]["id"] == chan["id"]
            assert start["channel"]["state"] == "Up"
            async with http.post(_url(sim, "/ari/bridges"), json={"type": "mixing"}) as r:
                bridge = await r.json()
            async with http.post(_url(sim, f"/ari/bridges/{bridge['id']}/addChannel"),
                                 params={"channel": chan["id"]}) as r:
                assert r.status == 204
            entered = await _next_event(ws, "ChannelEnteredBridge")
            assert entered["bridge"]["channels"] == [chan["id"]]
            async with http.get(_url(sim, f"/ari/channels/{chan['id']}/variable"),
                                params={"variable": "LEAD_ID"}) as r:
                assert await r.json() == {"value": "42"}
            async with http.post(_url(sim, f"/ari/channels/{chan['id']}/play"),
                                 params={"media": "sound:hello-world"}) as r:
                assert r.status == 201
                pb = await r.json()
            assert (await _next_event(ws, "PlaybackStarted"))["playback"]["id"] == pb["id"]
            assert (await _next_event(ws, "PlaybackFinished"))["playback"]["state"] == "done"
            async with http.delete(_url(sim, f"/ari/channels/{chan['id']}")) as r:
                assert r.status == 204
            await _next_event(ws, "StasisEnd")
            destroyed = await _next_event(ws, "ChannelDestroyed")
            assert destroyed["cause"] == 16 and destroyed["cause_txt"] == "Normal Clearing"

    asyncio.run(run())


def test_failed_ari_originate_reports_channel_destroyed(sim: SimulatorThread) -> None:
    sim.control("POST", "/_force", {"outcome": "busy"})

    async def run() -> None:
        async with aiohttp.ClientSession(headers=AUTH_HEADER) as http, http.ws_connect(_url(sim, "/ari/events?app=dialer")) as ws:
            async with http.post(_url(sim, "/ari/channels"), params={
                    "endpoint": "PJSIP/5559001@trunk", "app": "dialer"}) as r:
                chan = await r.json()
            destroyed = await _next_event(ws, "ChannelDestroyed")
            assert destroyed["channel"]["id"] == chan["id"] and destroyed["cause"] == 17

    asyncio.run(run())


def _dialogue_audio(sim_dir: Any) -> np.ndarray:
    tts = TtsCache(sim_dir)
    pcm, _ = render_dialogue(tts, [Turn(t["speaker"], t["text"]) for t in DIALOGUE],
                             {"customer": "en-us+f3", "agent": "en-us+m3"}, 0.4)
    return pcm


def _envelope(pcm: np.ndarray, frame: int = 1600) -> np.ndarray:
    n = pcm.size // frame
    x = pcm[: n * frame].astype(np.float64).reshape(n, frame)
    return np.sqrt((x**2).mean(axis=1))


@pytest.mark.slow
@pytest.mark.parametrize("fmt, payload_type, decode, silence", [
    ("ulaw", 0, ulaw_decode, 0),
    # A-law has no zero code: silence is 0xD5, the smallest step, which decodes to +8 (G.711 A-law)
    ("alaw", 8, alaw_decode, 8),
])
def test_external_media_sends_rtp_of_the_call(sim: SimulatorThread, tmp_path: Any, fmt: str, payload_type: int,
                                              decode: Any, silence: int) -> None:
    sim.control("POST", "/_force", {"outcome": "human"})
    reference = _dialogue_audio(sim.sim.config.data_dir / "tts")  # fills the cache the simulator reads
    speech_packets = -(-reference.size // 160)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    port = sock.getsockname()[1]

    async def run() -> tuple[list[RtpPacket], list[float], int]:
        loop = asyncio.get_running_loop()
        packets: list[RtpPacket] = []
        arrivals: list[float] = []
        async with aiohttp.ClientSession(headers=AUTH_HEADER) as http, \
                http.ws_connect(_url(sim, "/ari/events?app=media")) as ws:
            async with http.post(_url(sim, "/ari/channels"), json={
                    "endpoint": "PJSIP/5559100@trunk", "app": "media"}) as r:
                chan = await r.json()
            await _next_event(ws, "StasisStart")
            async with http.post(_url(sim, f"/ari/channels/{chan['id']}/snoop"),
                                 params={"spy": "both", "app": "media"}) as r:
                snoop = await r.json()
            assert snoop["name"].startswith(f"Snoop/{chan['id']}-")
            async with http.post(_url(sim, "/ari/channels/externalMedia"), params={
                    "app": "media", "external_host": f"127.0.0.1:{port}", "format": fmt,
                    "encapsulation": "rtp", "transport": "udp", "connection_type": "client",
                    "direction": "both"}) as r:
                assert r.status == 200
                ext = await r.json()
            assert ext["name"].startswith(f"UnicastRTP/127.0.0.1:{port}-")
            assert int(ext["channelvars"]["UNICASTRTP_LOCAL_PORT"]) > 0
            async with http.post(_url(sim, "/ari/bridges"), json={"type": "mixing"}) as r:
                bridge = await r.json()
            async with http.post(_url(sim, f"/ari/bridges/{bridge['id']}/addChannel"),
                                 params={"channel": f"{snoop['id']},{ext['id']}"}) as r:
                assert r.status == 204
            # the speech, then half a second of the silence a live channel keeps sending
            while len(packets) < speech_packets + 25:
                packets.append(RtpPacket.parse(await loop.run_in_executor(None, sock.recv, 2048)))
                arrivals.append(time.monotonic())
            async with http.delete(_url(sim, f"/ari/channels/{chan['id']}")) as r:
                assert r.status == 204  # the snoop dies with it, the bridge empties: RTP stops
        sock.settimeout(0.5)
        late = 0
        try:
            while True:
                sock.recv(2048)
                late += 1
        except TimeoutError:
            pass
        return packets, arrivals, late

    packets, arrivals, late = asyncio.run(run())
    sock.close()
    assert late < 10
    assert arrivals[-1] - arrivals[0] >= 0.8 * 0.02 * (len(arrivals) - 1)  # paced in real time
    spies = sim.control("GET", "/_spies")[1]
    assert spies[-1]["via"] == "snoop" and spies[-1]["spy"] == "both"
    assert all(p.payload_type == payload_type and len(p.payload) == 160 for p in packets)
    assert all((b.sequence - a.sequence) % 65536 == 1 for a, b in zip(packets, packets[1:], strict=False))
    assert all((b.timestamp - a.timestamp) % 2**32 == 160 for a, b in zip(packets, packets[1:], strict=False))
    assert sum(p.marker for p in packets) == 2  # one per talk spurt
    received = np.concatenate([decode(p.payload) for p in packets])
    speech, tail = received[: reference.size], received[speech_packets * 160:]
    assert tail.size and (np.abs(tail) <= silence).all()  # encoded silence decodes to (near) 0
    env_rx, env_ref = _envelope(speech), _envelope(reference)
    assert np.corrcoef(env_rx, env_ref)[0, 1] > 0.98
    assert abs(env_rx.mean() / env_ref.mean() - 1) < 0.05


def test_control_api(sim: SimulatorThread) -> None:
    status, body = sim.control("POST", "/_scenario", {"timing": {"talk_s": {"dist": "foo"}}})
    assert status == 400 and body["path"] == "timing.talk_s.dist"
    assert body["message"] == "timing.talk_s.dist: unknown distribution 'foo'"
    status, body = sim.control("POST", "/_force", {"outcomes": ["busy", "martian"]})
    assert status == 400 and body["path"] == "outcomes[1]"
    assert sim.control("POST", "/_scenario", SCENARIO) == (200, {"ok": True})
    assert sim.control("GET", "/_scenario")[1]["sim"]["time_scale"] == 10
    sim.control("POST", "/_force", {"outcome": "human"})

    async def run() -> None:
        async with aiohttp.ClientSession(headers=AUTH_HEADER) as http:
            async with http.post(_url(sim, "/ari/channels"), params={
                    "endpoint": "PJSIP/5559200@trunk", "extension": "s", "context": "hold"}) as r:
                assert r.status == 200
            await asyncio.sleep(0.3)

    asyncio.run(run())
    chans = sim.control("GET", "/_channels")[1]
    assert len(chans) == 1 and chans[0]["state"] == "Up" and chans[0]["outcome"] == "human"
    reqs = sim.control("GET", "/_requests")[1]
    assert reqs[-1]["proto"] == "ari" and reqs[-1]["path"] == "/ari/channels"
    assert reqs[-1]["query"]["endpoint"] == "PJSIP/5559200@trunk"
    assert sim.control("GET", f"/_requests?since={reqs[-1]['seq']}")[1] == [reqs[-1]]
    sim.control("POST", "/_reset")
    assert sim.control("GET", "/_channels")[1] == [] and sim.control("GET", "/_requests")[1] == []


def test_record_snoop_and_dtmf(sim: SimulatorThread) -> None:
    sim.control("POST", "/_force", {"outcome": "human"})

    async def run() -> None:
        async with aiohttp.ClientSession(headers=AUTH_HEADER) as http, \
                http.ws_connect(_url(sim, "/ari/events?app=rec")) as ws:
            async with http.post(_url(sim, "/ari/channels"), json={"endpoint": "PJSIP/5559300@trunk",
                                                                    "app": "rec"}) as r:
                chan = await r.json()
            await _next_event(ws, "StasisStart")
            async with http.post(_url(sim, f"/ari/channels/{chan['id']}/record"),
                                 params={"name": "call-1", "format": "wav"}) as r:
                assert r.status == 201 and (await r.json())["name"] == "call-1"
            assert (await _next_event(ws, "RecordingStarted"))["recording"]["state"] == "recording"
            async with http.post(_url(sim, f"/ari/channels/{chan['id']}/record"),
                                 params={"name": "call-1", "format": "wav"}) as r:
                assert r.status == 409
            async with http.post(_url(sim, "/ari/recordings/live/call-1/stop")) as r:
                assert r.status == 204
            assert (await _next_event(ws, "RecordingFinished"))["recording"]["state"] == "done"
            async with http.post(_url(sim, f"/ari/channels/{chan['id']}/snoop"),
                                 params={"spy": "sideways", "app": "rec"}) as r:
                assert r.status == 400 and "direction" in (await r.json())["message"].lower()
            async with http.post(_url(sim, f"/ari/channels/{chan['id']}/snoop"),
                                 params={"spy": "in", "whisper": "out", "app": "rec"}) as r:
                snoop = await r.json()
            assert (await _next_event(ws, "StasisStart"))["channel"]["id"] == snoop["id"]
            assert sim.control("POST", "/_dtmf", {"channel": chan["id"], "digit": "7"})[0] == 200
            dtmf = await _next_event(ws, "ChannelDtmfReceived")
            assert dtmf["digit"] == "7" and dtmf["channel"]["id"] == chan["id"]
            async with http.post(_url(sim, "/ari/bridges"), json={"type": "mixing"}) as r:
                bridge = await r.json()
            async with http.get(_url(sim, f"/ari/channels/{chan['id']}")) as r:
                assert (await r.json())["dialplan"]["app_name"] == "Stasis"
            async with http.post(_url(sim, "/ari/channels"), params={"endpoint": "PJSIP/agent2",
                                                                     "extension": "s", "context": "hold"}) as r:
                outside = await r.json()
            await asyncio.sleep(0.1)
            async with http.post(_url(sim, f"/ari/bridges/{bridge['id']}/addChannel"),
                                 params={"channel": outside["id"]}) as r:
                assert r.status == 422 and await r.json() == {"message": "Channel not in Stasis application"}
        spies = sim.control("GET", "/_spies")[1]
        assert spies[-1]["via"] == "snoop" and spies[-1]["mode"] == "barge" and spies[-1]["spy"] == "in"

    asyncio.run(run())


def test_snoop_dies_with_its_target(sim: SimulatorThread) -> None:
    sim.control("POST", "/_force", {"outcome": "human"})

    async def run() -> None:
        async with aiohttp.ClientSession(headers=AUTH_HEADER) as http, \
                http.ws_connect(_url(sim, "/ari/events?app=pydialer")) as ws:
            async with http.post(_url(sim, "/ari/channels"), params={
                    "endpoint": "PJSIP/5559400@trunk", "extension": "s", "context": "pydialer-outbound",
                    "channelId": "call-1"}) as r:
                assert (await r.json())["id"] == "call-1"
            await asyncio.sleep(0.2)
            async with http.post(_url(sim, "/ari/channels/call-1/snoop"),
                                 params={"spy": "both", "app": "pydialer", "snoopId": "snoop-1"}) as r:
                assert (await r.json())["id"] == "snoop-1"
            await _next_event(ws, "StasisStart")
            async with http.delete(_url(sim, "/ari/channels/call-1")) as r:
                assert r.status == 204
            end = await _next_event(ws, "StasisEnd")
            assert end["channel"]["id"] == "snoop-1"
            async with http.get(_url(sim, "/ari/channels")) as r:
                assert await r.json() == []

    asyncio.run(run())


def test_subscribe_all_sees_channels_outside_stasis(sim: SimulatorThread) -> None:
    sim.control("POST", "/_force", {"outcome": "congestion"})

    async def run() -> None:
        async with aiohttp.ClientSession(headers=AUTH_HEADER) as http, \
                http.ws_connect(_url(sim, "/ari/events?app=watch&subscribeAll=true")) as ws, \
                http.ws_connect(_url(sim, "/ari/events?app=quiet")) as quiet:
            async with http.post(_url(sim, "/ari/channels"), params={
                    "endpoint": "PJSIP/5559500@trunk", "extension": "s", "context": "hold"}) as r:
                chan = await r.json()
            created = await _next_event(ws, "ChannelCreated")
            assert created["channel"]["id"] == chan["id"] and created["application"] == "watch"
            destroyed = await _next_event(ws, "ChannelDestroyed")
            assert destroyed["cause"] == 34 and destroyed["cause_txt"] == "Circuit/channel congestion"
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(quiet.receive(), 0.3)  # not its channel, not subscribed to all

    asyncio.run(run())
