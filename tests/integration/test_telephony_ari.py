"""The ARI client (REST + events WebSocket) against the simulator's ARI."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest

from core.config import PbxServer
from telephony.ari.client import AriClient
from telephony.ari.models import AriEvent, Bridge, Channel, LiveRecording, Playback
from telephony.exceptions import ActionFailed, ChannelNotFound, PbxAuthError, PbxUnavailable
from telephony.simulator.testing import SimulatorThread, running_simulator

SCENARIO = {"sim": {"time_scale": 10, "agent_answer_s": 0.2, "patience_s": 300}}


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorThread]:
    with running_simulator(SCENARIO, seed=2, data_dir=tmp_path_factory.mktemp("sim")) as running:
        yield running


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


def server(sim: SimulatorThread, password: str = "pydialer") -> PbxServer:
    return PbxServer(name="sim1", ari_url=f"http://127.0.0.1:{sim.ari_port}", ari_password=password)


async def until(pred: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_stasis_channel_lifecycle_with_events(sim: SimulatorThread) -> None:
    sim.control("POST", "/_reset")

    async def body() -> None:
        events: list[AriEvent] = []
        async with AriClient(server(sim), on_event=events.append) as ari:
            ari.start_events()
            await asyncio.wait_for(ari.ws_connected.wait(), 5)
            chan = await ari.originate("PJSIP/agent07", app="pydialer", app_args="call-1", channel_id="ari-chan-1",
                                       caller_id="PyDialer <100>", timeout_s=10, variables={"PYDIALER_CALL_ID": "c1"})
            assert isinstance(chan, Channel) and chan.id == "ari-chan-1" and chan.name.startswith("PJSIP/agent07")
            await until(lambda: any(e.type == "StasisStart" and e.channel and e.channel.id == "ari-chan-1"
                                    for e in events))
            start = next(e for e in events if e.type == "StasisStart")
            assert start.application == "pydialer" and start.args == ("call-1",)
            assert any(c.id == "ari-chan-1" for c in await ari.list_channels())
            playback = await ari.play("ari-chan-1", "sound:hello-world", playback_id="pb-1")
            assert isinstance(playback, Playback) and playback.id == "pb-1" and playback.media_uri == "sound:hello-world"
            assert (await ari.get_playback("pb-1")).id == "pb-1"
            recording = await ari.record("ari-chan-1", "rec-1", "wav")
            assert isinstance(recording, LiveRecording) and recording.name == "rec-1" and recording.format == "wav"
            assert (await ari.get_live_recording("rec-1")).name == "rec-1"
            await ari.stop_recording("rec-1")
            bridge = await ari.create_bridge("mixing", bridge_id="br-1")
            assert isinstance(bridge, Bridge) and bridge.id == "br-1"
            media = await ari.external_media("127.0.0.1:40010", "ulaw", channel_id="em-1")
            snoop = await ari.snoop("ari-chan-1", spy="both", snoop_id="sn-1")
            await ari.add_channel("br-1", snoop.id, media.id)
            await until(lambda: any(e.type == "ChannelEnteredBridge" for e in events))
            await ari.remove_channel("br-1", media.id)
            await ari.destroy_bridge("br-1")
            await ari.hangup("ari-chan-1", reason_code=16)
            await until(lambda: any(e.type == "ChannelDestroyed" and e.channel and e.channel.id == "ari-chan-1"
                                    for e in events))
            destroyed = next(e for e in events if e.type == "ChannelDestroyed" and e.channel.id == "ari-chan-1")
            assert destroyed.raw.get("cause") == 16
            for c in (media.id, snoop.id):
                with contextlib.suppress(ChannelNotFound):
                    await ari.hangup(c)

    run(body())


def test_http_errors_are_translated_once(sim: SimulatorThread) -> None:
    async def body() -> None:
        async with AriClient(server(sim)) as ari:
            with pytest.raises(ChannelNotFound) as missing:
                await ari.hangup("no-such-channel")
            assert missing.value.details["status"] == 404
            with pytest.raises(ActionFailed):
                await ari.add_channel("no-such-bridge", "x")
        async with AriClient(server(sim, password="wrong")) as bad:
            with pytest.raises(PbxAuthError):
                await bad.list_channels()
        closed = PbxServer(name="gone", ari_url="http://127.0.0.1:9")
        async with AriClient(closed, timeout=2) as nowhere:
            with pytest.raises(PbxUnavailable):
                await nowhere.list_channels()

    run(body())


def test_event_models_reject_malformed_json() -> None:
    with pytest.raises(ValueError, match="type"):
        AriEvent.from_json({"channel": {}})
    with pytest.raises(ValueError, match="Channel"):
        AriEvent.from_json({"type": "StasisStart", "channel": {"id": 5}})
    ok = AriEvent.from_json({"type": "ChannelVarset", "variable": "X", "value": "1",
                             "channel": {"id": "a", "name": "PJSIP/x-1", "state": "Up", "caller": {"number": "1"}}})
    assert ok.channel is not None and ok.channel.caller_number == "1" and ok.raw["variable"] == "X"
    client = AriClient(PbxServer(name="x"))
    client._dispatch("{not json")  # logged and dropped, never raised
    client._dispatch('{"type": 3}')


def test_events_websocket_reconnects_after_pbx_restart(tmp_path: Any) -> None:
    first = SimulatorThread(SCENARIO, seed=3, data_dir=tmp_path).start()
    port = first.ari_port
    second: SimulatorThread | None = None

    async def body() -> None:
        nonlocal second
        srv = PbxServer(name="sim1", ari_url=f"http://127.0.0.1:{port}")
        async with AriClient(srv, backoff_base=0.05, backoff_cap=0.2) as ari:
            ari.start_events()
            await asyncio.wait_for(ari.ws_connected.wait(), 5)
            await asyncio.to_thread(first.stop)
            await until(lambda: not ari.ws_connected.is_set())
            second = await asyncio.to_thread(lambda: SimulatorThread(SCENARIO, seed=3, data_dir=tmp_path,
                                                                     ari_port=port).start())
            await asyncio.wait_for(ari.ws_connected.wait(), 10)
            assert ari.ws_connects == 2

    try:
        run(body())
    finally:
        if second is not None:
            second.stop()
