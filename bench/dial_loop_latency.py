"""Dialing-loop reaction times: state change -> next decision, on real PostgreSQL + Redis.

The issue asks for at most 1 s between a state change and the next pacing decision. One agent,
a progressive campaign, telephony played by this script over the real streams; per cycle we time

* ``answer_to_bridge``: an ``Answered`` event written to ``pyd:events:calls`` -> the loop's
  ``cmd.bridge`` on ``pyd:commands:telephony`` (call flow: reserve the agent, bridge);
* ``ready_to_originate``: the agent's disposition (wrap-up 0 s: it is READY at once) -> the
  loop's next ``cmd.originate`` (pacing decision, lead claimed, attempt row, command).

    .venv/bin/python -m bench.dial_loop_latency [--cycles 30] [--admin-url URL] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa

from bench.common import emit, percentile
from core import events as ev
from core import migrate
from core.db import create_database, drop_database, make_engine
from core.engines import EmbeddedRedis, normalize_postgres_url, start_embedded_postgres, stop_embedded_postgres
from core.models import Campaign, Lead, LeadList, User
from dialer.loop import CampaignLoop, Lease
from telephony.streams import COMMANDS_STREAM, EVENTS_STREAM, encode


def _open_zone() -> str:
    """A zone where it is mid-day now (federal 08:00-21:00 calling hours apply to every lead)."""
    from zoneinfo import ZoneInfo

    zones = ("Pacific/Honolulu", "America/Los_Angeles", "America/New_York", "Atlantic/Azores", "Europe/Berlin",
             "Asia/Dubai", "Asia/Dhaka", "Asia/Shanghai", "Asia/Tokyo", "Pacific/Noumea", "Pacific/Auckland")
    return next(z for z in zones if 10 <= datetime.now(UTC).astimezone(ZoneInfo(z)).hour <= 18)


def _wait_command(r: Any, kind: str, after: str, timeout: float = 5.0) -> tuple[Any, str]:
    deadline = time.monotonic() + timeout
    last = after
    while time.monotonic() < deadline:
        for entry_id, fields in r.xrange(COMMANDS_STREAM, min=f"({last}", count=100):
            last = entry_id
            msg: Any = ev.from_dict(json.loads(fields["data"]))
            if msg.type == kind:
                return msg, entry_id
        time.sleep(0.002)
    raise TimeoutError(f"no {kind} within {timeout}s")


def _publish(r: Any, cls: type[ev.CallEvent], call_id: str, campaign_id: int, **kw: Any) -> None:
    r.xadd(EVENTS_STREAM, encode(cls(call_id=call_id, at=datetime.now(UTC), campaign_id=campaign_id, **kw)))


def run(cycles: int, pg_admin: str, redis_url: str) -> dict[str, object]:
    name = f"bench_loop_{uuid.uuid4().hex[:8]}"
    url = create_database(pg_admin, name)
    migrate.upgrade(url)
    engine = make_engine(url)
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    r.flushdb()  # a scratch database (see --redis-url)
    try:
        zone = _open_zone()
        with engine.begin() as conn:
            cid = conn.execute(sa.insert(Campaign).values(name="bench", dial_method="progressive", wrap_up_s=0,
                                                          calling_windows={d: ["00:00", "24:00"] for d in
                                                                           ("mon", "tue", "wed", "thu", "fri",
                                                                            "sat", "sun")})
                               .returning(Campaign.id)).scalar_one()
            lid = conn.execute(sa.insert(LeadList).values(campaign_id=cid, name="l").returning(LeadList.id)).scalar_one()
            conn.execute(sa.insert(Lead), [{"list_id": lid, "phone_e164": f"+1202555{i:04d}", "timezone": zone}
                                           for i in range(cycles + 10)])
            agent = conn.execute(sa.insert(User).values(username="benchagent", password_hash="x", role="agent")
                                 .returning(User.id)).scalar_one()
        loop = CampaignLoop(cid, engine, r)
        lease = Lease(r, cid)
        lease.acquire()
        stop = threading.Event()
        loop.agents.login(agent, cid, extension="PJSIP/agent01")
        thread = threading.Thread(target=loop.run, args=(stop, lease), daemon=True)
        thread.start()
        last = "0-0"
        t_ready = time.perf_counter()
        loop.agents.ready(agent)
        answer_to_bridge, ready_to_originate = [], []
        for _ in range(cycles):
            msg, last = _wait_command(r, "cmd.originate", last)
            ready_to_originate.append((time.perf_counter() - t_ready) * 1000)
            call_id = msg.call_id
            t0 = time.perf_counter()
            _publish(r, ev.Answered, call_id, cid)
            _msg, last = _wait_command(r, "cmd.bridge", last)
            answer_to_bridge.append((time.perf_counter() - t0) * 1000)
            _publish(r, ev.BridgedToAgent, call_id, cid, agent_endpoint="PJSIP/agent01")
            while loop.live.agent(agent).state.value != "incall":
                time.sleep(0.002)
            loop.agents.end_call(agent)
            t_ready = time.perf_counter()
            loop.agents.disposition(agent, call_id, "NI")
            _publish(r, ev.Hangup, call_id, cid)
        stop.set()
        thread.join(5)
        return {
            "bench": "dial_loop_latency", "cycles": cycles,
            "answer_to_bridge_ms": {"p50": round(percentile(answer_to_bridge, 50), 1),
                                    "p95": round(percentile(answer_to_bridge, 95), 1),
                                    "max": round(max(answer_to_bridge), 1)},
            "ready_to_originate_ms": {"p50": round(percentile(ready_to_originate, 50), 1),
                                      "p95": round(percentile(ready_to_originate, 95), 1),
                                      "max": round(max(ready_to_originate), 1)},
            "target_ms": 1000,
        }
    finally:
        r.delete(EVENTS_STREAM, COMMANDS_STREAM)
        r.close()
        engine.dispose()
        drop_database(pg_admin, name)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--cycles", type=int, default=30)
    p.add_argument("--admin-url", help="PostgreSQL URL of a server where a scratch database may be created")
    p.add_argument("--redis-url", help="a SCRATCH Redis database: it is flushed (default: embedded)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="pyd-bench-", dir="/tmp") as tmp:
        embedded_pg = args.admin_url is None
        admin = normalize_postgres_url(args.admin_url or start_embedded_postgres(Path(tmp) / "pg"))
        server = None
        if args.redis_url is None:
            server = EmbeddedRedis(Path(tmp) / "redis")
            redis_url = server.start()
        else:
            redis_url = args.redis_url
        try:
            emit(run(args.cycles, admin, redis_url))
        finally:
            if server is not None:
                server.stop()
            if embedded_pg:
                stop_embedded_postgres(Path(tmp) / "pg")


if __name__ == "__main__":
    main()
