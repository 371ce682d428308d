"""Import benchmark: a 1,000,000-row CSV parsed, normalised, de-duplicated, DNC-scrubbed and COPYed.

    .venv/bin/python -m bench.import [--rows 1000000] [--dnc 100000] [--workers 1] [--skip-db] [--skip-pipeline]
                                     [--nice -10]

PostgreSQL: ``DATABASE_URL`` / ``TEST_DATABASE_URL`` when set, else the embedded pgserver under
``var/bench``. The CSV is generated once (seeded; 2% invalid numbers, 1% in-file duplicates) and
reused; 100,000 DNC entries, half of them numbers of the file. Prints one JSON object:

* ``pipeline_1proc_s`` / ``pipeline_1proc_cpu_s``: parse + normalise + in-file duplicates into an
  in-memory store, one process (``pipeline_Nproc_s`` with ``--workers N``);
* ``total_s``: the real import, :func:`dialer.importer.writer.import_into_list` into a fresh list
  (DNC scrub, COPY, a commit per 50,000-row chunk) -- the issue-4 target is <= 60 s on 2 cores;
  ``total_cpu_s`` (this process and its worker processes) and ``pg_backend_cpu_s`` (the
  PostgreSQL backends of the import's connections, read from /proc for the embedded server)
  tell what it cost; ``others_cpu_s_during_total`` (the machine's busy CPU seconds meanwhile,
  less those two) and the load averages (start, just before ``total_s``, end) how much of the
  machine other work was using.

Measured on the 2-core dev machine, shared with other engineers' jobs (browser suites, other
benches): read ``others_cpu_s_during_total`` before the wall time -- the 1-minute load average
lags and was 7-20 during most of these runs. CPU seconds are inflated too when the machine is busy.

* 2026-12-02 06:53, final code, workers=1 (the default): total_s 36.61 (total_cpu_s 20.73,
  pg_backend_cpu_s 25.69 over the three connections, others_cpu_s_during_total 22.84, load
  7.2 -> 7.0); pipeline_1proc_s 17.27 (cpu 14.13).
* the next run, ``--workers 2``: total_s 55.18 (total_cpu_s 32.99, pg_backend_cpu_s 25.1, others
  50.49); pipeline_2proc_s 18.16 (cpu 27.26) vs pipeline_1proc_s 32.31 (cpu 16.09). Shipping rows
  to a worker process and leads back costs about what normalising them does, and PostgreSQL
  wants the second core, so 1 stays the default on 2 cores.
* Other workers=1 runs of the same day: 28.97 (06:41, load 1.4) and 27.37 (06:46, before
  others_cpu_s existed); 32.54 (others 8.15) and 33.4 (others 17.16); 85.09 when others took
  107 of the 170 CPU seconds; two minutes later with ``--nice -10``: 35.52 (others 21.74).
* Before this work (one process, CSV COPY on one connection, no overlap, GC on): total_s 139 and
  pipeline_1proc_s 67.5 as first recorded; 78.32 and 31.72 (cpu 31.69) re-measured at 05:43.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.common import renice
from core.engines import normalize_postgres_url, start_embedded_postgres
from dialer.importer import MemoryStore, import_file
from dialer.importer.writer import import_into_list

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "bench"
NPAS = [201, 202, 203, 205, 206, 212, 213, 214, 215, 216, 217, 218, 224, 225, 228, 229, 231, 234, 239, 240, 248,
        251, 252, 253, 254, 256, 260, 262, 267, 269, 270, 272, 276, 281, 301, 302, 303, 304, 305, 307, 308, 309,
        310, 312, 313, 314, 315, 316, 317, 318, 319, 320, 321, 323, 325, 330, 331, 334, 336, 337, 339, 347, 351,
        352, 360, 361, 385, 386, 401, 402, 404, 405, 406, 407, 408, 409, 410, 412, 413, 414, 415, 417, 419, 423,
        424, 425, 430, 432, 434, 435, 440, 442, 443, 458, 469, 470, 475, 478, 479, 480, 484, 501, 502, 503, 504,
        505, 507, 508, 509, 510, 512, 513, 515, 516, 517, 518, 520, 530, 540, 541, 551, 559, 561, 562, 563, 567,
        570, 571, 573, 574, 575, 580, 585, 586, 601, 602, 603, 605, 606, 607, 608, 609, 610, 612, 614, 615, 616,
        617, 618, 619, 620, 623, 626, 630, 631, 636, 641, 646, 650, 651, 657, 660, 661, 662, 678, 682, 701, 702,
        703, 704, 706, 707, 708, 712, 713, 714, 715, 716, 717, 718, 719, 720, 724, 727, 731, 732, 734, 740, 754,
        757, 760, 763, 765, 770, 772, 773, 774, 775, 779, 781, 785, 786, 801, 802, 803, 804, 805, 806, 808, 810,
        812, 813, 814, 815, 816, 817, 818, 828, 830, 831, 832, 843, 845, 847, 848, 850, 856, 857, 858, 859, 860,
        862, 863, 864, 865, 870, 878, 901, 903, 904, 906, 907, 908, 909, 910, 912, 913, 914, 915, 916, 917, 918,
        919, 920, 925, 928, 931, 936, 937, 940, 941, 947, 949, 951, 952, 954, 956, 970, 971, 972, 973, 978, 979,
        980, 985, 989]
STATES = ["NY", "CA", "TX", "FL", "IL", "PA", "OH", "GA", "NC", "MI", ""]
FORMATS = ["{a}{b}{c}", "({a}) {b}-{c}", "{a}-{b}-{c}", "{a}.{b}.{c}", "+1 {a} {b} {c}", "1{a}{b}{c}"]


def phone(rng: random.Random) -> tuple[str, str]:
    a, b, c = rng.choice(NPAS), rng.randint(200, 999), rng.randint(0, 9999)
    return rng.choice(FORMATS).format(a=a, b=f"{b:03d}", c=f"{c:04d}"), f"+1{a}{b:03d}{c:04d}"


def generate_csv(path: Path, rows: int, seed: int = 7) -> list[str]:
    """Write the CSV (2% invalid numbers, 1% in-file duplicates) and return some valid E.164 numbers."""
    rng = random.Random(seed)
    sample: list[str] = []
    recent: list[str] = []
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("phone,first_name,last_name,state,zip,account,notes\n")
        for i in range(rows):
            roll = rng.random()
            if roll < 0.02:
                raw = rng.choice(["555-555-0100", "12345", "n/a", "", "+44 20 7946 0958"])
            elif roll < 0.03 and recent:
                raw = rng.choice(recent)
            else:
                raw, e164 = phone(rng)
                if len(recent) < 1000:
                    recent.append(raw)
                if len(sample) < 200_000:
                    sample.append(e164)
            out.write(f'{raw},First{i % 997},Last{i % 1009},{rng.choice(STATES)},{rng.randint(10000, 99999)},'
                      f'A-{i},"note {i}"\n')
    return sample


def database_url() -> str:
    url = os.environ.get("DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if url:
        return normalize_postgres_url(url)
    VAR.mkdir(parents=True, exist_ok=True)
    return normalize_postgres_url(start_embedded_postgres(VAR / "postgres"))


def fresh_database(admin_url: str, name: str) -> str:
    from core.migrate import upgrade

    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    url = sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    return url


def cpu_seconds() -> float:
    """CPU of this process and of its reaped children (the --workers processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def backend_cpu_seconds(pids: list[int]) -> float | None:
    """CPU of the PostgreSQL backends serving ``pids`` (embedded server on this host only)."""
    total = 0.0
    try:
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    return round(total, 2)


def machine_cpu_seconds() -> float | None:
    """Busy CPU seconds of the whole machine so far (/proc/stat: all but idle and iowait)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    busy = sum(fields[:8]) - fields[3] - fields[4]  # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dnc", type=int, default=100_000)
    parser.add_argument("--skip-db", action="store_true")
    parser.add_argument("--skip-pipeline", action="store_true", help="time only the import into PostgreSQL")
    parser.add_argument("--workers", type=int, default=1,
                        help="normalising processes (>1 also times the multi-process pipeline)")
    parser.add_argument("--nice", type=int, default=0,
                        help="renice this process, its threads and workers and its (local) PostgreSQL backends, "
                             "e.g. -10 when other jobs share the machine (as bench.hopper)")
    args = parser.parse_args()
    if args.nice:
        renice(args.nice)  # threads and worker processes started later inherit it
    VAR.mkdir(parents=True, exist_ok=True)
    path = VAR / f"import_{args.rows}.csv"
    sample_path = VAR / f"import_{args.rows}.sample.json"
    if not path.exists() or not sample_path.exists():
        sample_path.write_text(json.dumps(generate_csv(path, args.rows)))
    sample = json.loads(sample_path.read_text())
    data = path.read_bytes()
    result: dict[str, object] = {"rows": args.rows, "file_mb": round(len(data) / 1e6, 1), "cpus": os.cpu_count(),
                                 "nice": args.nice, "load_average_start": load_average()}

    workers = args.workers
    result["workers"] = workers
    if not args.skip_pipeline:
        started, cpu = time.perf_counter(), time.process_time()
        report = import_file(data, MemoryStore())
        result["pipeline_1proc_s"] = round(time.perf_counter() - started, 2)
        result["pipeline_1proc_cpu_s"] = round(time.process_time() - cpu, 2)
        result["pipeline_rows_per_s"] = int(args.rows / result["pipeline_1proc_s"])  # type: ignore[operator]
        if workers > 1:
            started, cpu = time.perf_counter(), cpu_seconds()
            report = import_file(data, MemoryStore(), workers=workers)
            result[f"pipeline_{workers}proc_s"] = round(time.perf_counter() - started, 2)
            result[f"pipeline_{workers}proc_cpu_s"] = round(cpu_seconds() - cpu, 2)
        result["pipeline_summary"] = {k: v for k, v in report.summary().items() if k != "notes"}

    if not args.skip_db:
        admin, name = database_url(), f"pyd_bench_import_{uuid.uuid4().hex[:6]}"
        url = fresh_database(admin, name)
        engine = sa.create_engine(url)
        backends: list[int] = []

        @sa.event.listens_for(engine, "connect")
        def _backend_pid(dbapi_connection: Any, _record: Any) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                backends.append(cursor.fetchone()[0])
            if args.nice:
                renice(args.nice, dbapi_connection)

        with engine.begin() as conn:
            campaign = conn.execute(sa.text("INSERT INTO campaigns (name) VALUES ('bench') RETURNING id")).scalar_one()
            list_id = conn.execute(sa.text("INSERT INTO lists (campaign_id, name) VALUES (:c, 'bench') RETURNING id"),
                                   {"c": campaign}).scalar_one()
            rng = random.Random(1)
            dnc = rng.sample(sample, min(args.dnc // 2, len(sample)))
            extra = [f"+1{rng.choice(NPAS)}{rng.randint(2000000, 9999999)}" for _ in range(args.dnc - len(dnc))]
            conn.execute(sa.text("INSERT INTO dnc_entries (phone_e164) SELECT DISTINCT unnest(CAST(:p AS varchar[]))"),
                         {"p": dnc + extra})
            result["dnc_entries"] = conn.execute(sa.text("SELECT count(*) FROM dnc_entries")).scalar_one()
        backend_cpu = backend_cpu_seconds(backends)
        result["load_average_before_total"] = load_average()
        started, cpu, machine = time.perf_counter(), cpu_seconds(), machine_cpu_seconds()
        db_report = import_into_list(engine, list_id, data, filename=path.name, workers=workers)
        result["total_s"] = round(time.perf_counter() - started, 2)
        result["total_cpu_s"] = round(cpu_seconds() - cpu, 2)
        after, machine_after = backend_cpu_seconds(backends), machine_cpu_seconds()
        result["pg_backend_cpu_s"] = None if after is None or backend_cpu is None else round(after - backend_cpu, 2)
        if machine is not None and machine_after is not None and result["pg_backend_cpu_s"] is not None:
            # What everything else on the machine used meanwhile: the contention total_s ran under.
            others = machine_after - machine - result["total_cpu_s"] - result["pg_backend_cpu_s"]  # type: ignore[operator]
            result["others_cpu_s_during_total"] = round(max(others, 0.0), 2)
        result["total_rows_per_s"] = int(args.rows / result["total_s"])  # type: ignore[operator]
        with engine.connect() as conn:
            result["leads_in_db"] = conn.execute(sa.text("SELECT count(*) FROM leads")).scalar_one()
        result["db_summary"] = {k: v for k, v in db_report.summary().items() if k != "notes"}
        result["target_s"] = 60
        result["meets_target"] = result["total_s"] <= 60  # type: ignore[operator]
        engine.dispose()
        drop = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
        with drop.connect() as conn:  # 1 M leads per run: do not let bench databases pile up
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        drop.dispose()
    result["load_average_end"] = load_average()  # other processes share these cores
    print(json.dumps(result))


if __name__ == "__main__":
    main()
