"""Seed and hot-query figures of the PostgreSQL system of record; prints one JSON object.

Creates a throw-away database (on ``--admin-url``, or on an embedded pgserver in a temp dir),
migrates it, runs the demo seed twice (50,000 leads by default), then times the queries the
dialer runs all day: a hopper fill (standard pass), a recycle pass, a DNC scrub of a batch of
numbers, and a lead lookup by phone.

    .venv/bin/python -m bench.pg_seed [--admin-url postgresql://postgres@127.0.0.1/postgres] [--leads 50000]
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from bench.common import emit, time_calls
from core import migrate
from core.config import Settings
from core.db import create_database, drop_database, make_engine
from core.engines import normalize_postgres_url, start_embedded_postgres, stop_embedded_postgres
from core.seed import seed

HOPPER_SQL = sa.text(
    """
    SELECT l.id FROM leads l
    WHERE l.list_id = ANY(:lists) AND l.status = ANY(:statuses) AND NOT l.called_since_reset
      AND (l.next_call_at IS NULL OR l.next_call_at <= now())
      AND l.timezone = ANY(:zones)
      AND NOT EXISTS (SELECT 1 FROM dnc_entries d WHERE d.phone_e164 = l.phone_e164
                      AND (d.campaign_id IS NULL OR d.campaign_id = :campaign))
    ORDER BY l.priority DESC, l.id
    LIMIT 200
    """
)
RECYCLE_SQL = sa.text(
    """
    SELECT id FROM leads WHERE list_id = ANY(:lists) AND status = 'NA'
      AND last_called_at < now() - interval '1 hour' ORDER BY last_called_at LIMIT 200
    """
)
DNC_SQL = sa.text(
    "SELECT phone_e164 FROM dnc_entries WHERE phone_e164 = ANY(:phones) AND (campaign_id IS NULL OR campaign_id = :campaign)"
)
PHONE_SQL = sa.text("SELECT id, list_id FROM leads WHERE phone_e164 = :phone")


def run(admin_url: str, leads: int, runs: int) -> dict[str, object]:
    name = f"pyd_bench_{uuid.uuid4().hex[:8]}"
    url = create_database(admin_url, name)
    engine = make_engine(url)
    try:
        started = time.monotonic()
        migrate.upgrade(url)
        migrate_s = time.monotonic() - started
        settings = Settings(data_dir=Path(tempfile.gettempdir()), demo_password="bench-pass-1")
        first = seed(engine, settings, lead_count=leads)
        second = seed(engine, settings, lead_count=leads)
        with engine.connect() as conn:
            lists = list(conn.execute(sa.text("SELECT id FROM lists ORDER BY id")).scalars())
            campaign = conn.execute(sa.text("SELECT campaign_id FROM lists ORDER BY id LIMIT 1")).scalar_one()
            phones = list(conn.execute(sa.text("SELECT phone_e164 FROM leads ORDER BY random() LIMIT 200")).scalars())
            # Mark a slice as already dialled so the recycle pass has work.
            conn.execute(sa.text(
                "UPDATE leads SET status = 'NA', called_since_reset = true, attempts = 1, "
                "last_called_at = now() - interval '2 hours' WHERE id % 10 = 0"
            ))
            conn.commit()
            conn.execute(sa.text("ANALYZE leads"))
            params = {"lists": lists, "statuses": ["NEW", "CALLBK", "NA"], "campaign": campaign,
                      "zones": ["America/New_York", "America/Chicago"]}
            hopper_rows = len(conn.execute(HOPPER_SQL, params).all())
            plan = "\n".join(conn.execute(sa.text("EXPLAIN " + HOPPER_SQL.text), params).scalars())
            figures = {
                "hopper_fill_200": time_calls(lambda: conn.execute(HOPPER_SQL, params).all(), runs),
                "recycle_pass_200": time_calls(lambda: conn.execute(RECYCLE_SQL, {"lists": lists}).all(), runs),
                "dnc_scrub_200_numbers": time_calls(
                    lambda: conn.execute(DNC_SQL, {"phones": phones, "campaign": campaign}).all(), runs
                ),
                "lead_by_phone": time_calls(lambda: conn.execute(PHONE_SQL, {"phone": phones[0]}).all(), runs),
            }
        return {
            "bench": "pg_seed",
            "leads": leads,
            "migrate_s": round(migrate_s, 2),
            "seed_first_s": first["elapsed_s"],
            "seed_first_timings": first["timings"],
            "seed_second_s": second["elapsed_s"],
            "seed_second_created": second["created"],
            "hopper_rows": hopper_rows,
            "hopper_plan_indexes": sorted(set(re.findall(r"(?:using|on) (ix_\w+|uq_\w+|pk_\w+)", plan, re.I))),
            "queries": figures,
        }
    finally:
        engine.dispose()
        drop_database(admin_url, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--admin-url", help="a PostgreSQL server to create the bench database on (default: embedded)")
    parser.add_argument("--leads", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    if args.admin_url:
        emit(run(normalize_postgres_url(args.admin_url), args.leads, args.runs))
        return
    with tempfile.TemporaryDirectory(prefix="pyd-bench-", dir="/tmp") as tmp:
        pgdata = Path(tmp) / "pg"
        try:
            emit(run(normalize_postgres_url(start_embedded_postgres(pgdata)), args.leads, args.runs))
        finally:
            stop_embedded_postgres(pgdata)


if __name__ == "__main__":
    main()
