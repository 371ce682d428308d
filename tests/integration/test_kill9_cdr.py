"""kill -9 mid-run: simulator, telephony service, dialing loop and virtual agents as real processes.

The dialing loop (``python -m dialer.loop``) and the telephony service (``python -m telephony``) are
SIGKILLed while calls are in flight, restarted, the campaign is stopped, calls drain, the outbox relay
runs, and then every call attempt in PostgreSQL must be finalised and have exactly one CDR in
ClickHouse (the session's chdb: one data folder per process, so this test opens no other).
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from typing import Any

import pytest
import redis
import sqlalchemy as sa

from bench.common import Proc, free_port
from core.models import CallAttempt, Campaign, OutboxMessage
from dialer import cdr
from dialer.abandon import RedisAbandonCounts
from tests.integration.dialer_fixtures import SIM_SCENARIO as SCENARIO
from tests.integration.dialer_fixtures import make_campaign, make_leads

pytestmark = pytest.mark.slow



def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def counts(engine: sa.Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(CallAttempt)).scalar_one()
        open_ = conn.execute(sa.select(sa.func.count()).select_from(CallAttempt)
                             .where(CallAttempt.ended_at.is_(None))).scalar_one()
    return int(total), int(open_)


def test_kill_9_of_dialer_and_telephony_loses_and_doubles_no_cdr(request, db_committed, db_url, redis_url,
                                                                   redis_client, tmp_path, ch_client):
    params = request.node.callspec.params
    if params.get("pg_server_url") != params.get("redis_url"):
        pytest.skip("mixed engine flavours add nothing here")
    engine = db_committed
    campaign_id = make_campaign(engine, dial_method="ratio", dial_ratio=1.5, drop_after_s=2, wrap_up_s=1,
                                dial_timeout_s=15, safe_harbor_audio="pydialer/safe-harbor")
    make_leads(engine, campaign_id, 60)
    # a long clean history, so the abandon guard lets the ratio policy over-dial (more calls in flight)
    RedisAbandonCounts(redis.Redis.from_url(redis_url)).record(campaign_id, time.time(), answers=10_000)

    logs = tmp_path / "logs"
    logs.mkdir()
    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps(SCENARIO))
    ami, ari = free_port(), free_port()
    env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": redis_url, "PYDIALER_DATA_DIR": str(tmp_path / "data"),
           "PBX_SERVERS": json.dumps([{"name": "sim1", "ami": f"tcp://pydialer:pydialer@127.0.0.1:{ami}",
                                       "ari": f"http://pydialer:pydialer@127.0.0.1:{ari}"}]),
           "LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1"}
    sim = Proc("sim", ["telephony.simulator", "--ami-port", str(ami), "--ari-port", str(ari), "--scenario",
                       str(scenario), "--seed", "3", "--data-dir", str(tmp_path / "sim")], env, logs)
    tel = Proc("telephony", ["telephony"], env, logs)
    loop = Proc("dialer", ["dialer.loop", "--campaign", str(campaign_id)], env, logs)
    agents = Proc("agents", ["dialer.virtual_agents", "--campaign", str(campaign_id), "--count", "3",
                             "--time-scale", "10", "--seed", "5"], env, logs)
    procs = [sim, tel, loop, agents]
    try:
        sim.start()
        wait_for(lambda: _listening(ami), 20, "the simulator's AMI port")
        tel.start()
        agents.start()
        loop.start()
        wait_for(lambda: counts(engine)[1] >= 2, 45, "calls in flight")
        time.sleep(2.0)
        before_kill = counts(engine)
        loop.kill9()
        tel.kill9()
        time.sleep(1.0)  # calls keep ringing, answering and hanging up at the PBX meanwhile
        tel.start()
        loop.start()
        # the new loop waits out the dead owner's 5 s lease, then takes over its un-ACKed events
        wait_for(lambda: counts(engine)[0] >= before_kill[0] + 3, 45, "dialing after the restart")
        with engine.begin() as conn:  # stop dialing; the loop notices within its settings reload
            conn.execute(sa.update(Campaign).where(Campaign.id == campaign_id).values(active=False))
        # calls whose hangup died with the telephony service are swept by the loop: ringing ones after
        # the dial timeout + 15 s, connected ones once their agent has left, each after a hangup command
        # and a 15 s grace
        try:
            wait_for(lambda: counts(engine)[1] == 0, 90, "every attempt finalised")
        except AssertionError:
            _dump_open(engine, redis_client)
            raise
        assert all(p.alive() for p in procs), f"a process died: see {logs}"
    finally:
        for p in reversed(procs):
            p.stop()

    total, open_ = counts(engine)
    assert open_ == 0 and total >= before_kill[0] + 3
    assert before_kill[1] >= 2, "the kill really hit calls in flight"
    with engine.connect() as conn:
        attempts = [str(c) for c in conn.execute(sa.select(CallAttempt.call_id)).scalars()]
        finals = dict(conn.execute(
            sa.select(OutboxMessage.key, sa.func.count()).where(
                OutboxMessage.topic == "cdr", ~OutboxMessage.payload.has_key("version"))
            .group_by(OutboxMessage.key)).all())
    assert finals == {a: 1 for a in attempts}, "one finalisation outbox row per attempt"

    from analytics.cdr import insert_cdrs

    # the relay is killed mid-batch too: a first relay that dies after the insert, before marking sent
    def insert_then_die(rows: list[dict[str, Any]]) -> None:
        insert_cdrs(ch_client, rows)
        raise RuntimeError("kill -9 after the ClickHouse insert")

    with pytest.raises(RuntimeError):
        cdr.relay_cdrs(engine, insert_then_die, batch=5)
    while cdr.relay_cdrs(engine, lambda rows: insert_cdrs(ch_client, rows), batch=10):
        pass
    ids = [uuid.UUID(a) for a in attempts]
    total_ch, unique = ch_client.query(
        "SELECT count(), uniqExact(call_id) FROM cdr FINAL WHERE call_id IN {ids:Array(UUID)}",
        parameters={"ids": ids}).result_rows[0]
    assert (total_ch, unique) == (len(attempts), len(attempts))
    print({"attempts": len(attempts), "open_at_kill": before_kill[1]})


def _dump_open(engine: sa.Engine, r: Any) -> None:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(CallAttempt.__table__).where(CallAttempt.ended_at.is_(None))).mappings().all()
    for row in rows:
        print("OPEN", {k: str(v) for k, v in row.items() if v is not None}, r.hgetall(f"pyd:call:{row['call_id']}"))


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0
