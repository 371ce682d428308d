"""End to end: a wallboard monitor request -> MonitorCommand on the stream -> the telephony
service -> the Asterisk simulator sees an Originate of the supervisor into ChanSpy with q/qw/qB."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from app.wallboard.monitor import MonitorRequest, send_monitor
from core import events as ev
from dialer.live import LiveState
from telephony.service import TelephonyService
from telephony.simulator.testing import SimulatorThread, running_simulator
from telephony.streams import EVENTS_STREAM, decode, send_command
from tests.integration.test_telephony_simulator import SCENARIO, ami_requests, server_for
from tests.integration.wallboard_fixtures import put_agent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorThread]:
    with running_simulator(SCENARIO, seed=3, data_dir=tmp_path_factory.mktemp("wbsim")) as running:
        yield running


@pytest.mark.parametrize("mode, options", [("listen", "q"), ("whisper", "qw"), ("barge", "qB")])
def test_monitor_button_reaches_chanspy(sim: SimulatorThread, redis_url: str, redis_client: Any, mode: str,
                                       options: str) -> None:
    sim.control("POST", "/_reset")

    async def body() -> None:
        client = aioredis.from_url(redis_url)
        service = TelephonyService([server_for(sim.ami_port, sim.ari_port)], client, consumer_name="wb-1",
                                   consumer_options={"block_ms": 50})
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        await service.connections[0].ami.wait_ready(5)
        sim.control("POST", "/_force", {"outcomes": ["human"]})
        call_id = str(uuid.uuid4())
        send_command(redis_client, ev.OriginateCommand(call_id=call_id, number="15551230001", campaign_id=3))

        async def kinds() -> list[str]:
            entries = await client.xrange(EVENTS_STREAM)
            return [decode(f).type for _, f in entries if f.get(b"call_id", b"").decode() == call_id]

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "call.answered" not in await kinds():
            await asyncio.sleep(0.05)
        send_command(redis_client, ev.BridgeCommand(call_id=call_id, agent_endpoint="PJSIP/agent07"))
        while time.monotonic() < deadline and "call.bridged_to_agent" not in await kinds():
            await asyncio.sleep(0.05)
        # what the dialer's live state says about agent 7 once bridged
        live = LiveState(redis_client)
        live.track_call(call_id, 3, None, time.time(), pbx="sim1")
        put_agent(redis_client, 7, 3, "incall", time.time(), call_id=call_id)
        # the wallboard's button
        send_monitor(live, MonitorRequest(7, mode, "PJSIP/sup01"))
        spy: list[dict[str, list[str]]] = []
        while time.monotonic() < deadline + 5 and not spy:
            spy = [o for o in ami_requests(sim, "Originate") if o.get("Application") == ["ChanSpy"]]
            await asyncio.sleep(0.05)
        assert len(spy) == 1 and spy[0]["Channel"] == ["PJSIP/sup01"]
        target, _, opts = spy[0]["Data"][0].partition(",")
        assert target.startswith("PJSIP/agent07-") and opts == options
        stop.set()
        await asyncio.wait_for(task, 10)
        await client.aclose()

    asyncio.run(body())
