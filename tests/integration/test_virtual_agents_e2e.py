"""End to end: simulator (AMI/ARI) + telephony service + dialing loop + 3 virtual agents, ~20 s.

Every call attempt must end with exactly one CDR: one finalisation outbox row per attempt, and
after the relay, one row per call in ClickHouse (chdb, in-process).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
import sqlalchemy as sa

from core.config import PbxServer
from core.models import CallAttempt, Campaign, OutboxMessage
from dialer import cdr
from dialer.abandon import RedisAbandonCounts
from dialer.live import LiveState
from dialer.loop import CampaignLoop, Lease
from dialer.state import AgentState
from dialer.virtual_agents import Behaviour, VirtualAgents
from telephony.service import TelephonyService
from telephony.simulator.testing import running_simulator
from tests.integration.dialer_fixtures import SIM_SCENARIO as SCENARIO
from tests.integration.dialer_fixtures import make_campaign, make_leads

pytestmark = pytest.mark.slow

RUN_S = 20.0
# Real-time (time_scale 1) for the drop test: the PBX's own backstop (PYDIALER_DROP_AFTER, in
# scenario seconds) must not beat the dialer's drop clock (wall seconds).
REALTIME: dict[str, Any] = {
    "outcomes": {"answer_prob": 0.8, "machine_prob": 0.0, "fail_prob": 0.1},
    "timing": {"ring_live_s": {"dist": "uniform", "lo": 0.5, "hi": 2}, "fail_detect_s": 0.5,
               "no_answer_timeout_s": 5.0, "talk_s": {"dist": "uniform", "lo": 2, "hi": 5}},
    "amd": {"enabled": False},
    "sim": {"time_scale": 1, "patience_s": 60, "agent_answer_s": 0.1, "safe_harbor_s": 0.5},
}


class TelephonyThread:
    def __init__(self, redis_url: str, ami_port: int, ari_port: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.stop_event: asyncio.Event | None = None
        self.server = PbxServer(name="sim1", ami_port=ami_port, ari_url=f"http://127.0.0.1:{ari_port}")
        self.redis_url = redis_url
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.ready = threading.Event()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            client = aioredis.from_url(self.redis_url)
            service = TelephonyService([self.server], client, consumer_name="e2e", use_ari=True,
                                       consumer_options={"block_ms": 50})
            self.stop_event = asyncio.Event()
            task = asyncio.create_task(service.run(self.stop_event))
            await service.connections[0].ami.wait_ready(10)
            self.ready.set()
            await task
            await client.aclose()

        self.loop.run_until_complete(main())

    def start(self) -> None:
        self.thread.start()
        assert self.ready.wait(15), "telephony service did not log in to the simulator"

    def stop(self) -> None:
        if self.stop_event is not None:
            self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(10)


def _same_flavour(request) -> None:
    params = request.node.callspec.params
    if params.get("pg_server_url") != params.get("redis_url"):
        pytest.skip("mixed engine flavours add nothing end to end (both-embedded and both-server run)")


def run_campaign(engine, redis_url, tmp_path, *, agents_n: int, run_s: float, prime_answers: int = 0,
                 scenario: dict[str, Any] = SCENARIO, **campaign: Any) -> tuple[int, VirtualAgents]:
    """Simulator + telephony service + dialing loop + virtual agents for ``run_s``, then drain."""
    campaign_id = make_campaign(engine, drop_after_s=2, wrap_up_s=1, safe_harbor_audio="pydialer/safe-harbor",
                                **campaign)
    make_leads(engine, campaign_id, 40)
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    if prime_answers:  # a campaign with a long clean history: the abandon guard lets pacing over-dial
        RedisAbandonCounts(r).record(campaign_id, time.time(), answers=prime_answers)
    with running_simulator(scenario, seed=3, data_dir=tmp_path / "sim") as sim:
        tel = TelephonyThread(redis_url, sim.ami_port, sim.ari_port)
        tel.start()
        stop = threading.Event()
        loop = CampaignLoop(campaign_id, engine, r, pbx="sim1")
        lease = Lease(r, campaign_id)
        assert lease.acquire()
        dialer = threading.Thread(target=loop.run, args=(stop, lease), daemon=True)
        agents = VirtualAgents(campaign_id, agents_n, engine, r, behaviour=Behaviour(time_scale=10), seed=5)
        agent_stop = threading.Event()
        agent_thread = threading.Thread(target=agents.run, args=(agent_stop,), daemon=True)
        dialer.start()
        agent_thread.start()
        time.sleep(run_s)
        # Stop dialing, let the calls in flight finish, then stop everything.
        with engine.begin() as conn:  # the loop notices within SETTINGS_RELOAD_S
            conn.execute(sa.update(Campaign).where(Campaign.id == campaign_id).values(active=False))
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                open_calls = conn.execute(sa.select(sa.func.count()).select_from(CallAttempt)
                                          .where(CallAttempt.ended_at.is_(None))).scalar_one()
            if open_calls == 0:
                break
            time.sleep(0.5)
        agent_stop.set()
        agent_thread.join(40)
        stop.set()
        dialer.join(10)
        tel.stop()
    return campaign_id, agents


def _one_cdr_each(engine) -> list:
    with engine.connect() as conn:
        attempts = conn.execute(sa.select(CallAttempt.__table__)).all()
        finals = conn.execute(
            sa.select(OutboxMessage.key, sa.func.count()).where(
                OutboxMessage.topic == "cdr", ~OutboxMessage.payload.has_key("version"))
            .group_by(OutboxMessage.key)).all()
    assert all(a.ended_at is not None for a in attempts), "every attempt ended"
    assert {k: n for k, n in finals} == {str(a.call_id): 1 for a in attempts}, "one CDR per attempt"
    return attempts


def test_overdialing_campaign_drops_with_safe_harbor_end_to_end(request, db_committed, redis_url, redis_client,
                                                                tmp_path):
    _same_flavour(request)
    if request.node.callspec.params.get("redis_url") == "server":
        pytest.skip("the drop path is engine-independent: run once")
    engine = db_committed
    campaign_id, _agents = run_campaign(engine, redis_url, tmp_path, agents_n=1, run_s=10, prime_answers=100_000,
                                        scenario=REALTIME, dial_method="ratio", dial_ratio=4.0)
    attempts = _one_cdr_each(engine)
    dropped = [a for a in attempts if a.dropped]
    print({"attempts": len(attempts), "dropped": len(dropped),
           "outcomes": sorted(str(a.outcome) for a in attempts)})
    assert dropped, "one agent, four lines each: some answered calls found nobody"
    assert all(a.outcome == "abandoned" for a in dropped)
    assert any(a.safe_harbor_played for a in dropped), "the safe-harbor message played (telephony confirmed it)"
    stats = LiveState(redis_client).stats(campaign_id)
    assert stats["abandons"] >= len(dropped)


def test_campaign_with_virtual_agents_against_the_simulator(request, db_committed, redis_url, redis_client, tmp_path,
                                                            ch_client):
    _same_flavour(request)
    engine = db_committed
    campaign_id, agents = run_campaign(engine, redis_url, tmp_path, agents_n=3, run_s=RUN_S, dial_method="ratio",
                                       dial_ratio=1.5)
    live = LiveState(redis_client)
    attempts = _one_cdr_each(engine)
    outcomes = sorted({str(a.outcome) for a in attempts})
    stats = live.stats(campaign_id)
    print({"attempts": len(attempts), "outcomes": outcomes, "stats": stats,
           "dispositions": [a.disposition_code for a in attempts if a.disposition_code]})
    assert len(attempts) >= 6, "the loop dialed"
    assert "human" in outcomes, "some calls reached the virtual agents"
    assert any(a.disposition_code for a in attempts), "virtual agents dispositioned"
    assert all(live.agent(a.agent_id).state is AgentState.LOGGED_OUT for a in agents.agents)

    # The relay ships them to ClickHouse: one row per call. (The session's chdb engine: chdb takes
    # one data folder per process, so a test must not open a folder of its own.)
    from analytics.cdr import insert_cdrs

    while cdr.relay_cdrs(engine, lambda rows: insert_cdrs(ch_client, rows), batch=10):
        pass
    ids = [uuid.UUID(str(a.call_id)) for a in attempts]
    total, unique = ch_client.query(
        "SELECT count(), uniqExact(call_id) FROM cdr FINAL WHERE call_id IN {ids:Array(UUID)}",
        parameters={"ids": ids}).result_rows[0]
    assert (total, unique) == (len(attempts), len(attempts))
