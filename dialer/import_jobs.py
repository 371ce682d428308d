"""Run one ``import_jobs`` row: the body of the ``dialer.tasks.import_list`` Celery task.

The uploaded file waits in ``<data_dir>/imports/<job>.upload`` (the web process wrote it); the
row-level error report goes to ``<data_dir>/imports/<job>-errors.csv``. Progress is published
after every chunk to the Redis hash :data:`PROGRESS_KEY` (``done``, ``total``), which the /lists
page polls, and the ``import_jobs`` row moves pending -> running -> done | failed.

Idempotent by id: a job that is no longer ``pending`` is not run twice.

Exports (:func:`run_export_job`, the body of ``dialer.tasks.export_list``): a list's leads to a
spreadsheet-safe CSV under ``<data_dir>/exports/``, with progress in Redis.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from core.exceptions import ValidationError
from dialer.importer.report import looks_like_formula
from dialer.importer.writer import import_into_list

logger = logging.getLogger(__name__)

PROGRESS_KEY = "pyd:import:{id}:progress"
PROGRESS_TTL_S = 24 * 3600
MIN_CHUNK_ROWS = 200
PROGRESS_STEPS = 20


def upload_path(data_dir: Path, job_id: int) -> Path:
    return data_dir / "imports" / f"{job_id}.upload"


def report_path(data_dir: Path, job_id: int) -> Path:
    return data_dir / "imports" / f"{job_id}-errors.csv"


def chunk_rows_for(size_bytes: int) -> int:
    """About :data:`PROGRESS_STEPS` progress updates per file (~40 bytes per CSV row)."""
    return max(MIN_CHUNK_ROWS, min(50_000, size_bytes // 40 // PROGRESS_STEPS))


def _update(engine: sa.Engine, job_id: int, **values: Any) -> None:
    sets = ", ".join(f"{k} = :{k}" for k in values)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE import_jobs SET {sets} WHERE id = :id"), {"id": job_id, **values})


def run_import_job(engine: sa.Engine, redis_client: Any, data_dir: Path, job_id: int,
                   mapping: dict[str, str] | None = None) -> dict[str, Any]:
    with engine.begin() as conn:
        job = conn.execute(sa.text("SELECT id, list_id, filename, status FROM import_jobs WHERE id = :id FOR UPDATE"),
                           {"id": job_id}).one_or_none()
        if job is None or job.status != "pending":
            logger.info("import job %s: nothing to do (%s)", job_id, None if job is None else job.status)
            return {"job": job_id, "skipped": True}
        conn.execute(sa.text("UPDATE import_jobs SET status = 'running', started_at = :now WHERE id = :id"),
                     {"id": job_id, "now": dt.datetime.now(dt.UTC)})
    key = PROGRESS_KEY.format(id=job_id)

    def progress(done: int, total: int) -> None:
        redis_client.hset(key, mapping={"done": done, "total": total})
        redis_client.expire(key, PROGRESS_TTL_S)
        _update(engine, job_id, total_rows=total)

    source = upload_path(data_dir, job_id)
    try:
        data = source.read_bytes()
        report = import_into_list(engine, job.list_id, data, filename=job.filename, mapping=mapping,
                                  progress=progress, chunk_rows=chunk_rows_for(len(data)))
    except (ValidationError, LookupError, OSError, ValueError) as exc:
        logger.warning("import job %s failed: %s", job_id, exc)
        _update(engine, job_id, status="failed", error=str(exc)[:2000], finished_at=dt.datetime.now(dt.UTC))
        redis_client.hset(key, mapping={"done": 0, "total": 0, "failed": 1})
        return {"job": job_id, "failed": str(exc)}
    path = report_path(data_dir, job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report.to_csv(), encoding="utf-8")
    duplicates = sum(1 for i in report.issues if "duplicate" in i.reason or "already in this list" in i.reason)
    _update(engine, job_id, status="done", total_rows=report.total_rows, good_rows=report.imported,
            bad_rows=report.rejected, duplicate_rows=duplicates, error_report_path=str(path),
            finished_at=dt.datetime.now(dt.UTC))
    source.unlink(missing_ok=True)
    return {"job": job_id, **report.summary()}


# --- exports (the body of dialer.tasks.export_list) ------------------------------------------------

EXPORT_PROGRESS_KEY = "pyd:export:{id}:progress"
EXPORT_COLUMNS = ("id", "phone_e164", "first_name", "last_name", "email", "state", "postal_code", "timezone",
                  "status", "attempts", "last_called_at", "vendor_lead_code", "custom_fields")
EXPORT_BATCH = 10_000


def export_path(data_dir: Path, export_id: str) -> Path:
    if not export_id.replace("-", "").isalnum():
        raise ValueError(f"export id {export_id!r}: letters, digits and '-' only")
    return data_dir / "exports" / f"{export_id}.csv"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = json.dumps(value, sort_keys=True) if isinstance(value, dict) else (
        value.isoformat() if isinstance(value, dt.datetime) else str(value))
    # CSV injection (OWASP): a cell a spreadsheet would evaluate gets a leading quote; +1212... stays.
    return "'" + text if looks_like_formula(text) else text


def run_export_job(engine: sa.Engine, redis_client: Any, data_dir: Path, export_id: str, list_id: int) -> dict[str, Any]:
    """Write the list's leads to ``<data_dir>/exports/<export_id>.csv`` in id-keyset batches.

    Progress (``done``, ``total``, ``state``) goes to the Redis hash :data:`EXPORT_PROGRESS_KEY`.
    Idempotent by id: the file is written under a ``.part`` name and renamed when complete, so a
    finished export is not redone and a crashed one is simply written again.
    """
    path = export_path(data_dir, export_id)
    key = EXPORT_PROGRESS_KEY.format(id=export_id)
    if path.exists():
        return {"export": export_id, "path": str(path), "skipped": True}
    with engine.connect() as conn:
        total = conn.execute(sa.text("SELECT count(*) FROM leads WHERE list_id = :l"), {"l": list_id}).scalar_one()
    redis_client.hset(key, mapping={"done": 0, "total": total, "state": "running"})
    redis_client.expire(key, PROGRESS_TTL_S)
    try:
        done = _write_export(engine, redis_client, key, path, list_id, total)
    except (OSError, sa.exc.SQLAlchemyError) as exc:
        # the page stops polling on "failed"; a Celery retry that then succeeds sets running -> done again
        logger.warning("export %s of list %s failed: %s", export_id, list_id, exc)
        redis_client.hset(key, mapping={"state": "failed", "error": str(exc)[:500]})
        raise
    redis_client.hset(key, mapping={"done": done, "total": max(total, done), "state": "done", "path": str(path)})
    return {"export": export_id, "path": str(path), "rows": done}


def _write_export(engine: sa.Engine, redis_client: Any, key: str, path: Path, list_id: int, total: int) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(".csv.part")
    done, after = 0, 0
    with part.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(EXPORT_COLUMNS)
        while True:
            with engine.connect() as conn:
                rows = conn.execute(sa.text(
                    f"SELECT {', '.join(EXPORT_COLUMNS)} FROM leads WHERE list_id = :l AND id > :after"
                    " ORDER BY id LIMIT :n"), {"l": list_id, "after": after, "n": EXPORT_BATCH}).all()
            if not rows:
                break
            writer.writerows([_cell(v) for v in row] for row in rows)
            done += len(rows)
            after = rows[-1][0]
            redis_client.hset(key, mapping={"done": done, "total": max(total, done)})
    part.replace(path)
    return done
