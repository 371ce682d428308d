"""The `make run` done-means, measured: the real stack against the PBX simulator vs ``dialer.simulate``.

    .venv/bin/python -m bench.live_vs_sim [--agents 20] [--sim-minutes 10] [--time-scale 5] [--kill9]
                                          [--algorithm predictive] [--sim-seeds 8]

Live: the PBX simulator (``python -m telephony.simulator``, compressed ``time_scale`` times), the
telephony service (``python -m telephony``) and the dialing loop (``python -m dialer.loop``) as real
processes, ``--agents`` virtual agents (in this process) on a ``--algorithm`` campaign, on scratch
PostgreSQL + Redis. With ``--kill9`` the dialing loop and the telephony service are SIGKILLed half way
and restarted. Utilization (talk ÷ logged-in time) and abandon rate come from the finalised call
attempts in PostgreSQL over the measuring window (after a warm-up), the CDR check from the outbox.

Simulated: ``dialer.simulate`` on the same scenario, in the live run's wall-clock units (every PBX time
÷ ``time_scale``; the campaign's drop time is wall seconds in both), with the wrap time the virtual
agents actually took (measured, as an empirical distribution), pooled over ``--sim-seeds`` seeds.

Prints one JSON document: both figures, the difference in points, and the checks of the done-means.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Proc, free_port  # noqa: E402
from core import migrate  # noqa: E402
from core.db import create_database, drop_database, make_engine  # noqa: E402
from core.engines import EmbeddedRedis, normalize_postgres_url, start_embedded_postgres, stop_embedded_postgres  # noqa: E402
from core.models import CallAttempt, Campaign, Lead, LeadList, OutboxMessage  # noqa: E402

# Scenario seconds (the PBX's clock). No answering machines: without AMD the live dialer puts a machine
# through to an agent, while the benchmark's schema reports it as a machine, so they would differ by design.
OUTCOMES = {"answer_prob": 0.35, "machine_prob": 0.0, "fail_prob": 0.15}
TIMING: dict[str, Any] = {
    "ring_live_s": {"dist": "lognormal", "mean": 8.0, "sd": 4.0, "clip": [0.5, 24.5]},
    "ring_machine_s": {"dist": "uniform", "lo": 12.0, "hi": 22.0},
    "fail_detect_s": {"dist": "uniform", "lo": 1.0, "hi": 4.0},
    "no_answer_timeout_s": 25.0,
    "talk_s": {"dist": "lognormal", "mean": 60.0, "sd": 40.0, "clip": [5.0, 600.0]},
}
WARMUP_FRACTION = 0.15


def _scaled(dist: dict[str, Any], k: float) -> dict[str, Any]:
    out = dict(dist)
    for key in ("mean", "sd", "lo", "hi", "value"):
        if key in out:
            out[key] = out[key] / k
    if "clip" in out:
        out["clip"] = [c / k for c in out["clip"]]
    return out


def bench_scenario(time_scale: float, agents: int, duration_s: float, warmup_s: float, wraps: list[float],
                   drop_after_s: float, seeds: int) -> dict[str, Any]:
    """The live run as a ``bench/scenarios`` document, in wall seconds."""
    timing: dict[str, Any] = {k: _scaled(v, time_scale) if isinstance(v, dict) else v / time_scale
                              for k, v in TIMING.items()}
    timing["wrap_s"] = {"dist": "empirical", "values": [round(w, 3) for w in wraps]} if wraps else \
        {"dist": "fixed", "value": 1.0}
    timing["machine_handle_s"] = 1.0
    return {
        "id": "LIVE", "description": f"live_vs_sim: {agents} agents, PBX time ÷ {time_scale}",
        "seeds": list(range(1, seeds + 1)), "duration_s": duration_s, "warmup_s": 0,
        "report_warmup_excluded_s": warmup_s, "agents": {"schedule": [[0, agents]]}, "pacing_tick_s": 0.2,
        "limits": {"max_lines": None, "max_lines_per_agent": None, "max_dials_per_s": None},
        "outcomes": {"answer_prob": {"type": "constant", "value": OUTCOMES["answer_prob"]},
                     "machine_prob": OUTCOMES["machine_prob"], "fail_prob": OUTCOMES["fail_prob"],
                     "timezones": None},
        "timing": timing, "amd": {"enabled": False},
        "compliance": {"drop_after_s": drop_after_s, "drop_clock_from": "answer", "target_abandon_rate": 0.03,
                       "window": "campaign", "count_amd_false_positives": False,
                       "min_ring_s": timing["no_answer_timeout_s"]},
    }


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _open_zone() -> str:
    from zoneinfo import ZoneInfo

    zones = ("Pacific/Honolulu", "America/Los_Angeles", "America/New_York", "Atlantic/Azores", "Europe/Berlin",
             "Asia/Dubai", "Asia/Dhaka", "Asia/Shanghai", "Asia/Tokyo", "Pacific/Noumea", "Pacific/Auckland")
    return next(z for z in zones if 10 <= datetime.now(UTC).astimezone(ZoneInfo(z)).hour <= 18)


def _setup(engine: sa.Engine, algorithm: str, leads: int) -> int:
    zone = _open_zone()
    with engine.begin() as conn:
        cid = conn.execute(sa.insert(Campaign).values(
            name="live-vs-sim", dial_method=algorithm, wrap_up_s=0, drop_after_s=2, dial_timeout_s=15,
            target_abandon_rate=0.03, safe_harbor_audio="pydialer/safe-harbor",
            calling_windows={d: ["00:00", "24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
        ).returning(Campaign.id)).scalar_one()
        lid = conn.execute(sa.insert(LeadList).values(campaign_id=cid, name="l").returning(LeadList.id)).scalar_one()
        conn.execute(sa.insert(Lead), [{"list_id": lid, "phone_e164": f"+1202555{i:04d}", "timezone": zone}
                                       for i in range(leads)])
    return int(cid)


def _open_attempts(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(CallAttempt)
                                .where(CallAttempt.ended_at.is_(None))).scalar_one())


def _overlap(a: float, b: float, lo: float, hi: float) -> float:
    return max(0.0, min(b, hi) - max(a, lo))


def measure(engine: sa.Engine, agents: int, lo: float, hi: float) -> dict[str, Any]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(CallAttempt.__table__)).mappings().all()
        finals = dict(conn.execute(
            sa.select(OutboxMessage.key, sa.func.count()).where(
                OutboxMessage.topic == "cdr", ~OutboxMessage.payload.has_key("version"))
            .group_by(OutboxMessage.key)).all())
    talk = 0.0
    answers = abandons = 0
    wraps: list[float] = []
    for a in rows:
        if a["connected_at"] is not None and a["ended_at"] is not None:
            talk += _overlap(a["connected_at"].timestamp(), a["ended_at"].timestamp(), lo, hi)
            if a["wrap_ended_at"] is not None:
                wraps.append(max(0.0, (a["wrap_ended_at"] - a["ended_at"]).total_seconds()))
        if a["answered_at"] is not None and lo <= a["answered_at"].timestamp() < hi \
                and a["outcome"] in ("human", "abandoned"):
            answers += 1
            abandons += a["outcome"] == "abandoned"
    ids = {str(a["call_id"]) for a in rows}
    return {
        "talk_utilization": talk / (agents * (hi - lo)), "live_answers": answers, "abandons": abandons,
        "abandon_rate": abandons / answers if answers else 0.0, "attempts": len(rows),
        "unfinalised_attempts": sum(a["ended_at"] is None for a in rows),
        "attempts_with_exactly_one_cdr": sum(finals.get(i) == 1 for i in ids),
        "cdrs_without_attempt": len(set(finals) - ids), "wraps": wraps,
        "unfinalised": [{k: str(a[k]) for k in ("call_id", "outcome", "dialed_at", "answered_at", "connected_at")
                         if k in a} for a in rows if a["ended_at"] is None],
    }


def decision_summary(r: Any) -> dict[str, Any]:
    """What the live loop decided and why (its ``dial_decisions`` rows, still in the Redis stream)."""
    from collections import Counter

    from dialer.loop_commands import DECISIONS_STREAM

    rows = [json.loads(f["data"]) for _id, f in r.xrange(DECISIONS_STREAM)]
    capped = Counter(row["capped_by"] for row in rows if row["count"] or row["raw_count"])
    n = max(1, len(rows))
    return {"rows": len(rows), "asked": sum(row["count"] for row in rows), "placed": sum(row["placed"] for row in rows),
            "capped_by": dict(capped), "mean_idle": round(sum(row["agents_idle"] for row in rows) / n, 2),
            "mean_ringing": round(sum(row["ringing"] for row in rows) / n, 2)}


def run_live(args: argparse.Namespace, tmp: Path, admin: str, redis_url: str) -> dict[str, Any]:
    from dialer.virtual_agents import Behaviour, VirtualAgents

    name = f"bench_live_{uuid.uuid4().hex[:8]}"
    url = create_database(admin, name)
    migrate.upgrade(url)
    engine = make_engine(url)
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    r.flushdb()
    logs = tmp / "logs"
    logs.mkdir(exist_ok=True)
    k = args.time_scale
    wall_s = args.sim_minutes * 60.0 / k
    procs: list[Proc] = []
    try:
        cid = _setup(engine, args.algorithm, leads=min(9999, int(args.agents * wall_s * 2) + 500))
        scenario = tmp / "pbx.json"
        scenario.write_text(json.dumps({"outcomes": OUTCOMES, "timing": TIMING, "amd": {"enabled": False},
                                        "sim": {"time_scale": k, "patience_s": 3600, "agent_answer_s": 0.2}}))
        ami, ari = free_port(), free_port()
        env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url, "PYDIALER_DATA_DIR": str(tmp / "data"),
               "PBX_SERVERS": json.dumps([{"name": "sim1", "ami": f"tcp://pydialer:pydialer@127.0.0.1:{ami}",
                                           "ari": f"http://pydialer:pydialer@127.0.0.1:{ari}"}]),
               "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}
        sim = Proc("sim", ["telephony.simulator", "--ami-port", str(ami), "--ari-port", str(ari), "--scenario",
                           str(scenario), "--seed", "7", "--data-dir", str(tmp / "sim"), "--log-level", "WARNING"],
                   env, logs)
        tel = Proc("telephony", ["telephony"], env, logs)
        loop = Proc("dialer", ["dialer.loop", "--campaign", str(cid)], env, logs)
        procs = [sim, tel, loop]
        sim.start()
        deadline = time.monotonic() + 30
        while not _listening(ami):
            if time.monotonic() > deadline:
                raise RuntimeError(f"simulator did not listen; see {logs}")
            time.sleep(0.2)
        tel.start()
        # the customer decides how long a call lasts (scenario talk); the agent reacts and wraps up
        behaviour = Behaviour(talk_mean_s=1e6, talk_sd_s=1.0, react_s=(1.0, 2.0), wrap_s=(4.0, 8.0),
                              break_prob_per_call=0.0, time_scale=k)
        agents = VirtualAgents(cid, args.agents, engine, r, behaviour=behaviour, seed=5)
        agent_stop = threading.Event()
        agents_thread = threading.Thread(target=agents.run, args=(agent_stop,), daemon=True)
        agents_thread.start()
        time.sleep(2.0)  # logged in and ready before the loop starts dialing
        t0 = time.time()
        loop.start()
        killed_at = None
        if args.kill9:
            time.sleep(wall_s / 2)
            killed_at = time.time() - t0
            loop.kill9()
            tel.kill9()
            time.sleep(1.0)
            tel.start()
            loop.start()
            time.sleep(max(0.0, t0 + wall_s - time.time()))
        else:
            time.sleep(wall_s)
        t_end = time.time()
        with engine.begin() as conn:
            conn.execute(sa.update(Campaign).where(Campaign.id == cid).values(active=False))
        # calls still in talk finish on their own: allow 15 PBX minutes (a talk time's far tail), in wall time
        drain_deadline = time.monotonic() + max(120.0, 900.0 / args.time_scale)
        while _open_attempts(engine) and time.monotonic() < drain_deadline:
            time.sleep(0.5)
        agent_stop.set()
        agents_thread.join(30)
        out = measure(engine, args.agents, t0 + WARMUP_FRACTION * wall_s, t_end)
        out["decisions"] = decision_summary(r)
        out.update(wall_s=round(t_end - t0, 1), killed_at_s=killed_at, campaign_id=cid)
        if args.logs:
            import shutil

            shutil.copytree(logs, args.logs, dirs_exist_ok=True)
        return out
    finally:
        for p in reversed(procs):
            p.stop()
        r.close()
        engine.dispose()
        drop_database(admin, name)


def run_sim(args: argparse.Namespace, wraps: list[float], tmp: Path) -> dict[str, Any]:
    from dialer.simulate import run_matrix
    from dialer.simulate_metrics import aggregate
    from dialer.simulate_scenario import load_scenario

    wall_s = args.sim_minutes * 60.0 / args.time_scale
    doc = bench_scenario(args.time_scale, args.agents, wall_s, WARMUP_FRACTION * wall_s, wraps, 2.0, args.sim_seeds)
    path = tmp / "live_scenario.json"
    path.write_text(json.dumps(doc))
    sc = load_scenario(path)
    runs = run_matrix(sc, (args.algorithm,), sc.seeds)
    m = aggregate(sc, runs[args.algorithm])
    return {"talk_utilization": m["talk_utilization"], "abandon_rate": m["abandon_rate"],
            "live_answers": m["live_answers"], "abandons": m["abandons"], "seeds": list(sc.seeds)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agents", type=int, default=20)
    p.add_argument("--sim-minutes", type=float, default=10.0, help="simulated (PBX) minutes of dialing")
    p.add_argument("--time-scale", type=float, default=2.0,
                   help="PBX time runs this many times faster (≤ 2.5: the PBX's own drop backstop, drop time + 3 "
                        "PBX seconds, must stay longer than the dialer's 2 wall seconds)")
    p.add_argument("--logs", help="keep the processes' logs in this folder")
    p.add_argument("--algorithm", default="predictive")
    p.add_argument("--sim-seeds", type=int, default=8)
    p.add_argument("--kill9", action="store_true", help="SIGKILL the dialing loop and telephony half way")
    p.add_argument("--admin-url", help="PostgreSQL server for a scratch database (default: embedded)")
    args = p.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pyd-lvs-", dir="/tmp") as tmp_s:
        tmp = Path(tmp_s)
        embedded_pg = args.admin_url is None
        admin = normalize_postgres_url(args.admin_url or start_embedded_postgres(tmp / "pg"))
        server = EmbeddedRedis(tmp / "redis")
        redis_url = server.start()
        try:
            live = run_live(args, tmp, admin, redis_url)
        finally:
            server.stop()
            if embedded_pg:
                stop_embedded_postgres(tmp / "pg")
        wraps = live.pop("wraps")
        sim = run_sim(args, wraps, tmp)
    diff = 100 * (live["talk_utilization"] - sim["talk_utilization"])
    doc = {
        "bench": "live_vs_sim", "agents": args.agents, "algorithm": args.algorithm,
        "sim_minutes": args.sim_minutes, "time_scale": args.time_scale, "kill9": args.kill9,
        "measured_wrap_s_mean": round(sum(wraps) / len(wraps), 3) if wraps else None,
        "live": live, "simulated": sim, "utilization_diff_points": round(diff, 2),
        "checks": {
            "utilization_within_5_points": abs(diff) <= 5.0,
            "live_abandon_le_3pct": live["abandon_rate"] <= 0.03,
            "every_attempt_finalised": live["unfinalised_attempts"] == 0,
            "every_attempt_exactly_one_cdr": live["attempts_with_exactly_one_cdr"] == live["attempts"]
            and live["cdrs_without_attempt"] == 0,
        },
        "wall_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(doc, indent=1, default=str))
    return 0 if all(doc["checks"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
