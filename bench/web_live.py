"""The live overview under load: N supervisors' browsers refreshing every 2 s; prints one JSON object.

Creates a throw-away database (``--admin-url`` or an embedded pgserver), migrates and seeds it
(50,000 leads by default), writes live state for ``--agents`` agents into a Redis (``--redis-url``
or an embedded redis-server), serves the real app with werkzeug's threaded server on a free port,
signs ``--viewers`` clients in through the real login form and has each POST the live page's
refresh callback every ``--interval-s`` for ``--seconds``. Reports callback latency percentiles,
achieved request rate, errors, and the uncached cost of the PostgreSQL counts query (which the
page caches for 5 s per process).

    .venv/bin/python -m bench.web_live [--viewers 50] [--seconds 20] [--admin-url ...] [--redis-url ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import http.cookiejar
import json
import re
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import redis
import sqlalchemy as sa

from bench.common import emit, percentile, time_calls
from core import migrate
from core.config import Settings
from core.db import create_database, drop_database, make_engine
from core.engines import EmbeddedRedis, normalize_postgres_url, start_embedded_postgres, stop_embedded_postgres
from core.seed import seed

LIVE_OUTPUT = (
    "..live-updated.children...live-health.children...live-agent-kpis.children...live-db-kpis.children"
    "...live-state-bar.children...live-agents-table.children.."
)
PASSWORD = "bench-pass-1"


def live_body(n: int) -> bytes:
    ids = ("live-updated", "live-health", "live-agent-kpis", "live-db-kpis", "live-state-bar", "live-agents-table")
    return json.dumps({
        "output": LIVE_OUTPUT,
        "outputs": [{"id": i, "property": "children"} for i in ids],
        "inputs": [{"id": "live-interval", "property": "n_intervals", "value": n}],
        "changedPropIds": ["live-interval.n_intervals"],
        "state": [],
    }).encode()


class Viewer:
    """One signed-in browser (cookie jar + CSRF header), driven by a thread."""

    def __init__(self, base: str, username: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        page = self.opener.open(f"{base}/login").read().decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        form = urllib.parse.urlencode({"csrf_token": token, "username": username, "password": PASSWORD}).encode()
        self.opener.open(f"{base}/login", data=form).read()
        self.csrf = next(c.value for c in self.jar if c.name == "pydialer_csrf")

    def refresh(self, n: int) -> tuple[float, int]:
        request = urllib.request.Request(
            f"{self.base}/_dash-update-component", data=live_body(n), method="POST",
            headers={"Content-Type": "application/json", "X-CSRFToken": self.csrf or ""},
        )
        start = time.perf_counter()
        try:
            with self.opener.open(request, timeout=30) as response:
                response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        return (time.perf_counter() - start) * 1000, status


def drive(viewers: list[Viewer], seconds: float, interval_s: float) -> dict[str, object]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def loop(viewer: Viewer, offset: float) -> None:
        time.sleep(offset)  # browsers do not refresh in lockstep
        n = 0
        while time.monotonic() < deadline:
            started = time.monotonic()
            ms, status = viewer.refresh(n)
            with lock:
                latencies.append(ms)
                statuses[status] = statuses.get(status, 0) + 1
            n += 1
            time.sleep(max(0.0, interval_s - (time.monotonic() - started)))

    threads = [threading.Thread(target=loop, args=(v, interval_s * i / len(viewers))) for i, v in enumerate(viewers)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - began
    return {
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / wall, 1),
        "target_per_s": round(len(viewers) / interval_s, 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "max_ms": round(max(latencies), 1) if latencies else None,
    }


def run(admin_url: str, redis_url: str, args: argparse.Namespace) -> dict[str, object]:
    from werkzeug.serving import make_server

    from app import create_app
    from app.live import ACTIVE_AGENTS_KEY, AGENT_KEY, query_counts

    name = f"pyd_bench_{uuid.uuid4().hex[:8]}"
    url = create_database(admin_url, name)
    engine = make_engine(url)
    server = None
    try:
        migrate.upgrade(url)
        settings = Settings(data_dir=Path(tempfile.gettempdir()), demo_password=PASSWORD, database_url=url,
                            redis_url=redis_url, secret_key="bench-secret", login_max_failures=1000)
        seed(engine, settings, lead_count=args.leads)
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        with engine.connect() as conn:
            agent_ids = conn.execute(sa.text("SELECT id FROM users WHERE role='agent' ORDER BY id")).scalars().all()
        now = time.time()
        for i in range(args.agents):
            agent = agent_ids[i % len(agent_ids)] if i < len(agent_ids) else 100_000 + i
            client.sadd(ACTIVE_AGENTS_KEY, agent)
            client.hset(AGENT_KEY.format(id=agent), mapping={
                "state": ("ready", "incall", "wrapup", "paused")[i % 4], "campaign_id": 1, "since": now - i})
        counts_query = time_calls(lambda: query_counts(engine), runs=10, warmup=1)

        app = create_app(dataclasses.replace(settings))
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        viewers = [Viewer(base, "supervisor") for _ in range(args.viewers)]
        load = drive(viewers, args.seconds, args.interval_s)
        client.delete(ACTIVE_AGENTS_KEY, *[AGENT_KEY.format(id=a) for a in agent_ids])
        return {
            "bench": "web_live",
            "leads": args.leads,
            "agents_in_redis": args.agents,
            "viewers": args.viewers,
            "interval_s": args.interval_s,
            "seconds": args.seconds,
            "server": "werkzeug threaded (python -m app); production runs gunicorn with threads",
            "counts_query_uncached": counts_query,
            "live_callback": load,
        }
    finally:
        if server is not None:
            server.shutdown()
        engine.dispose()
        drop_database(admin_url, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admin-url", help="PostgreSQL server to create the bench database on (default: embedded)")
    parser.add_argument("--redis-url", help="Redis server (default: embedded); the bench adds and removes its keys")
    parser.add_argument("--leads", type=int, default=50_000)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--interval-s", type=float, default=2.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pyd-bench-", dir="/tmp") as tmp:
        pgdata = Path(tmp) / "pg"
        embedded_redis = None if args.redis_url else EmbeddedRedis(Path(tmp) / "redis")
        try:
            redis_url = args.redis_url or embedded_redis.start()  # type: ignore[union-attr]
            admin = normalize_postgres_url(args.admin_url) if args.admin_url else normalize_postgres_url(
                start_embedded_postgres(pgdata))
            emit(run(admin, redis_url, args))
        finally:
            if embedded_redis is not None:
                embedded_redis.stop()
            if not args.admin_url and (pgdata / "postmaster.pid").exists():
                stop_embedded_postgres(pgdata)


if __name__ == "__main__":
    main()
