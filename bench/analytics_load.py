"""Loading the analytics benchmark data: generated chunks -> chdb (Parquet), chdb -> PostgreSQL (CSV COPY).

Part of ``python -m bench.analytics``; see that module for what is measured.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from clickhouse_connect.driver.client import Client

from analytics.generate import GenSpec, generate_chunks

logger = logging.getLogger(__name__)

TABLES = ("cdr", "agent_states", "dial_decisions", "utterances")
# Tables fed by materialized views on cdr (sql/clickhouse/0005, 0006, 0008, 0009, 0010).
DERIVED = ("cdr_minute", "cdr_hour", "cdr_day_disposition", "cdr_agent_day", "cdr_day", "cdr_by_zone")

# PostgreSQL copies, shaped like call_attempts (core/models_dialing.py) but denormalised with the
# two columns the pages filter/group on that call_attempts reaches through joins (the agent's
# team, the lead's time zone): giving PostgreSQL the same single-table queries is the fair test.
PG_DDL = {
    "cdr": """
        CREATE TABLE bench_cdr (
            call_id uuid PRIMARY KEY, campaign_id integer NOT NULL, list_id integer, lead_id bigint,
            agent_id integer, team_id integer, lead_timezone text, attempt_no smallint NOT NULL,
            dialed_at timestamptz NOT NULL, answered_at timestamptz, connected_at timestamptz, ended_at timestamptz,
            ring_s real, wait_s real, talk_s real, wrap_s real, outcome varchar(20), dropped boolean NOT NULL,
            disposition_code varchar(20), is_contact boolean NOT NULL, is_sale boolean NOT NULL,
            phone_e164 varchar(16), recording_id text)""",
    "agent_states": """
        CREATE TABLE bench_agent_states (
            interval_id uuid PRIMARY KEY, agent_id integer NOT NULL, team_id integer, campaign_id integer,
            state varchar(10) NOT NULL, pause_code varchar(10), started_at timestamptz NOT NULL,
            ended_at timestamptz, duration_s real NOT NULL)""",
    "dial_decisions": """
        CREATE TABLE bench_dial_decisions (
            decision_id uuid PRIMARY KEY, at timestamptz NOT NULL, campaign_id integer NOT NULL,
            agents_logged_in smallint, agents_idle smallint, dial_level real, calls_placed smallint,
            est_abandon_rate real, guard_active boolean)""",
    "utterances": """
        CREATE TABLE bench_utterances (
            call_id uuid NOT NULL, seq integer NOT NULL, speaker varchar(10), started_s real, ended_s real,
            text text, sentiment real, redacted boolean, campaign_id integer, agent_id integer,
            at timestamptz NOT NULL, PRIMARY KEY (call_id, seq))""",
}
# The indexes call_attempts has for these access paths, plus time-range indexes for "all campaigns".
PG_INDEXES = (
    "CREATE INDEX ON bench_cdr (campaign_id, dialed_at)",
    "CREATE INDEX ON bench_cdr (agent_id, dialed_at)",
    "CREATE INDEX ON bench_cdr (dialed_at)",
    "CREATE INDEX ON bench_agent_states (agent_id, started_at)",
    "CREATE INDEX ON bench_agent_states (started_at)",
    "CREATE INDEX ON bench_dial_decisions (campaign_id, at)",
    "CREATE INDEX ON bench_utterances (campaign_id, at)",
    "CREATE INDEX ON bench_utterances (at)",
)


def _columns(ddl: str) -> list[str]:
    body = ddl[ddl.index("(") + 1:]
    names = [part.strip().split()[0] for part in body.split(",")]
    return [n for n in names if n and n.upper() not in ("PRIMARY",) and not n.startswith("seq)")
            and n.isidentifier()]


PG_COLUMNS = {table: _columns(ddl) for table, ddl in PG_DDL.items()}


def load_clickhouse(client: Client, spec: GenSpec, work: Path, days_per_chunk: int,
                    log: Callable[[str], None]) -> dict[str, Any]:
    """Generate ``spec`` chunk by chunk; each table goes through a Parquet file and
    ``INSERT ... SELECT FROM file()`` (chdb reads it natively, in big blocks)."""
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    gen_s = insert_s = 0.0
    rows = dict.fromkeys(TABLES, 0)
    chunks = generate_chunks(replace(spec), days_per_chunk)
    while True:
        t0 = time.perf_counter()
        data = next(chunks, None)
        gen_s += time.perf_counter() - t0
        if data is None:
            break
        t0 = time.perf_counter()
        for table in TABLES:
            frame = getattr(data, table)
            path = work / f"{table}.parquet"
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
            cols = ", ".join(frame.columns)
            client.command(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM file('{path}', Parquet)")
            rows[table] += len(frame)
            path.unlink()
        insert_s += time.perf_counter() - t0
        log(f"clickhouse: {rows['cdr']:,} CDRs loaded ({time.perf_counter() - started:.0f} s)")
    return {"rows": rows, "generate_s": round(gen_s, 1), "insert_s": round(insert_s, 1),
            "optimize_s": optimize(client, (*TABLES, *DERIVED))}


def optimize(client: Client, tables: tuple[str, ...]) -> float:
    """``OPTIMIZE ... FINAL`` each table: the measured queries should not race background merges of
    a fresh load (or of a migration's backfill). Returns the seconds it took."""
    t0 = time.perf_counter()
    for table in tables:
        client.command(f"OPTIMIZE TABLE {table} FINAL")
    return round(time.perf_counter() - t0, 1)


def export_csv(client: Client, work: Path) -> dict[str, Path]:
    """Each table's PostgreSQL columns as CSV (``\\N`` for NULL), written by ClickHouse itself."""
    work.mkdir(parents=True, exist_ok=True)
    out = {}
    for table in TABLES:
        path = work / f"{table}.csv"
        path.unlink(missing_ok=True)
        final = " FINAL" if table != "cdr" else ""
        where = " WHERE sign = 1" if table == "cdr" else ""
        client.command(f"INSERT INTO FUNCTION file('{path}', 'CSV') "
                       f"SELECT {', '.join(PG_COLUMNS[table])} FROM {table}{final}{where}")
        out[table] = path
    return out


def load_postgres(conn: Any, csv_files: dict[str, Path], log: Callable[[str], None]) -> dict[str, Any]:
    """DROP/CREATE the bench tables, COPY the CSVs, build the indexes, VACUUM ANALYZE."""
    timings: dict[str, float] = {}
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SET TimeZone = 'UTC'; SET maintenance_work_mem = '512MB'")
        for table, ddl in PG_DDL.items():
            cur.execute(f"DROP TABLE IF EXISTS bench_{table}")
            cur.execute(ddl)
            t0 = time.perf_counter()
            with csv_files[table].open("rb") as fh:
                cur.copy_expert(f"COPY bench_{table} ({', '.join(PG_COLUMNS[table])}) FROM STDIN "
                                "WITH (FORMAT csv, NULL '\\N')", fh)
            timings[f"copy_{table}_s"] = round(time.perf_counter() - t0, 1)
            log(f"postgres: {table} copied in {timings[f'copy_{table}_s']} s")
        t0 = time.perf_counter()
        for statement in PG_INDEXES:
            cur.execute(statement)
        timings["indexes_s"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        for table in TABLES:
            cur.execute(f"VACUUM ANALYZE bench_{table}")
        timings["vacuum_analyze_s"] = round(time.perf_counter() - t0, 1)
    return timings
